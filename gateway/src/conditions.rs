//! Conditional requests: If-Match, If-None-Match, If-Modified-Since and
//! If-Unmodified-Since, evaluated in one place in the order of RFC 9110
//! section 13.2.2, for reads, writes and copy sources.
//!
//! S3 rules: <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use crate::error::S3Error;

/// An entity-tag condition: `*` or a list of tags (quotes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagCondition {
    Any,
    Tags(Vec<String>),
}

impl EtagCondition {
    pub fn parse(value: &str) -> Self {
        let value = value.trim();
        if value == "*" {
            return EtagCondition::Any;
        }
        EtagCondition::Tags(
            value
                .split(',')
                .map(|t| normalize_etag(t).to_owned())
                .filter(|t| !t.is_empty())
                .collect(),
        )
    }

    fn matches(&self, etag: &str) -> bool {
        match self {
            EtagCondition::Any => true,
            EtagCondition::Tags(tags) => tags.iter().any(|t| t == normalize_etag(etag)),
        }
    }
}

/// Strip whitespace, a weak prefix and the quotes around an entity tag.
pub fn normalize_etag(tag: &str) -> &str {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.trim_matches('"')
}

/// The conditions of one request (or one copy source).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub if_match: Option<EtagCondition>,
    pub if_none_match: Option<EtagCondition>,
    pub if_modified_since: Option<SystemTime>,
    pub if_unmodified_since: Option<SystemTime>,
}

/// Which kind of request the conditions guard: reads answer 304 where
/// writes answer 412.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Conditions {
    /// Read the standard conditional headers. Unparseable dates are ignored,
    /// as RFC 9110 requires.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_named_headers(
            headers,
            [
                "if-match",
                "if-none-match",
                "if-modified-since",
                "if-unmodified-since",
            ],
        )
    }

    /// Read the `x-amz-copy-source-if-*` headers of a copy.
    pub fn from_copy_source_headers(headers: &HeaderMap) -> Self {
        Self::from_named_headers(
            headers,
            [
                "x-amz-copy-source-if-match",
                "x-amz-copy-source-if-none-match",
                "x-amz-copy-source-if-modified-since",
                "x-amz-copy-source-if-unmodified-since",
            ],
        )
    }

    fn from_named_headers(headers: &HeaderMap, names: [&str; 4]) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let date = |name: &str| text(name).and_then(|v| httpdate::parse_http_date(v).ok());
        Conditions {
            if_match: text(names[0]).map(EtagCondition::parse),
            if_none_match: text(names[1]).map(EtagCondition::parse),
            if_modified_since: date(names[2]),
            if_unmodified_since: date(names[3]),
        }
    }

    pub fn is_empty(&self) -> bool {
        self == &Conditions::default()
    }

    /// Evaluate against an existing object's ETag and modification time.
    pub fn check(
        &self,
        etag: &str,
        last_modified: SystemTime,
        access: Access,
    ) -> Result<(), S3Error> {
        let modified = truncate_to_seconds(last_modified);
        match &self.if_match {
            Some(cond) => {
                if !cond.matches(etag) {
                    return Err(S3Error::precondition_failed());
                }
            }
            None => {
                if let Some(since) = self.if_unmodified_since {
                    if modified > since {
                        return Err(S3Error::precondition_failed());
                    }
                }
            }
        }
        match &self.if_none_match {
            Some(cond) => {
                if cond.matches(etag) {
                    return Err(match access {
                        Access::Read => S3Error::not_modified(),
                        Access::Write => S3Error::precondition_failed(),
                    });
                }
            }
            None => {
                if let (Some(since), Access::Read) = (self.if_modified_since, access) {
                    if modified <= since {
                        return Err(S3Error::not_modified());
                    }
                }
            }
        }
        Ok(())
    }

    /// Evaluate for a write when no object exists at the key: If-Match
    /// cannot hold (S3 answers NoSuchKey); everything else passes.
    pub fn check_absent(&self) -> Result<(), S3Error> {
        if self.if_match.is_some() {
            return Err(S3Error::no_such_key());
        }
        Ok(())
    }
}

fn truncate_to_seconds(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::S3ErrorCode;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn code(r: Result<(), S3Error>) -> Option<S3ErrorCode> {
        r.err().map(|e| e.code)
    }

    #[test]
    fn etag_lists_and_weak_tags() {
        let c = EtagCondition::parse("\"x\", W/\"abc\"");
        assert!(c.matches("\"abc\""));
        assert!(c.matches("abc"));
        assert!(!c.matches("abd"));
        assert!(EtagCondition::parse("*").matches("anything"));
    }

    #[test]
    fn rfc_order_for_reads() {
        let lm = at(1_000_000) + Duration::from_millis(700);
        let c = Conditions {
            if_match: Some(EtagCondition::Tags(vec!["e".into()])),
            if_unmodified_since: Some(at(10)),
            ..Default::default()
        };
        // If-Match true wins over a false If-Unmodified-Since (S3 documents this).
        assert_eq!(code(c.check("e", lm, Access::Read)), None);
        let c = Conditions {
            if_unmodified_since: Some(at(10)),
            ..Default::default()
        };
        assert_eq!(
            code(c.check("e", lm, Access::Read)),
            Some(S3ErrorCode::PreconditionFailed)
        );
        let c = Conditions {
            if_none_match: Some(EtagCondition::Tags(vec!["e".into()])),
            if_modified_since: Some(at(10)),
            ..Default::default()
        };
        assert_eq!(
            code(c.check("e", lm, Access::Read)),
            Some(S3ErrorCode::NotModified)
        );
        assert_eq!(
            code(c.check("e", lm, Access::Write)),
            Some(S3ErrorCode::PreconditionFailed)
        );
        // If-Modified-Since with sub-second modification: same second is not modified.
        let c = Conditions {
            if_modified_since: Some(at(1_000_000)),
            ..Default::default()
        };
        assert_eq!(
            code(c.check("e", lm, Access::Read)),
            Some(S3ErrorCode::NotModified)
        );
        let c = Conditions {
            if_modified_since: Some(at(999_999)),
            ..Default::default()
        };
        assert_eq!(code(c.check("e", lm, Access::Read)), None);
    }

    #[test]
    fn headers_parse_and_bad_dates_ignored() {
        let mut h = HeaderMap::new();
        h.insert("if-match", "\"abc\"".parse().unwrap());
        h.insert("if-modified-since", "not a date".parse().unwrap());
        h.insert(
            "if-unmodified-since",
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        let c = Conditions::from_headers(&h);
        assert_eq!(c.if_match, Some(EtagCondition::Tags(vec!["abc".into()])));
        assert_eq!(c.if_modified_since, None);
        assert_eq!(c.if_unmodified_since, Some(at(784_111_777)));
    }

    #[test]
    fn absent_object() {
        let c = Conditions {
            if_none_match: Some(EtagCondition::Any),
            ..Default::default()
        };
        assert!(c.check_absent().is_ok());
        let c = Conditions {
            if_match: Some(EtagCondition::Any),
            ..Default::default()
        };
        assert_eq!(code(c.check_absent()), Some(S3ErrorCode::NoSuchKey));
    }
}

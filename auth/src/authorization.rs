//! Parsing of SigV4 authentication data: the `Authorization` header, the
//! presigned `X-Amz-*` query parameters, credential scopes and dates.
//!
//! Header form: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-auth-using-authorization-header.html>;
//! query form: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>.

use std::time::SystemTime;

use crate::canonical::{percent_decode, ALGORITHM};
use crate::error::AuthError;

/// Longest validity of a presigned URL, in seconds (7 days).
pub(crate) const MAX_PRESIGNED_EXPIRES: u64 = 604_800;

/// The `Credential` of a signature: `AK/YYYYMMDD/region/service/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Credential {
    /// The credential scope, `YYYYMMDD/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// Which form the signature came in; decides the error variant for malformed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthKind {
    Header,
    Query,
}

impl AuthKind {
    pub fn malformed(self, msg: impl Into<String>) -> AuthError {
        match self {
            Self::Header => AuthError::AuthorizationHeaderMalformed(msg.into()),
            Self::Query => AuthError::AuthorizationQueryParametersError(msg.into()),
        }
    }
}

/// Parse and check a credential against the expected region and service `s3`.
#[cfg(test)]
pub(crate) fn parse_credential(
    value: &str,
    region: &str,
    kind: AuthKind,
) -> Result<Credential, AuthError> {
    parse_credential_for(value, region, "s3", kind)
}

/// Parse and check a credential against the expected region and service
/// (`s3`, or `sts` for the STS actions).
pub(crate) fn parse_credential_for(
    value: &str,
    region: &str,
    expected_service: &str,
    kind: AuthKind,
) -> Result<Credential, AuthError> {
    let mut parts = value.rsplitn(5, '/');
    let (Some(terminal), Some(service), Some(cred_region), Some(date), Some(access_key)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(kind.malformed("the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."));
    };
    if access_key.is_empty() {
        return Err(kind.malformed("the access key id is empty"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(kind.malformed(format!(
            "Invalid credential date \"{date}\". This date is not in the correct format."
        )));
    }
    if terminal != "aws4_request" {
        return Err(kind.malformed(format!(
            "incorrect terminal \"{terminal}\". This endpoint uses \"aws4_request\"."
        )));
    }
    if service != expected_service {
        return Err(kind.malformed(format!(
            "incorrect service \"{service}\". This endpoint belongs to \"{expected_service}\"."
        )));
    }
    if cred_region != region {
        return Err(kind.malformed(format!(
            "the region '{cred_region}' is wrong; expecting '{region}'"
        )));
    }
    Ok(Credential {
        access_key: access_key.to_owned(),
        date: date.to_owned(),
        region: cred_region.to_owned(),
        service: service.to_owned(),
    })
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderAuth {
    pub credential: String,
    pub signed_headers: String,
    pub signature: String,
}

/// Parse the value of a SigV4 Authorization header (algorithm already checked
/// by the caller). Components may be separated by `,` with or without spaces.
pub(crate) fn parse_authorization(value: &str) -> Result<HeaderAuth, AuthError> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with([' ', '\t']))
        .ok_or_else(|| {
            AuthError::AuthorizationHeaderMalformed("unsupported algorithm".to_owned())
        })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let (key, val) = component.split_once('=').ok_or_else(|| {
            AuthError::AuthorizationHeaderMalformed(format!(
                "the authorization component \"{component}\" is malformed."
            ))
        })?;
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        *slot = Some(val.trim().to_owned());
    }
    let missing = |name: &str| {
        AuthError::AuthorizationHeaderMalformed(format!(
            "the authorization header requires a \"{name}\" component."
        ))
    };
    Ok(HeaderAuth {
        credential: credential.ok_or_else(|| missing("Credential"))?,
        signed_headers: signed_headers.ok_or_else(|| missing("SignedHeaders"))?,
        signature: signature.ok_or_else(|| missing("Signature"))?,
    })
}

/// Decoded query parameters (percent-decoded, `+` kept literally).
pub(crate) fn query_params(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            (
                String::from_utf8_lossy(&percent_decode(name, false)).into_owned(),
                String::from_utf8_lossy(&percent_decode(value, false)).into_owned(),
            )
        })
        .collect()
}

/// The first value of a query parameter.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The presigned-URL parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryAuth {
    pub credential: String,
    pub amz_date: String,
    pub expires: u64,
    pub signed_headers: String,
    pub signature: String,
}

/// Parse the presigned-URL parameters (X-Amz-Algorithm is present).
pub(crate) fn parse_query_auth(params: &[(String, String)]) -> Result<QueryAuth, AuthError> {
    let err = AuthError::AuthorizationQueryParametersError;
    if param(params, "X-Amz-Algorithm") != Some(ALGORITHM) {
        return Err(err(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"".to_owned()
        ));
    }
    let required = |name: &str| {
        param(params, name).ok_or_else(|| {
            err(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, \
                 X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, \
                 and X-Amz-Expires parameters."
                    .to_owned(),
            )
        })
    };
    let credential = required("X-Amz-Credential")?.to_owned();
    let amz_date = required("X-Amz-Date")?.to_owned();
    let expires = required("X-Amz-Expires")?;
    let signed_headers = required("X-Amz-SignedHeaders")?.to_owned();
    let signature = required("X-Amz-Signature")?.to_owned();
    if expires.starts_with('-') {
        return Err(err("X-Amz-Expires must be non-negative".to_owned()));
    }
    let expires: u64 = expires
        .parse()
        .map_err(|_| err("X-Amz-Expires should be a number".to_owned()))?;
    if expires > MAX_PRESIGNED_EXPIRES {
        return Err(err(
            "X-Amz-Expires must be less than a week (in seconds) that is; 604800".to_owned(),
        ));
    }
    Ok(QueryAuth {
        credential,
        amz_date,
        expires,
        signed_headers,
        signature,
    })
}

const AMZ_DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

/// Parse an ISO 8601 basic timestamp, `YYYYMMDDTHHMMSSZ`.
pub(crate) fn parse_amz_date(s: &str) -> Option<SystemTime> {
    time::PrimitiveDateTime::parse(s, AMZ_DATE_FORMAT)
        .ok()
        .map(|t| t.assume_utc().into())
}

/// Format a time as `YYYYMMDDTHHMMSSZ`.
pub(crate) fn format_amz_date(t: SystemTime) -> Option<String> {
    time::OffsetDateTime::from(t).format(AMZ_DATE_FORMAT).ok()
}

/// Split a `;`-separated SignedHeaders list, checking it names `host`.
pub(crate) fn split_signed_headers(list: &str, kind: AuthKind) -> Result<Vec<&str>, AuthError> {
    let names: Vec<&str> = list.split(';').collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(kind.malformed("SignedHeaders contains an empty header name"));
    }
    if !names.iter().any(|n| n.eq_ignore_ascii_case("host")) {
        return Err(kind.malformed("SignedHeaders must include the host header"));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn credential_parsing() {
        let c = parse_credential(
            "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
            "us-east-1",
            AuthKind::Header,
        )
        .unwrap();
        assert_eq!(c.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(c.scope(), "20130524/us-east-1/s3/aws4_request");
        let bad = [
            "AK/20130524/eu-west-1/s3/aws4_request",
            "AK/20130524/us-east-1/ec2/aws4_request",
            "AK/20130524/us-east-1/s3/aws5_request",
            "AK/2013052/us-east-1/s3/aws4_request",
            "/20130524/us-east-1/s3/aws4_request",
            "20130524/us-east-1/s3/aws4_request",
        ];
        for value in bad {
            let e = parse_credential(value, "us-east-1", AuthKind::Header).unwrap_err();
            assert_eq!(e.s3_code(), "AuthorizationHeaderMalformed", "{value}");
            let e = parse_credential(value, "us-east-1", AuthKind::Query).unwrap_err();
            assert_eq!(e.s3_code(), "AuthorizationQueryParametersError", "{value}");
        }
        let e = parse_credential(
            "AK/20130524/eu-west-1/s3/aws4_request",
            "us-east-1",
            AuthKind::Header,
        )
        .unwrap_err();
        assert!(e.message().contains("expecting 'us-east-1'"));
    }

    #[test]
    fn authorization_header_parsing() {
        let a = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(a.signed_headers, "host;x-amz-date");
        assert_eq!(a.signature, "abc");
        assert!(parse_authorization("AWS4-HMAC-SHA256 Credential=x, Signature=y").is_err());
        assert!(parse_authorization("AWS4-HMAC-SHA256Credential=x").is_err());
        assert!(parse_authorization("AWS4-HMAC-SHA256 garbage").is_err());
    }

    #[test]
    fn dates() {
        let t = parse_amz_date("20130524T000000Z").unwrap();
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1_369_353_600));
        assert_eq!(format_amz_date(t).unwrap(), "20130524T000000Z");
        assert!(parse_amz_date("2013-05-24T00:00:00Z").is_none());
        assert!(parse_amz_date("20131324T000000Z").is_none());
    }

    #[test]
    fn query_auth_parsing() {
        let mut params = query_params(Some(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host&X-Amz-Signature=ab",
        ));
        let q = parse_query_auth(&params).unwrap();
        assert_eq!(q.credential, "AK/20130524/us-east-1/s3/aws4_request");
        assert_eq!(q.expires, 604_800);
        params[3].1 = "604801".to_owned();
        let e = parse_query_auth(&params).unwrap_err();
        assert!(e.message().contains("less than a week"));
        params[3].1 = "-1".to_owned();
        assert!(parse_query_auth(&params).is_err());
        params[3].1 = "soon".to_owned();
        assert!(parse_query_auth(&params).is_err());
        params.remove(3);
        assert!(parse_query_auth(&params).is_err());
    }

    #[test]
    fn signed_headers_must_include_host() {
        assert_eq!(
            split_signed_headers("host;x-amz-date", AuthKind::Header).unwrap(),
            ["host", "x-amz-date"]
        );
        assert!(split_signed_headers("x-amz-date", AuthKind::Header).is_err());
        assert!(split_signed_headers("host;;x", AuthKind::Query).is_err());
    }
}

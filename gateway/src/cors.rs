//! Cross-origin resource sharing for buckets, as S3 does it: a bucket's
//! CORSConfiguration (PutBucketCors) lists rules; a browser's preflight
//! (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered
//! from the first rule that allows its origin, method and headers, or
//! refused with 403 CORSResponse; actual requests from an allowed origin get
//! `Access-Control-Allow-Origin` and the rule's exposed headers, on success
//! and on error alike.
//!
//! Rules: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CORSRule.html>.
//! Preflights are not authenticated (browsers do not sign them), so they
//! reveal no more than whether a rule allows the asked request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Method};

use crate::error::{S3Error, S3ErrorCode};
use crate::storage::{Backend, BucketConfig, BucketName};
use crate::xml::{self, XmlWriter};

/// S3's limits: 100 rules, a document of 64 KiB.
const MAX_RULES: usize = 100;
pub const MAX_DOCUMENT: usize = 64 * 1024;
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// How long a bucket's rules are used before they are read again (a
/// change through another replica is seen within this).
const TTL: Duration = Duration::from_secs(5);
const CACHE_MAX: usize = 10_000;

/// One CORSRule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: Option<String>,
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub max_age: Option<u64>,
    pub expose: Vec<String>,
}

/// A bucket's CORSConfiguration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub rules: Vec<Rule>,
}

fn malformed(message: &str) -> S3Error {
    S3Error::new(S3ErrorCode::MalformedXML, message.to_owned())
}

fn invalid(message: String) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidRequest, message)
}

/// `*` matches any run of characters; at most one is allowed.
fn wildcard_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t) = if ignore_case {
        (pattern.to_ascii_lowercase(), text.to_ascii_lowercase())
    } else {
        (pattern.to_owned(), text.to_owned())
    };
    match p.split_once('*') {
        None => p == t,
        Some((head, tail)) => {
            t.len() >= head.len() + tail.len() && t.starts_with(head) && t.ends_with(tail)
        }
    }
}

impl Config {
    /// Parse and validate a CORSConfiguration document.
    pub fn parse(doc: &[u8]) -> Result<Config, S3Error> {
        let root = xml::parse(doc)?;
        if root.name != "CORSConfiguration" {
            return Err(malformed(
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        let mut rules = Vec::new();
        for rule in root.children_named("CORSRule") {
            let texts = |name: &str| -> Vec<String> {
                rule.children_named(name)
                    .map(|e| e.text.trim().to_owned())
                    .collect()
            };
            let origins = texts("AllowedOrigin");
            let methods = texts("AllowedMethod");
            if origins.is_empty() || methods.is_empty() {
                return Err(malformed(
                    "A CORSRule needs at least one AllowedOrigin and one AllowedMethod",
                ));
            }
            for m in &methods {
                if !METHODS.contains(&m.as_str()) {
                    return Err(invalid(format!(
                        "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                    )));
                }
            }
            let headers = texts("AllowedHeader");
            for value in origins.iter().chain(&headers) {
                if value.matches('*').count() > 1 {
                    return Err(invalid(format!(
                        "AllowedOrigin and AllowedHeader may hold at most one wildcard: \"{value}\""
                    )));
                }
            }
            let max_age = match rule.child("MaxAgeSeconds") {
                Some(e) => Some(
                    e.text
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| malformed("MaxAgeSeconds must be a whole number"))?,
                ),
                None => None,
            };
            rules.push(Rule {
                id: rule.child("ID").map(|e| e.text.trim().to_owned()),
                origins,
                methods,
                headers,
                max_age,
                expose: texts("ExposeHeader"),
            });
        }
        if rules.is_empty() {
            return Err(malformed("A CORSConfiguration needs at least one CORSRule"));
        }
        if rules.len() > MAX_RULES {
            return Err(invalid(format!(
                "A CORSConfiguration holds at most {MAX_RULES} rules"
            )));
        }
        Ok(Config { rules })
    }

    /// The document GetBucketCors answers.
    pub fn to_xml(&self) -> String {
        let mut x = XmlWriter::new();
        x.open_root("CORSConfiguration");
        for rule in &self.rules {
            x.open("CORSRule");
            if let Some(id) = &rule.id {
                x.elem("ID", id);
            }
            for h in &rule.headers {
                x.elem("AllowedHeader", h);
            }
            for m in &rule.methods {
                x.elem("AllowedMethod", m);
            }
            for o in &rule.origins {
                x.elem("AllowedOrigin", o);
            }
            for e in &rule.expose {
                x.elem("ExposeHeader", e);
            }
            if let Some(age) = rule.max_age {
                x.elem("MaxAgeSeconds", &age.to_string());
            }
            x.close("CORSRule");
        }
        x.close("CORSConfiguration");
        x.finish()
    }

    /// The first rule allowing `origin` to send `method` with `headers`.
    fn find(&self, origin: &str, method: &str, headers: &[String]) -> Option<&Rule> {
        self.rules.iter().find(|r| {
            r.origins.iter().any(|o| wildcard_match(o, origin, false))
                && r.methods.iter().any(|m| m == method)
                && headers
                    .iter()
                    .all(|h| r.headers.iter().any(|a| wildcard_match(a, h, true)))
        })
    }
}

fn forbidden() -> S3Error {
    S3Error::new(
        S3ErrorCode::Other {
            code: "CORSResponse",
            status: 403,
        },
        "This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
    )
}

fn insert(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// The headers of an allowed request, preflight or actual.
fn allow(h: &mut HeaderMap, rule: &Rule, origin: &str) {
    let any = rule.origins.iter().any(|o| o == "*");
    insert(
        h,
        "access-control-allow-origin",
        if any { "*" } else { origin },
    );
    if !any {
        insert(h, "access-control-allow-credentials", "true");
    }
    insert(h, "access-control-allow-methods", &rule.methods.join(", "));
    if !rule.expose.is_empty() {
        insert(h, "access-control-expose-headers", &rule.expose.join(", "));
    }
    if let Some(age) = rule.max_age {
        insert(h, "access-control-max-age", &age.to_string());
    }
    h.append(
        http::header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        ),
    );
}

/// The answer to a preflight: the headers of a 200, or the error.
pub fn preflight(config: Option<&Config>, request: &HeaderMap) -> Result<HeaderMap, S3Error> {
    let header = |name: &str| request.get(name).and_then(|v| v.to_str().ok());
    let origin = header("origin").ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::Other {
                code: "BadRequest",
                status: 400,
            },
            "Insufficient information. Origin request header needed.",
        )
    })?;
    let method = header("access-control-request-method").ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::Other {
                code: "BadRequest",
                status: 400,
            },
            "Invalid Access-Control-Request-Method: null",
        )
    })?;
    let asked: Vec<String> = header("access-control-request-headers")
        .map(|v| {
            v.split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let rule = config
        .and_then(|c| c.find(origin, method, &asked))
        .ok_or_else(forbidden)?;
    let mut h = HeaderMap::new();
    allow(&mut h, rule, origin);
    if !asked.is_empty() {
        insert(&mut h, "access-control-allow-headers", &asked.join(", "));
    }
    Ok(h)
}

/// CORS headers for the response to an actual request from `origin` (none
/// when no rule allows its origin and method).
pub fn actual(config: &Config, method: &Method, origin: &str, response: &mut HeaderMap) {
    if let Some(rule) = config.find(origin, method.as_str(), &[]) {
        allow(response, rule, origin);
    }
}

/// A bucket's rules (None: none) and when they were read.
type Entry = (Instant, Option<Arc<Config>>);

/// Buckets' rules, read from storage and kept for [`TTL`].
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Cache {
    /// The bucket's rules (None: no configuration, or no such bucket).
    pub async fn get(
        &self,
        backend: &dyn Backend,
        bucket: &BucketName,
    ) -> Result<Option<Arc<Config>>, S3Error> {
        if let Ok(entries) = self.entries.lock() {
            if let Some((at, config)) = entries.get(bucket.as_str()) {
                if at.elapsed() < TTL {
                    return Ok(config.clone());
                }
            }
        }
        let config = match backend.get_bucket_config(bucket, BucketConfig::Cors).await {
            Ok(Some(doc)) => Config::parse(&doc).ok().map(Arc::new),
            Ok(None) => None,
            Err(e) if e.code == S3ErrorCode::NoSuchBucket => None,
            Err(e) => return Err(e),
        };
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
            entries.insert(bucket.as_str().to_owned(), (Instant::now(), config.clone()));
        }
        Ok(config)
    }

    /// Forget a bucket's rules (after PutBucketCors or DeleteBucketCors here).
    pub fn changed(&self, bucket: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(bucket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<CORSConfiguration>
      <CORSRule><AllowedOrigin>http://127.0.0.1:*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>
        <AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader>
        <ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>
      <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod></CORSRule>
    </CORSConfiguration>"#;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn rules_parse_render_and_validate() {
        let c = Config::parse(DOC.as_bytes()).unwrap();
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.rules[0].max_age, Some(600));
        assert_eq!(Config::parse(c.to_xml().as_bytes()).unwrap(), c);
        let bad_method = DOC.replace(
            "<AllowedMethod>PUT</AllowedMethod>",
            "<AllowedMethod>PATCH</AllowedMethod>",
        );
        assert_eq!(
            Config::parse(bad_method.as_bytes()).unwrap_err().code,
            S3ErrorCode::InvalidRequest
        );
        let no_origin = "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
        assert_eq!(
            Config::parse(no_origin.as_bytes()).unwrap_err().code,
            S3ErrorCode::MalformedXML
        );
        let two_wildcards = DOC.replace("http://127.0.0.1:*", "http://*.example.*");
        assert!(Config::parse(two_wildcards.as_bytes()).is_err());
        assert!(Config::parse(b"<CORSConfiguration/>").is_err());
    }

    #[test]
    fn preflights_are_answered_by_the_first_matching_rule() {
        let c = Config::parse(DOC.as_bytes()).unwrap();
        let ok = preflight(
            Some(&c),
            &headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "content-type, x-amz-date"),
            ]),
        )
        .unwrap();
        assert_eq!(ok["access-control-allow-origin"], "http://127.0.0.1:8080");
        assert_eq!(ok["access-control-allow-methods"], "GET, PUT");
        assert_eq!(
            ok["access-control-allow-headers"],
            "content-type, x-amz-date"
        );
        assert_eq!(ok["access-control-max-age"], "600");
        assert_eq!(ok["access-control-expose-headers"], "ETag");
        // Another origin may only HEAD (the second rule, which names any origin).
        let other = |method| {
            preflight(
                Some(&c),
                &headers(&[
                    ("origin", "https://elsewhere.example"),
                    ("access-control-request-method", method),
                ]),
            )
        };
        assert_eq!(other("HEAD").unwrap()["access-control-allow-origin"], "*");
        assert_eq!(other("GET").unwrap_err().code.as_str(), "CORSResponse");
        assert_eq!(
            preflight(
                None,
                &headers(&[
                    ("origin", "http://a"),
                    ("access-control-request-method", "GET")
                ])
            )
            .unwrap_err()
            .status(),
            http::StatusCode::FORBIDDEN
        );
        assert_eq!(
            preflight(
                Some(&c),
                &headers(&[("access-control-request-method", "GET")])
            )
            .unwrap_err()
            .status(),
            http::StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn actual_responses_carry_the_allowed_origin() {
        let c = Config::parse(DOC.as_bytes()).unwrap();
        let mut out = HeaderMap::new();
        actual(&c, &Method::GET, "http://127.0.0.1:1", &mut out);
        assert_eq!(out["access-control-allow-origin"], "http://127.0.0.1:1");
        assert_eq!(out["access-control-expose-headers"], "ETag");
        let mut none = HeaderMap::new();
        actual(&c, &Method::DELETE, "http://127.0.0.1:1", &mut none);
        assert!(none.is_empty());
    }
}

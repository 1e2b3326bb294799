//! Browser-based uploads (S3's POST Object): the signature of an HTML form
//! and the POST policy it signs.
//!
//! A form carries a base64 `policy` (a JSON document with an `expiration`
//! and a list of `conditions` on the other fields) and a signature of that
//! base64 text, not of the request:
//!
//! - SigV4: `x-amz-algorithm` (`AWS4-HMAC-SHA256`), `x-amz-credential`
//!   (`AK/YYYYMMDD/region/s3/aws4_request`), `x-amz-date` and
//!   `x-amz-signature`, the hex HMAC-SHA256 of the policy with the key
//!   derived as for every SigV4 signature.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-authentication-HTTPPOST.html>
//! - SigV2: `AWSAccessKeyId` and `signature`, the base64 HMAC-SHA1 of the
//!   policy with the secret key.
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/HTTPPOSTForms.html>
//!
//! Temporary credentials add `x-amz-security-token`. A form with none of
//! these fields is anonymous ([`AuthError::MissingAuthentication`]).
//!
//! The policy: <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html>.
//! Conditions are `{"field": "value"}` (exact match), `["eq", "$field",
//! "value"]`, `["starts-with", "$field", "prefix"]` (an empty prefix allows
//! any value) and `["content-length-range", min, max]`; field names and
//! operators are case-insensitive, values are not. Every field of the form
//! must be named by a condition, except the signature fields, `policy`,
//! `file` and those starting `x-ignore-`.
//!
//! Field names given to this module are lower-case.

use std::time::SystemTime;

use base64::Engine as _;
use serde_json::Value;

use crate::authorization::{parse_amz_date, parse_credential_for, AuthKind};
use crate::credentials::CredentialStore;
use crate::error::AuthError;
use crate::sigv4::{secret_for, signatures_match, SigningContext, Verified};

/// The fields of a form, names lower-cased, in the order sent.
pub type FormFields = [(String, String)];

fn field<'a>(fields: &'a FormFields, name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn missing_field(name: &str) -> AuthError {
    AuthError::InvalidArgument(format!(
        "Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."
    ))
}

/// Verify the signature of a form's policy. Anonymous forms (no signature
/// fields) answer [`AuthError::MissingAuthentication`].
pub fn verify_post_form(
    fields: &FormFields,
    store: &dyn CredentialStore,
    region: &str,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let sigv4 = ["x-amz-algorithm", "x-amz-credential", "x-amz-signature"]
        .iter()
        .any(|n| field(fields, n).is_some());
    let sigv2 = ["awsaccesskeyid", "signature"]
        .iter()
        .any(|n| field(fields, n).is_some());
    if !sigv4 && !sigv2 {
        if field(fields, "policy").is_some() {
            return Err(missing_field("AWSAccessKeyId"));
        }
        return Err(AuthError::MissingAuthentication);
    }
    let required = |name: &'static str| field(fields, name).ok_or_else(|| missing_field(name));
    let token = field(fields, "x-amz-security-token");
    if sigv4 {
        let algorithm = required("x-amz-algorithm")?;
        if algorithm != crate::canonical::ALGORITHM {
            return Err(AuthError::InvalidArgument(format!(
                "Unsupported x-amz-algorithm: {algorithm}. Only AWS4-HMAC-SHA256 is supported."
            )));
        }
        let credential = required("x-amz-credential")?;
        let amz_date = required("x-amz-date")?;
        let signature = required("x-amz-signature")?;
        let policy = required("policy")?;
        let credential =
            parse_credential_for(credential, region, "s3", AuthKind::Header).map_err(|e| {
                AuthError::InvalidArgument(format!("Invalid x-amz-credential: {}", e.message()))
            })?;
        let time = parse_amz_date(amz_date).ok_or_else(|| {
            AuthError::InvalidArgument(format!(
                "Invalid x-amz-date: {amz_date}; expecting YYYYMMDDTHHMMSSZ"
            ))
        })?;
        if !amz_date.starts_with(&credential.date) {
            return Err(AuthError::InvalidArgument(
                "The date of x-amz-credential is not that of x-amz-date".to_owned(),
            ));
        }
        let (secret, session) = secret_for(store, &credential.access_key, token, now)?;
        let signing = SigningContext::new(&secret, time, &credential, amz_date.to_owned())?;
        if !signatures_match(&signing.sign(policy), signature) {
            return Err(AuthError::SignatureDoesNotMatch);
        }
        return Ok(Verified::post_form(credential.access_key, session));
    }
    let access_key = required("awsaccesskeyid")?;
    let signature = required("signature")?;
    let policy = required("policy")?;
    let (secret, session) = secret_for(store, access_key, token, now)?;
    if !crate::sigv2::signature_matches(&secret, policy, signature) {
        return Err(AuthError::SignatureDoesNotMatch);
    }
    Ok(Verified::post_form(access_key.to_owned(), session))
}

/// Why a form does not satisfy its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostPolicyError {
    /// The document is not a valid policy (S3's InvalidPolicyDocument, 400).
    Invalid(String),
    /// The form breaks the policy (S3's AccessDenied, 403, "Invalid
    /// according to Policy: ...").
    Denied(String),
}

impl PostPolicyError {
    /// The message S3 answers with.
    pub fn message(&self) -> String {
        match self {
            Self::Invalid(m) => format!("Invalid Policy: {m}"),
            Self::Denied(m) => format!("Invalid according to Policy: {m}"),
        }
    }
}

/// One condition of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    /// The field (lower-case, without `$`) equals the value.
    Eq(String, String),
    /// The field starts with the value.
    StartsWith(String, String),
    /// The file's size is within `min..=max`.
    LengthRange(u64, u64),
}

/// A parsed POST policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    conditions: Vec<Condition>,
}

/// Field names that need no condition: the signature and the policy
/// itself, the file, and `x-ignore-*`.
fn exempt(name: &str) -> bool {
    matches!(
        name,
        "file" | "policy" | "x-amz-signature" | "signature" | "awsaccesskeyid"
    ) || name.starts_with("x-ignore-")
}

fn invalid(msg: impl Into<String>) -> PostPolicyError {
    PostPolicyError::Invalid(msg.into())
}

/// `2007-12-01T12:00:00.000Z` (ISO 8601 in UTC, with or without fractions).
fn parse_expiration(text: &str) -> Option<SystemTime> {
    use time::format_description::well_known::Rfc3339;
    if text.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    time::OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(SystemTime::from)
}

fn field_name(value: &Value) -> Result<String, PostPolicyError> {
    let name = value
        .as_str()
        .and_then(|s| s.strip_prefix('$'))
        .ok_or_else(|| invalid("Condition field names must start with '$'."))?;
    Ok(name.to_ascii_lowercase())
}

fn length_bound(value: &Value) -> Result<u64, PostPolicyError> {
    let n = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(invalid(
            "Invalid content-length-range: the bounds must be non-negative integers.",
        )),
    }
}

fn parse_condition(value: &Value) -> Result<Condition, PostPolicyError> {
    match value {
        Value::Object(map) => {
            let mut entries = map.iter();
            let (Some((name, value)), None) = (entries.next(), entries.next()) else {
                return Err(invalid(
                    "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.",
                ));
            };
            let Value::String(value) = value else {
                return Err(invalid(format!(
                    "Invalid Simple-Condition: the value of '{name}' must be a string."
                )));
            };
            Ok(Condition::Eq(name.to_ascii_lowercase(), value.clone()))
        }
        Value::Array(items) => {
            let op = items
                .first()
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| invalid("Invalid condition: the operation must be a string."))?;
            match op.as_str() {
                "eq" | "starts-with" => {
                    let [_, name, Value::String(value)] = items.as_slice() else {
                        return Err(invalid(format!(
                            "Invalid '{op}' condition: expecting [\"{op}\", \"$field\", \"value\"]."
                        )));
                    };
                    let name = field_name(name)?;
                    Ok(if op == "eq" {
                        Condition::Eq(name, value.clone())
                    } else {
                        Condition::StartsWith(name, value.clone())
                    })
                }
                "content-length-range" => {
                    let [_, min, max] = items.as_slice() else {
                        return Err(invalid(
                            "Invalid content-length-range: expecting [\"content-length-range\", min, max].",
                        ));
                    };
                    let (min, max) = (length_bound(min)?, length_bound(max)?);
                    if min > max {
                        return Err(invalid(
                            "Invalid content-length-range: the minimum exceeds the maximum.",
                        ));
                    }
                    Ok(Condition::LengthRange(min, max))
                }
                other => Err(invalid(format!("Invalid condition operation: {other}."))),
            }
        }
        _ => Err(invalid(
            "Invalid condition: each condition must be an object or a list.",
        )),
    }
}

impl PostPolicy {
    /// Decode and parse the base64 policy of a form, refusing it once
    /// expired at `now`.
    pub fn parse(base64_policy: &str, now: SystemTime) -> Result<Self, PostPolicyError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(base64_policy.trim())
            .map_err(|_| invalid("the policy is not valid base64."))?;
        let doc: Value =
            serde_json::from_slice(&raw).map_err(|_| invalid("the policy is not valid JSON."))?;
        let Value::Object(doc) = doc else {
            return Err(invalid("the policy must be a JSON object."));
        };
        let expiration = doc
            .get("expiration")
            .ok_or_else(|| invalid("Policy missing expiration."))?;
        let expires = expiration
            .as_str()
            .and_then(parse_expiration)
            .ok_or_else(|| {
                invalid(format!(
                    "Invalid 'expiration' value: '{}'",
                    expiration.as_str().unwrap_or_default()
                ))
            })?;
        let Some(Value::Array(list)) = doc.get("conditions") else {
            return Err(invalid("Policy missing conditions."));
        };
        let conditions = list
            .iter()
            .map(parse_condition)
            .collect::<Result<Vec<_>, _>>()?;
        if now > expires {
            return Err(PostPolicyError::Denied("Policy expired.".to_owned()));
        }
        Ok(PostPolicy { conditions })
    }

    /// The file's size range, if the policy sets one.
    pub fn content_length_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().find_map(|c| match c {
            Condition::LengthRange(min, max) => Some((*min, *max)),
            _ => None,
        })
    }

    /// Check the form: `fields` (names lower-case; `key` with `${filename}`
    /// already replaced) posted to `bucket`. Every condition must hold and
    /// every field must be named by one (the exempt ones aside).
    pub fn check(&self, bucket: &str, fields: &FormFields) -> Result<(), PostPolicyError> {
        let value = |name: &str| -> &str {
            if name == "bucket" {
                bucket
            } else {
                field(fields, name).unwrap_or_default()
            }
        };
        for condition in &self.conditions {
            let failed = match condition {
                Condition::Eq(name, want) => {
                    (value(name) != want).then(|| format!("[\"eq\", \"${name}\", \"{want}\"]"))
                }
                Condition::StartsWith(name, prefix) => {
                    let ok = if name == "content-type" {
                        // A list of types: each must start with the prefix.
                        value(name)
                            .split(',')
                            .all(|t| t.trim_start().starts_with(prefix.as_str()))
                    } else {
                        value(name).starts_with(prefix.as_str())
                    };
                    (!ok).then(|| format!("[\"starts-with\", \"${name}\", \"{prefix}\"]"))
                }
                Condition::LengthRange(..) => None,
            };
            if let Some(which) = failed {
                return Err(PostPolicyError::Denied(format!(
                    "Policy Condition failed: {which}"
                )));
            }
        }
        let named = |name: &str| {
            self.conditions.iter().any(|c| match c {
                Condition::Eq(n, _) | Condition::StartsWith(n, _) => n == name,
                Condition::LengthRange(..) => false,
            })
        };
        let extra: Vec<&str> = fields
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !exempt(n) && !named(n))
            .collect();
        if !extra.is_empty() {
            return Err(PostPolicyError::Denied(format!(
                "Extra input fields: {}",
                extra.join(", ")
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{at, store, AK, REGION, SK};
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// SigV4's key derivation, written out independently of the crate's.
    fn sigv4(secret: &str, date: &str, text: &str) -> String {
        let mac = |key: &[u8], data: &str| {
            let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
            m.update(data.as_bytes());
            m.finalize().into_bytes().to_vec()
        };
        let k = mac(format!("AWS4{secret}").as_bytes(), date);
        let k = mac(&k, REGION);
        let k = mac(&k, "s3");
        let k = mac(&k, "aws4_request");
        hex::encode(mac(&k, text))
    }

    fn sigv2(secret: &str, text: &str) -> String {
        let mut m = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
        m.update(text.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
    }

    #[test]
    fn sigv4_form_signature() {
        let policy = b64(r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[]}"#);
        let now = at("20240102T030405Z");
        let sig = sigv4(SK, "20240102", &policy);
        let credential = format!("{AK}/20240102/{REGION}/s3/aws4_request");
        let mut fields = f(&[
            ("key", "a"),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-credential", &credential),
            ("x-amz-date", "20240102T030405Z"),
            ("policy", &policy),
            ("x-amz-signature", &sig),
        ]);
        let v = verify_post_form(&fields, &store(), REGION, now).unwrap();
        assert_eq!(v.access_key, AK);
        assert!(!v.is_anonymous());
        // Upper-case hex is the same signature.
        fields[5].1 = sig.to_ascii_uppercase();
        assert!(verify_post_form(&fields, &store(), REGION, now).is_ok());
        fields[5].1 = sigv4("wrong", "20240102", &policy);
        assert_eq!(
            verify_post_form(&fields, &store(), REGION, now).unwrap_err(),
            AuthError::SignatureDoesNotMatch
        );
        fields.remove(5);
        let e = verify_post_form(&fields, &store(), REGION, now).unwrap_err();
        assert_eq!(e.s3_code(), "InvalidArgument");
        assert!(e.message().contains("x-amz-signature"), "{}", e.message());
        // A credential for another region.
        let mut other = f(&[
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            (
                "x-amz-credential",
                &format!("{AK}/20240102/eu-west-1/s3/aws4_request"),
            ),
            ("x-amz-date", "20240102T030405Z"),
            ("policy", &policy),
            ("x-amz-signature", &sig),
        ]);
        assert_eq!(
            verify_post_form(&other, &store(), REGION, now)
                .unwrap_err()
                .s3_code(),
            "InvalidArgument"
        );
        other[1].1 = format!("NOSUCHKEY/20240102/{REGION}/s3/aws4_request");
        assert_eq!(
            verify_post_form(&other, &store(), REGION, now).unwrap_err(),
            AuthError::InvalidAccessKeyId
        );
    }

    #[test]
    fn sigv2_form_signature_and_anonymous() {
        let policy = b64(r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[]}"#);
        let now = at("20240102T030405Z");
        let sig = sigv2(SK, &policy);
        let mut fields = f(&[
            ("awsaccesskeyid", AK),
            ("policy", &policy),
            ("signature", &sig),
        ]);
        assert_eq!(
            verify_post_form(&fields, &store(), REGION, now)
                .unwrap()
                .access_key,
            AK
        );
        fields[2].1 = sigv2("other-secret", &policy);
        assert_eq!(
            verify_post_form(&fields, &store(), REGION, now).unwrap_err(),
            AuthError::SignatureDoesNotMatch
        );
        fields.remove(2);
        assert_eq!(
            verify_post_form(&fields, &store(), REGION, now)
                .unwrap_err()
                .s3_code(),
            "InvalidArgument"
        );
        let anonymous = f(&[("key", "a"), ("content-type", "text/plain")]);
        assert_eq!(
            verify_post_form(&anonymous, &store(), REGION, now).unwrap_err(),
            AuthError::MissingAuthentication
        );
        // A policy needs a signature.
        let unsigned = f(&[("key", "a"), ("policy", &policy)]);
        assert_eq!(
            verify_post_form(&unsigned, &store(), REGION, now)
                .unwrap_err()
                .s3_code(),
            "InvalidArgument"
        );
    }

    fn policy(conditions: &str) -> Result<PostPolicy, PostPolicyError> {
        let doc =
            format!(r#"{{"expiration":"2030-01-01T00:00:00.000Z","conditions":{conditions}}}"#);
        PostPolicy::parse(&b64(&doc), at("20240102T030405Z"))
    }

    #[test]
    fn policy_documents() {
        let p = policy(
            r#"[{"bUcKeT":"b"},["StArTs-WiTh","$KeY","foo"],["content-length-range",1,10]]"#,
        )
        .unwrap();
        assert_eq!(p.content_length_range(), Some((1, 10)));
        for bad in [
            r#"[{}]"#,
            r#"[{"a":"b","c":"d"}]"#,
            r#"[["content-length-range",0]]"#,
            r#"[["content-length-range",-1,0]]"#,
            r#"[["content-length-range",5,1]]"#,
            r#"[["eq","key","x"]]"#,
            r#"[["matches","$key","x"]]"#,
            r#""not a list""#,
        ] {
            assert!(
                matches!(policy(bad), Err(PostPolicyError::Invalid(_))),
                "{bad}"
            );
        }
        let now = at("20240102T030405Z");
        let parse = |doc: &str| PostPolicy::parse(&b64(doc), now);
        for bad in [
            r#"{"conditions":[]}"#,
            r#"{"EXPIRATION":"2030-01-01T00:00:00Z","conditions":[]}"#,
            r#"{"expiration":"2030-01-01T00:00:00Z","CONDITIONS":[]}"#,
            r#"{"expiration":"2030-01-01 00:00:00.123456+00:00","conditions":[]}"#,
            r#"["expiration"]"#,
        ] {
            assert!(
                matches!(parse(bad), Err(PostPolicyError::Invalid(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            PostPolicy::parse("%%%", now),
            Err(PostPolicyError::Invalid(_))
        ));
        let expired = parse(r#"{"expiration":"2020-01-01T00:00:00Z","conditions":[]}"#);
        assert_eq!(
            expired.unwrap_err().message(),
            "Invalid according to Policy: Policy expired."
        );
    }

    #[test]
    fn conditions() {
        let p = policy(
            r#"[{"bucket":"b"},["starts-with","$key","user/"],{"acl":"private"},
                ["starts-with","$Content-Type","image/"],["eq","$x-amz-meta-a","1"],
                ["starts-with","$x-amz-meta-any",""]]"#,
        )
        .unwrap();
        let good = f(&[
            ("key", "user/x.png"),
            ("acl", "private"),
            ("content-type", "image/png"),
            ("x-amz-meta-a", "1"),
            ("x-amz-meta-any", "whatever"),
            ("policy", "p"),
            ("x-amz-signature", "s"),
            ("x-ignore-note", "n"),
        ]);
        assert_eq!(p.check("b", &good), Ok(()));
        assert!(matches!(
            p.check("other", &good),
            Err(PostPolicyError::Denied(m)) if m.contains("$bucket")
        ));
        let mut wrong_key = good.clone();
        wrong_key[0].1 = "admin/x".into();
        assert!(
            matches!(p.check("b", &wrong_key), Err(PostPolicyError::Denied(m)) if m.contains("$key"))
        );
        // A missing field is an empty value: a condition on it fails.
        let missing: Vec<_> = good
            .iter()
            .filter(|(n, _)| n != "x-amz-meta-a")
            .cloned()
            .collect();
        assert!(p.check("b", &missing).is_err());
        // Values are case-sensitive.
        let mut case = good.clone();
        case[1].1 = "Private".into();
        assert!(p.check("b", &case).is_err());
        // A field no condition names.
        let mut extra = good.clone();
        extra.push(("x-amz-meta-extra".into(), "1".into()));
        assert_eq!(
            p.check("b", &extra).unwrap_err().message(),
            "Invalid according to Policy: Extra input fields: x-amz-meta-extra"
        );
        // Several content types must each match.
        let mut types = good.clone();
        types[2].1 = "image/png, text/plain".into();
        assert!(p.check("b", &types).is_err());
    }
}

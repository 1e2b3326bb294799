//! Signature Version 2 (HMAC-SHA1), which S3 still accepts and clients still
//! send: boto3's `generate_presigned_url` with a default client in
//! us-east-1 and `aws s3 presign` make SigV2 query-string URLs
//! (`AWSAccessKeyId`, `Signature`, `Expires`), and older tools sign headers
//! with `Authorization: AWS AccessKeyId:Signature`. SigV4 stays the
//! documented way; this module only verifies.
//!
//! Rules: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/RESTAuthentication.html>
//!
//! ```text
//! StringToSign = HTTP-Verb "\n" Content-MD5 "\n" Content-Type "\n"
//!                Date (or Expires) "\n" CanonicalizedAmzHeaders CanonicalizedResource
//! ```
//!
//! - `Date` is the `Date` header, or empty when `x-amz-date` is sent (it is
//!   then among the amz headers); a presigned URL has `Expires` (seconds
//!   since the epoch) in its place.
//! - CanonicalizedAmzHeaders: every `x-amz-*` header, lower-cased, values
//!   trimmed, repeated headers joined with `,`, sorted, each `name:value\n`.
//!   A presigned URL carries them (the session token among them) as query
//!   parameters, as botocore's HmacV1QueryAuth writes them.
//! - CanonicalizedResource: `/bucket` for virtual-host requests, then the
//!   path as sent, then the sub-resources of the query (the list below,
//!   botocore's), sorted, with their decoded values.
//!
//! Signatures are compared in constant time; header requests must be within
//! 15 minutes of the server's clock, presigned URLs must not have expired and
//! may not expire more than 7 days ahead (SigV4's limit).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq as _;

use crate::authorization::{param, query_params};
use crate::credentials::CredentialStore;
use crate::error::AuthError;
use crate::sigv4::{parse_date_header, secret_for, RequestParts, Verified, MAX_SKEW};

/// Longest a presigned URL may be valid, as for SigV4.
const MAX_EXPIRES: Duration = Duration::from_secs(7 * 24 * 3600);

/// Query parameters that are part of the signed resource.
const SUB_RESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
    "encryption",
];

fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map_or("", str::trim)
}

/// CanonicalizedAmzHeaders from the request's `x-amz-*` headers and, for a
/// presigned URL, its `x-amz-*` query parameters.
fn amz_headers(headers: &http::HeaderMap, query: &[(String, String)]) -> String {
    let mut amz: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |name: String, value: &str| {
        // Folded whitespace becomes one space.
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        match amz.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => amz.push((name, vec![value])),
        }
    };
    for (name, value) in headers {
        let name = name.as_str();
        if name.starts_with("x-amz-") {
            add(name.to_owned(), value.to_str().unwrap_or_default());
        }
    }
    for (name, value) in query {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("x-amz-") {
            add(lower, value);
        }
    }
    amz.sort_by(|a, b| a.0.cmp(&b.0));
    amz.iter()
        .map(|(name, values)| format!("{name}:{}\n", values.join(",")))
        .collect()
}

/// CanonicalizedResource: the bucket of a virtual-host request, the path as
/// sent, and the signed sub-resources.
fn resource(req: &RequestParts<'_>, query: &[(String, String)]) -> String {
    let path = req.uri.path();
    resource_for(req, if path.is_empty() { "/" } else { path }, query)
}

/// The resources a signature may cover: the path as sent and, for a bucket
/// addressed path-style without its trailing slash, the bucket with it
/// (botocore signs `/bucket/` and sends `/bucket`; S3 takes both).
fn resources(req: &RequestParts<'_>, query: &[(String, String)]) -> Vec<String> {
    let mut out = vec![resource(req, query)];
    let path = req.uri.path();
    let bucket_only = path.len() > 1 && !path[1..].contains('/');
    if req.virtual_bucket.is_none() && bucket_only {
        out.push(resource_for(req, &format!("{path}/"), query));
    }
    out
}

fn resource_for(req: &RequestParts<'_>, path: &str, query: &[(String, String)]) -> String {
    let mut out = String::new();
    if let Some(bucket) = req.virtual_bucket {
        out.push('/');
        out.push_str(bucket);
    }
    out.push_str(path);
    let mut subs: Vec<(&str, &str)> = query
        .iter()
        .filter(|(n, _)| SUB_RESOURCES.contains(&n.as_str()))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    subs.sort_by(|a, b| a.0.cmp(b.0));
    // A sub-resource sent without `=` (`?uploads`) is signed without a value.
    let raw = req.uri.query().unwrap_or_default();
    for (i, (name, value)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        let bare = raw.split('&').any(|p| p == *name);
        if !(value.is_empty() && bare) {
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

fn string_to_sign(
    req: &RequestParts<'_>,
    query: &[(String, String)],
    date: &str,
    amz: &str,
    resource: &str,
) -> String {
    let param_or_header = |name: &str| {
        let h = header(req.headers, name);
        if h.is_empty() {
            param(query, name).unwrap_or_default().trim().to_owned()
        } else {
            h.to_owned()
        }
    };
    format!(
        "{}\n{}\n{}\n{}\n{}{}",
        req.method.as_str(),
        param_or_header("content-md5"),
        param_or_header("content-type"),
        date,
        amz,
        resource,
    )
}

fn sign(secret: &str, text: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `provided` is the base64 HMAC-SHA1 of `text` with `secret`
/// (compared in constant time): a POST form's policy signature.
pub(crate) fn signature_matches(secret: &str, text: &str, provided: &str) -> bool {
    let expected = sign(secret, text);
    expected.as_bytes().ct_eq(provided.trim().as_bytes()).into()
}

/// Whether `provided` is the signature of the request for one of its
/// possible resources (each compared in constant time). `signed_query`
/// holds what a presigned URL carries in place of headers (empty for header
/// signatures), `amz` the CanonicalizedAmzHeaders; sub-resources come from
/// the request's query either way.
fn check(
    req: &RequestParts<'_>,
    signed_query: &[(String, String)],
    date: &str,
    amz: &str,
    secret: &str,
    provided: &str,
) -> Result<(), AuthError> {
    // A `+` of the base64 signature left unencoded in a URL reads as a space.
    let provided = provided.trim().replace(' ', "+");
    let query = query_params(req.uri.query());
    let mut matched = false;
    for resource in resources(req, &query) {
        let expected = sign(
            secret,
            &string_to_sign(req, signed_query, date, amz, &resource),
        );
        matched |= bool::from(expected.as_bytes().ct_eq(provided.as_bytes()));
    }
    if matched {
        Ok(())
    } else {
        Err(AuthError::SignatureDoesNotMatch)
    }
}

/// `Authorization: AWS AccessKeyId:Signature`.
pub(crate) fn verify_header(
    req: &RequestParts<'_>,
    value: &str,
    store: &dyn CredentialStore,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let malformed = || {
        AuthError::InvalidArgument(
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature".to_owned(),
        )
    };
    let rest = value.strip_prefix("AWS ").ok_or_else(malformed)?;
    let (access_key, signature) = rest.trim().rsplit_once(':').ok_or_else(malformed)?;
    if access_key.is_empty() || signature.is_empty() {
        return Err(malformed());
    }
    let bad_date = || {
        AuthError::AccessDenied(
            "AWS authentication requires a valid Date or x-amz-date header".to_owned(),
        )
    };
    let (date_field, time) = match req.headers.get("x-amz-date") {
        Some(v) => {
            let t = parse_date_header(v.to_str().map_err(|_| bad_date())?).ok_or_else(bad_date)?;
            (String::new(), t)
        }
        None => {
            let date = header(req.headers, "date");
            (
                date.to_owned(),
                parse_date_header(date).ok_or_else(bad_date)?,
            )
        }
    };
    let skew = now.duration_since(time).unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(AuthError::RequestTimeTooSkewed);
    }
    let token = req
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    let (secret, session) = secret_for(store, access_key, token, now)?;
    let amz = amz_headers(req.headers, &[]);
    check(req, &[], &date_field, &amz, &secret, signature)?;
    Ok(Verified::sigv2(access_key.to_owned(), false, session))
}

/// A presigned URL: `AWSAccessKeyId`, `Signature`, `Expires`.
pub(crate) fn verify_query(
    req: &RequestParts<'_>,
    query: &[(String, String)],
    store: &dyn CredentialStore,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let access_key = param(query, "AWSAccessKeyId").unwrap_or_default();
    let signature = param(query, "Signature").unwrap_or_default();
    let expires_text = param(query, "Expires").ok_or_else(|| {
        AuthError::AccessDenied(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
                .to_owned(),
        )
    })?;
    let expires = expires_text
        .trim()
        .parse::<u64>()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        .map_err(|_| {
            AuthError::AccessDenied(format!(
                "Invalid date (should be seconds since epoch): {expires_text}"
            ))
        })?;
    if now > expires {
        return Err(AuthError::RequestExpired);
    }
    if expires
        .duration_since(now)
        .is_ok_and(|ahead| ahead > MAX_EXPIRES + MAX_SKEW)
    {
        return Err(AuthError::AccessDenied(
            "Expires must be at most 7 days (604800 seconds) from now".to_owned(),
        ));
    }
    // Whoever holds the URL must not add instructions to it.
    let signed_amz: Vec<String> = query
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .filter(|n| n.starts_with("x-amz-"))
        .collect();
    if req
        .headers
        .keys()
        .any(|h| h.as_str().starts_with("x-amz-") && !signed_amz.iter().any(|s| s == h.as_str()))
    {
        return Err(AuthError::AccessDenied(
            "There were headers present in the request which were not signed".to_owned(),
        ));
    }
    let token = param(query, "x-amz-security-token");
    let (secret, session) = secret_for(store, access_key, token, now)?;
    // The amz headers are the query's: every one sent is among them (the
    // check above), so they are not counted twice.
    let amz = amz_headers(&http::HeaderMap::new(), query);
    check(req, query, expires_text.trim(), &amz, &secret, signature)?;
    Ok(Verified::sigv2(access_key.to_owned(), true, session))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::StaticCredentials;

    fn store() -> StaticCredentials {
        StaticCredentials::new([(
            "AKIAIOSFODNN7EXAMPLE".to_owned(),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
        )])
    }

    fn parts<'a>(
        method: &'a http::Method,
        uri: &'a http::Uri,
        headers: &'a http::HeaderMap,
        virtual_bucket: Option<&'a str>,
    ) -> RequestParts<'a> {
        RequestParts {
            method,
            uri,
            headers,
            virtual_bucket,
        }
    }

    /// AWS's own example: GET /photos/puppy.jpg on johnsmith, virtual host.
    #[test]
    fn aws_documentation_example_of_a_header_signature() {
        let method = http::Method::GET;
        let uri: http::Uri = "/photos/puppy.jpg".parse().unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert("date", "Tue, 27 Mar 2007 19:36:42 +0000".parse().unwrap());
        let req = parts(&method, &uri, &headers, Some("johnsmith"));
        let text = string_to_sign(
            &req,
            &[],
            "Tue, 27 Mar 2007 19:36:42 +0000",
            "",
            &resource(&req, &[]),
        );
        assert_eq!(
            text,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg"
        );
        assert_eq!(
            sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &text),
            "bWq2s1WEIj+Ydj0vQ697zp+IXMU="
        );
    }

    /// AWS's upload example: amz headers folded, merged and sorted.
    #[test]
    fn amz_headers_are_canonicalized() {
        let mut headers = http::HeaderMap::new();
        headers.append("x-amz-meta-reviewedby", "joe@example.com".parse().unwrap());
        headers.append("x-amz-meta-reviewedby", "jane@example.com".parse().unwrap());
        headers.append("x-amz-meta-filechecksum", "0x02661779".parse().unwrap());
        headers.append("x-amz-acl", "public-read".parse().unwrap());
        headers.append("x-amz-meta-checksumalgorithm", "  crc32  ".parse().unwrap());
        assert_eq!(
            amz_headers(&headers, &[]),
            "x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\n\
             x-amz-meta-filechecksum:0x02661779\n\
             x-amz-meta-reviewedby:joe@example.com,jane@example.com\n"
        );
    }

    #[test]
    fn a_bucket_is_signed_with_or_without_its_slash() {
        let method = http::Method::GET;
        let uri: http::Uri = "/demo?list-type=2&prefix=v2%2F".parse().unwrap();
        let headers = http::HeaderMap::new();
        let query = query_params(uri.query());
        let req = parts(&method, &uri, &headers, None);
        assert_eq!(resources(&req, &query), ["/demo", "/demo/"]);
        let object: http::Uri = "/demo/key".parse().unwrap();
        assert_eq!(
            resources(&parts(&method, &object, &headers, None), &[]),
            ["/demo/key"]
        );
        let root: http::Uri = "/".parse().unwrap();
        assert_eq!(
            resources(&parts(&method, &root, &headers, Some("demo")), &[]),
            ["/demo/"]
        );
    }

    #[test]
    fn sub_resources_are_signed_sorted_and_decoded() {
        let method = http::Method::GET;
        let uri: http::Uri =
            "/b/k?versionId=3&uploads&response-content-type=text%2Fplain&max-keys=2"
                .parse()
                .unwrap();
        let headers = http::HeaderMap::new();
        let query = query_params(uri.query());
        let req = parts(&method, &uri, &headers, None);
        assert_eq!(
            resource(&req, &query),
            "/b/k?response-content-type=text/plain&uploads&versionId=3"
        );
    }

    fn presigned(expires: u64, extra: &str) -> (http::Uri, String) {
        let text = format!("GET\n\n\n{expires}\n/b/k");
        let sig = sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &text);
        let enc = percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC);
        let uri = format!(
            "/b/k?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires={expires}&Signature={enc}{extra}"
        )
        .parse()
        .unwrap();
        (uri, sig)
    }

    #[test]
    fn presigned_urls_are_checked_and_bounded() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let method = http::Method::GET;
        let headers = http::HeaderMap::new();
        let check_at = |uri: &http::Uri, at: SystemTime| {
            let q = query_params(uri.query());
            verify_query(&parts(&method, uri, &headers, None), &q, &store(), at)
        };
        let (uri, _) = presigned(1_800_003_600, "");
        let v = check_at(&uri, now).unwrap();
        assert!(v.is_presigned());
        assert_eq!(v.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(
            check_at(&uri, now + Duration::from_secs(3601)).unwrap_err(),
            AuthError::RequestExpired
        );
        // A parameter added to the URL that is a sub-resource changes what is signed.
        let (tampered, _) = presigned(1_800_003_600, "&response-content-type=text%2Fhtml");
        assert_eq!(
            check_at(&tampered, now).unwrap_err(),
            AuthError::SignatureDoesNotMatch
        );
        // At most 7 days ahead.
        let (far, _) = presigned(1_800_000_000 + 8 * 24 * 3600, "");
        assert!(matches!(
            check_at(&far, now).unwrap_err(),
            AuthError::AccessDenied(_)
        ));
        // An unsigned x-amz header sent with the URL is refused.
        let mut extra = http::HeaderMap::new();
        extra.insert("x-amz-acl", "public-read".parse().unwrap());
        let q = query_params(uri.query());
        assert!(matches!(
            verify_query(&parts(&method, &uri, &extra, None), &q, &store(), now).unwrap_err(),
            AuthError::AccessDenied(_)
        ));
    }

    #[test]
    fn header_signatures_need_a_fresh_date_and_the_right_key() {
        let method = http::Method::PUT;
        let uri: http::Uri = "/b/k".parse().unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let date = httpdate::fmt_http_date(now);
        let mut headers = http::HeaderMap::new();
        headers.insert("date", date.parse().unwrap());
        headers.insert("content-type", "text/plain".parse().unwrap());
        let text = format!("PUT\n\ntext/plain\n{date}\n/b/k");
        let sig = sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &text);
        let value = format!("AWS AKIAIOSFODNN7EXAMPLE:{sig}");
        let req = parts(&method, &uri, &headers, None);
        assert!(!verify_header(&req, &value, &store(), now)
            .unwrap()
            .is_presigned());
        assert_eq!(
            verify_header(&req, &value, &store(), now + Duration::from_secs(16 * 60)).unwrap_err(),
            AuthError::RequestTimeTooSkewed
        );
        let wrong = format!("AWS AKIAIOSFODNN7EXAMPLE:{}", sign("other", &text));
        assert_eq!(
            verify_header(&req, &wrong, &store(), now).unwrap_err(),
            AuthError::SignatureDoesNotMatch
        );
        assert_eq!(
            verify_header(&req, &format!("AWS NOBODY:{sig}"), &store(), now).unwrap_err(),
            AuthError::InvalidAccessKeyId
        );
        assert!(matches!(
            verify_header(&req, "AWS nonsense", &store(), now).unwrap_err(),
            AuthError::InvalidArgument(_)
        ));
        // Sub-resources of the query are signed with header signatures too.
        let uploads: http::Uri = "/b/k?uploads".parse().unwrap();
        let text = format!("PUT\n\ntext/plain\n{date}\n/b/k?uploads");
        let value = format!(
            "AWS AKIAIOSFODNN7EXAMPLE:{}",
            sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &text)
        );
        let req = parts(&method, &uploads, &headers, None);
        assert!(verify_header(&req, &value, &store(), now).is_ok());
    }
}

//! Verification of SigV4-signed requests, by Authorization header or by
//! presigned URL, yielding a [`Verified`] identity and [`PayloadMode`].
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html>

use std::fmt;
use std::time::{Duration, SystemTime};

use subtle::ConstantTimeEq as _;

use std::sync::Arc;

use crate::authorization::{
    format_amz_date, param, parse_amz_date, parse_authorization, parse_credential_for,
    parse_query_auth, query_params, split_signed_headers, AuthKind, Credential,
};
use crate::canonical::{
    canonical_headers, canonical_query, canonical_request, canonical_uri_candidates,
    chunk_string_to_sign, string_to_sign, trailer_string_to_sign,
};
use crate::credentials::CredentialStore;
use crate::error::AuthError;
use crate::session::Session;

/// Largest allowed distance between the request time and the server time.
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// The parts of a request that a signature covers (the body aside).
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The request method.
    pub method: &'a http::Method,
    /// Exactly as received: raw percent-encoded path and raw query.
    pub uri: &'a http::Uri,
    /// The request headers.
    pub headers: &'a http::HeaderMap,
    /// The bucket named by the Host of a virtual-host-style request (SigV2
    /// signs it as part of the resource); None for path-style requests.
    pub virtual_bucket: Option<&'a str>,
}

/// How the body is protected, from `x-amz-content-sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadMode {
    /// `UNSIGNED-PAYLOAD` (and the presigned default).
    Unsigned,
    /// The SHA-256 of the whole body.
    Sha256([u8; 32]),
    /// aws-chunked with a signature per chunk, optionally signed trailers.
    StreamingSigned {
        /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`.
        trailer: bool,
    },
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, unsigned, with a trailer.
    StreamingUnsignedTrailer,
}

impl PayloadMode {
    /// True for the aws-chunked modes.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            Self::StreamingSigned { .. } | Self::StreamingUnsignedTrailer
        )
    }

    /// Parse an `x-amz-content-sha256` value.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        match value {
            UNSIGNED_PAYLOAD => Ok(Self::Unsigned),
            STREAMING_SIGNED => Ok(Self::StreamingSigned { trailer: false }),
            STREAMING_SIGNED_TRAILER => Ok(Self::StreamingSigned { trailer: true }),
            STREAMING_UNSIGNED_TRAILER => Ok(Self::StreamingUnsignedTrailer),
            v if v.starts_with("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") => {
                Err(AuthError::UnsupportedSignatureVersion)
            }
            v => {
                let mut hash = [0u8; 32];
                match hex::decode_to_slice(v, &mut hash) {
                    Ok(()) => Ok(Self::Sha256(hash)),
                    Err(_) => Err(AuthError::InvalidArgument(
                        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, \
                         STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, \
                         STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value."
                            .to_owned(),
                    )),
                }
            }
        }
    }
}

/// The derived signing key and the fields every later string to sign repeats.
#[derive(Clone)]
pub(crate) struct SigningContext {
    key: [u8; 32],
    pub amz_date: String,
    pub scope: String,
}

impl SigningContext {
    pub(crate) fn new(
        secret: &str,
        time: SystemTime,
        credential: &Credential,
        amz_date: String,
    ) -> Result<Self, AuthError> {
        let derived = aws_sigv4::sign::v4::generate_signing_key(
            secret,
            time,
            &credential.region,
            &credential.service,
        );
        let key = <[u8; 32]>::try_from(derived.as_ref())
            .map_err(|_| AuthError::InvalidRequest("unexpected signing key length".to_owned()))?;
        Ok(Self {
            key,
            amz_date,
            scope: credential.scope(),
        })
    }

    /// Hex HMAC-SHA256 of a string to sign.
    pub fn sign(&self, string_to_sign: &str) -> String {
        aws_sigv4::sign::v4::calculate_signature(self.key, string_to_sign.as_bytes())
    }

    /// Expected signature of a chunk whose data hashes to `chunk_sha256` (hex).
    pub fn chunk_signature(&self, previous: &str, chunk_sha256: &str) -> String {
        self.sign(&chunk_string_to_sign(
            &self.amz_date,
            &self.scope,
            previous,
            chunk_sha256,
        ))
    }

    /// Expected signature of trailing headers whose canonical form hashes to `trailer_sha256`.
    pub fn trailer_signature(&self, previous: &str, trailer_sha256: &str) -> String {
        self.sign(&trailer_string_to_sign(
            &self.amz_date,
            &self.scope,
            previous,
            trailer_sha256,
        ))
    }
}

/// Constant-time comparison of an expected (lower-case hex) signature with a
/// provided one, which may use upper-case hex.
pub(crate) fn signatures_match(expected: &str, provided: &str) -> bool {
    let provided = provided.trim().to_ascii_lowercase();
    expected.as_bytes().ct_eq(provided.as_bytes()).into()
}

/// A request whose signature checked out.
#[derive(Clone)]
pub struct Verified {
    /// The access key id that signed the request.
    pub access_key: String,
    /// How the body is protected.
    pub payload: PayloadMode,
    signing: SigningContext,
    seed_signature: String,
    presigned: bool,
    anonymous: bool,
    /// For temporary credentials: the session they belong to.
    session: Option<Arc<Session>>,
}

impl Verified {
    /// A SigV2-verified request: its body is unsigned (SigV2 covers no
    /// payload; Content-MD5 and checksums still apply).
    pub(crate) fn sigv2(
        access_key: String,
        presigned: bool,
        session: Option<Arc<Session>>,
    ) -> Self {
        Verified {
            access_key,
            presigned,
            anonymous: false,
            session,
            ..Verified::anonymous()
        }
    }

    /// A browser form whose policy signature checked out (SigV4 or SigV2):
    /// the body is the form's, and no signature covers it.
    pub(crate) fn post_form(access_key: String, session: Option<Arc<Session>>) -> Self {
        Verified::sigv2(access_key, false, session)
    }

    /// A request without any signature (no Authorization header, no
    /// presigned parameters; `verify_request` answers
    /// [`AuthError::MissingAuthentication`] for it). Only a bucket policy
    /// that grants anonymous access may let it through. Its body is taken
    /// as `UNSIGNED-PAYLOAD`; its access key is empty.
    pub fn anonymous() -> Self {
        Verified {
            access_key: String::new(),
            payload: PayloadMode::Unsigned,
            signing: SigningContext {
                key: [0; 32],
                amz_date: String::new(),
                scope: String::new(),
            },
            seed_signature: String::new(),
            presigned: false,
            anonymous: true,
            session: None,
        }
    }

    /// The session of temporary credentials (an assumed role); None for
    /// long-term keys and anonymous requests.
    pub fn session(&self) -> Option<&Arc<Session>> {
        self.session.as_ref()
    }

    /// True for [`Verified::anonymous`] requests.
    pub fn is_anonymous(&self) -> bool {
        self.anonymous
    }

    /// True when the request was authenticated by presigned query parameters.
    pub fn is_presigned(&self) -> bool {
        self.presigned
    }

    pub(crate) fn signing(&self) -> &SigningContext {
        &self.signing
    }

    /// The request signature, which the first chunk signature chains from.
    pub(crate) fn seed_signature(&self) -> &str {
        &self.seed_signature
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("access_key", &self.access_key)
            .field("payload", &self.payload)
            .field("presigned", &self.presigned)
            .field("session", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

/// Verify SigV4 (Authorization header, or presigned query parameters).
///
/// The service must be `s3` and the credential region must equal `region`.
/// Header auth needs `x-amz-date` (or `Date`) within 15 minutes of `now` and
/// an `x-amz-content-sha256` header; presigned requests must be within
/// X-Amz-Expires (at most 7 days) and not more than 15 minutes early.
pub fn verify_request(
    req: &RequestParts<'_>,
    store: &dyn CredentialStore,
    region: &str,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    verify_for(req, Service::S3, store, region, now)
}

/// Verify a SigV4-signed STS request (service `sts`), whose body (the form
/// of the query API) has the hex SHA-256 `body_sha256`: the payload hash is
/// the body's, as STS clients send no `x-amz-content-sha256`.
/// <https://docs.aws.amazon.com/STS/latest/APIReference/CommonParameters.html>
pub fn verify_sts_request(
    req: &RequestParts<'_>,
    body_sha256: &str,
    store: &dyn CredentialStore,
    region: &str,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    verify_for(req, Service::Sts { body_sha256 }, store, region, now)
}

/// The service a request is signed for.
#[derive(Debug, Clone, Copy)]
enum Service<'a> {
    S3,
    Sts { body_sha256: &'a str },
}

impl Service<'_> {
    fn name(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Sts { .. } => "sts",
        }
    }
}

/// The secret key a request must be signed with, and its session when it
/// carries a session token (header, or query for presigned URLs).
pub(crate) fn secret_for(
    store: &dyn CredentialStore,
    access_key: &str,
    session_token: Option<&str>,
    now: SystemTime,
) -> Result<(String, Option<Arc<Session>>), AuthError> {
    match session_token {
        Some(token) => {
            let session = store.session(access_key, token, now)?;
            Ok((session.secret_key().to_owned(), Some(session)))
        }
        None => store
            .secret_key(access_key)
            .map(|s| (s, None))
            .ok_or(AuthError::InvalidAccessKeyId),
    }
}

fn verify_for(
    req: &RequestParts<'_>,
    service: Service<'_>,
    store: &dyn CredentialStore,
    region: &str,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let params = query_params(req.uri.query());
    let query_auth = param(&params, "X-Amz-Algorithm").is_some();
    match req.headers.get(http::header::AUTHORIZATION) {
        Some(value) => {
            let value = value.to_str().map_err(|_| {
                AuthError::AuthorizationHeaderMalformed(
                    "the authorization header is not ASCII".to_owned(),
                )
            })?;
            if query_auth {
                return Err(AuthError::InvalidArgument(
                    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
                     Signature query string parameter or the Authorization header should be specified"
                        .to_owned(),
                ));
            }
            if value.starts_with("AWS4-HMAC-SHA256") {
                verify_header_auth(req, service, value, store, region, now)
            } else if value.starts_with("AWS ") && matches!(service, Service::S3) {
                crate::sigv2::verify_header(req, value, store, now)
            } else if value.starts_with("AWS ") || value.starts_with("AWS4-ECDSA") {
                Err(AuthError::UnsupportedSignatureVersion)
            } else {
                Err(AuthError::InvalidArgument(
                    "Unsupported Authorization Type".to_owned(),
                ))
            }
        }
        None if query_auth => verify_query_auth(req, service, &params, store, region, now),
        None if param(&params, "AWSAccessKeyId").is_some()
            && param(&params, "Signature").is_some() =>
        {
            match service {
                Service::S3 => crate::sigv2::verify_query(req, &params, store, now),
                Service::Sts { .. } => Err(AuthError::UnsupportedSignatureVersion),
            }
        }
        None => Err(AuthError::MissingAuthentication),
    }
}

fn header_str<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An HTTP `Date`: IMF-fixdate, and the `+0000` / `-0000` / `UTC` zone
/// spellings that clients (botocore among them) also send. A date whose
/// weekday is wrong for it (`Tue, 07 Jul 2010`, a Wednesday) is still that
/// date: S3 judges it by its distance from now, not by its spelling.
pub(crate) fn parse_date_header(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let gmt = ["+0000", "-0000", "UTC"]
        .iter()
        .find_map(|zone| s.strip_suffix(zone))
        .map(|head| format!("{head}GMT"));
    let spellings = std::iter::once(s.to_owned()).chain(gmt);
    for text in spellings {
        if let Ok(t) = httpdate::parse_http_date(&text) {
            return Some(t);
        }
        if let Some((_, rest)) = text.split_once(", ") {
            let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            if let Some(t) = weekdays
                .iter()
                .find_map(|wd| httpdate::parse_http_date(&format!("{wd}, {rest}")).ok())
            {
                return Some(t);
            }
        }
    }
    None
}

#[cfg(test)]
#[test]
fn dates_with_a_wrong_weekday_or_zone_spelling_parse() {
    let want = httpdate::parse_http_date("Wed, 07 Jul 2010 21:53:04 GMT").unwrap();
    for text in [
        "Wed, 07 Jul 2010 21:53:04 GMT",
        "Tue, 07 Jul 2010 21:53:04 GMT",
        "Tue, 07 Jul 2010 21:53:04 +0000",
        "Wed, 07 Jul 2010 21:53:04 UTC",
    ] {
        assert_eq!(parse_date_header(text), Some(want), "{text}");
    }
    assert_eq!(parse_date_header("07/07/2010"), None);
}

fn verify_header_auth(
    req: &RequestParts<'_>,
    service: Service<'_>,
    value: &str,
    store: &dyn CredentialStore,
    region: &str,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let auth = parse_authorization(value)?;
    let credential =
        parse_credential_for(&auth.credential, region, service.name(), AuthKind::Header)?;
    let signed = split_signed_headers(&auth.signed_headers, AuthKind::Header)?;
    let bad_date = || {
        AuthError::AccessDenied(
            "AWS authentication requires a valid Date or x-amz-date header".to_owned(),
        )
    };
    let (amz_date, time) = if let Some(v) = req.headers.get("x-amz-date") {
        let s = v.to_str().map_err(|_| bad_date())?;
        (s.to_owned(), parse_amz_date(s).ok_or_else(bad_date)?)
    } else if let Some(s) = header_str(req.headers, "date") {
        let time = parse_date_header(s).ok_or_else(bad_date)?;
        (format_amz_date(time).ok_or_else(bad_date)?, time)
    } else {
        return Err(bad_date());
    };
    if !amz_date.starts_with(&credential.date) {
        return Err(AuthKind::Header
            .malformed("Invalid credential date. Date is not the same as X-Amz-Date."));
    }
    let skew = now.duration_since(time).unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(AuthError::RequestTimeTooSkewed);
    }
    let header_sha256 = match req.headers.get("x-amz-content-sha256") {
        Some(v) => Some(v.to_str().map_err(|_| {
            AuthError::InvalidArgument("x-amz-content-sha256 is not ASCII".to_owned())
        })?),
        None => None,
    };
    let content_sha256 = match (service, header_sha256) {
        (Service::S3, Some(h)) => h,
        (Service::S3, None) => return Err(AuthError::MissingContentSha256),
        (Service::Sts { body_sha256 }, Some(h)) if !h.eq_ignore_ascii_case(body_sha256) => {
            return Err(AuthError::XAmzContentSHA256Mismatch)
        }
        (Service::Sts { body_sha256 }, _) => body_sha256,
    };
    let payload = PayloadMode::parse(content_sha256)?;
    let token = header_str(req.headers, "x-amz-security-token");
    let (secret, session) = secret_for(store, &credential.access_key, token, now)?;
    let signing = SigningContext::new(&secret, time, &credential, amz_date)?;
    let seed_signature = check_signature(
        req,
        &signing,
        &signed,
        &auth.signed_headers,
        None,
        content_sha256,
        &auth.signature,
    )?;
    Ok(Verified {
        access_key: credential.access_key,
        payload,
        signing,
        seed_signature,
        presigned: false,
        anonymous: false,
        session,
    })
}

/// Whether an `x-amz-*` header other than x-amz-content-sha256 is present
/// but not signed.
fn has_unsigned_amz_header(headers: &http::HeaderMap, signed: &[&str]) -> bool {
    headers.keys().any(|name| {
        let name = name.as_str();
        name.starts_with("x-amz-")
            && name != "x-amz-content-sha256"
            && !signed.iter().any(|s| s.eq_ignore_ascii_case(name))
    })
}

fn verify_query_auth(
    req: &RequestParts<'_>,
    service: Service<'_>,
    params: &[(String, String)],
    store: &dyn CredentialStore,
    region: &str,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let auth = parse_query_auth(params)?;
    let credential =
        parse_credential_for(&auth.credential, region, service.name(), AuthKind::Query)?;
    let signed = split_signed_headers(&auth.signed_headers, AuthKind::Query)?;
    // Whoever holds a presigned URL must not add instructions to it: every
    // x-amz-* header must be among the signed ones (as S3 requires).
    if has_unsigned_amz_header(req.headers, &signed) {
        return Err(AuthError::AccessDenied(
            "There were headers present in the request which were not signed".to_owned(),
        ));
    }
    let time = parse_amz_date(&auth.amz_date).ok_or_else(|| {
        AuthKind::Query
            .malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    })?;
    if !auth.amz_date.starts_with(&credential.date) {
        return Err(AuthKind::Query
            .malformed("Invalid credential date. Date is not the same as X-Amz-Date."));
    }
    if time.duration_since(now).is_ok_and(|ahead| ahead > MAX_SKEW) {
        return Err(AuthError::RequestNotYetValid);
    }
    let expiry = time
        .checked_add(Duration::from_secs(auth.expires))
        .ok_or(AuthError::RequestExpired)?;
    if now > expiry {
        return Err(AuthError::RequestExpired);
    }
    // Presigned URLs sign UNSIGNED-PAYLOAD unless the client signed a content
    // hash. The body is handled as x-amz-content-sha256 says even when that
    // header is not signed: its checks can only add to an unsigned payload.
    let sha256_header = header_str(req.headers, "x-amz-content-sha256");
    let sha256_header_signed = signed
        .iter()
        .any(|n| n.eq_ignore_ascii_case("x-amz-content-sha256"));
    let payload_hash = sha256_header
        .filter(|_| sha256_header_signed)
        .or_else(|| param(params, "X-Amz-Content-Sha256"))
        .unwrap_or(UNSIGNED_PAYLOAD);
    let payload = PayloadMode::parse(sha256_header.unwrap_or(payload_hash))?;
    // A presigned URL's token is a query parameter (or, rarely, a header);
    // it can never outlive its session: the session's expiry is checked at
    // every use.
    let token = param(params, "X-Amz-Security-Token")
        .or_else(|| header_str(req.headers, "x-amz-security-token"));
    let (secret, session) = secret_for(store, &credential.access_key, token, now)?;
    let signing = SigningContext::new(&secret, time, &credential, auth.amz_date.clone())?;
    let seed_signature = check_signature(
        req,
        &signing,
        &signed,
        &auth.signed_headers,
        Some("X-Amz-Signature"),
        payload_hash,
        &auth.signature,
    )?;
    Ok(Verified {
        access_key: credential.access_key,
        payload,
        signing,
        seed_signature,
        presigned: true,
        anonymous: false,
        session,
    })
}

/// Rebuild the canonical request the client signed and compare signatures.
/// Returns the matching (lower-case) signature.
fn check_signature(
    req: &RequestParts<'_>,
    signing: &SigningContext,
    signed: &[&str],
    signed_list: &str,
    exclude_param: Option<&str>,
    payload_hash: &str,
    provided: &str,
) -> Result<String, AuthError> {
    let headers = canonical_headers(signed, req.headers, req.uri);
    let raw_query = req.uri.query();
    let mut queries = vec![canonical_query(raw_query, exclude_param, false)];
    if raw_query.is_some_and(|q| q.contains('+')) {
        queries.push(canonical_query(raw_query, exclude_param, true));
    }
    for path in canonical_uri_candidates(req.uri.path()) {
        for query in &queries {
            let creq = canonical_request(
                req.method.as_str(),
                &path,
                query,
                &headers,
                signed_list,
                payload_hash,
            );
            let expected = signing.sign(&string_to_sign(&signing.amz_date, &signing.scope, &creq));
            if signatures_match(&expected, provided) {
                return Ok(expected);
            }
        }
    }
    Err(AuthError::SignatureDoesNotMatch)
}

#[cfg(test)]
mod tests;

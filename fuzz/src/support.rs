//! What the targets share: the example credentials, a signer built on
//! aws-sigv4 (the reference the verifier must agree with), bounded readers
//! of structured input and a drain for in-memory streams.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Unstructured;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use blobgate_auth::{AuthError, RequestParts, StaticCredentials, Verified};
use bytes::Bytes;
use futures_core::Stream;

pub const AK: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const REGION: &str = "us-east-1";

pub fn store() -> StaticCredentials {
    StaticCredentials::new([(AK.to_owned(), SK.to_owned())])
}

/// The time requests are signed at (2024-01-02T03:04:05Z).
pub fn sign_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_704_164_645)
}

/// How a request is signed, as the S3 SDKs do it.
pub struct Signing {
    pub presign: Option<Duration>,
    pub payload: SignableBody<'static>,
}

/// Sign `req` in place with aws-sigv4 (single URI encoding, no path
/// normalisation, x-amz-content-sha256 added, as the S3 SDKs configure it);
/// returns the signature, or None if aws-sigv4 refuses the request.
pub fn sign_request(req: &mut http::Request<()>, how: Signing) -> Option<String> {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    if let Some(expires) = how.presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
    }
    let identity: Identity =
        aws_credential_types::Credentials::new(AK, SK, None, None, "fuzz").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("s3")
        .time(sign_time())
        .settings(settings)
        .build()
        .ok()?
        .into();
    let uri = req.uri().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        how.payload,
    )
    .ok()?;
    let (instructions, signature) = sign(signable, &params).ok()?.into_parts();
    instructions.apply_to_request_http1x(req);
    Some(signature)
}

/// Verify `req` as the gateway does, `after` the signing time.
pub fn verify(req: &http::Request<()>, after: Duration) -> Result<Verified, AuthError> {
    let parts = RequestParts {
        method: req.method(),
        uri: req.uri(),
        headers: req.headers(),
        virtual_bucket: None,
    };
    blobgate_auth::verify_request(&parts, &store(), REGION, sign_time() + after)
}

/// Bytes of at most `max` length.
pub fn bytes_upto(u: &mut Unstructured<'_>, max: usize) -> arbitrary::Result<Vec<u8>> {
    let len = u.int_in_range(0..=max)?;
    Ok(u.bytes(len)?.to_vec())
}

/// A string of at most `max` characters from `alphabet`.
pub fn string_from(
    u: &mut Unstructured<'_>,
    alphabet: &[u8],
    max: usize,
) -> arbitrary::Result<String> {
    let len = u.int_in_range(0..=max)?;
    let mut s = String::with_capacity(len);
    for _ in 0..len {
        s.push(char::from(*u.choose(alphabet)?));
    }
    Ok(s)
}

/// Any Unicode string of at most `max` characters.
pub fn unicode_upto(u: &mut Unstructured<'_>, max: usize) -> arbitrary::Result<String> {
    let len = u.int_in_range(0..=max)?;
    (0..len).map(|_| u.arbitrary::<char>()).collect()
}

/// Split `data` into pieces at points chosen from `u` (at least one byte each).
pub fn split(u: &mut Unstructured<'_>, data: &[u8]) -> Vec<Bytes> {
    let mut pieces = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = u.int_in_range(1..=rest.len()).unwrap_or(rest.len());
        pieces.push(Bytes::copy_from_slice(&rest[..n]));
        rest = &rest[n..];
    }
    pieces
}

/// Drain a stream that never pends: the bytes it gave and how it ended.
pub fn drain<S, T, E>(mut stream: S) -> (Vec<u8>, Result<(), E>)
where
    S: Stream<Item = Result<T, E>> + Unpin,
    T: AsRef<[u8]>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    loop {
        match Pin::new(&mut stream).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(b))) => out.extend_from_slice(b.as_ref()),
            Poll::Ready(Some(Err(e))) => return (out, Err(e)),
            Poll::Ready(None) => return (out, Ok(())),
            Poll::Pending => panic!("an in-memory stream pended"),
        }
    }
}

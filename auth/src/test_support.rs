//! Test helpers: the AWS example credentials, a reference signer (aws-sigv4)
//! and a tiny executor for in-memory streams.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use futures_core::Stream;

use crate::authorization::parse_amz_date;
use crate::{verify_request, AuthError, RequestParts, StaticCredentials, Verified};

pub(crate) const AK: &str = "AKIAIOSFODNN7EXAMPLE";
pub(crate) const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub(crate) const REGION: &str = "us-east-1";

/// Headers of the AWS documentation's streaming upload example
/// ("Signature Calculations for the Authorization Header: Transferring
/// Payload in Multiple Chunks").
pub(crate) const DOC_STREAMING_HEADERS: &[(&str, &str)] = &[
    ("x-amz-date", "20130524T000000Z"),
    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
    ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
    ("content-encoding", "aws-chunked"),
    ("x-amz-decoded-content-length", "66560"),
    ("content-length", "66824"),
];

pub(crate) fn store() -> StaticCredentials {
    StaticCredentials::new([
        (AK.to_owned(), SK.to_owned()),
        ("OTHERKEY".to_owned(), "other-secret".to_owned()),
    ])
}

/// A time from `YYYYMMDDTHHMMSSZ`.
pub(crate) fn at(amz: &str) -> SystemTime {
    parse_amz_date(amz).unwrap()
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The time the round-trip tests sign at.
pub(crate) fn sign_time() -> SystemTime {
    at("20240102T030405Z")
}

/// Settings as the S3 SDKs use them: single encoding, no normalisation,
/// x-amz-content-sha256 added.
pub(crate) fn s3_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings
}

pub(crate) fn presign_settings(expires: Duration) -> SigningSettings {
    let mut settings = s3_settings();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    settings
}

pub(crate) fn identity(secret: &str) -> Identity {
    aws_credential_types::Credentials::new(AK, secret, None, None, "test").into()
}

/// v4 signing parameters for the example key at `time`.
pub(crate) fn params<'a>(
    identity: &'a Identity,
    settings: SigningSettings,
    time: SystemTime,
) -> v4::SigningParams<'a, SigningSettings> {
    v4::SigningParams::builder()
        .identity(identity)
        .region(REGION)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
}

/// Sign `req` in place with aws-sigv4; returns the request signature.
pub(crate) fn sign_request(
    req: &mut http::Request<()>,
    body: SignableBody<'_>,
    settings: SigningSettings,
    time: SystemTime,
    secret: &str,
) -> String {
    let identity = identity(secret);
    let params = params(&identity, settings, time).into();
    let uri = req.uri().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        body,
    )
    .unwrap();
    let (instructions, signature) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(req);
    signature
}

/// A request with a Host header matching its URI.
pub(crate) fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::Request<()> {
    let mut builder = http::Request::builder().method(method).uri(uri);
    let parsed: http::Uri = uri.parse().unwrap();
    builder = builder.header("host", parsed.authority().unwrap().as_str());
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(()).unwrap()
}

pub(crate) fn verify(req: &http::Request<()>, now: SystemTime) -> Result<Verified, AuthError> {
    let parts = RequestParts {
        method: req.method(),
        uri: req.uri(),
        headers: req.headers(),
        virtual_bucket: None,
    };
    verify_request(&parts, &store(), REGION, now)
}

/// An in-memory body split into frames of `size` bytes.
pub(crate) fn frames(
    data: &[u8],
    size: usize,
) -> futures_util::stream::Iter<std::vec::IntoIter<Result<Bytes, Infallible>>> {
    let frames: Vec<_> = data
        .chunks(size.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(frames)
}

/// Drain a stream that never pends. Returns the bytes read, and the first
/// error if any (after checking the error repeats rather than ending).
pub(crate) fn drain<S>(mut stream: S) -> (Vec<u8>, Result<(), AuthError>)
where
    S: Stream<Item = Result<Bytes, AuthError>> + Unpin,
{
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    loop {
        match Pin::new(&mut stream).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(b))) => out.extend_from_slice(&b),
            Poll::Ready(Some(Err(e))) => {
                let again = Pin::new(&mut stream).poll_next(&mut cx);
                assert!(
                    matches!(&again, Poll::Ready(Some(Err(e2))) if *e2 == e),
                    "error must repeat, got {again:?}"
                );
                return (out, Err(e));
            }
            Poll::Ready(None) => return (out, Ok(())),
            Poll::Pending => panic!("in-memory stream pended"),
        }
    }
}

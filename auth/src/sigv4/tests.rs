//! Tests of request verification: the AWS documentation examples, round
//! trips through the aws-sigv4 signer, and tampering.

use aws_sigv4::http_request::SignableBody;

use super::*;
use crate::canonical::sha256_hex;
use crate::test_support::*;

mod aws_examples;

const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn sha256(data: &[u8]) -> [u8; 32] {
    hex::decode(sha256_hex(data)).unwrap().try_into().unwrap()
}

/// Paths and queries with unicode and reserved characters, as SDKs send them.
const TRICKY_URIS: &[&str] = &[
    "http://localhost:9000/bucket/plain.txt",
    "http://localhost:9000/bucket/d%C3%A9j%C3%A0%20vu/%E2%9C%93.txt",
    "http://localhost:9000/bucket/a!b'c(d)e*f+g=h,i;j:k@l$m&n",
    "http://localhost:9000/bucket/space%20and%2Fslash%25percent~tilde",
    "http://localhost:9000/bucket//double//slash/../dot/./x",
    "http://localhost:9000/bucket?list-type=2&prefix=caf%C3%A9%2F&delimiter=%2F&encoding-type=url",
    "http://localhost:9000/bucket?uploads",
    "http://localhost:9000/bucket/key?partNumber=3&uploadId=a%2Fb%3Dc%2B%2B",
    "http://localhost:9000/bucket?prefix=a%20b&marker=%E2%82%AC&max-keys=10&acl",
    "http://localhost:9000/b/%F0%9F%98%80?x-id=GetObject&response-content-disposition=attachment%3B%20filename%3D%22%C3%A9.txt%22",
];

#[test]
fn aws_sigv4_header_round_trips() {
    for uri in TRICKY_URIS {
        let mut req = request(
            "GET",
            uri,
            &[
                ("x-amz-meta-note", "  two   spaces  "),
                ("range", "bytes=0-"),
            ],
        );
        sign_request(
            &mut req,
            SignableBody::UnsignedPayload,
            s3_settings(),
            sign_time(),
            SK,
        );
        let v = verify(&req, sign_time()).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(v.payload, PayloadMode::Unsigned, "{uri}");
    }
}

#[test]
fn aws_sigv4_presigned_round_trips() {
    for uri in TRICKY_URIS {
        let mut req = request("PUT", uri, &[]);
        sign_request(
            &mut req,
            SignableBody::UnsignedPayload,
            presign_settings(secs(3600)),
            sign_time(),
            SK,
        );
        assert!(req.headers().get("authorization").is_none());
        let v = verify(&req, sign_time() + secs(3600)).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert!(v.is_presigned());
        assert_eq!(v.payload, PayloadMode::Unsigned);
        assert_eq!(
            verify(&req, sign_time() + secs(3601)).unwrap_err(),
            AuthError::RequestExpired
        );
    }
}

#[test]
fn presigned_expiry_limits() {
    let mut week = request("GET", "http://localhost:9000/b/k", &[]);
    sign_request(
        &mut week,
        SignableBody::UnsignedPayload,
        presign_settings(secs(604_800)),
        sign_time(),
        SK,
    );
    verify(&week, sign_time() + secs(604_800)).unwrap();
    assert_eq!(
        verify(&week, sign_time() + secs(604_801)).unwrap_err(),
        AuthError::RequestExpired
    );

    let mut too_long = request("GET", "http://localhost:9000/b/k", &[]);
    sign_request(
        &mut too_long,
        SignableBody::UnsignedPayload,
        presign_settings(secs(604_801)),
        sign_time(),
        SK,
    );
    let err = verify(&too_long, sign_time()).unwrap_err();
    assert_eq!(err.s3_code(), "AuthorizationQueryParametersError");
}

#[test]
fn signed_sha256_payload_and_streaming_modes() {
    let cases = [
        (
            SignableBody::Bytes(b"hello"),
            PayloadMode::Sha256(sha256(b"hello")),
        ),
        (
            SignableBody::Precomputed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned()),
            PayloadMode::StreamingSigned { trailer: false },
        ),
        (
            SignableBody::StreamingSignedPayloadTrailer,
            PayloadMode::StreamingSigned { trailer: true },
        ),
        (
            SignableBody::StreamingUnsignedPayloadTrailer,
            PayloadMode::StreamingUnsignedTrailer,
        ),
    ];
    for (body, mode) in cases {
        let mut req = request(
            "PUT",
            "http://localhost:9000/b/k",
            &[("content-length", "5")],
        );
        sign_request(&mut req, body, s3_settings(), sign_time(), SK);
        assert_eq!(verify(&req, sign_time()).unwrap().payload, mode);
    }
}

fn signed_get() -> http::Request<()> {
    let mut req = request(
        "GET",
        "http://localhost:9000/bucket/key?versionId=7",
        &[("x-amz-meta-a", "1")],
    );
    sign_request(
        &mut req,
        SignableBody::UnsignedPayload,
        s3_settings(),
        sign_time(),
        SK,
    );
    req
}

#[test]
fn tampering_is_detected() {
    let now = sign_time();
    verify(&signed_get(), now).unwrap();

    let mut req = signed_get();
    *req.method_mut() = http::Method::DELETE;
    assert_eq!(
        verify(&req, now).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );

    let mut req = signed_get();
    *req.uri_mut() = "http://localhost:9000/bucket/other?versionId=7"
        .parse()
        .unwrap();
    assert_eq!(
        verify(&req, now).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );

    let mut req = signed_get();
    *req.uri_mut() = "http://localhost:9000/bucket/key?versionId=8"
        .parse()
        .unwrap();
    assert_eq!(
        verify(&req, now).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );

    let mut req = signed_get();
    req.headers_mut()
        .insert("x-amz-meta-a", "2".parse().unwrap());
    assert_eq!(
        verify(&req, now).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );

    let mut req = signed_get();
    req.headers_mut()
        .insert("host", "evil:9000".parse().unwrap());
    assert_eq!(
        verify(&req, now).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );

    // The payload hash is part of the canonical request even when not listed.
    let mut req = signed_get();
    req.headers_mut()
        .insert("x-amz-content-sha256", EMPTY.parse().unwrap());
    assert_eq!(
        verify(&req, now).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );

    let mut req = request("GET", "http://localhost:9000/bucket/key", &[]);
    sign_request(
        &mut req,
        SignableBody::UnsignedPayload,
        s3_settings(),
        sign_time(),
        "wrong-secret",
    );
    assert_eq!(
        verify(&req, now).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
}

#[test]
fn upper_case_signature_hex_is_accepted() {
    let mut req = signed_get();
    let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
    let (head, sig) = auth.split_once("Signature=").unwrap();
    let upper = format!("{head}Signature={}", sig.to_ascii_uppercase());
    req.headers_mut()
        .insert("authorization", upper.parse().unwrap());
    verify(&req, sign_time()).unwrap();
}

fn replace_in_auth(req: &mut http::Request<()>, from: &str, to: &str) {
    let auth = req.headers()["authorization"]
        .to_str()
        .unwrap()
        .replace(from, to);
    req.headers_mut()
        .insert("authorization", auth.parse().unwrap());
}

#[test]
fn scope_errors() {
    let mut req = signed_get();
    replace_in_auth(&mut req, AK, "UNKNOWNKEY");
    assert_eq!(
        verify(&req, sign_time()).unwrap_err(),
        AuthError::InvalidAccessKeyId
    );

    let mut req = signed_get();
    replace_in_auth(&mut req, "/us-east-1/", "/eu-west-1/");
    let err = verify(&req, sign_time()).unwrap_err();
    assert_eq!(err.s3_code(), "AuthorizationHeaderMalformed");
    assert_eq!(err.http_status(), 400);

    let mut req = signed_get();
    replace_in_auth(&mut req, "/s3/", "/iam/");
    assert_eq!(
        verify(&req, sign_time()).unwrap_err().s3_code(),
        "AuthorizationHeaderMalformed"
    );

    let mut req = signed_get();
    replace_in_auth(&mut req, "/20240102/", "/20240101/");
    assert_eq!(
        verify(&req, sign_time()).unwrap_err().s3_code(),
        "AuthorizationHeaderMalformed"
    );

    let mut req = signed_get();
    replace_in_auth(&mut req, "host;", "");
    assert_eq!(
        verify(&req, sign_time()).unwrap_err().s3_code(),
        "AuthorizationHeaderMalformed"
    );
}

#[test]
fn clock_skew() {
    let req = signed_get();
    verify(&req, sign_time() + secs(900)).unwrap();
    verify(&req, sign_time() - secs(900)).unwrap();
    assert_eq!(
        verify(&req, sign_time() + secs(901)).unwrap_err(),
        AuthError::RequestTimeTooSkewed
    );
    assert_eq!(
        verify(&req, sign_time() - secs(901)).unwrap_err(),
        AuthError::RequestTimeTooSkewed
    );
}

#[test]
fn missing_or_unsupported_authentication() {
    let plain = request("GET", "http://localhost:9000/bucket/key", &[]);
    assert_eq!(
        verify(&plain, sign_time()).unwrap_err(),
        AuthError::MissingAuthentication
    );
    assert_eq!(AuthError::MissingAuthentication.s3_code(), "AccessDenied");

    // SigV2 is verified (sigv2.rs): this one has no date, that one expired.
    let v2 = request(
        "GET",
        "http://localhost:9000/bucket/key",
        &[("authorization", "AWS AKID:c2lnbmF0dXJl")],
    );
    assert!(matches!(
        verify(&v2, sign_time()).unwrap_err(),
        AuthError::AccessDenied(_)
    ));
    let v2_query = request(
        "GET",
        "http://localhost:9000/bucket/key?AWSAccessKeyId=AK&Expires=1&Signature=abc",
        &[],
    );
    assert_eq!(
        verify(&v2_query, sign_time()).unwrap_err(),
        AuthError::RequestExpired
    );
    // SigV4A is not.
    let v4a = request(
        "GET",
        "http://localhost:9000/bucket/key",
        &[("authorization", "AWS4-ECDSA-P256-SHA256 Credential=x")],
    );
    let err = verify(&v4a, sign_time()).unwrap_err();
    assert_eq!(err, AuthError::UnsupportedSignatureVersion);
    assert!(err.message().contains("AWS4-HMAC-SHA256"));

    let other = request(
        "GET",
        "http://localhost:9000/bucket/key",
        &[("authorization", "Bearer x")],
    );
    assert_eq!(
        verify(&other, sign_time()).unwrap_err().s3_code(),
        "InvalidArgument"
    );

    let mut both = signed_get();
    *both.uri_mut() = format!("{}&X-Amz-Algorithm=AWS4-HMAC-SHA256", both.uri())
        .parse()
        .unwrap();
    assert_eq!(
        verify(&both, sign_time()).unwrap_err().s3_code(),
        "InvalidArgument"
    );
}

#[test]
fn content_sha256_header_is_required_for_header_auth() {
    let mut settings = s3_settings();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::NoHeader;
    let mut req = request("GET", "http://localhost:9000/bucket/key", &[]);
    sign_request(
        &mut req,
        SignableBody::UnsignedPayload,
        settings,
        sign_time(),
        SK,
    );
    let err = verify(&req, sign_time()).unwrap_err();
    assert_eq!(err, AuthError::MissingContentSha256);
    assert_eq!((err.s3_code(), err.http_status()), ("InvalidRequest", 400));

    let mut req = signed_get();
    req.headers_mut()
        .insert("x-amz-content-sha256", "bogus".parse().unwrap());
    assert_eq!(
        verify(&req, sign_time()).unwrap_err().s3_code(),
        "InvalidArgument"
    );
}

#[test]
fn payload_mode_parsing() {
    assert_eq!(
        PayloadMode::parse("UNSIGNED-PAYLOAD").unwrap(),
        PayloadMode::Unsigned
    );
    assert_eq!(
        PayloadMode::parse(&EMPTY.to_uppercase()).unwrap(),
        PayloadMode::Sha256(sha256(b""))
    );
    assert!(PayloadMode::parse("abc").is_err());
    assert!(PayloadMode::parse(&EMPTY[1..]).is_err());
    assert_eq!(
        PayloadMode::parse("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD").unwrap_err(),
        AuthError::UnsupportedSignatureVersion
    );
    assert!(!PayloadMode::Unsigned.is_streaming());
    assert!(PayloadMode::StreamingUnsignedTrailer.is_streaming());
}

#[test]
fn host_may_come_from_the_uri_authority() {
    // HTTP/2 requests carry :authority instead of a Host header.
    let mut req = signed_get();
    req.headers_mut().remove("host");
    verify(&req, sign_time()).unwrap();
}

#[test]
fn plus_in_query_signed_as_space() {
    // aws-sigv4 (like form encoding) reads a raw '+' in the query as a space.
    let mut req = request(
        "GET",
        "http://localhost:9000/bucket?prefix=a+b&list-type=2",
        &[],
    );
    sign_request(
        &mut req,
        SignableBody::UnsignedPayload,
        s3_settings(),
        sign_time(),
        SK,
    );
    verify(&req, sign_time()).unwrap();
}

/// A PUT presigned for a minute at `sign_time()`.
fn presigned_put() -> http::Request<()> {
    let mut req = request("PUT", "http://localhost:9000/b/k", &[]);
    sign_request(
        &mut req,
        SignableBody::UnsignedPayload,
        presign_settings(secs(60)),
        sign_time(),
        SK,
    );
    req
}

#[test]
fn presigned_body_mode_follows_content_sha256_header() {
    let mut req = presigned_put();
    let hash = sha256_hex(b"data");
    req.headers_mut()
        .insert("x-amz-content-sha256", hash.parse().unwrap());
    let v = verify(&req, sign_time()).unwrap();
    assert_eq!(v.payload, PayloadMode::Sha256(sha256(b"data")));
}

#[test]
fn presigned_refuses_unsigned_amz_headers() {
    let req = presigned_put();
    verify(&req, sign_time()).unwrap();
    for (name, value) in [
        ("x-amz-copy-source", "/b/secret"),
        ("x-amz-meta-evil", "1"),
        ("X-Amz-Acl", "public-read"),
    ] {
        let mut tampered = req.clone();
        tampered.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        let err = verify(&tampered, sign_time()).unwrap_err();
        assert_eq!(err.s3_code(), "AccessDenied", "{name}");
    }
    // Ordinary headers stay allowed, as in S3.
    let mut with_type = req.clone();
    with_type
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    verify(&with_type, sign_time()).unwrap();
}

#[test]
fn date_header_zone_spellings() {
    let want = httpdate::parse_http_date("Fri, 27 Nov 2026 22:54:43 GMT").unwrap();
    for v in [
        "Fri, 27 Nov 2026 22:54:43 GMT",
        "Fri, 27 Nov 2026 22:54:43 -0000",
        "Fri, 27 Nov 2026 22:54:43 +0000",
        "Fri, 27 Nov 2026 22:54:43 UTC",
    ] {
        assert_eq!(parse_date_header(v), Some(want), "{v}");
    }
    assert_eq!(parse_date_header("Fri, 27 Nov 2026 22:54:43 +0100"), None);
    assert_eq!(parse_date_header("yesterday"), None);
}

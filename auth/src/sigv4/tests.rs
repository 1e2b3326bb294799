//! Tests of request verification: the AWS documentation examples, round
//! trips through the aws-sigv4 signer, and tampering.

use aws_sigv4::http_request::SignableBody;

use super::*;
use crate::canonical::sha256_hex;
use crate::test_support::*;

const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn doc_request(method: &str, uri: &str, headers: &[(&str, &str)], signed: &str, sig: &str) -> http::Request<()> {
    let mut req = request(method, uri, headers);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,SignedHeaders={signed},Signature={sig}"
    );
    req.headers_mut().insert("authorization", auth.parse().unwrap());
    req
}

fn doc_now() -> SystemTime {
    at("20130524T000000Z") + secs(60)
}

#[test]
fn aws_example_get_object_with_range() {
    let req = doc_request(
        "GET",
        "http://examplebucket.s3.amazonaws.com/test.txt",
        &[("range", "bytes=0-9"), ("x-amz-content-sha256", EMPTY), ("x-amz-date", "20130524T000000Z")],
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    let v = verify(&req, doc_now()).unwrap();
    assert_eq!(v.access_key, AK);
    assert_eq!(v.payload, PayloadMode::parse(EMPTY).unwrap());
    assert!(!v.is_presigned());
    assert!(!format!("{v:?}").contains("key:"), "Debug must not show the signing key");

    // The intermediate value given in the example.
    let headers = canonical_headers(
        &["host", "range", "x-amz-content-sha256", "x-amz-date"],
        req.headers(),
        req.uri(),
    );
    let creq = canonical_request("GET", "/test.txt", "", &headers, "host;range;x-amz-content-sha256;x-amz-date", EMPTY);
    assert_eq!(
        sha256_hex(&creq),
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    );
}

#[test]
fn aws_example_put_object_with_date_and_dollar_in_key() {
    // The path arrives unescaped ("$") but was signed escaped ("%24").
    let req = doc_request(
        "PUT",
        "http://examplebucket.s3.amazonaws.com/test$file.text",
        &[
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"),
        ],
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    );
    let v = verify(&req, doc_now()).unwrap();
    assert_eq!(v.payload, PayloadMode::Sha256(sha256(b"Welcome to Amazon S3.")));
}

fn sha256(data: &[u8]) -> [u8; 32] {
    hex::decode(sha256_hex(data)).unwrap().try_into().unwrap()
}

#[test]
fn aws_example_get_bucket_lifecycle_and_list_objects() {
    let headers = [("x-amz-content-sha256", EMPTY), ("x-amz-date", "20130524T000000Z")];
    let signed = "host;x-amz-content-sha256;x-amz-date";
    let lifecycle = doc_request(
        "GET",
        "http://examplebucket.s3.amazonaws.com/?lifecycle",
        &headers,
        signed,
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    );
    verify(&lifecycle, doc_now()).unwrap();
    let list = doc_request(
        "GET",
        "http://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
        &headers,
        signed,
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    );
    verify(&list, doc_now()).unwrap();
}

const PRESIGNED_EXAMPLE: &str = "http://examplebucket.s3.amazonaws.com/test.txt\
    ?X-Amz-Algorithm=AWS4-HMAC-SHA256\
    &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
    &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
    &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn aws_example_presigned_url_and_expiry_boundary() {
    let req = request("GET", PRESIGNED_EXAMPLE, &[]);
    let start = at("20130524T000000Z");
    let v = verify(&req, start + secs(3600)).unwrap();
    assert_eq!(v.payload, PayloadMode::Unsigned);
    assert!(v.is_presigned());
    verify(&req, start + secs(86_400)).unwrap();
    assert_eq!(verify(&req, start + secs(86_401)).unwrap_err(), AuthError::RequestExpired);
    // A clock up to 15 minutes behind the signer is fine; more is not.
    verify(&req, start - secs(900)).unwrap();
    assert_eq!(verify(&req, start - secs(901)).unwrap_err(), AuthError::RequestNotYetValid);
    // Tampering with the query breaks the signature.
    let tampered = request("GET", &PRESIGNED_EXAMPLE.replace("Expires=86400", "Expires=86401"), &[]);
    assert_eq!(verify(&tampered, start).unwrap_err(), AuthError::SignatureDoesNotMatch);
    let extra = request("GET", &format!("{PRESIGNED_EXAMPLE}&versionId=1"), &[]);
    assert_eq!(verify(&extra, start).unwrap_err(), AuthError::SignatureDoesNotMatch);
}

#[test]
fn aws_example_streaming_seed_signature() {
    let req = doc_request(
        "PUT",
        "http://s3.amazonaws.com/examplebucket/chunkObject.txt",
        &[
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
        ],
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    );
    let v = verify(&req, doc_now()).unwrap();
    assert_eq!(v.payload, PayloadMode::StreamingSigned { trailer: false });
    assert!(v.payload.is_streaming());
    assert_eq!(
        v.seed_signature(),
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    );
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
        let mut req = request("GET", uri, &[("x-amz-meta-note", "  two   spaces  "), ("range", "bytes=0-")]);
        sign_request(&mut req, SignableBody::UnsignedPayload, s3_settings(), sign_time(), SK);
        let v = verify(&req, sign_time()).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(v.payload, PayloadMode::Unsigned, "{uri}");
    }
}

#[test]
fn aws_sigv4_presigned_round_trips() {
    for uri in TRICKY_URIS {
        let mut req = request("PUT", uri, &[]);
        sign_request(&mut req, SignableBody::UnsignedPayload, presign_settings(secs(3600)), sign_time(), SK);
        assert!(req.headers().get("authorization").is_none());
        let v = verify(&req, sign_time() + secs(3600)).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert!(v.is_presigned());
        assert_eq!(v.payload, PayloadMode::Unsigned);
        assert_eq!(verify(&req, sign_time() + secs(3601)).unwrap_err(), AuthError::RequestExpired);
    }
}

#[test]
fn presigned_expiry_limits() {
    let mut week = request("GET", "http://localhost:9000/b/k", &[]);
    sign_request(&mut week, SignableBody::UnsignedPayload, presign_settings(secs(604_800)), sign_time(), SK);
    verify(&week, sign_time() + secs(604_800)).unwrap();
    assert_eq!(verify(&week, sign_time() + secs(604_801)).unwrap_err(), AuthError::RequestExpired);

    let mut too_long = request("GET", "http://localhost:9000/b/k", &[]);
    sign_request(&mut too_long, SignableBody::UnsignedPayload, presign_settings(secs(604_801)), sign_time(), SK);
    let err = verify(&too_long, sign_time()).unwrap_err();
    assert_eq!(err.s3_code(), "AuthorizationQueryParametersError");
}

#[test]
fn signed_sha256_payload_and_streaming_modes() {
    let cases = [
        (SignableBody::Bytes(b"hello"), PayloadMode::Sha256(sha256(b"hello"))),
        (
            SignableBody::Precomputed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned()),
            PayloadMode::StreamingSigned { trailer: false },
        ),
        (SignableBody::StreamingSignedPayloadTrailer, PayloadMode::StreamingSigned { trailer: true }),
        (SignableBody::StreamingUnsignedPayloadTrailer, PayloadMode::StreamingUnsignedTrailer),
    ];
    for (body, mode) in cases {
        let mut req = request("PUT", "http://localhost:9000/b/k", &[("content-length", "5")]);
        sign_request(&mut req, body, s3_settings(), sign_time(), SK);
        assert_eq!(verify(&req, sign_time()).unwrap().payload, mode);
    }
}

fn signed_get() -> http::Request<()> {
    let mut req = request("GET", "http://localhost:9000/bucket/key?versionId=7", &[("x-amz-meta-a", "1")]);
    sign_request(&mut req, SignableBody::UnsignedPayload, s3_settings(), sign_time(), SK);
    req
}

#[test]
fn tampering_is_detected() {
    let now = sign_time();
    verify(&signed_get(), now).unwrap();

    let mut req = signed_get();
    *req.method_mut() = http::Method::DELETE;
    assert_eq!(verify(&req, now).unwrap_err(), AuthError::SignatureDoesNotMatch);

    let mut req = signed_get();
    *req.uri_mut() = "http://localhost:9000/bucket/other?versionId=7".parse().unwrap();
    assert_eq!(verify(&req, now).unwrap_err(), AuthError::SignatureDoesNotMatch);

    let mut req = signed_get();
    *req.uri_mut() = "http://localhost:9000/bucket/key?versionId=8".parse().unwrap();
    assert_eq!(verify(&req, now).unwrap_err(), AuthError::SignatureDoesNotMatch);

    let mut req = signed_get();
    req.headers_mut().insert("x-amz-meta-a", "2".parse().unwrap());
    assert_eq!(verify(&req, now).unwrap_err(), AuthError::SignatureDoesNotMatch);

    let mut req = signed_get();
    req.headers_mut().insert("host", "evil:9000".parse().unwrap());
    assert_eq!(verify(&req, now).unwrap_err(), AuthError::SignatureDoesNotMatch);

    // The payload hash is part of the canonical request even when not listed.
    let mut req = signed_get();
    req.headers_mut().insert("x-amz-content-sha256", EMPTY.parse().unwrap());
    assert_eq!(verify(&req, now).unwrap_err(), AuthError::SignatureDoesNotMatch);

    let mut req = request("GET", "http://localhost:9000/bucket/key", &[]);
    sign_request(&mut req, SignableBody::UnsignedPayload, s3_settings(), sign_time(), "wrong-secret");
    assert_eq!(verify(&req, now).unwrap_err(), AuthError::SignatureDoesNotMatch);
}

#[test]
fn upper_case_signature_hex_is_accepted() {
    let mut req = signed_get();
    let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
    let (head, sig) = auth.split_once("Signature=").unwrap();
    let upper = format!("{head}Signature={}", sig.to_ascii_uppercase());
    req.headers_mut().insert("authorization", upper.parse().unwrap());
    verify(&req, sign_time()).unwrap();
}

fn replace_in_auth(req: &mut http::Request<()>, from: &str, to: &str) {
    let auth = req.headers()["authorization"].to_str().unwrap().replace(from, to);
    req.headers_mut().insert("authorization", auth.parse().unwrap());
}

#[test]
fn scope_errors() {
    let mut req = signed_get();
    replace_in_auth(&mut req, AK, "UNKNOWNKEY");
    assert_eq!(verify(&req, sign_time()).unwrap_err(), AuthError::InvalidAccessKeyId);

    let mut req = signed_get();
    replace_in_auth(&mut req, "/us-east-1/", "/eu-west-1/");
    let err = verify(&req, sign_time()).unwrap_err();
    assert_eq!(err.s3_code(), "AuthorizationHeaderMalformed");
    assert_eq!(err.http_status(), 400);

    let mut req = signed_get();
    replace_in_auth(&mut req, "/s3/", "/iam/");
    assert_eq!(verify(&req, sign_time()).unwrap_err().s3_code(), "AuthorizationHeaderMalformed");

    let mut req = signed_get();
    replace_in_auth(&mut req, "/20240102/", "/20240101/");
    assert_eq!(verify(&req, sign_time()).unwrap_err().s3_code(), "AuthorizationHeaderMalformed");

    let mut req = signed_get();
    replace_in_auth(&mut req, "host;", "");
    assert_eq!(verify(&req, sign_time()).unwrap_err().s3_code(), "AuthorizationHeaderMalformed");
}

#[test]
fn clock_skew() {
    let req = signed_get();
    verify(&req, sign_time() + secs(900)).unwrap();
    verify(&req, sign_time() - secs(900)).unwrap();
    assert_eq!(verify(&req, sign_time() + secs(901)).unwrap_err(), AuthError::RequestTimeTooSkewed);
    assert_eq!(verify(&req, sign_time() - secs(901)).unwrap_err(), AuthError::RequestTimeTooSkewed);
}

#[test]
fn missing_or_unsupported_authentication() {
    let plain = request("GET", "http://localhost:9000/bucket/key", &[]);
    assert_eq!(verify(&plain, sign_time()).unwrap_err(), AuthError::MissingAuthentication);
    assert_eq!(AuthError::MissingAuthentication.s3_code(), "AccessDenied");

    let v2 = request("GET", "http://localhost:9000/bucket/key", &[("authorization", "AWS AKID:c2lnbmF0dXJl")]);
    let err = verify(&v2, sign_time()).unwrap_err();
    assert_eq!(err, AuthError::UnsupportedSignatureVersion);
    assert!(err.message().contains("AWS4-HMAC-SHA256"));

    let v2_query = request(
        "GET",
        "http://localhost:9000/bucket/key?AWSAccessKeyId=AK&Expires=1&Signature=abc",
        &[],
    );
    assert_eq!(verify(&v2_query, sign_time()).unwrap_err(), AuthError::UnsupportedSignatureVersion);

    let other = request("GET", "http://localhost:9000/bucket/key", &[("authorization", "Bearer x")]);
    assert_eq!(verify(&other, sign_time()).unwrap_err().s3_code(), "InvalidArgument");

    let mut both = signed_get();
    *both.uri_mut() = format!("{}&X-Amz-Algorithm=AWS4-HMAC-SHA256", both.uri()).parse().unwrap();
    assert_eq!(verify(&both, sign_time()).unwrap_err().s3_code(), "InvalidArgument");
}

#[test]
fn content_sha256_header_is_required_for_header_auth() {
    let mut settings = s3_settings();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::NoHeader;
    let mut req = request("GET", "http://localhost:9000/bucket/key", &[]);
    sign_request(&mut req, SignableBody::UnsignedPayload, settings, sign_time(), SK);
    let err = verify(&req, sign_time()).unwrap_err();
    assert_eq!(err, AuthError::MissingContentSha256);
    assert_eq!((err.s3_code(), err.http_status()), ("InvalidRequest", 400));

    let mut req = signed_get();
    req.headers_mut().insert("x-amz-content-sha256", "bogus".parse().unwrap());
    assert_eq!(verify(&req, sign_time()).unwrap_err().s3_code(), "InvalidArgument");
}

#[test]
fn presigned_parameter_errors() {
    let start = at("20130524T000000Z");
    let no_sig = request("GET", &PRESIGNED_EXAMPLE.replace("&X-Amz-Signature=", "&X-Amz-Sig="), &[]);
    assert_eq!(verify(&no_sig, start).unwrap_err().s3_code(), "AuthorizationQueryParametersError");
    let bad_alg = request("GET", &PRESIGNED_EXAMPLE.replace("Algorithm=AWS4-HMAC-SHA256", "Algorithm=HMAC"), &[]);
    assert_eq!(verify(&bad_alg, start).unwrap_err().s3_code(), "AuthorizationQueryParametersError");
    let bad_date = request("GET", &PRESIGNED_EXAMPLE.replace("X-Amz-Date=20130524T000000Z", "X-Amz-Date=2013"), &[]);
    assert_eq!(verify(&bad_date, start).unwrap_err().s3_code(), "AuthorizationQueryParametersError");
    let region = request("GET", &PRESIGNED_EXAMPLE.replace("us-east-1", "eu-west-1"), &[]);
    assert_eq!(verify(&region, start).unwrap_err().s3_code(), "AuthorizationQueryParametersError");
}

#[test]
fn payload_mode_parsing() {
    assert_eq!(PayloadMode::parse("UNSIGNED-PAYLOAD").unwrap(), PayloadMode::Unsigned);
    assert_eq!(PayloadMode::parse(&EMPTY.to_uppercase()).unwrap(), PayloadMode::Sha256(sha256(b"")));
    assert!(PayloadMode::parse("abc").is_err());
    assert!(PayloadMode::parse(&EMPTY[1..]).is_err());
    assert_eq!(
        PayloadMode::parse("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD").unwrap_err(),
        AuthError::UnsupportedSignatureVersion
    );
    assert!(!PayloadMode::Unsigned.is_streaming());
    assert!(PayloadMode::StreamingUnsignedTrailer.is_streaming());
}

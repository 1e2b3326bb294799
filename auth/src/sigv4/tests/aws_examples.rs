//! The worked examples of the AWS SigV4 documentation for S3.

use super::*;

fn doc_request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    signed: &str,
    sig: &str,
) -> http::Request<()> {
    let mut req = request(method, uri, headers);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,SignedHeaders={signed},Signature={sig}"
    );
    req.headers_mut()
        .insert("authorization", auth.parse().unwrap());
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
        &[
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
        ],
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
    let v = verify(&req, doc_now()).unwrap();
    assert_eq!(v.access_key, AK);
    assert_eq!(v.payload, PayloadMode::parse(EMPTY).unwrap());
    assert!(!v.is_presigned());
    assert!(
        !format!("{v:?}").contains("signing"),
        "Debug must not show the signing key"
    );

    // The intermediate value given in the example.
    let headers = canonical_headers(
        &["host", "range", "x-amz-content-sha256", "x-amz-date"],
        req.headers(),
        req.uri(),
    );
    let creq = canonical_request(
        "GET",
        "/test.txt",
        "",
        &headers,
        "host;range;x-amz-content-sha256;x-amz-date",
        EMPTY,
    );
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
            (
                "x-amz-content-sha256",
                "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
            ),
        ],
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    );
    let v = verify(&req, doc_now()).unwrap();
    assert_eq!(
        v.payload,
        PayloadMode::Sha256(sha256(b"Welcome to Amazon S3."))
    );
}

#[test]
fn aws_example_get_bucket_lifecycle_and_list_objects() {
    let headers = [
        ("x-amz-content-sha256", EMPTY),
        ("x-amz-date", "20130524T000000Z"),
    ];
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
    assert_eq!(
        verify(&req, start + secs(86_401)).unwrap_err(),
        AuthError::RequestExpired
    );
    // A clock up to 15 minutes behind the signer is fine; more is not.
    verify(&req, start - secs(900)).unwrap();
    assert_eq!(
        verify(&req, start - secs(901)).unwrap_err(),
        AuthError::RequestNotYetValid
    );
    // Tampering with the query breaks the signature.
    let tampered = request(
        "GET",
        &PRESIGNED_EXAMPLE.replace("Expires=86400", "Expires=86401"),
        &[],
    );
    assert_eq!(
        verify(&tampered, start).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
    let extra = request("GET", &format!("{PRESIGNED_EXAMPLE}&versionId=1"), &[]);
    assert_eq!(
        verify(&extra, start).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
}

#[test]
fn aws_example_streaming_seed_signature() {
    let req = doc_request(
        "PUT",
        "http://s3.amazonaws.com/examplebucket/chunkObject.txt",
        DOC_STREAMING_HEADERS,
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

#[test]
fn presigned_parameter_errors() {
    let start = at("20130524T000000Z");
    let no_sig = request(
        "GET",
        &PRESIGNED_EXAMPLE.replace("&X-Amz-Signature=", "&X-Amz-Sig="),
        &[],
    );
    assert_eq!(
        verify(&no_sig, start).unwrap_err().s3_code(),
        "AuthorizationQueryParametersError"
    );
    let bad_alg = request(
        "GET",
        &PRESIGNED_EXAMPLE.replace("Algorithm=AWS4-HMAC-SHA256", "Algorithm=HMAC"),
        &[],
    );
    assert_eq!(
        verify(&bad_alg, start).unwrap_err().s3_code(),
        "AuthorizationQueryParametersError"
    );
    let bad_date = request(
        "GET",
        &PRESIGNED_EXAMPLE.replace("X-Amz-Date=20130524T000000Z", "X-Amz-Date=2013"),
        &[],
    );
    assert_eq!(
        verify(&bad_date, start).unwrap_err().s3_code(),
        "AuthorizationQueryParametersError"
    );
    let region = request(
        "GET",
        &PRESIGNED_EXAMPLE.replace("us-east-1", "eu-west-1"),
        &[],
    );
    assert_eq!(
        verify(&region, start).unwrap_err().s3_code(),
        "AuthorizationQueryParametersError"
    );
}

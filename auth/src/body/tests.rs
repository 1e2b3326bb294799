//! Tests of body verification: the AWS streaming example, signed and
//! unsigned aws-chunked bodies with trailers built with aws-sigv4, and the
//! whole-body checks, each fed in many frame sizes.

use aws_sigv4::http_request::SignableBody;
use aws_sigv4::sign::v4::{sign_chunk, sign_trailer};
use aws_smithy_runtime_api::http::Headers;

use super::*;
use crate::test_support::*;

fn run(
    verified: &Verified,
    headers: &http::HeaderMap,
    body: &[u8],
    frame: usize,
) -> (Vec<u8>, Result<BodyOutcome, AuthError>) {
    let (stream, outcome) = verify_body(verified, headers, frames(body, frame)).unwrap();
    let (data, result) = drain(stream);
    assert_eq!(outcome.is_complete(), result.is_ok());
    (data, result.map(|()| outcome))
}

// --- The AWS "Transferring Payload in Multiple Chunks" example ----------------

const DOC_SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const DOC_SIG1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
const DOC_SIG2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
const DOC_SIG3: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

fn doc_streaming() -> (Verified, http::HeaderMap) {
    let mut req = request(
        "PUT",
        "http://s3.amazonaws.com/examplebucket/chunkObject.txt",
        DOC_STREAMING_HEADERS,
    );
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
         x-amz-decoded-content-length;x-amz-storage-class,Signature={DOC_SEED}"
    );
    req.headers_mut()
        .insert("authorization", auth.parse().unwrap());
    let verified = verify(&req, at("20130524T000000Z")).unwrap();
    (verified, req.headers().clone())
}

fn doc_body() -> Vec<u8> {
    let mut body = format!("10000;chunk-signature={DOC_SIG1}\r\n").into_bytes();
    body.extend_from_slice(&[b'a'; 65536]);
    body.extend_from_slice(format!("\r\n400;chunk-signature={DOC_SIG2}\r\n").as_bytes());
    body.extend_from_slice(&[b'a'; 1024]);
    body.extend_from_slice(format!("\r\n0;chunk-signature={DOC_SIG3}\r\n\r\n").as_bytes());
    body
}

#[test]
fn aws_example_multiple_chunks() {
    let (verified, headers) = doc_streaming();
    let body = doc_body();
    assert_eq!(body.len(), 66824);
    for frame in [1, 7, 1000, 8192, body.len()] {
        let (data, outcome) = run(&verified, &headers, &body, frame);
        let outcome = outcome.unwrap_or_else(|e| panic!("frames of {frame}: {e}"));
        assert!(data.len() == 66560 && data.iter().all(|&b| b == b'a'));
        assert_eq!(outcome.decoded_len(), Some(66560));
        assert_eq!(outcome.checksum(), None);
    }
}

#[test]
fn aws_example_tampering() {
    let (verified, headers) = doc_streaming();
    let mut data_flipped = doc_body();
    data_flipped[66000] = b'b';
    let mut sig_flipped = doc_body();
    let pos = 65626 + 25; // inside the second chunk's signature
    sig_flipped[pos] = if sig_flipped[pos] == b'0' { b'1' } else { b'0' };
    let mut final_flipped = doc_body();
    let pos = final_flipped.len() - 10;
    final_flipped[pos] = if final_flipped[pos] == b'0' {
        b'1'
    } else {
        b'0'
    };
    for body in [data_flipped, sig_flipped, final_flipped] {
        for frame in [1, 4096, body.len()] {
            let (_, result) = run(&verified, &headers, &body, frame);
            assert_eq!(result.unwrap_err(), AuthError::SignatureDoesNotMatch);
        }
    }
    // Dropping or reordering a chunk breaks the chain too.
    let body = doc_body();
    let without_first = &body[65626..];
    let (_, result) = run(&verified, &headers, without_first, 100);
    assert_eq!(result.unwrap_err(), AuthError::SignatureDoesNotMatch);
}

#[test]
fn aws_example_truncation_and_lengths() {
    let (verified, headers) = doc_streaming();
    let body = doc_body();
    for cut in [0, 50, 65626, 66738, body.len() - 3] {
        let (_, result) = run(&verified, &headers, &body[..cut], 512);
        assert_eq!(
            result.unwrap_err(),
            AuthError::IncompleteBody,
            "cut at {cut}"
        );
    }
    let mut longer = headers.clone();
    longer.insert("x-amz-decoded-content-length", "66561".parse().unwrap());
    assert_eq!(
        run(&verified, &longer, &body, 512).1.unwrap_err(),
        AuthError::IncompleteBody
    );
    let mut shorter = headers.clone();
    shorter.insert("x-amz-decoded-content-length", "66559".parse().unwrap());
    assert_eq!(
        run(&verified, &shorter, &body, 512)
            .1
            .unwrap_err()
            .s3_code(),
        "InvalidRequest"
    );
}

// --- Round trips with aws-sigv4's chunk and trailer signers -------------------

/// A verified streaming PUT signed by aws-sigv4, and its headers.
fn streaming_put(
    body: SignableBody<'_>,
    decoded_len: usize,
    trailer: Option<&str>,
) -> (Verified, http::HeaderMap, String) {
    let len = decoded_len.to_string();
    let mut headers = vec![
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", len.as_str()),
    ];
    if let Some(t) = trailer {
        headers.push(("x-amz-trailer", t));
    }
    let mut req = request(
        "PUT",
        "http://localhost:9000/bucket/obj%20%E2%9C%93",
        &headers,
    );
    let seed = sign_request(&mut req, body, s3_settings(), sign_time(), SK);
    let verified = verify(&req, sign_time()).unwrap();
    (verified, req.headers().clone(), seed)
}

/// An aws-chunked body signed by aws-sigv4, optionally with signed trailers.
fn encode_signed(
    chunks: &[&[u8]],
    seed: &str,
    trailers: &[(&'static str, String)],
    tamper_trailer: bool,
) -> Vec<u8> {
    let identity = identity(SK);
    let params = params(&identity, s3_settings(), sign_time());
    let mut out = Vec::new();
    let mut previous = seed.to_owned();
    for chunk in chunks.iter().chain([&&b""[..]]) {
        let sig = sign_chunk(&Bytes::copy_from_slice(chunk), &previous, &params)
            .unwrap()
            .signature()
            .to_owned();
        out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", chunk.len()).as_bytes());
        if !chunk.is_empty() {
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        previous = sig;
    }
    if !trailers.is_empty() {
        let mut headers = Headers::new();
        for (name, value) in trailers {
            headers.insert(*name, value.clone());
            let sent = if tamper_trailer {
                format!("{value}x")
            } else {
                value.clone()
            };
            out.extend_from_slice(format!("{name}:{sent}\r\n").as_bytes());
        }
        let sig = sign_trailer(&headers, &previous, &params)
            .unwrap()
            .signature()
            .to_owned();
        out.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn encode_unsigned(chunks: &[&[u8]], trailer: Option<(&str, &str)>) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    if let Some((name, value)) = trailer {
        out.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn payload() -> (Vec<u8>, Vec<&'static [u8]>) {
    let chunks: Vec<&'static [u8]> = vec![&[7u8; 8192], b"hello world", &[0u8; 1], &[0xffu8; 3000]];
    (chunks.concat(), chunks)
}

fn checksum_of(alg: ChecksumAlgorithm, data: &[u8]) -> String {
    let mut c = Checksummer::new(alg);
    c.update(data);
    c.finish_base64()
}

#[test]
fn signed_streaming_round_trip() {
    let (data, chunks) = payload();
    let mode = SignableBody::Precomputed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned());
    let (verified, headers, seed) = streaming_put(mode, data.len(), None);
    let body = encode_signed(&chunks, &seed, &[], false);
    for frame in [1, 3, 100, 8200, body.len()] {
        let (got, outcome) = run(&verified, &headers, &body, frame);
        assert_eq!(outcome.unwrap().decoded_len(), Some(data.len() as u64));
        assert_eq!(got, data);
    }
    // Trailers are not accepted when the mode has none (they would be unsigned).
    let mut with_trailer = body[..body.len() - 2].to_vec();
    with_trailer.extend_from_slice(b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n");
    assert_eq!(
        run(&verified, &headers, &with_trailer, 64)
            .1
            .unwrap_err()
            .s3_code(),
        "InvalidRequest"
    );
}

#[test]
fn signed_streaming_with_trailer_round_trip_each_algorithm() {
    let (data, chunks) = payload();
    for alg in ChecksumAlgorithm::ALL {
        let (verified, headers, seed) = streaming_put(
            SignableBody::StreamingSignedPayloadTrailer,
            data.len(),
            Some(alg.header_name()),
        );
        let value = checksum_of(alg, &data);
        let body = encode_signed(&chunks, &seed, &[(alg.header_name(), value.clone())], false);
        for frame in [1, 13, body.len()] {
            let (got, outcome) = run(&verified, &headers, &body, frame);
            let outcome = outcome.unwrap_or_else(|e| panic!("{alg:?} frames of {frame}: {e}"));
            assert_eq!(got, data);
            assert_eq!(outcome.checksum(), Some((alg, value.clone())));
        }
    }
}

#[test]
fn signed_trailer_failures() {
    let (data, chunks) = payload();
    let alg = ChecksumAlgorithm::Crc32c;
    let (verified, headers, seed) = streaming_put(
        SignableBody::StreamingSignedPayloadTrailer,
        data.len(),
        Some(alg.header_name()),
    );
    // A correctly signed but wrong checksum.
    let wrong = checksum_of(alg, b"other data");
    let body = encode_signed(&chunks, &seed, &[(alg.header_name(), wrong)], false);
    assert_eq!(
        run(&verified, &headers, &body, 7).1.unwrap_err().s3_code(),
        "BadDigest"
    );
    // A trailer altered after signing.
    let right = checksum_of(alg, &data);
    let body = encode_signed(&chunks, &seed, &[(alg.header_name(), right.clone())], true);
    assert_eq!(
        run(&verified, &headers, &body, 7).1.unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
    // A trailer without its signature.
    let body = encode_signed(&chunks, &seed, &[(alg.header_name(), right)], false);
    let needle = b"x-amz-trailer-signature";
    let cut = body
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut unsigned = body[..cut].to_vec();
    unsigned.extend_from_slice(b"\r\n");
    assert_eq!(
        run(&verified, &headers, &unsigned, 7)
            .1
            .unwrap_err()
            .s3_code(),
        "InvalidRequest"
    );
}

#[test]
fn unsigned_trailer_each_algorithm_and_failures() {
    let (data, chunks) = payload();
    for alg in ChecksumAlgorithm::ALL {
        let (verified, headers, _) = streaming_put(
            SignableBody::StreamingUnsignedPayloadTrailer,
            data.len(),
            Some(alg.header_name()),
        );
        let value = checksum_of(alg, &data);
        let body = encode_unsigned(&chunks, Some((alg.header_name(), &value)));
        for frame in [1, 5, body.len()] {
            let (got, outcome) = run(&verified, &headers, &body, frame);
            assert_eq!(got, data);
            assert_eq!(outcome.unwrap().checksum(), Some((alg, value.clone())));
        }
        let wrong = checksum_of(alg, b"x");
        let body = encode_unsigned(&chunks, Some((alg.header_name(), &wrong)));
        let err = run(&verified, &headers, &body, 1).1.unwrap_err();
        assert_eq!((err.s3_code(), err.http_status()), ("BadDigest", 400));
        let body = encode_unsigned(&chunks, None);
        assert_eq!(
            run(&verified, &headers, &body, 64).1.unwrap_err().s3_code(),
            "InvalidRequest"
        );
    }
}

#[test]
fn unsigned_trailer_without_declared_trailer() {
    let (verified, headers, _) =
        streaming_put(SignableBody::StreamingUnsignedPayloadTrailer, 5, None);
    let body = encode_unsigned(&[b"hello"], None);
    let (got, outcome) = run(&verified, &headers, &body, 2);
    assert_eq!(got, b"hello");
    assert_eq!(outcome.unwrap().checksum(), None);
}

// --- Whole-body checks ------------------------------------------------------

fn verified_put(body: SignableBody<'_>) -> Verified {
    let mut req = request("PUT", "http://localhost:9000/bucket/key", &[]);
    sign_request(&mut req, body, s3_settings(), sign_time(), SK);
    verify(&req, sign_time()).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    map
}

#[test]
fn sha256_payload() {
    let verified = verified_put(SignableBody::Bytes(b"the body"));
    let h = headers(&[("content-length", "8")]);
    for frame in [1, 3, 8] {
        let (got, outcome) = run(&verified, &h, b"the body", frame);
        assert_eq!(got, b"the body");
        assert_eq!(outcome.unwrap().decoded_len(), Some(8));
    }
    let (_, result) = run(&verified, &h, b"the bodY", 3);
    assert_eq!(result.unwrap_err(), AuthError::XAmzContentSHA256Mismatch);
}

#[test]
fn content_md5() {
    let verified = verified_put(SignableBody::UnsignedPayload);
    // MD5("hello") = 5d41402abc4b2a76b9719d911017c592
    let good = headers(&[("content-md5", "XUFAKrxLKna5cZ2REBfFkg==")]);
    run(&verified, &good, b"hello", 2).1.unwrap();
    let err = run(&verified, &good, b"hellO", 2).1.unwrap_err();
    assert_eq!((err.s3_code(), err.http_status()), ("BadDigest", 400));
    for bad in ["nope!", "AAAA"] {
        let h = headers(&[("content-md5", bad)]);
        let err = verify_body(&verified, &h, frames(b"hello", 2)).unwrap_err();
        assert_eq!(err, AuthError::InvalidDigest);
    }
}

#[test]
fn checksum_headers() {
    let verified = verified_put(SignableBody::UnsignedPayload);
    for alg in ChecksumAlgorithm::ALL {
        let value = checksum_of(alg, b"123456789");
        let h = headers(&[(alg.header_name(), value.as_str())]);
        let (_, outcome) = run(&verified, &h, b"123456789", 4);
        assert_eq!(outcome.unwrap().checksum(), Some((alg, value)));
        let err = run(&verified, &h, b"123456780", 4).1.unwrap_err();
        assert_eq!(err.s3_code(), "BadDigest");
        assert!(err.message().contains(alg.name()));
        let bad = headers(&[(alg.header_name(), "AAAA")]);
        assert_eq!(
            verify_body(&verified, &bad, frames(b"", 1))
                .unwrap_err()
                .s3_code(),
            "InvalidRequest"
        );
    }
    let two = headers(&[
        ("x-amz-checksum-crc32", "AAAAAA=="),
        ("x-amz-checksum-crc32c", "AAAAAA=="),
    ]);
    assert_eq!(
        verify_body(&verified, &two, frames(b"", 1))
            .unwrap_err()
            .s3_code(),
        "InvalidRequest"
    );
    // Headers that merely mention checksums are not checksum values.
    let other = headers(&[
        ("x-amz-checksum-type", "FULL_OBJECT"),
        ("x-amz-sdk-checksum-algorithm", "CRC32"),
    ]);
    assert_eq!(
        run(&verified, &other, b"abc", 1).1.unwrap().checksum(),
        None
    );
}

#[test]
fn content_length() {
    let verified = verified_put(SignableBody::UnsignedPayload);
    let h = headers(&[("content-length", "5")]);
    assert_eq!(
        run(&verified, &h, b"hell", 2).1.unwrap_err(),
        AuthError::IncompleteBody
    );
    assert_eq!(
        run(&verified, &h, b"hello!", 2).1.unwrap_err().s3_code(),
        "InvalidRequest"
    );
    assert_eq!(
        run(&verified, &headers(&[]), b"", 1)
            .1
            .unwrap()
            .decoded_len(),
        Some(0)
    );
    let bad = headers(&[("content-length", "five")]);
    assert!(verify_body(&verified, &bad, frames(b"", 1)).is_err());
}

#[test]
fn underlying_errors_become_body_read() {
    let verified = verified_put(SignableBody::UnsignedPayload);
    let items: Vec<Result<Bytes, String>> = vec![
        Ok(Bytes::from_static(b"abc")),
        Err("connection reset".to_owned()),
    ];
    let (stream, outcome) =
        verify_body(&verified, &headers(&[]), futures_util::stream::iter(items)).unwrap();
    let (got, result) = drain(stream);
    assert_eq!(got, b"abc");
    assert_eq!(
        result.unwrap_err(),
        AuthError::BodyRead("connection reset".to_owned())
    );
    assert!(!outcome.is_complete());
    assert_eq!(outcome.decoded_len(), None);
}

#[test]
fn stored_content_encoding_drops_aws_chunked() {
    assert_eq!(
        stored_content_encoding(&headers(&[("content-encoding", "aws-chunked")])),
        None
    );
    assert_eq!(
        stored_content_encoding(&headers(&[("content-encoding", "aws-chunked,gzip")])),
        Some("gzip".to_owned())
    );
    assert_eq!(
        stored_content_encoding(&headers(&[
            ("content-encoding", "gzip"),
            ("content-encoding", "br")
        ])),
        Some("gzip,br".to_owned())
    );
    assert_eq!(stored_content_encoding(&headers(&[])), None);
}

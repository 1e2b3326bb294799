//! aws-chunked bodies: `auth/src/chunked.rs` and `body.rs`.
//!
//! A body is encoded here by a plain encoder written from AWS's
//! description of the format (chunk signatures chained with HMAC-SHA256
//! from the seed signature aws-sigv4 produced, an optional CRC32 trailer,
//! signed or not), split into frames at arbitrary points and decoded by the
//! gateway. Properties: the decoded bytes are exactly the payload and the
//! trailer's checksum is the one reported, however the frames fall; with
//! one byte of the encoding changed, the body is either refused or decodes
//! to exactly the payload (a change the format tolerates, such as the case
//! of a hex digit), never to other bytes. Raw input (the first byte odd)
//! is decoded as an unsigned aws-chunked body: it never panics, and never
//! yields more bytes than it was given.

use std::time::Duration;

use arbitrary::Unstructured;
use aws_sigv4::http_request::SignableBody;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::support::{self, Signing, REGION, SK};

const UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
const SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The reference chunk signer: SigV4's key derivation and the
/// `AWS4-HMAC-SHA256-PAYLOAD` / `-TRAILER` strings to sign.
struct Chain {
    key: Vec<u8>,
    amz_date: String,
    scope: String,
    previous: String,
}

impl Chain {
    fn new(amz_date: &str, seed: String) -> Self {
        let day = &amz_date[..8];
        let mut key = hmac(format!("AWS4{SK}").as_bytes(), day.as_bytes());
        for part in [REGION, "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        Self {
            key,
            amz_date: amz_date.to_owned(),
            scope: format!("{day}/{REGION}/s3/aws4_request"),
            previous: seed,
        }
    }

    fn next(&mut self, kind: &str, last_line: String) -> String {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-{kind}\n{}\n{}\n{}\n{last_line}",
            self.amz_date, self.scope, self.previous
        );
        self.previous = hex::encode(hmac(&self.key, to_sign.as_bytes()));
        self.previous.clone()
    }

    fn chunk(&mut self, data: &[u8]) -> String {
        let empty = sha256_hex(b"");
        self.next("PAYLOAD", format!("{empty}\n{}", sha256_hex(data)))
    }

    fn trailer(&mut self, canonical: &str) -> String {
        self.next("TRAILER", sha256_hex(canonical.as_bytes()))
    }
}

fn crc32_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(data).to_be_bytes())
}

/// The gateway's decoding of `frames` for the request `req`: the bytes,
/// whether it succeeded, and the checksum it reports.
fn decode(req: &http::Request<()>, frames: Vec<bytes::Bytes>) -> (Vec<u8>, bool, Option<String>) {
    let verified = support::verify(req, Duration::ZERO).expect("aws-sigv4 signed it");
    let stream = futures_util::stream::iter(frames.into_iter().map(Ok::<_, std::io::Error>));
    match blobgate_auth::verify_body(&verified, req.headers(), stream) {
        Err(_) => (Vec::new(), false, None),
        Ok((body, outcome)) => {
            let (out, ended) = support::drain(body);
            let checksum = outcome.checksum().map(|(_, v)| v);
            (out, ended.is_ok(), checksum)
        }
    }
}

pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(selector) = u.arbitrary::<u8>() else {
        return;
    };
    if selector & 1 == 1 {
        raw(&mut u);
        return;
    }
    let mode = [UNSIGNED_TRAILER, SIGNED, SIGNED_TRAILER][usize::from(selector >> 1) % 3];
    let signed = mode != UNSIGNED_TRAILER;
    let with_trailer =
        mode == SIGNED_TRAILER || (mode == UNSIGNED_TRAILER && u.arbitrary().unwrap_or(true));
    let Ok(payload) = support::bytes_upto(&mut u, 2048) else {
        return;
    };
    let chunks = support::split(&mut u, &payload);

    let mut builder = http::Request::builder()
        .method("PUT")
        .uri("http://127.0.0.1:9000/bucket/key")
        .header("host", "127.0.0.1:9000")
        .header("content-encoding", "aws-chunked")
        .header("x-amz-decoded-content-length", payload.len().to_string());
    if with_trailer {
        builder = builder.header("x-amz-trailer", "x-amz-checksum-crc32");
    }
    let mut req = builder.body(()).expect("valid request");
    let how = Signing {
        presign: None,
        payload: SignableBody::Precomputed(mode.to_owned()),
    };
    let Some(seed) = support::sign_request(&mut req, how) else {
        return;
    };
    let amz_date = req.headers()["x-amz-date"]
        .to_str()
        .expect("ascii")
        .to_owned();

    // The encoding, as an SDK writes it.
    let mut chain = Chain::new(&amz_date, seed);
    let mut wire = Vec::new();
    for chunk in chunks.iter().map(|c| &c[..]).chain([&b""[..]]) {
        wire.extend_from_slice(format!("{:x}", chunk.len()).as_bytes());
        if signed {
            wire.extend_from_slice(format!(";chunk-signature={}", chain.chunk(chunk)).as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        if !chunk.is_empty() {
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
    }
    let checksum = crc32_base64(&payload);
    if with_trailer {
        wire.extend_from_slice(format!("x-amz-checksum-crc32:{checksum}\r\n").as_bytes());
        if signed {
            let canonical = format!("x-amz-checksum-crc32:{checksum}\n");
            let signature = chain.trailer(&canonical);
            wire.extend_from_slice(format!("x-amz-trailer-signature:{signature}\r\n").as_bytes());
        }
    }
    wire.extend_from_slice(b"\r\n");

    let (out, ok, reported) = decode(&req, support::split(&mut u, &wire));
    assert!(ok, "a well-formed {mode} body was refused");
    assert_eq!(
        out, payload,
        "decoded bytes differ from the payload ({mode})"
    );
    if with_trailer {
        assert_eq!(
            reported.as_deref(),
            Some(checksum.as_str()),
            "trailer checksum"
        );
    }

    // One byte changed: refused, or exactly the payload. (Unsigned bodies
    // without a trailer have nothing to detect a change in the data with.)
    if !signed && !with_trailer {
        return;
    }
    let Ok(position) = u.choose_index(wire.len()) else {
        return;
    };
    let Ok(replacement) = u.arbitrary::<u8>() else {
        return;
    };
    if wire[position] == replacement {
        return;
    }
    let mut changed = wire.clone();
    changed[position] = replacement;
    let (out, ok, _) = decode(&req, support::split(&mut u, &changed));
    if ok {
        assert_eq!(
            out, payload,
            "byte {position} changed to {replacement:#04x} and the body decoded to other bytes ({mode})"
        );
    }
}

/// Arbitrary bytes as an unsigned aws-chunked body.
fn raw(u: &mut Unstructured<'_>) {
    let Ok(body) = support::bytes_upto(u, 8192) else {
        return;
    };
    let mut req = http::Request::builder()
        .method("PUT")
        .uri("http://127.0.0.1:9000/bucket/key")
        .header("host", "127.0.0.1:9000")
        .header("content-encoding", "aws-chunked")
        .header("x-amz-trailer", "x-amz-checksum-crc32")
        .body(())
        .expect("valid request");
    let how = Signing {
        presign: None,
        payload: SignableBody::Precomputed(UNSIGNED_TRAILER.to_owned()),
    };
    if support::sign_request(&mut req, how).is_none() {
        return;
    }
    let (out, _, _) = decode(&req, support::split(u, &body));
    assert!(out.len() <= body.len(), "decoded more bytes than were sent");
}

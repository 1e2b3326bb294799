//! SigV4 (and SigV2) request verification: `auth/src/sigv4.rs`,
//! `authorization.rs`, `canonical.rs`, `sigv2.rs`.
//!
//! [`agreement`]: a request built from the input (method, a path and query
//! encoded the ways clients do, extra headers with odd whitespace, header
//! or presigned signing) is signed by aws-sigv4, the reference; the gateway
//! must accept it, and must refuse it with one signature character changed
//! or once it is too old. [`parse`]: raw bytes as the request line,
//! Authorization header, dates and payload hash; a random signature is
//! never accepted, and nothing panics.

use std::time::Duration;

use arbitrary::Unstructured;
use aws_sigv4::http_request::SignableBody;

use crate::support::{self, Signing, AK};

/// Characters a URI may carry unescaped that SigV4 would escape.
const SUB_DELIMS: &[u8] = b"!$&'()*+,;=:@";

fn encode_component(u: &mut Unstructured<'_>, s: &str, out: &mut String) -> arbitrary::Result<()> {
    for &b in s.as_bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        if unreserved || (SUB_DELIMS.contains(&b) && u.ratio(1, 4)?) {
            out.push(char::from(b));
        } else if u.ratio(1, 8)? {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(())
}

struct Built {
    req: http::Request<()>,
    presign: Option<Duration>,
}

fn build(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<Built>> {
    let method = *u.choose(&["GET", "PUT", "HEAD", "DELETE", "POST"])?;
    let mut target = String::new();
    for _ in 0..u.int_in_range(0..=4)? {
        target.push('/');
        let segment = support::unicode_upto(u, 12)?;
        encode_component(u, &segment, &mut target)?;
    }
    if target.is_empty() {
        target.push('/');
    }
    let presign = if u.arbitrary()? {
        Some(Duration::from_secs(u.int_in_range(1..=604_800)?))
    } else {
        None
    };
    let params = u.int_in_range(0..=4)?;
    for i in 0..params {
        target.push(if i == 0 { '?' } else { '&' });
        let name = support::unicode_upto(u, 8)?;
        if name.to_ascii_lowercase().starts_with("x-amz-") {
            return Ok(None);
        }
        encode_component(u, &name, &mut target)?;
        let value = support::unicode_upto(u, 12)?;
        if !value.is_empty() || u.arbitrary()? {
            target.push('=');
            encode_component(u, &value, &mut target)?;
        }
    }
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:9000{target}"))
        .header("host", "127.0.0.1:9000");
    for _ in 0..u.int_in_range(0..=4)? {
        let name = *u.choose(&[
            "x-amz-meta-a",
            "x-amz-meta-b",
            "content-type",
            "x-amz-tagging",
            "range",
            "x-amz-storage-class",
        ])?;
        // No tabs: clients disagree on them (botocore folds runs of any
        // whitespace, as the gateway does; aws-sigv4 folds only spaces).
        let value = support::string_from(u, b"  abcXYZ019-_.,;:=/+*%\"'()<>?@[]{}!#$&^`|~\\", 20)?;
        builder = builder.header(name, value);
    }
    Ok(builder.body(()).ok().map(|req| Built { req, presign }))
}

/// aws-sigv4 signs, blobgate verifies.
pub fn agreement(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(Some(Built { mut req, presign })) = build(&mut u) else {
        return;
    };
    let payload = match (presign, u.arbitrary().unwrap_or(false)) {
        (None, true) => SignableBody::Bytes(b""),
        _ => SignableBody::UnsignedPayload,
    };
    let Some(signature) = support::sign_request(&mut req, Signing { presign, payload }) else {
        return;
    };
    let limit = presign.map_or(900, |e| e.as_secs().min(900));
    let after = Duration::from_secs(u.int_in_range(0..=limit).unwrap_or(0));
    match support::verify(&req, after) {
        Ok(v) => assert_eq!(v.access_key, AK),
        Err(e) => panic!("aws-sigv4 signed it, blobgate refused it: {e:?}\n{req:?}"),
    }

    // One character of the signature changed: refused.
    let position = u.choose_index(signature.len()).unwrap_or(0);
    let mut forged = signature.clone().into_bytes();
    forged[position] = if forged[position] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).expect("hex");
    let mut tampered = req.clone();
    if presign.is_some() {
        let uri = req.uri().to_string().replace(&signature, &forged);
        *tampered.uri_mut() = uri.parse().expect("same shape");
    } else {
        let auth = req.headers()["authorization"]
            .to_str()
            .expect("ascii")
            .replace(&signature, &forged);
        tampered
            .headers_mut()
            .insert("authorization", auth.parse().expect("ascii"));
    }
    assert!(
        support::verify(&tampered, after).is_err(),
        "a forged signature was accepted: {tampered:?}"
    );

    // Too old: past X-Amz-Expires, or beyond the 15-minute skew.
    let late = presign.map_or(Duration::from_secs(901), |e| e + Duration::from_secs(1));
    assert!(
        support::verify(&req, late).is_err(),
        "an expired request was accepted: {req:?}"
    );
}

/// Raw bytes as a request: never accepted unless it carries no credentials.
pub fn parse(data: &[u8]) {
    let mut fields = data.splitn(6, |&b| b == b'\n');
    let mut next = || fields.next().unwrap_or_default();
    let (method, target, authorization, date, payload, extra) =
        (next(), next(), next(), next(), next(), next());
    let Ok(target) = std::str::from_utf8(target) else {
        return;
    };
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:9000/{target}"))
        .header("host", "127.0.0.1:9000");
    for (name, value) in [
        (&b"authorization"[..], authorization),
        (b"x-amz-date", date),
        (b"x-amz-content-sha256", payload),
    ] {
        if !value.is_empty() {
            builder = builder.header(name, value);
        }
    }
    if let Some(colon) = extra.iter().position(|&b| b == b':') {
        builder = builder.header(&extra[..colon], &extra[colon + 1..]);
    }
    let Ok(req) = builder.body(()) else {
        return;
    };
    if let Ok(v) = support::verify(&req, Duration::ZERO) {
        assert!(
            v.is_anonymous(),
            "random credentials were accepted: {req:?}"
        );
    }
}

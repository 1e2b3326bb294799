//! SigV4 canonicalisation as pure functions: canonical URI, query, headers,
//! request, and the strings to sign for requests, chunks and trailers.
//!
//! The verifier rebuilds exactly what the client signed: its SignedHeaders
//! list and the path as received (S3 neither normalises nor double-encodes
//! it). See
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>.

use std::borrow::Cow;

use sha2::{Digest as _, Sha256};

/// The only supported signing algorithm.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Algorithm line of a chunk's string to sign.
pub(crate) const CHUNK_ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";
/// Algorithm line of a trailer's string to sign.
pub(crate) const TRAILER_ALGORITHM: &str = "AWS4-HMAC-SHA256-TRAILER";
/// Hex SHA-256 of the empty string.
pub(crate) const EMPTY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Lower-case hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// SigV4 URI-encoding: every byte except `A-Za-z0-9-_.~` (and `/` when
/// `keep_slash`) becomes `%XX` with upper-case hex.
pub(crate) fn uri_encode(input: &[u8], keep_slash: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in input {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Percent-decode `input`; a malformed escape is kept literally.
pub(crate) fn percent_decode(input: &str, plus_as_space: bool) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_val);
            let lo = bytes.get(i + 2).copied().and_then(hex_val);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(if plus_as_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The canonical URIs to try for a raw request path: the path exactly as
/// received first, then (if different) each segment decoded and re-encoded
/// the SigV4 way, for clients that send some reserved characters unescaped
/// but sign them escaped (e.g. `$` in the AWS PUT example). Both denote the
/// same segments; an escaped `/` stays escaped.
pub(crate) fn canonical_uri_candidates(raw_path: &str) -> Vec<Cow<'_, str>> {
    let raw = if raw_path.is_empty() { "/" } else { raw_path };
    let mut reencoded = String::with_capacity(raw.len() + 16);
    for (i, segment) in raw.split('/').enumerate() {
        if i > 0 {
            reencoded.push('/');
        }
        uri_encode(&percent_decode(segment, false), false, &mut reencoded);
    }
    if reencoded == raw {
        vec![Cow::Borrowed(raw)]
    } else {
        vec![Cow::Borrowed(raw), Cow::Owned(reencoded)]
    }
}

/// The canonical query string of a raw query: each name and value decoded
/// then SigV4-encoded, sorted by name then value, `exclude` (a decoded
/// parameter name such as `X-Amz-Signature`) left out.
pub(crate) fn canonical_query(
    raw: Option<&str>,
    exclude: Option<&str>,
    plus_as_space: bool,
) -> String {
    let Some(raw) = raw else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = percent_decode(name, plus_as_space);
        if exclude.is_some_and(|ex| ex.as_bytes() == name.as_slice()) {
            continue;
        }
        let mut enc_name = String::with_capacity(name.len());
        uri_encode(&name, false, &mut enc_name);
        let mut enc_value = String::with_capacity(value.len());
        uri_encode(&percent_decode(value, plus_as_space), false, &mut enc_value);
        pairs.push((enc_name, enc_value));
    }
    pairs.sort_unstable();
    let mut out = String::with_capacity(raw.len() + 8);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The canonical headers block (each `name:value\n`) for the signed header
/// names, in the order the client listed them. Values of a repeated header
/// are joined with `,`; each value is trimmed and inner runs of whitespace
/// collapse to one space. `host` falls back to the URI authority (HTTP/2).
pub(crate) fn canonical_headers(
    signed: &[&str],
    headers: &http::HeaderMap,
    uri: &http::Uri,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    for name in signed {
        let lower = name.to_ascii_lowercase();
        out.extend_from_slice(lower.as_bytes());
        out.push(b':');
        let mut values = headers.get_all(lower.as_str()).iter().peekable();
        if values.peek().is_none() && lower == "host" {
            if let Some(authority) = uri.authority() {
                out.extend_from_slice(authority.as_str().as_bytes());
            }
        }
        for (i, value) in values.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_trimmed(value.as_bytes(), &mut out);
        }
        out.push(b'\n');
    }
    out
}

fn push_trimmed(value: &[u8], out: &mut Vec<u8>) {
    let mut first = true;
    for word in value
        .split(|b| matches!(b, b' ' | b'\t'))
        .filter(|w| !w.is_empty())
    {
        if !first {
            out.push(b' ');
        }
        out.extend_from_slice(word);
        first = false;
    }
}

/// The canonical request: method, URI, query, headers, signed headers,
/// hashed payload, separated by newlines.
pub(crate) fn canonical_request(
    method: &str,
    uri: &str,
    query: &str,
    headers: &[u8],
    signed_headers: &str,
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        method.len() + uri.len() + query.len() + headers.len() + signed_headers.len() + 80,
    );
    for part in [method.as_bytes(), uri.as_bytes(), query.as_bytes(), headers] {
        out.extend_from_slice(part);
        out.push(b'\n');
    }
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// String to sign of a request.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
}

/// String to sign of one aws-chunked chunk
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html>).
pub(crate) fn chunk_string_to_sign(
    amz_date: &str,
    scope: &str,
    previous: &str,
    chunk_sha256: &str,
) -> String {
    format!("{CHUNK_ALGORITHM}\n{amz_date}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{chunk_sha256}")
}

/// String to sign of the trailing headers
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html>).
pub(crate) fn trailer_string_to_sign(
    amz_date: &str,
    scope: &str,
    previous: &str,
    trailer_sha256: &str,
) -> String {
    format!("{TRAILER_ALGORITHM}\n{amz_date}\n{scope}\n{previous}\n{trailer_sha256}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_decode() {
        let mut s = String::new();
        uri_encode("a b/c~d+é".as_bytes(), true, &mut s);
        assert_eq!(s, "a%20b/c~d%2B%C3%A9");
        s.clear();
        uri_encode(b"a/b", false, &mut s);
        assert_eq!(s, "a%2Fb");
        assert_eq!(percent_decode("a%20b+c%zz%4", false), b"a b+c%zz%4");
        assert_eq!(percent_decode("a+b%2b", true), b"a b+");
    }

    #[test]
    fn uri_candidates() {
        assert_eq!(canonical_uri_candidates(""), ["/"]);
        assert_eq!(canonical_uri_candidates("/bucket/a%20b"), ["/bucket/a%20b"]);
        assert_eq!(
            canonical_uri_candidates("/bucket/a(1)!"),
            ["/bucket/a(1)!", "/bucket/a%281%29%21"]
        );
        // Lower-case escapes are re-encoded upper-case in the second candidate.
        assert_eq!(
            canonical_uri_candidates("/b/%c3%a9"),
            ["/b/%c3%a9", "/b/%C3%A9"]
        );
        // An escaped slash is never turned into a segment separator.
        assert_eq!(canonical_uri_candidates("/b/a%2Fb"), ["/b/a%2Fb"]);
        assert_eq!(
            canonical_uri_candidates("/b/a%2fb"),
            ["/b/a%2fb", "/b/a%2Fb"]
        );
    }

    #[test]
    fn query_is_sorted_and_reencoded() {
        assert_eq!(canonical_query(None, None, false), "");
        assert_eq!(
            canonical_query(Some("prefix=a b&acl&max-keys=2&delimiter=%2f"), None, false),
            "acl=&delimiter=%2F&max-keys=2&prefix=a%20b"
        );
        assert_eq!(
            canonical_query(
                Some("b=2&a=2&a=1&X-Amz-Signature=abc"),
                Some("X-Amz-Signature"),
                false
            ),
            "a=1&a=2&b=2"
        );
        assert_eq!(canonical_query(Some("k=a+b"), None, false), "k=a%2Bb");
        assert_eq!(canonical_query(Some("k=a+b"), None, true), "k=a%20b");
    }

    #[test]
    fn headers_are_trimmed_and_joined() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amz-meta-a", "  one   two ".parse().unwrap());
        headers.append("x-amz-meta-b", "1".parse().unwrap());
        headers.append("x-amz-meta-b", "2".parse().unwrap());
        let uri: http::Uri = "http://example.com:9000/b/k".parse().unwrap();
        let out = canonical_headers(&["host", "x-amz-meta-a", "x-amz-meta-b"], &headers, &uri);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "host:example.com:9000\nx-amz-meta-a:one two\nx-amz-meta-b:1,2\n"
        );
    }
}

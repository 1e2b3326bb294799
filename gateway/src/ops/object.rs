//! Object operations: PutObject, GetObject, HeadObject, DeleteObject.

use http::header::{self, HeaderMap, HeaderName};
use http::{HeaderValue, Response, StatusCode};

use super::{empty_response, part_read, request_body};
use crate::body::{self, ResponseBody};
use crate::conditions::Conditions;
use crate::error::{S3Error, S3ErrorCode};
use crate::range::ByteRange;
use crate::request::{Gateway, S3Request};
use crate::router::Query;
use crate::storage::{
    BucketName, ByteStream, ContentHeaders, GetOptions, ObjectKey, ObjectMeta, PutOptions,
};

/// Largest object a single PUT may carry (5 GiB).
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Largest total size of user metadata names and values (2 KiB).
pub const MAX_USER_METADATA: usize = 2048;
/// Content type S3 reports for objects stored without one.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";
const META_PREFIX: &str = "x-amz-meta-";

fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn parse_length(value: &HeaderValue) -> Result<u64, S3Error> {
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| S3Error::invalid_argument("The content length is not a number"))
}

fn missing_length() -> S3Error {
    S3Error::new(
        S3ErrorCode::MissingContentLength,
        "You must provide the Content-Length HTTP header.",
    )
}

fn too_large() -> S3Error {
    S3Error::new(
        S3ErrorCode::EntityTooLarge,
        "Your proposed upload exceeds the maximum allowed object size.",
    )
}

/// The decoded body length the client declares: `Content-Length`, or
/// `x-amz-decoded-content-length` for aws-chunked bodies. None for a body
/// sent with `Transfer-Encoding: chunked` and no declared length (streamed;
/// its length is then known at its end).
pub fn declared_length(req: &S3Request) -> Result<Option<u64>, S3Error> {
    let headers = &req.parts.headers;
    let declared = if req.verified.payload.is_streaming() {
        headers.get("x-amz-decoded-content-length")
    } else {
        headers.get(header::CONTENT_LENGTH)
    };
    let length = match declared {
        Some(v) => parse_length(v)?,
        None if headers.contains_key(header::TRANSFER_ENCODING) => return Ok(None),
        None => return Err(missing_length()),
    };
    if length > MAX_PUT_SIZE {
        return Err(too_large());
    }
    Ok(Some(length))
}

/// The declared length, required (an upload part's).
pub fn required_length(req: &S3Request) -> Result<u64, S3Error> {
    declared_length(req)?.ok_or_else(missing_length)
}

/// A body of unknown length, cut off with EntityTooLarge beyond the
/// largest single PUT S3 takes (5 GiB).
fn capped(body: ByteStream) -> ByteStream {
    use futures_util::StreamExt;
    let mut seen = 0u64;
    Box::pin(body.map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > MAX_PUT_SIZE {
            Err(too_large())
        } else {
            Ok(chunk)
        }
    }))
}

/// Content-* headers to store, without the `aws-chunked` transfer coding.
pub fn content_headers(headers: &HeaderMap) -> ContentHeaders {
    ContentHeaders {
        content_type: Some(
            header_text(headers, header::CONTENT_TYPE)
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned()),
        ),
        content_encoding: blobgate_auth::stored_content_encoding(headers),
        content_disposition: header_text(headers, header::CONTENT_DISPOSITION),
        content_language: header_text(headers, header::CONTENT_LANGUAGE),
        cache_control: header_text(headers, header::CACHE_CONTROL),
        expires: header_text(headers, header::EXPIRES),
    }
}

/// A metadata value as S3 returns it: as it is when US-ASCII, else one
/// RFC 2047 encoded word (`=?UTF-8?B?...?=`), which headers can carry.
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html>
fn encode_mime_word(value: &str) -> std::borrow::Cow<'_, str> {
    use base64::Engine as _;
    if value.is_ascii() {
        return value.into();
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
    format!("=?UTF-8?B?{encoded}?=").into()
}

/// A metadata value as S3 stores it: RFC 2047 encoded words in UTF-8 (B or
/// Q encoding) decoded; anything else as sent.
fn decode_mime_words(value: &str) -> String {
    use base64::Engine as _;
    let word = |w: &str| -> Option<String> {
        let inner = w.strip_prefix("=?")?.strip_suffix("?=")?;
        let mut parts = inner.splitn(3, '?');
        let (charset, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
        if !charset.eq_ignore_ascii_case("utf-8") {
            return None;
        }
        let bytes = match encoding {
            "B" | "b" => base64::engine::general_purpose::STANDARD
                .decode(text)
                .ok()?,
            "Q" | "q" => {
                let mut out = Vec::new();
                let mut rest = text.as_bytes();
                while let Some((&c, tail)) = rest.split_first() {
                    match c {
                        b'_' => out.push(b' '),
                        b'=' if tail.len() >= 2 => {
                            let hex = std::str::from_utf8(&tail[..2]).ok()?;
                            out.push(u8::from_str_radix(hex, 16).ok()?);
                            rest = &tail[2..];
                            continue;
                        }
                        c => out.push(c),
                    }
                    rest = tail;
                }
                out
            }
            _ => return None,
        };
        String::from_utf8(bytes).ok()
    };
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.is_empty()
        || !words
            .iter()
            .all(|w| w.starts_with("=?") && w.ends_with("?="))
    {
        return value.to_owned();
    }
    // Encoded words separated by white space join without it (RFC 2047, 6.2).
    match words.iter().map(|w| word(w)).collect::<Option<Vec<_>>>() {
        Some(decoded) => decoded.concat(),
        None => value.to_owned(),
    }
}

/// `x-amz-meta-*` headers, names lower-cased without the prefix.
pub fn user_metadata(headers: &HeaderMap) -> Result<Vec<(String, String)>, S3Error> {
    let mut out = Vec::new();
    let mut total = 0;
    for (name, value) in headers {
        if let Some(short) = name.as_str().strip_prefix(META_PREFIX) {
            let value = decode_mime_words(&String::from_utf8_lossy(value.as_bytes()));
            total += short.len() + value.len();
            out.push((short.to_owned(), value));
        }
    }
    if total > MAX_USER_METADATA {
        return Err(S3Error::new(
            S3ErrorCode::MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size.",
        ));
    }
    Ok(out)
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html>
pub async fn handle_put_object(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let length = declared_length(&req)?;
    let headers = &req.parts.headers;
    let options_without_checksum = PutOptions {
        headers: content_headers(headers),
        user_metadata: user_metadata(headers)?,
        checksum: None,
        conditions: Conditions::from_headers(headers),
        content_length: length,
        tags: super::tagging::header_tags(headers)?,
    };
    let (body, checksum) = request_body(gateway, req)?;
    let body = if length.is_some() { body } else { capped(body) };
    let options = PutOptions {
        checksum: Some(checksum),
        ..options_without_checksum
    };
    let meta = gateway
        .backend
        .put_object(bucket, key, body, options)
        .await?;
    let mut response = empty_response(StatusCode::OK);
    set_etag(response.headers_mut(), &meta.etag);
    if let Some(c) = &meta.checksum {
        insert(
            response.headers_mut(),
            checksum_header(&c.algorithm),
            &c.value,
        );
    }
    Ok(response)
}

fn checksum_header(algorithm: &str) -> HeaderName {
    HeaderName::from_bytes(format!("x-amz-checksum-{}", algorithm.to_ascii_lowercase()).as_bytes())
        .unwrap_or_else(|_| HeaderName::from_static("x-amz-checksum-unknown"))
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
        headers.insert(name, v);
    }
}

pub fn set_etag(headers: &mut HeaderMap, etag: &str) {
    insert(headers, header::ETAG, &format!("\"{etag}\""));
}

/// Buckets here are unversioned: their objects have the version id `null`.
/// Another version id names a version that does not exist, so it must never
/// reach the current object. Returns whether the request names the current
/// object.
pub fn names_current_version(req: &S3Request) -> bool {
    req.query.get("versionId").is_none_or(|v| v == "null")
}

pub fn no_such_version() -> S3Error {
    S3Error::new(
        S3ErrorCode::NoSuchVersion,
        "The specified version does not exist.",
    )
}

/// The response-* query parameters that override stored headers on GET.
const OVERRIDES: [(&str, HeaderName); 6] = [
    ("response-content-type", header::CONTENT_TYPE),
    ("response-content-language", header::CONTENT_LANGUAGE),
    ("response-expires", header::EXPIRES),
    ("response-cache-control", header::CACHE_CONTROL),
    ("response-content-disposition", header::CONTENT_DISPOSITION),
    ("response-content-encoding", header::CONTENT_ENCODING),
];

/// Headers describing an object on GET and HEAD.
fn object_headers(headers: &mut HeaderMap, meta: &ObjectMeta, req: &S3Request, whole: bool) {
    set_etag(headers, &meta.etag);
    insert(
        headers,
        header::LAST_MODIFIED,
        &httpdate::fmt_http_date(meta.last_modified()),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let h = &meta.headers;
    let stored = [
        (header::CONTENT_TYPE, &h.content_type),
        (header::CONTENT_ENCODING, &h.content_encoding),
        (header::CONTENT_DISPOSITION, &h.content_disposition),
        (header::CONTENT_LANGUAGE, &h.content_language),
        (header::CACHE_CONTROL, &h.cache_control),
        (header::EXPIRES, &h.expires),
    ];
    for (name, value) in stored {
        if let Some(v) = value {
            insert(headers, name, v);
        }
    }
    for (name, value) in &meta.user_metadata {
        if let Ok(n) = HeaderName::from_bytes(format!("{META_PREFIX}{name}").as_bytes()) {
            insert(headers, n, &encode_mime_word(value));
        }
    }
    if meta.tag_count > 0 {
        headers.insert("x-amz-tagging-count", HeaderValue::from(meta.tag_count));
    }
    if let (true, true, Some(c)) = (checksum_mode(req), whole, &meta.checksum) {
        insert(headers, checksum_header(&c.algorithm), &c.value);
        headers.insert(
            "x-amz-checksum-type",
            HeaderValue::from_static(crate::storage::parts::checksum_type(c)),
        );
    }
    apply_overrides(headers, &req.query);
}

/// Whether the request asks for the object's checksum
/// (`x-amz-checksum-mode: ENABLED`).
pub fn checksum_mode(req: &S3Request) -> bool {
    req.parts
        .headers
        .get("x-amz-checksum-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"enabled"))
}

fn apply_overrides(headers: &mut HeaderMap, query: &Query) {
    for (param, name) in OVERRIDES {
        if let Some(v) = query.get(param) {
            insert(headers, name, v);
        }
    }
}

fn range_of(req: &S3Request) -> Option<ByteRange> {
    req.parts
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(ByteRange::parse)
}

fn set_length_and_range(
    response: &mut Response<ResponseBody>,
    meta: &ObjectMeta,
    range: Option<(u64, u64)>,
) {
    let headers = response.headers_mut();
    match range {
        Some((first, last)) => {
            insert(
                headers,
                header::CONTENT_LENGTH,
                &(last - first + 1).to_string(),
            );
            insert(
                headers,
                header::CONTENT_RANGE,
                &format!("bytes {first}-{last}/{}", meta.size),
            );
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
        None => insert(headers, header::CONTENT_LENGTH, &meta.size.to_string()),
    }
}

/// A 304 carries the validators and the caching headers a 200 would carry
/// (RFC 9110 section 15.4.5); other errors pass through.
async fn with_validators(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    mut e: S3Error,
) -> S3Error {
    if e.code != S3ErrorCode::NotModified {
        return e;
    }
    let Ok(meta) = gateway
        .backend
        .head_object(bucket, key, &Conditions::default())
        .await
    else {
        return e;
    };
    e.headers.push((header::ETAG, format!("\"{}\"", meta.etag)));
    e.headers.push((
        header::LAST_MODIFIED,
        httpdate::fmt_http_date(meta.last_modified()),
    ));
    if let Some(v) = &meta.headers.cache_control {
        e.headers.push((header::CACHE_CONTROL, v.clone()));
    }
    if let Some(v) = &meta.headers.expires {
        e.headers.push((header::EXPIRES, v.clone()));
    }
    e
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>
pub async fn handle_get_object(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    if !names_current_version(req) {
        return Err(no_such_version());
    }
    let part = part_read::requested_part(req)?;
    let mut options = GetOptions {
        range: range_of(req),
        conditions: Conditions::from_headers(&req.parts.headers),
    };
    if let Some(n) = part {
        let meta = match gateway
            .backend
            .head_object(bucket, key, &options.conditions)
            .await
        {
            Ok(m) => m,
            Err(e) => return Err(with_validators(gateway, bucket, key, e).await),
        };
        options.range = part_read::part_range(&meta, n)?;
        options.conditions = part_read::same_object(options.conditions, &meta);
    }
    let output = match gateway.backend.get_object(bucket, key, options).await {
        Ok(o) => o,
        Err(e) => return Err(with_validators(gateway, bucket, key, e).await),
    };
    let mut response = Response::new(body::streamed(output.body));
    object_headers(
        response.headers_mut(),
        &output.meta,
        req,
        output.range.is_none() && part.is_none(),
    );
    set_length_and_range(&mut response, &output.meta, output.range);
    if let Some(n) = part {
        part_read::part_headers(response.headers_mut(), &output.meta, n, checksum_mode(req));
    }
    Ok(response)
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>
pub async fn handle_head_object(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    if !names_current_version(req) {
        return Err(no_such_version());
    }
    let conditions = Conditions::from_headers(&req.parts.headers);
    let meta = match gateway.backend.head_object(bucket, key, &conditions).await {
        Ok(m) => m,
        Err(e) => return Err(with_validators(gateway, bucket, key, e).await),
    };
    let part = part_read::requested_part(req)?;
    let range = match part {
        Some(n) => part_read::part_range(&meta, n)?,
        None => range_of(req),
    };
    let range = match range {
        Some(r) => Some(r.resolve(meta.size)?),
        None => None,
    };
    let mut response = empty_response(StatusCode::OK);
    object_headers(
        response.headers_mut(),
        &meta,
        req,
        range.is_none() && part.is_none(),
    );
    set_length_and_range(&mut response, &meta, range);
    if let Some(n) = part {
        part_read::part_headers(response.headers_mut(), &meta, n, checksum_mode(req));
    }
    Ok(response)
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html>
/// Deleting a version other than `null` deletes nothing: no such version exists.
pub async fn handle_delete_object(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    if !names_current_version(req) {
        gateway.backend.head_bucket(bucket).await?;
        return Ok(empty_response(StatusCode::NO_CONTENT));
    }
    gateway.backend.delete_object(bucket, key).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_is_not_stored() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_ENCODING,
            "aws-chunked,gzip".parse().unwrap(),
        );
        assert_eq!(
            content_headers(&h).content_encoding.as_deref(),
            Some("gzip")
        );
        h.insert(header::CONTENT_ENCODING, "aws-chunked".parse().unwrap());
        assert_eq!(content_headers(&h).content_encoding, None);
        assert_eq!(
            content_headers(&h).content_type.as_deref(),
            Some(DEFAULT_CONTENT_TYPE)
        );
    }

    #[test]
    fn metadata_limit() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-meta-a", "x".repeat(2047).parse().unwrap());
        assert!(user_metadata(&h).is_ok());
        // Non-ASCII values travel as RFC 2047 encoded words.
        let mut enc = HeaderMap::new();
        enc.insert(
            "x-amz-meta-city",
            HeaderValue::from_static("=?UTF-8?B?TW9udHLDqWFs?="),
        );
        enc.insert(
            "x-amz-meta-q",
            HeaderValue::from_static("=?utf-8?Q?caf=C3=A9_cr=C3=A8me?="),
        );
        enc.insert(
            "x-amz-meta-plain",
            HeaderValue::from_static("=?not an encoded word"),
        );
        let got = user_metadata(&enc).unwrap();
        assert!(
            got.contains(&("city".to_owned(), "Montréal".to_owned())),
            "{got:?}"
        );
        assert!(
            got.contains(&("q".to_owned(), "café crème".to_owned())),
            "{got:?}"
        );
        assert!(got.contains(&("plain".to_owned(), "=?not an encoded word".to_owned())));
        assert_eq!(encode_mime_word("Montréal"), "=?UTF-8?B?TW9udHLDqWFs?=");
        assert_eq!(encode_mime_word("plain"), "plain");
        h.insert("x-amz-meta-ab", "x".repeat(2047).parse().unwrap());
        assert_eq!(
            user_metadata(&h).unwrap_err().code,
            S3ErrorCode::MetadataTooLarge
        );
    }
}

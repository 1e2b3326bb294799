//! PostObject: browser-based uploads, `POST /bucket` with an HTML form
//! (`multipart/form-data`) whose signed policy says what may be uploaded.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-UsingHTTPPOST.html>.
//!
//! The form is read as a stream. The fields before the `file` part are read
//! into memory (at most [`MAX_FIELDS`] bytes, as S3 caps them); the file is
//! streamed into the same backend write as PutObject's (atomic: a refused
//! or cut-off upload leaves the previous object), never held whole; fields
//! after it are ignored, as S3 does. The form's signature and policy are
//! checked in `blobgate-auth` ([`blobgate_auth::verify_post_form`],
//! [`blobgate_auth::PostPolicy`]); a form without a signature is anonymous.
//! Then the caller is authorized as for a PutObject of the form's key, with
//! the same condition keys; the policy's `content-length-range` is enforced
//! on the file's bytes as they stream.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use blobgate_auth::{AuthError, PayloadMode, PostPolicy, PostPolicyError, Verified};
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_util::StreamExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use super::object::{content_headers, set_etag, user_metadata, MAX_PUT_SIZE};
use super::{acl, empty_response, request_body, tagging};
use crate::body::{self, ResponseBody};
use crate::conditions::Conditions;
use crate::error::{S3Error, S3ErrorCode};
use crate::request::{Gateway, S3Request};
use crate::router::{Endpoint, Route};
use crate::storage::{BucketName, ByteStream, ObjectKey, PutOptions};
use crate::xml::XmlWriter;

/// Largest total of the names and values of the fields before the file
/// (S3's limit, 20 KB).
pub const MAX_FIELDS: usize = 20 * 1024;
/// Largest part of the body read before the file starts: the fields with
/// their part headers and boundaries.
const MAX_PREAMBLE: u64 = 64 * 1024;
/// At most this much of what follows the file is read (and ignored), so the
/// connection can be reused.
const MAX_EPILOGUE: usize = 64 * 1024;

fn malformed() -> S3Error {
    S3Error::new(
        S3ErrorCode::Other {
            code: "MalformedPOSTRequest",
            status: 400,
        },
        "The body of your POST request is not well-formed multipart/form-data.",
    )
}

fn fields_too_large() -> S3Error {
    S3Error::new(
        S3ErrorCode::Other {
            code: "MaxPostPreDataLengthExceededError",
            status: 400,
        },
        "Your POST request fields preceding the upload file were too large.",
    )
}

fn not_a_form() -> S3Error {
    S3Error::new(
        S3ErrorCode::PreconditionFailed,
        "Bucket POST must be of the enclosure-type multipart/form-data",
    )
    .with_header(
        HeaderName::from_static("x-amz-condition"),
        "Bucket POST must be of the enclosure-type multipart/form-data",
    )
}

fn policy_error(e: PostPolicyError) -> S3Error {
    let code = match e {
        PostPolicyError::Invalid(_) => S3ErrorCode::Other {
            code: "InvalidPolicyDocument",
            status: 400,
        },
        PostPolicyError::Denied(_) => S3ErrorCode::AccessDenied,
    };
    S3Error::new(code, e.message())
}

/// A multipart parse error as the client should see it: the body stream's
/// own error (a timeout, a cut-off body, a limit) when it is one.
fn multipart_error(e: multer::Error) -> S3Error {
    match e {
        multer::Error::StreamReadFailed(inner) => match inner.downcast::<S3Error>() {
            Ok(e) => *e,
            Err(other) => malformed().with_source(other),
        },
        other => malformed().with_source(other),
    }
}

/// The request body, failing with MaxPostPreDataLengthExceeded when more
/// than [`MAX_PREAMBLE`] bytes come before the file starts (`in_file`).
struct Preamble {
    inner: ByteStream,
    seen: u64,
    in_file: Arc<AtomicBool>,
}

impl Stream for Preamble {
    type Item = Result<Bytes, S3Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Checked before each read: the chunk that starts the file may
        // also carry the last fields.
        if self.seen > MAX_PREAMBLE && !self.in_file.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(fields_too_large())));
        }
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &next {
            self.seen += chunk.len() as u64;
        }
        next
    }
}

/// The file's bytes, cut off with EntityTooLarge beyond `max`, and failing
/// at its end with EntityTooSmall below `min` (so the write is not kept).
struct SizeRange {
    inner: ByteStream,
    seen: u64,
    min: u64,
    max: u64,
    done: bool,
}

impl Stream for SizeRange {
    type Item = Result<Bytes, S3Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let next = std::task::ready!(self.inner.as_mut().poll_next(cx));
        Poll::Ready(match next {
            Some(Ok(chunk)) => {
                self.seen += chunk.len() as u64;
                if self.seen > self.max {
                    self.done = true;
                    Some(Err(S3Error::new(
                        S3ErrorCode::EntityTooLarge,
                        "Your proposed upload exceeds the maximum allowed size",
                    )))
                } else {
                    Some(Ok(chunk))
                }
            }
            Some(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            None if self.seen < self.min => {
                self.done = true;
                Some(Err(S3Error::new(
                    S3ErrorCode::EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed size",
                )))
            }
            None => None,
        })
    }
}

/// Form fields that become the object's headers (as PutObject's request
/// headers would), by their lower-case names.
const HEADER_FIELDS: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-type",
    "expires",
    "x-amz-server-side-encryption",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
];

/// The request headers a PutObject of this form would have carried.
fn form_headers(fields: &[(String, String)]) -> Result<HeaderMap, S3Error> {
    let mut headers = HeaderMap::new();
    for (name, value) in fields {
        let header_name = if name == "acl" {
            "x-amz-acl"
        } else if HEADER_FIELDS.contains(&name.as_str()) || name.starts_with("x-amz-meta-") {
            name.as_str()
        } else {
            continue;
        };
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(header_name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return Err(S3Error::invalid_argument(format!(
                "The value of the form field {name} is not a valid header value"
            )));
        };
        if !headers.contains_key(&n) {
            headers.insert(n, v);
        }
    }
    Ok(headers)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Read one field's value, adding its size to `total`.
async fn read_value(
    field: &mut multer::Field<'static>,
    total: &mut usize,
) -> Result<String, S3Error> {
    let mut value = BytesMut::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        *total += chunk.len();
        if *total > MAX_FIELDS {
            return Err(fields_too_large());
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value.to_vec())
        .map_err(|_| S3Error::invalid_argument("A form field is not valid UTF-8"))
}

/// `scheme://host/bucket/key` (or `scheme://host/key` for virtual-host
/// requests), as S3's Location.
fn object_url(
    gateway: &Gateway,
    headers: &HeaderMap,
    bucket: &BucketName,
    key: &ObjectKey,
) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if gateway.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let key = super::list::url_encoder(true)(key.as_str());
    let virtual_host =
        crate::router::virtual_host_bucket(Some(host), gateway.config.domain.as_deref()).is_some();
    if virtual_host {
        format!("{scheme}://{host}/{key}")
    } else {
        format!("{scheme}://{host}/{bucket}/{key}")
    }
}

/// `success_action_redirect` (or the older `redirect`) with the upload's
/// bucket, key and ETag added to its query, when it is a URL.
fn redirect_target(
    fields: &[(String, String)],
    bucket: &str,
    key: &str,
    etag: &str,
) -> Option<String> {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    // A query component: everything but RFC 3986's unreserved characters.
    const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let url = field(fields, "success_action_redirect").or_else(|| field(fields, "redirect"))?;
    let uri: http::Uri = url.parse().ok()?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return None;
    }
    let enc = |s: &str| utf8_percent_encode(s, QUERY_VALUE).to_string();
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!(
        "{url}{sep}bucket={}&key={}&etag={}",
        enc(bucket),
        enc(key),
        enc(&format!("\"{etag}\""))
    ))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html>
pub async fn handle_post_object(
    gateway: &Gateway,
    bucket: &BucketName,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let boundary = req
        .parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(not_a_form)?;
    let headers = req.parts.headers.clone();
    let query = req.query.clone();
    let peer = req.peer;
    // A request signature (rare on a form) decides who the caller is when
    // the form has none. Its body must be unsigned: a body hash or chunk
    // signatures are only checked at the body's end, after the file's write
    // is kept, and the fields after the file are not read.
    if req.verified.payload != PayloadMode::Unsigned {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "A POST form is signed by its policy: send it unsigned, or with x-amz-content-sha256: UNSIGNED-PAYLOAD",
        ));
    }
    let request_caller = req.verified.clone();
    let (body, _) = request_body(gateway, req)?;
    let in_file = Arc::new(AtomicBool::new(false));
    let body = Preamble {
        inner: body,
        seen: 0,
        in_file: in_file.clone(),
    };
    let mut form = multer::Multipart::new(body, boundary);

    let mut fields: Vec<(String, String)> = Vec::new();
    let mut total = 0;
    let file = loop {
        let Some(mut part) = form.next_field().await.map_err(multipart_error)? else {
            return Err(S3Error::invalid_argument(
                "POST requires exactly one file upload per request.",
            ));
        };
        let name = part.name().ok_or_else(malformed)?.to_ascii_lowercase();
        if name == "file" {
            in_file.store(true, Ordering::Relaxed);
            break part;
        }
        total += name.len();
        let value = read_value(&mut part, &mut total).await?;
        fields.push((name, value));
    };

    let caller = match blobgate_auth::verify_post_form(
        &fields,
        gateway.access.as_ref(),
        &gateway.config.region,
        std::time::SystemTime::now(),
    ) {
        Ok(v) => Some(v),
        Err(AuthError::MissingAuthentication) => None,
        Err(e) => return Err(e.into()),
    };
    let key_field = field(&fields, "key").ok_or_else(|| {
        S3Error::invalid_argument(
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
        )
    })?;
    let filename = file.file_name().unwrap_or_default().to_owned();
    let key_text = key_field.replace("${filename}", &filename);
    if let Some((_, v)) = fields.iter_mut().find(|(n, _)| n == "key") {
        v.clone_from(&key_text);
    }
    let key = ObjectKey::parse(&key_text)?;
    let mut range = (0, MAX_PUT_SIZE);
    if caller.is_some() {
        let policy = field(&fields, "policy").unwrap_or_default();
        let policy =
            PostPolicy::parse(policy, std::time::SystemTime::now()).map_err(policy_error)?;
        policy
            .check(bucket.as_str(), &fields)
            .map_err(policy_error)?;
        if let Some((min, max)) = policy.content_length_range() {
            range = (min, max.min(MAX_PUT_SIZE));
        }
    }
    let caller: Verified = caller.unwrap_or(request_caller);

    let object_headers = form_headers(&fields)?;
    acl::check_object_write(&object_headers)?;
    // Authorized as the PutObject it is, with the same condition keys: the
    // request's headers (Referer, User-Agent) and the form's.
    let mut condition_headers = headers.clone();
    for (name, value) in &object_headers {
        condition_headers.insert(name.clone(), value.clone());
    }
    // The `tagging` field is a Tagging document (where PutObject has the
    // URL-encoded x-amz-tagging header).
    let tags = match field(&fields, "tagging") {
        Some(doc) => tagging::parse_tag_set(doc.as_bytes(), tagging::MAX_OBJECT_TAGS)?,
        None => Vec::new(),
    };
    let route = Route {
        endpoint: Endpoint::PutObject,
        bucket: Some(bucket.as_str().to_owned()),
        key: Some(key.as_str().to_owned()),
    };
    gateway
        .access
        .check_tagged(
            gateway.backend.as_ref(),
            &caller,
            &route,
            &query,
            &condition_headers,
            peer,
            Some(tags.clone()),
        )
        .await?;

    let options = PutOptions {
        headers: content_headers(&object_headers),
        user_metadata: user_metadata(&object_headers)?,
        checksum: None,
        conditions: Conditions::default(),
        content_length: None,
        tags,
    };
    let file_bytes: ByteStream = Box::pin(SizeRange {
        inner: Box::pin(file.map(|r| r.map_err(multipart_error))),
        seen: 0,
        min: range.0,
        max: range.1,
        done: false,
    });
    let meta = gateway
        .backend
        .put_object(bucket, &key, file_bytes, options)
        .await?;

    // What follows the file is ignored; a little is read so that the
    // connection can take the next request.
    let mut rest = 0;
    while rest < MAX_EPILOGUE {
        match form.next_field().await {
            Ok(Some(mut part)) => {
                while let Ok(Some(chunk)) = part.chunk().await {
                    rest += chunk.len();
                    if rest >= MAX_EPILOGUE {
                        break;
                    }
                }
            }
            _ => break,
        }
    }

    let location = object_url(gateway, &headers, bucket, &key);
    if let Some(target) = redirect_target(&fields, bucket.as_str(), key.as_str(), &meta.etag) {
        let mut response = empty_response(StatusCode::SEE_OTHER);
        if let Ok(v) = HeaderValue::from_str(&target) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        set_etag(response.headers_mut(), &meta.etag);
        return Ok(response);
    }
    let mut response = match field(&fields, "success_action_status") {
        Some("201") => {
            let mut x = XmlWriter::new();
            x.open_root("PostResponse");
            x.elem("Location", &location);
            x.elem("Bucket", bucket.as_str());
            x.elem("Key", key.as_str());
            x.elem("ETag", &format!("\"{}\"", meta.etag));
            x.close("PostResponse");
            let mut r = Response::new(body::full(x.finish()));
            *r.status_mut() = StatusCode::CREATED;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
            r
        }
        Some("200") => empty_response(StatusCode::OK),
        _ => empty_response(StatusCode::NO_CONTENT),
    };
    set_etag(response.headers_mut(), &meta.etag);
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn redirects_carry_bucket_key_and_etag() {
        let f = fields(&[("success_action_redirect", "https://app.example/done")]);
        assert_eq!(
            redirect_target(&f, "b-1", "a b/c.txt", "abc").as_deref(),
            Some("https://app.example/done?bucket=b-1&key=a%20b%2Fc.txt&etag=%22abc%22")
        );
        let f = fields(&[("redirect", "http://app.example/done?x=1")]);
        assert_eq!(
            redirect_target(&f, "b", "k", "e").as_deref(),
            Some("http://app.example/done?x=1&bucket=b&key=k&etag=%22e%22")
        );
        for bad in ["not a url", "/relative", "ftp://host/x"] {
            let f = fields(&[("success_action_redirect", bad)]);
            assert_eq!(redirect_target(&f, "b", "k", "e"), None, "{bad}");
        }
    }

    #[test]
    fn form_fields_become_put_headers() {
        let f = fields(&[
            ("key", "k"),
            ("acl", "private"),
            ("content-type", "text/plain"),
            ("x-amz-meta-color", "blue"),
            ("policy", "p"),
            ("success_action_status", "201"),
        ]);
        let h = form_headers(&f).unwrap();
        assert_eq!(h.get("x-amz-acl").unwrap(), "private");
        assert_eq!(h.get("content-type").unwrap(), "text/plain");
        assert_eq!(h.get("x-amz-meta-color").unwrap(), "blue");
        assert_eq!(h.len(), 3);
        let bad = fields(&[("content-type", "a\nb")]);
        assert_eq!(
            form_headers(&bad).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
    }

    async fn collect(stream: ByteStream) -> Vec<Result<Bytes, S3ErrorCode>> {
        stream.map(|r| r.map_err(|e| e.code)).collect().await
    }

    fn chunks(parts: &[&'static str]) -> ByteStream {
        let items: Vec<Result<Bytes, S3Error>> = parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p.as_bytes())))
            .collect();
        Box::pin(futures_util::stream::iter(items))
    }

    #[tokio::test]
    async fn size_range_is_enforced_as_the_file_streams() {
        let range = |min, max, parts: &[&'static str]| {
            collect(Box::pin(SizeRange {
                inner: chunks(parts),
                seen: 0,
                min,
                max,
                done: false,
            }))
        };
        assert_eq!(range(0, 6, &["abc", "def"]).await.len(), 2);
        let over = range(0, 4, &["abc", "def", "ghi"]).await;
        assert_eq!(over.len(), 2);
        assert_eq!(over[1], Err(S3ErrorCode::EntityTooLarge));
        let under = range(10, 20, &["abc"]).await;
        assert_eq!(under[1], Err(S3ErrorCode::EntityTooSmall));
    }
}

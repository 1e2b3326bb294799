//! CopyObject, and the copy source that UploadPartCopy shares with it.
//!
//! Copies stream through the gateway: the source is read (pinned to the
//! ETag its conditions were checked on) and written as a new object, so a
//! copy has the memory use of a GET plus a PUT and works on every backend.

use http::Response;
use percent_encoding::percent_decode_str;

use super::object::{content_headers, user_metadata, MAX_PUT_SIZE};
use super::{iso8601, tagging, xml_response};
use crate::body::ResponseBody;
use crate::conditions::{Conditions, EtagCondition};
use crate::error::{S3Error, S3ErrorCode};
use crate::request::{Gateway, S3Request};
use crate::router::{Endpoint, Query, Route};
use crate::storage::{BucketName, GetObjectOutput, GetOptions, ObjectKey, ObjectMeta, PutOptions};
use crate::xml::XmlWriter;

/// The object named by `x-amz-copy-source`.
pub struct CopySource {
    pub bucket: BucketName,
    pub key: ObjectKey,
}

/// Parse `x-amz-copy-source` (`[/]bucket/key[?versionId=V]`, URL-encoded)
/// and check that the caller may read it.
pub async fn copy_source(gateway: &Gateway, req: &S3Request) -> Result<CopySource, S3Error> {
    let raw = req
        .parts
        .headers
        .get("x-amz-copy-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (path, version) = match raw.split_once("?versionId=") {
        Some((p, v)) => (p, Some(v)),
        None => (raw, None),
    };
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| S3Error::invalid_argument("The copy source is not valid UTF-8"))?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (bucket, key) = decoded
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            )
        })?;
    if version.is_some_and(|v| v != "null") {
        return Err(S3Error::new(
            S3ErrorCode::NoSuchVersion,
            "The specified version does not exist.",
        ));
    }
    let source = CopySource {
        bucket: BucketName::parse(bucket)?,
        key: ObjectKey::parse(key)?,
    };
    let read = Route {
        endpoint: Endpoint::GetObject,
        bucket: Some(bucket.to_owned()),
        key: Some(key.to_owned()),
    };
    gateway
        .access
        .check(
            gateway.backend.as_ref(),
            &req.verified,
            &read,
            &Query::default(),
            &req.parts.headers,
            req.peer,
        )
        .await?;
    Ok(source)
}

/// The source's metadata, once its `x-amz-copy-source-if-*` conditions
/// hold (a failed condition is 412, never 304, for a copy).
pub async fn check_source(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    conditions: &Conditions,
) -> Result<ObjectMeta, S3Error> {
    gateway
        .backend
        .head_object(bucket, key, conditions)
        .await
        .map_err(|e| match e.code {
            S3ErrorCode::NotModified => S3Error::precondition_failed(),
            _ => e,
        })
}

/// Read the source as checked: pinned to its ETag, so a source replaced
/// meanwhile fails the copy instead of mixing two objects.
pub async fn read_source(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    meta: &ObjectMeta,
    range: Option<crate::range::ByteRange>,
) -> Result<GetObjectOutput, S3Error> {
    let pinned = Conditions {
        if_match: Some(EtagCondition::parse(&format!("\"{}\"", meta.etag))),
        ..Conditions::default()
    };
    gateway
        .backend
        .get_object(
            bucket,
            key,
            GetOptions {
                range,
                conditions: pinned,
            },
        )
        .await
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html>
pub async fn handle_copy_object(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let source = copy_source(gateway, &req).await?;
    let headers = &req.parts.headers;
    let replace = match headers
        .get("x-amz-metadata-directive")
        .map(|v| v.to_str().unwrap_or_default())
    {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(_) => return Err(S3Error::invalid_argument("Unknown metadata directive.")),
    };
    if &source.bucket == bucket && &source.key == key && !replace {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let conditions = Conditions::from_copy_source_headers(headers);
    let meta = check_source(gateway, &source.bucket, &source.key, &conditions).await?;
    if meta.size > MAX_PUT_SIZE {
        return Err(S3Error::invalid_request(format!(
            "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_PUT_SIZE}"
        )));
    }
    let (content, metadata) = if replace {
        (content_headers(headers), user_metadata(headers)?)
    } else {
        (meta.headers.clone(), meta.user_metadata.clone())
    };
    let tags = match headers
        .get("x-amz-tagging-directive")
        .map(|v| v.to_str().unwrap_or_default())
    {
        // Asked of the backend even when the count says none: a count
        // cached by this replica may predate tags set through another.
        None | Some("COPY") => {
            gateway
                .backend
                .get_object_tagging(&source.bucket, &source.key)
                .await?
        }
        Some("REPLACE") => tagging::header_tags(headers)?,
        Some(_) => return Err(S3Error::invalid_argument("Unknown tagging directive.")),
    };
    let options = PutOptions {
        headers: content,
        user_metadata: metadata,
        checksum: None,
        conditions: Conditions::from_headers(headers),
        content_length: Some(meta.size),
        tags,
    };
    let body = read_source(gateway, &source.bucket, &source.key, &meta, None)
        .await?
        .body;
    let written = gateway
        .backend
        .put_object(bucket, key, body, options)
        .await?;
    let mut x = XmlWriter::new();
    x.open_root("CopyObjectResult");
    x.elem("LastModified", &iso8601(written.last_modified()));
    x.elem("ETag", &format!("\"{}\"", written.etag));
    x.close("CopyObjectResult");
    Ok(xml_response(x.finish()))
}

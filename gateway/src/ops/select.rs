//! SelectObjectContent (S3 Select): SQL over one CSV, JSON or Parquet
//! object, run by the `blobgate-sql` crate, answered as an event stream.
//! CSV and JSON stream from the backend (from the byte before a ScanRange,
//! plus the CSV header line from the object's start when the range starts
//! later); Parquet is read by range GETs, through `RangeReader`.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_SelectObjectContent.html>

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use blobgate_sql::engine::{ByteSource, RangedInput};
use blobgate_sql::request::InputFormat;
use blobgate_sql::scan::ScanWindow;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use http::{HeaderValue, Response};

use super::request_body;
use crate::body::{self, ResponseBody};
use crate::conditions::{Conditions, EtagCondition};
use crate::error::{S3Error, S3ErrorCode};
use crate::metrics::SelectScanned;
use crate::range::ByteRange;
use crate::request::{Gateway, S3Request};
use crate::storage::{Backend, BucketName, ByteStream, GetOptions, ObjectKey};
use crate::xml;

/// An S3 Select error as the S3 error a client sees before the stream.
pub fn s3_error(e: blobgate_sql::SelectError) -> S3Error {
    S3Error::new(
        S3ErrorCode::Other {
            code: e.code,
            status: e.status(),
        },
        e.message,
    )
}

pub async fn handle_select_object_content(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    blobgate_sql::request::check_range_header(req.parts.headers.contains_key(http::header::RANGE))
        .map_err(s3_error)?;
    let conditions = Conditions::from_headers(&req.parts.headers);
    let (body, _) = request_body(gateway, req)?;
    let doc = xml::read_body_capped(body).await?;
    let request = blobgate_sql::request::parse_request(&doc).map_err(s3_error)?;
    gateway.metrics.select_query();
    let backend = gateway.backend.clone();
    let parquet = matches!(request.input.format, InputFormat::Parquet);
    let execution = if parquet || request.scan_range.is_some() {
        // The size resolves the range; later reads are pinned to this
        // version of the object by its ETag.
        let meta = backend.head_object(bucket, key, &conditions).await?;
        let window = request
            .scan_range
            .map(|r| ScanWindow::new(r.bytes(meta.size)));
        let object = ObjectReader {
            backend,
            bucket: bucket.clone(),
            key: key.clone(),
            size: meta.size,
            conditions: Conditions {
                if_match: Some(EtagCondition::Tags(vec![meta.etag.clone()])),
                ..Conditions::default()
            },
        };
        if parquet {
            blobgate_sql::parquet::execute(&request, Arc::new(object), window).await
        } else {
            let window = window.unwrap_or_else(|| ScanWindow::new(0..meta.size));
            let source = if window.is_empty() {
                Box::pin(futures_util::stream::empty()) as ByteSource
            } else {
                object.stream_from(window.read_from()).await?
            };
            let header = if RangedInput::needs_header(&request, &window) {
                Some(object.stream_from(0).await?)
            } else {
                None
            };
            let input = RangedInput {
                window,
                source,
                header,
            };
            blobgate_sql::engine::execute_range(&request, input).await
        }
    } else {
        let object = backend
            .get_object(
                bucket,
                key,
                GetOptions {
                    range: None,
                    conditions,
                },
            )
            .await?;
        blobgate_sql::engine::execute(&request, io_stream(object.body)).await
    }
    .map_err(s3_error)?;
    let scanned = SelectScanned::new(gateway.metrics.clone(), execution.counters.clone());
    let events = blobgate_sql::respond::event_stream(execution, request.request_progress);
    // The stream owns `scanned`, which counts the bytes when it is dropped.
    let events = events.map(move |e| {
        let _ = &scanned;
        Ok(e)
    });
    let mut response = Response::new(body::streamed(Box::pin(events)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}

fn io_stream(body: ByteStream) -> ByteSource {
    body.map_err(|e| std::io::Error::other(e.to_string()))
        .boxed()
}

/// One version of an object (pinned by its ETag), read by ranges.
struct ObjectReader {
    backend: Arc<dyn Backend>,
    bucket: BucketName,
    key: ObjectKey,
    size: u64,
    conditions: Conditions,
}

impl ObjectReader {
    /// The object from byte `first` to its end (`first` < size).
    async fn stream_from(&self, first: u64) -> Result<ByteSource, S3Error> {
        let object = self
            .backend
            .get_object(
                &self.bucket,
                &self.key,
                GetOptions {
                    range: Some(ByteRange::From { first, last: None }),
                    conditions: self.conditions.clone(),
                },
            )
            .await?;
        Ok(io_stream(object.body))
    }
}

#[async_trait]
impl blobgate_sql::parquet::RangeReader for ObjectReader {
    async fn size(&self) -> std::io::Result<u64> {
        Ok(self.size)
    }

    async fn read(&self, range: Range<u64>) -> std::io::Result<Bytes> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let object = self
            .backend
            .get_object(
                &self.bucket,
                &self.key,
                GetOptions {
                    range: Some(ByteRange::From {
                        first: range.start,
                        last: Some(range.end - 1),
                    }),
                    conditions: self.conditions.clone(),
                },
            )
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut body = object.body;
        let mut bytes = BytesMut::with_capacity((range.end - range.start) as usize);
        while let Some(chunk) = body.next().await {
            bytes.extend_from_slice(&chunk.map_err(|e| std::io::Error::other(e.to_string()))?);
        }
        Ok(bytes.freeze())
    }
}

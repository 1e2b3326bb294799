//! SelectObjectContent (S3 Select): SQL over one CSV or JSON object, run by
//! the `blobgate-sql` crate on the object's bytes as they stream from the
//! backend, answered as an event stream.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_SelectObjectContent.html>

use futures_util::{StreamExt, TryStreamExt};
use http::{HeaderValue, Response};

use super::request_body;
use crate::body::{self, ResponseBody};
use crate::conditions::Conditions;
use crate::error::{S3Error, S3ErrorCode};
use crate::server::{Gateway, S3Request};
use crate::storage::{BucketName, GetOptions, ObjectKey};
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
    if request.scan_range.is_some() {
        return Err(S3Error::not_implemented("ScanRange in SelectObjectContent"));
    }
    let object = gateway
        .backend
        .get_object(
            bucket,
            key,
            GetOptions {
                range: None,
                conditions,
            },
        )
        .await?;
    let source = object
        .body
        .map_err(|e| std::io::Error::other(e.to_string()))
        .boxed();
    let execution = blobgate_sql::engine::execute(&request, source)
        .await
        .map_err(s3_error)?;
    let events = blobgate_sql::respond::event_stream(execution, request.request_progress);
    let mut response = Response::new(body::streamed(Box::pin(events.map(Ok))));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}

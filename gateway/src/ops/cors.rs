//! Bucket CORS configuration: PutBucketCors, GetBucketCors,
//! DeleteBucketCors. The rules themselves (parsing, preflights, response
//! headers) are in [`crate::cors`]; the document is stored with the bucket,
//! so every replica answers from the same rules.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketCors.html>

use http::{Response, StatusCode};

use super::{empty_response, read_document, xml_response};
use crate::body::ResponseBody;
use crate::cors::{Config, MAX_DOCUMENT};
use crate::error::{S3Error, S3ErrorCode};
use crate::request::{Gateway, S3Request};
use crate::storage::{BucketConfig, BucketName};

pub async fn handle_put_bucket_cors(
    gateway: &Gateway,
    bucket: &BucketName,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let doc = read_document(gateway, req, MAX_DOCUMENT, || {
        S3Error::new(
            S3ErrorCode::MalformedXML,
            "The CORS configuration must be at most 64 KB",
        )
    })
    .await?;
    let config = Config::parse(&doc)?;
    gateway
        .backend
        .put_bucket_config(bucket, BucketConfig::Cors, config.to_xml().into_bytes())
        .await?;
    gateway.cors.changed(bucket.as_str());
    Ok(empty_response(StatusCode::OK))
}

pub async fn handle_get_bucket_cors(
    gateway: &Gateway,
    bucket: &BucketName,
) -> Result<Response<ResponseBody>, S3Error> {
    match gateway
        .backend
        .get_bucket_config(bucket, BucketConfig::Cors)
        .await?
    {
        Some(doc) => Ok(xml_response(String::from_utf8_lossy(&doc).into_owned())),
        None => Err(S3Error::new(
            S3ErrorCode::Other {
                code: "NoSuchCORSConfiguration",
                status: 404,
            },
            "The CORS configuration does not exist",
        )),
    }
}

pub async fn handle_delete_bucket_cors(
    gateway: &Gateway,
    bucket: &BucketName,
) -> Result<Response<ResponseBody>, S3Error> {
    gateway
        .backend
        .delete_bucket_config(bucket, BucketConfig::Cors)
        .await?;
    gateway.cors.changed(bucket.as_str());
    Ok(empty_response(StatusCode::NO_CONTENT))
}

//! Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy,
//! and GetBucketPolicyStatus (whether the policy makes the bucket public).
//! The document is validated (for this bucket) before it is stored in the
//! backend, so every replica enforces the same policy.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketPolicy.html>

use http::{HeaderValue, Response, StatusCode};

use super::{empty_response, read_document};
use crate::body::{self, ResponseBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::request::{Gateway, S3Request};
use crate::storage::BucketName;
use crate::xml;

/// S3's limit on a bucket policy document.
const MAX_POLICY: usize = 20 * 1024;

pub async fn handle_put_bucket_policy(
    gateway: &Gateway,
    bucket: &BucketName,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let doc = read_document(gateway, req, MAX_POLICY, || {
        S3Error::new(
            S3ErrorCode::MalformedPolicy,
            "Policies must be less than 20 KB",
        )
    })
    .await?;
    blobgate_auth::Policy::parse_bucket_policy(&doc, bucket.as_str())
        .map_err(|e| S3Error::new(S3ErrorCode::MalformedPolicy, e.to_string()))?;
    gateway
        .backend
        .put_bucket_policy(bucket, doc.to_vec())
        .await?;
    gateway.access.policy_changed(bucket.as_str());
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub async fn handle_get_bucket_policy(
    gateway: &Gateway,
    bucket: &BucketName,
) -> Result<Response<ResponseBody>, S3Error> {
    let Some(doc) = gateway.backend.get_bucket_policy(bucket).await? else {
        return Err(S3Error::new(
            S3ErrorCode::NoSuchBucketPolicy,
            "The bucket policy does not exist",
        ));
    };
    let mut response = Response::new(body::full(doc));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

pub async fn handle_delete_bucket_policy(
    gateway: &Gateway,
    bucket: &BucketName,
) -> Result<Response<ResponseBody>, S3Error> {
    gateway.backend.delete_bucket_policy(bucket).await?;
    gateway.access.policy_changed(bucket.as_str());
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketPolicyStatus.html>
pub async fn handle_get_bucket_policy_status(
    gateway: &Gateway,
    bucket: &BucketName,
) -> Result<Response<ResponseBody>, S3Error> {
    gateway.backend.head_bucket(bucket).await?;
    let public = gateway
        .backend
        .get_bucket_policy(bucket)
        .await?
        .is_some_and(|doc| blobgate_auth::is_public(&doc));
    let mut x = xml::XmlWriter::new();
    x.open_root("PolicyStatus");
    x.elem("IsPublic", if public { "true" } else { "false" });
    x.close("PolicyStatus");
    Ok(super::xml_response(x.finish()))
}

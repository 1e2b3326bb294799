//! S3 operation handlers, one module per family, named after the AWS
//! operations (`handle_get_object` for GetObject).

pub mod acl;
pub mod attributes;
pub mod bucket;
pub mod copy;
pub mod cors;
pub mod delete_objects;
pub mod health;
pub mod list;
pub mod multipart;
pub mod object;
pub mod part_read;
pub mod policy;
pub mod post;
pub mod select;
pub mod sts;
pub mod tagging;

use http::{HeaderValue, Response, StatusCode};

use crate::body::{self, IdleTimeout, IncomingStream, ResponseBody};
use crate::error::S3Error;
use crate::request::{Gateway, S3Request};
use crate::router::{Endpoint, Route};
use crate::storage::{BucketName, ByteStream, ChecksumSource, ObjectKey};

/// Call the handler for a routed request.
pub async fn dispatch(
    gateway: &Gateway,
    route: Route,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let bucket = || -> Result<BucketName, S3Error> {
        BucketName::parse(route.bucket.as_deref().unwrap_or_default())
    };
    let key = || -> Result<ObjectKey, S3Error> {
        ObjectKey::parse(route.key.as_deref().unwrap_or_default())
    };
    // One account owns every bucket here: naming another is refused, as S3
    // refuses a request whose bucket another account owns.
    for name in [
        "x-amz-expected-bucket-owner",
        "x-amz-source-expected-bucket-owner",
    ] {
        let Some(owner) = req.parts.headers.get(name) else {
            continue;
        };
        if owner.as_bytes() != sts::ACCOUNT_ID.as_bytes() {
            return Err(S3Error::new(
                crate::error::S3ErrorCode::AccessDenied,
                "Access Denied",
            ));
        }
    }
    match route.endpoint {
        Endpoint::ListBuckets => bucket::handle_list_buckets(gateway, &req).await,
        Endpoint::CreateBucket => {
            acl::check_bucket_create(&req.parts.headers)?;
            bucket::handle_create_bucket(gateway, &bucket()?, req).await
        }
        Endpoint::GetBucketCors => cors::handle_get_bucket_cors(gateway, &bucket()?).await,
        Endpoint::PutBucketCors => cors::handle_put_bucket_cors(gateway, &bucket()?, req).await,
        Endpoint::DeleteBucketCors => cors::handle_delete_bucket_cors(gateway, &bucket()?).await,
        Endpoint::GetBucketTagging => tagging::handle_get_bucket_tagging(gateway, &bucket()?).await,
        Endpoint::PutBucketTagging => {
            tagging::handle_put_bucket_tagging(gateway, &bucket()?, req).await
        }
        Endpoint::DeleteBucketTagging => {
            tagging::handle_delete_bucket_tagging(gateway, &bucket()?).await
        }
        Endpoint::GetBucketPolicyStatus => {
            policy::handle_get_bucket_policy_status(gateway, &bucket()?).await
        }
        Endpoint::GetBucketAcl => acl::handle_get_acl(gateway, &bucket()?, None, &req).await,
        Endpoint::PutBucketAcl => acl::handle_put_acl(gateway, &bucket()?, None, req).await,
        Endpoint::GetObjectAcl => {
            acl::handle_get_acl(gateway, &bucket()?, Some(&key()?), &req).await
        }
        Endpoint::PutObjectAcl => {
            acl::handle_put_acl(gateway, &bucket()?, Some(&key()?), req).await
        }
        Endpoint::GetObjectTagging => {
            tagging::handle_get_object_tagging(gateway, &bucket()?, &key()?, &req).await
        }
        Endpoint::PutObjectTagging => {
            tagging::handle_put_object_tagging(gateway, &route, &bucket()?, &key()?, req).await
        }
        Endpoint::DeleteObjectTagging => {
            tagging::handle_delete_object_tagging(gateway, &bucket()?, &key()?, &req).await
        }
        Endpoint::GetObjectAttributes => {
            attributes::handle_get_object_attributes(gateway, &bucket()?, &key()?, &req).await
        }
        Endpoint::HeadBucket => bucket::handle_head_bucket(gateway, &bucket()?).await,
        Endpoint::DeleteBucket => bucket::handle_delete_bucket(gateway, &bucket()?).await,
        Endpoint::GetBucketLocation => {
            bucket::handle_get_bucket_location(gateway, &bucket()?).await
        }
        Endpoint::GetBucketVersioning => {
            bucket::handle_get_bucket_versioning(gateway, &bucket()?).await
        }
        Endpoint::ListObjects => list::handle_list_objects(gateway, &bucket()?, &req).await,
        Endpoint::ListObjectsV2 => list::handle_list_objects_v2(gateway, &bucket()?, &req).await,
        Endpoint::PutObject => {
            acl::check_object_write(&req.parts.headers)?;
            object::handle_put_object(gateway, &bucket()?, &key()?, req).await
        }
        Endpoint::PostObject => post::handle_post_object(gateway, &bucket()?, req).await,
        Endpoint::GetObject => object::handle_get_object(gateway, &bucket()?, &key()?, &req).await,
        Endpoint::HeadObject => {
            object::handle_head_object(gateway, &bucket()?, &key()?, &req).await
        }
        Endpoint::DeleteObject => {
            object::handle_delete_object(gateway, &bucket()?, &key()?, &req).await
        }
        Endpoint::GetBucketPolicy => policy::handle_get_bucket_policy(gateway, &bucket()?).await,
        Endpoint::PutBucketPolicy => {
            policy::handle_put_bucket_policy(gateway, &bucket()?, req).await
        }
        Endpoint::DeleteBucketPolicy => {
            policy::handle_delete_bucket_policy(gateway, &bucket()?).await
        }
        Endpoint::SelectObjectContent => {
            select::handle_select_object_content(gateway, &bucket()?, &key()?, req).await
        }
        Endpoint::CopyObject => {
            acl::check_object_write(&req.parts.headers)?;
            copy::handle_copy_object(gateway, &bucket()?, &key()?, req).await
        }
        Endpoint::DeleteObjects => {
            delete_objects::handle_delete_objects(gateway, &bucket()?, req).await
        }
        Endpoint::CreateMultipartUpload => {
            acl::check_object_write(&req.parts.headers)?;
            multipart::handle_create_multipart_upload(gateway, &bucket()?, &key()?, &req).await
        }
        Endpoint::UploadPart => {
            multipart::handle_upload_part(gateway, &bucket()?, &key()?, req).await
        }
        Endpoint::UploadPartCopy => {
            multipart::handle_upload_part_copy(gateway, &bucket()?, &key()?, req).await
        }
        Endpoint::CompleteMultipartUpload => {
            multipart::handle_complete_multipart_upload(gateway, &bucket()?, &key()?, req).await
        }
        Endpoint::AbortMultipartUpload => {
            multipart::handle_abort_multipart_upload(gateway, &bucket()?, &key()?, &req).await
        }
        Endpoint::ListParts => {
            multipart::handle_list_parts(gateway, &bucket()?, &key()?, &req).await
        }
        Endpoint::ListObjectVersions => {
            list::handle_list_object_versions(gateway, &bucket()?, &req).await
        }
        Endpoint::ListMultipartUploads => {
            multipart::handle_list_multipart_uploads(gateway, &bucket()?, &req).await
        }
        Endpoint::NotImplemented(op) => Err(S3Error::not_implemented(op)),
    }
}

/// A small document body (a policy, a configuration), verified and read
/// whole; `limit` bytes at most, else `error`.
pub async fn read_document(
    gateway: &Gateway,
    req: S3Request,
    limit: usize,
    error: impl FnOnce() -> S3Error,
) -> Result<bytes::Bytes, S3Error> {
    let (body, _) = request_body(gateway, req)?;
    let doc = crate::xml::read_body_capped(body).await?;
    if doc.len() > limit {
        return Err(error());
    }
    Ok(doc)
}

/// A verified request body: decoded, with every signature and digest the
/// client sent checked as it streams. The outcome holds the verified
/// checksum once the stream has ended cleanly.
pub fn request_body(
    gateway: &Gateway,
    req: S3Request,
) -> Result<(ByteStream, ChecksumSource), S3Error> {
    use futures_util::StreamExt;
    let incoming = req.received.wrap(IncomingStream::new(req.body));
    let (verifying, outcome) =
        blobgate_auth::verify_body(&req.verified, &req.parts.headers, incoming)?;
    let verified = verifying.map(|r| r.map_err(S3Error::from));
    let stream = IdleTimeout::new(verified, gateway.config.body_idle_timeout);
    Ok((Box::pin(stream), ChecksumSource(outcome)))
}

/// An XML response with status 200.
pub fn xml_response(doc: String) -> Response<ResponseBody> {
    let mut response = Response::new(body::full(doc));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

/// An empty response with the given status.
pub fn empty_response(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = status;
    response
}

/// Format a time as S3 XML timestamps are (ISO 8601, milliseconds, Z).
pub fn iso8601(t: std::time::SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    dt.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn iso8601_with_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(1_255_369_830_123);
        assert_eq!(iso8601(t), "2009-10-12T17:50:30.123Z");
    }
}

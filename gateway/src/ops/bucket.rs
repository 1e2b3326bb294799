//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation, GetBucketVersioning.

use http::{HeaderValue, Response, StatusCode};

use super::{empty_response, iso8601, request_body, xml_response};
use crate::body::ResponseBody;
use crate::error::{S3Error, S3ErrorCode};
use crate::request::{Gateway, S3Request};
use crate::storage::BucketName;
use crate::xml::{self, XmlWriter};

/// The owner shown in listings: the caller's access key.
pub fn write_owner(x: &mut XmlWriter, access_key: &str) {
    x.open("Owner");
    x.elem("ID", &owner_id(access_key));
    x.elem("DisplayName", access_key);
    x.close("Owner");
}

/// The canonical id S3 shows for an owner (here, of an access key).
pub fn owner_id(access_key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(
        format!("blobgate-owner:{access_key}").as_bytes(),
    ))
}

/// Most buckets one ListBuckets page may ask for.
const MAX_BUCKETS: usize = 10_000;

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html>:
/// all buckets, or with `max-buckets` pages of them resumed with the
/// `continuation-token` of the previous page (the base64url of its last
/// name), and `prefix` to keep only names that start with it.
pub async fn handle_list_buckets(
    gateway: &Gateway,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let max = match req.query.get("max-buckets") {
        None => None,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_BUCKETS).contains(&n) => Some(n),
            _ => {
                return Err(S3Error::invalid_argument(
                    "Argument max-buckets must be an integer between 1 and 10000",
                ))
            }
        },
    };
    let after = match req.query.get("continuation-token") {
        None => None,
        Some(t) => Some(
            engine
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    S3Error::invalid_argument("The continuation token provided is incorrect")
                })?,
        ),
    };
    let prefix = req.query.get("prefix").unwrap_or_default();
    let mut buckets = gateway.backend.list_buckets().await?;
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    buckets.retain(|b| {
        b.name.starts_with(prefix) && after.as_deref().is_none_or(|a| b.name.as_str() > a)
    });
    let more = max.is_some_and(|m| buckets.len() > m);
    if let Some(m) = max {
        buckets.truncate(m);
    }
    let mut x = XmlWriter::new();
    x.open_root("ListAllMyBucketsResult");
    write_owner(&mut x, &req.verified.access_key);
    x.open("Buckets");
    for b in &buckets {
        x.open("Bucket");
        x.elem("Name", &b.name);
        x.elem("CreationDate", &iso8601(b.created));
        x.close("Bucket");
    }
    x.close("Buckets");
    if let (true, Some(last)) = (more, buckets.last()) {
        x.elem("ContinuationToken", &engine.encode(&last.name));
    }
    if req.query.has("prefix") {
        x.elem("Prefix", prefix);
    }
    x.close("ListAllMyBucketsResult");
    Ok(xml_response(x.finish()))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html>
pub async fn handle_create_bucket(
    gateway: &Gateway,
    bucket: &BucketName,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let (body, _) = request_body(gateway, req)?;
    let doc = xml::read_body_capped(body).await?;
    if !doc.iter().all(u8::is_ascii_whitespace) {
        let root = xml::parse(&doc)?;
        if root.name != "CreateBucketConfiguration" {
            return Err(S3Error::malformed_xml());
        }
        if let Some(location) = root.child("LocationConstraint") {
            let wanted = location.text.trim();
            let ours = gateway.config.region.as_str();
            if !(wanted.is_empty() || wanted == ours || (wanted == "US" && ours == "us-east-1")) {
                return Err(S3Error::new(
                    S3ErrorCode::IllegalLocationConstraintException,
                    format!(
                        "The {wanted} location constraint is incompatible for the region specific endpoint this request was sent to ({ours})."
                    ),
                ));
            }
        }
    }
    gateway.backend.create_bucket(bucket).await?;
    let mut response = empty_response(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("/{bucket}")) {
        response.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(response)
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html>
pub async fn handle_head_bucket(
    gateway: &Gateway,
    bucket: &BucketName,
) -> Result<Response<ResponseBody>, S3Error> {
    gateway.backend.head_bucket(bucket).await?;
    let mut response = empty_response(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&gateway.config.region) {
        response.headers_mut().insert("x-amz-bucket-region", v);
    }
    Ok(response)
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucket.html>
pub async fn handle_delete_bucket(
    gateway: &Gateway,
    bucket: &BucketName,
) -> Result<Response<ResponseBody>, S3Error> {
    gateway.backend.delete_bucket(bucket).await?;
    gateway.access.policy_changed(bucket.as_str());
    gateway.cors.changed(bucket.as_str());
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html>
/// us-east-1 is reported as an empty constraint, as AWS does.
pub async fn handle_get_bucket_location(
    gateway: &Gateway,
    bucket: &BucketName,
) -> Result<Response<ResponseBody>, S3Error> {
    gateway.backend.head_bucket(bucket).await?;
    let region = gateway.config.region.as_str();
    let mut x = XmlWriter::new();
    x.open_root("LocationConstraint");
    if region != "us-east-1" {
        x.text(region);
    }
    x.close("LocationConstraint");
    Ok(xml_response(x.finish()))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketVersioning.html>
/// Buckets are never versioned here; S3 answers an empty configuration for a
/// bucket whose versioning was never enabled.
pub async fn handle_get_bucket_versioning(
    gateway: &Gateway,
    bucket: &BucketName,
) -> Result<Response<ResponseBody>, S3Error> {
    gateway.backend.head_bucket(bucket).await?;
    let mut x = XmlWriter::new();
    x.open_root("VersioningConfiguration");
    x.close("VersioningConfiguration");
    Ok(xml_response(x.finish()))
}

//! Tagging: of buckets (PutBucketTagging, GetBucketTagging,
//! DeleteBucketTagging; the set is stored with the bucket like its policy
//! and CORS rules) and of objects (PutObjectTagging, GetObjectTagging,
//! DeleteObjectTagging, and `x-amz-tagging` on the writes; each backend
//! keeps an object's tags its own way, see `Backend::put_object_tagging`).
//!
//! S3's limits: 50 tags on a bucket, 10 on an object, keys of 1 to 128 and
//! values of up to 256 Unicode characters, keys unique, no `aws:` prefix;
//! errors InvalidTag, MalformedXML, NoSuchTagSet.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketTagging.html>
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectTagging.html>
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html>

use http::{HeaderMap, Response, StatusCode};
use percent_encoding::percent_decode_str;

use super::{empty_response, read_document, xml_response};
use crate::body::ResponseBody;
use crate::error::{S3Error, S3ErrorCode};
use crate::request::{Gateway, S3Request};
use crate::router::{Query, Route};
use crate::storage::{BucketConfig, BucketName, ObjectKey, TagSet};
use crate::xml::{self, XmlWriter};

const MAX_BUCKET_TAGS: usize = 50;
/// Tags on one object.
pub const MAX_OBJECT_TAGS: usize = 10;
/// The request header that tags an object being written.
pub const TAGGING_HEADER: &str = "x-amz-tagging";
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;

fn invalid_tag(message: String) -> S3Error {
    S3Error::new(
        S3ErrorCode::Other {
            code: "InvalidTag",
            status: 400,
        },
        message,
    )
}

/// A Tagging document's tags, validated.
pub fn parse_tag_set(doc: &[u8], max: usize) -> Result<Vec<(String, String)>, S3Error> {
    let root = xml::parse(doc)?;
    let set = match (root.name.as_str(), root.child("TagSet")) {
        ("Tagging", Some(set)) => set,
        _ => return Err(S3Error::malformed_xml()),
    };
    let mut tags: Vec<(String, String)> = Vec::new();
    for tag in set.children_named("Tag") {
        let (Some(key), Some(value)) = (tag.child("Key"), tag.child("Value")) else {
            return Err(S3Error::malformed_xml());
        };
        tags.push((key.text.clone(), value.text.clone()));
    }
    check_tags(tags, max)
}

/// Check tags against S3's limits, `max` of them at most.
fn check_tags(given: Vec<(String, String)>, max: usize) -> Result<TagSet, S3Error> {
    let mut tags: TagSet = Vec::with_capacity(given.len());
    for (key, value) in given {
        if key.is_empty() || key.chars().count() > MAX_KEY {
            return Err(invalid_tag(format!(
                "The TagKey you have provided is invalid: it must be 1 to {MAX_KEY} characters"
            )));
        }
        if value.chars().count() > MAX_VALUE {
            return Err(invalid_tag(format!(
                "The TagValue you have provided is invalid: it must be at most {MAX_VALUE} characters"
            )));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_tag(
                "Your TagKey cannot be prefixed with aws:".to_owned(),
            ));
        }
        if tags.iter().any(|(k, _)| *k == key) {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key".to_owned(),
            ));
        }
        tags.push((key, value));
    }
    if tags.len() > max {
        return Err(invalid_tag(format!(
            "Object tags cannot be greater than {max}"
        )));
    }
    Ok(tags)
}

/// The tags of `x-amz-tagging` (URL query encoded, `k1=v1&k2=v2`), empty
/// when the header is absent.
pub fn header_tags(headers: &HeaderMap) -> Result<TagSet, S3Error> {
    let Some(value) = headers.get(TAGGING_HEADER) else {
        return Ok(Vec::new());
    };
    let bad = || {
        S3Error::invalid_argument("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
    };
    let value = value.to_str().map_err(|_| bad())?;
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad())
    };
    let mut tags = Vec::new();
    for pair in value.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        tags.push((decode(k)?, decode(v)?));
    }
    check_tags(tags, MAX_OBJECT_TAGS)
}

/// The Tagging document for `tags`.
pub fn tagging_document(tags: &[(String, String)]) -> String {
    let mut x = XmlWriter::new();
    x.open_root("Tagging");
    x.open("TagSet");
    for (key, value) in tags {
        x.open("Tag");
        x.elem("Key", key);
        x.elem("Value", value);
        x.close("Tag");
    }
    x.close("TagSet");
    x.close("Tagging");
    x.finish()
}

pub async fn handle_put_bucket_tagging(
    gateway: &Gateway,
    bucket: &BucketName,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let doc = read_document(gateway, req, 64 * 1024, S3Error::malformed_xml).await?;
    let tags = parse_tag_set(&doc, MAX_BUCKET_TAGS)?;
    gateway
        .backend
        .put_bucket_config(
            bucket,
            BucketConfig::Tagging,
            tagging_document(&tags).into_bytes(),
        )
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

pub async fn handle_get_bucket_tagging(
    gateway: &Gateway,
    bucket: &BucketName,
) -> Result<Response<ResponseBody>, S3Error> {
    match gateway
        .backend
        .get_bucket_config(bucket, BucketConfig::Tagging)
        .await?
    {
        Some(doc) => Ok(xml_response(String::from_utf8_lossy(&doc).into_owned())),
        None => Err(S3Error::new(
            S3ErrorCode::Other {
                code: "NoSuchTagSet",
                status: 404,
            },
            "The TagSet does not exist",
        )),
    }
}

pub async fn handle_delete_bucket_tagging(
    gateway: &Gateway,
    bucket: &BucketName,
) -> Result<Response<ResponseBody>, S3Error> {
    gateway
        .backend
        .delete_bucket_config(bucket, BucketConfig::Tagging)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectTagging.html>
pub async fn handle_get_object_tagging(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    check_version(&req.query)?;
    let mut tags = gateway.backend.get_object_tagging(bucket, key).await?;
    // In key order, as S3 answers (and Azure stores them).
    tags.sort();
    Ok(xml_response(tagging_document(&tags)))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectTagging.html>
///
/// Authorized here rather than before dispatch: `s3:RequestObjectTag/*`
/// conditions are about the tags in the body.
pub async fn handle_put_object_tagging(
    gateway: &Gateway,
    route: &Route,
    bucket: &BucketName,
    key: &ObjectKey,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let (verified, peer, headers) = (req.verified.clone(), req.peer, req.parts.headers.clone());
    let query = req.query.clone();
    let doc = read_document(gateway, req, 64 * 1024, S3Error::malformed_xml).await?;
    let tags = parse_tag_set(&doc, MAX_OBJECT_TAGS);
    gateway
        .access
        .check_tagged(
            gateway.backend.as_ref(),
            &verified,
            route,
            &query,
            &headers,
            peer,
            tags.as_ref().ok().cloned(),
        )
        .await?;
    check_version(&query)?;
    gateway
        .backend
        .put_object_tagging(bucket, key, tags?)
        .await?;
    Ok(empty_response(StatusCode::OK))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjectTagging.html>
pub async fn handle_delete_object_tagging(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    check_version(&req.query)?;
    gateway
        .backend
        .put_object_tagging(bucket, key, Vec::new())
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// Buckets are unversioned: only the `null` version exists.
fn check_version(query: &Query) -> Result<(), S3Error> {
    match query.get("versionId") {
        Some(v) if v != "null" => Err(S3Error::new(
            S3ErrorCode::NoSuchVersion,
            "The specified version does not exist.",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(tags: &[(&str, &str)]) -> String {
        let owned: Vec<(String, String)> = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tagging_document(&owned)
    }

    #[test]
    fn tag_sets_round_trip_and_are_checked() {
        let tags = parse_tag_set(doc(&[("team", "stats"), ("é", "")]).as_bytes(), 50).unwrap();
        assert_eq!(
            tags,
            [("team".into(), "stats".into()), ("é".into(), "".into())]
        );
        let code = |d: String, max| parse_tag_set(d.as_bytes(), max).unwrap_err().code;
        assert_eq!(
            code(doc(&[("a", "1"), ("a", "2")]), 50).as_str(),
            "InvalidTag"
        );
        assert_eq!(code(doc(&[("", "1")]), 50).as_str(), "InvalidTag");
        assert_eq!(
            code(doc(&[(&"k".repeat(129), "1")]), 50).as_str(),
            "InvalidTag"
        );
        assert_eq!(
            code(doc(&[("k", &"v".repeat(257))]), 50).as_str(),
            "InvalidTag"
        );
        assert_eq!(code(doc(&[("aws:x", "1")]), 50).as_str(), "InvalidTag");
        assert_eq!(
            code(doc(&[("a", "1"), ("b", "2")]), 1).as_str(),
            "InvalidTag"
        );
        assert_eq!(code("<Tagging/>".into(), 50), S3ErrorCode::MalformedXML);
        assert!(parse_tag_set(doc(&[(&"k".repeat(128), &"v".repeat(256))]).as_bytes(), 50).is_ok());
    }

    #[test]
    fn tagging_headers_are_url_query_encoded() {
        let tags = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(TAGGING_HEADER, v.parse().unwrap());
            header_tags(&h)
        };
        assert_eq!(
            tags("team=stats&note=a%20b+c&empty=&bare").unwrap(),
            [
                ("team".to_string(), "stats".to_string()),
                ("note".into(), "a b c".into()),
                ("empty".into(), "".into()),
                ("bare".into(), "".into()),
            ]
        );
        assert_eq!(tags("k=%C3%A9").unwrap()[0].1, "é");
        assert!(header_tags(&HeaderMap::new()).unwrap().is_empty());
        assert_eq!(tags("a=1&a=2").unwrap_err().code.as_str(), "InvalidTag");
        assert_eq!(
            tags("k=%FF").unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            tags(&eleven.join("&")).unwrap_err().code.as_str(),
            "InvalidTag"
        );
    }
}

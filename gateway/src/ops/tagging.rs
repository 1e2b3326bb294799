//! Bucket tagging: PutBucketTagging, GetBucketTagging, DeleteBucketTagging,
//! with S3's limits (50 tags, keys of 1 to 128 and values of up to 256
//! Unicode characters, keys unique, no `aws:` prefix) and errors
//! (InvalidTag, MalformedXML, NoSuchTagSet). The set is stored with the
//! bucket like its policy and CORS rules.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketTagging.html>

use http::{Response, StatusCode};

use super::{empty_response, read_document, xml_response};
use crate::body::ResponseBody;
use crate::error::{S3Error, S3ErrorCode};
use crate::request::{Gateway, S3Request};
use crate::storage::{BucketConfig, BucketName};
use crate::xml::{self, XmlWriter};

const MAX_BUCKET_TAGS: usize = 50;
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
        let (key, value) = (key.text.clone(), value.text.clone());
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
}

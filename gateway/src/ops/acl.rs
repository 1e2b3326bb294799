//! ACLs the way AWS now does them: every bucket has Object Ownership
//! "bucket owner enforced" (the default for new buckets since April 2023),
//! so ACLs grant nothing and access comes from policies alone.
//!
//! - GetBucketAcl and GetObjectAcl answer the owner with FULL_CONTROL.
//! - PutBucketAcl, PutObjectAcl and the `x-amz-acl` / `x-amz-grant-*`
//!   headers of writes accept what changes nothing (`private`,
//!   `bucket-owner-full-control`, or a document granting FULL_CONTROL to
//!   the owner alone) and answer 400 AccessControlListNotSupported to the
//!   rest (CreateBucket: InvalidBucketAclWithObjectOwnership), as S3 does.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketAcl.html>

use http::{HeaderMap, Response};

use super::bucket::owner_id;
use super::{read_document, xml_response};
use crate::body::ResponseBody;
use crate::conditions::Conditions;
use crate::error::{S3Error, S3ErrorCode};
use crate::request::{Gateway, S3Request};
use crate::storage::{BucketName, ObjectKey};
use crate::xml::{self, XmlWriter};

const CANNED_WITHOUT_EFFECT: [&str; 2] = ["private", "bucket-owner-full-control"];

fn not_supported() -> S3Error {
    S3Error::new(
        S3ErrorCode::Other {
            code: "AccessControlListNotSupported",
            status: 400,
        },
        "The bucket does not allow ACLs",
    )
}

/// Whether a write's ACL headers ask for anything but the owner's control.
fn acl_headers_have_effect(headers: &HeaderMap) -> bool {
    let canned = headers
        .get("x-amz-acl")
        .map(|v| v.to_str().unwrap_or_default().trim().to_owned());
    let grants = headers
        .keys()
        .any(|h| h.as_str().starts_with("x-amz-grant-"));
    grants || canned.is_some_and(|c| !CANNED_WITHOUT_EFFECT.contains(&c.as_str()))
}

/// PutObject, CopyObject, CreateMultipartUpload: `x-amz-acl` and
/// `x-amz-grant-*` may only restate the owner's control.
pub fn check_object_write(headers: &HeaderMap) -> Result<(), S3Error> {
    if acl_headers_have_effect(headers) {
        Err(not_supported())
    } else {
        Ok(())
    }
}

/// CreateBucket: the same, with S3's error for a new bucket.
pub fn check_bucket_create(headers: &HeaderMap) -> Result<(), S3Error> {
    if acl_headers_have_effect(headers) {
        Err(S3Error::new(
            S3ErrorCode::Other {
                code: "InvalidBucketAclWithObjectOwnership",
                status: 400,
            },
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
        ))
    } else {
        Ok(())
    }
}

fn policy_document(owner: &str, owner_name: &str) -> String {
    let mut x = XmlWriter::new();
    x.open_root("AccessControlPolicy");
    x.open("Owner");
    x.elem("ID", owner);
    x.elem("DisplayName", owner_name);
    x.close("Owner");
    x.open("AccessControlList");
    x.open("Grant");
    x.open_with_attrs(
        "Grantee",
        &[
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
            ("xsi:type", "CanonicalUser"),
        ],
    );
    x.elem("ID", owner);
    x.elem("DisplayName", owner_name);
    x.close("Grantee");
    x.elem("Permission", "FULL_CONTROL");
    x.close("Grant");
    x.close("AccessControlList");
    x.close("AccessControlPolicy");
    x.finish()
}

/// NoSuchBucket or NoSuchKey unless the ACL's subject exists.
async fn exists(
    gateway: &Gateway,
    bucket: &BucketName,
    key: Option<&ObjectKey>,
) -> Result<(), S3Error> {
    match key {
        Some(key) => gateway
            .backend
            .head_object(bucket, key, &Conditions::default())
            .await
            .map(drop),
        None => gateway.backend.head_bucket(bucket).await,
    }
}

/// GetBucketAcl / GetObjectAcl (`key`): the owner, FULL_CONTROL.
pub async fn handle_get_acl(
    gateway: &Gateway,
    bucket: &BucketName,
    key: Option<&ObjectKey>,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    exists(gateway, bucket, key).await?;
    let access_key = &req.verified.access_key;
    Ok(xml_response(policy_document(
        &owner_id(access_key),
        access_key,
    )))
}

/// PutBucketAcl / PutObjectAcl (`key`): accepted when it changes nothing.
pub async fn handle_put_acl(
    gateway: &Gateway,
    bucket: &BucketName,
    key: Option<&ObjectKey>,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    exists(gateway, bucket, key).await?;
    let owner = owner_id(&req.verified.access_key);
    if acl_headers_have_effect(&req.parts.headers) {
        return Err(not_supported());
    }
    let doc = read_document(gateway, req, xml::MAX_XML_BODY, S3Error::malformed_xml).await?;
    if !doc.iter().all(u8::is_ascii_whitespace) {
        let root = xml::parse(&doc)?;
        if root.name != "AccessControlPolicy" {
            return Err(S3Error::new(
                S3ErrorCode::Other {
                    code: "MalformedACLError",
                    status: 400,
                },
                "The XML you provided was not well-formed or did not validate against our published schema",
            ));
        }
        let grants: Vec<_> = root
            .child("AccessControlList")
            .map(|l| l.children_named("Grant").collect())
            .unwrap_or_default();
        let only_owner = grants.iter().all(|g| {
            let permission = g.child("Permission").map(|p| p.text.trim());
            let id = g
                .child("Grantee")
                .and_then(|e| e.child("ID"))
                .map(|i| i.text.trim());
            permission == Some("FULL_CONTROL") && id == Some(owner.as_str())
        });
        if !only_owner {
            return Err(not_supported());
        }
    }
    Ok(super::empty_response(http::StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_acls_without_effect_are_accepted() {
        assert!(check_object_write(&headers(&[])).is_ok());
        assert!(check_object_write(&headers(&[("x-amz-acl", "private")])).is_ok());
        assert!(
            check_object_write(&headers(&[("x-amz-acl", "bucket-owner-full-control")])).is_ok()
        );
        for bad in [
            &[("x-amz-acl", "public-read")][..],
            &[("x-amz-acl", "authenticated-read")][..],
            &[(
                "x-amz-grant-read",
                "uri=http://acs.amazonaws.com/groups/global/AllUsers",
            )][..],
        ] {
            let e = check_object_write(&headers(bad)).unwrap_err();
            assert_eq!(e.code.as_str(), "AccessControlListNotSupported");
            assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
            let e = check_bucket_create(&headers(bad)).unwrap_err();
            assert_eq!(e.code.as_str(), "InvalidBucketAclWithObjectOwnership");
        }
    }

    #[test]
    fn the_document_names_the_owner_with_full_control() {
        let doc = policy_document("abc", "me");
        let root = xml::parse(doc.as_bytes()).unwrap();
        assert_eq!(root.name, "AccessControlPolicy");
        let grant = root
            .child("AccessControlList")
            .unwrap()
            .child("Grant")
            .unwrap();
        assert_eq!(grant.child("Permission").unwrap().text, "FULL_CONTROL");
        assert_eq!(
            grant.child("Grantee").unwrap().child("ID").unwrap().text,
            "abc"
        );
        assert!(doc.contains(r#"xsi:type="CanonicalUser""#));
    }
}

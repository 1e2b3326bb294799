//! DeleteObjects: up to 1000 keys in one request, each checked and deleted
//! on its own, with a result per key.

use futures_util::StreamExt;
use http::Response;

use super::{request_body, xml_response};
use crate::body::ResponseBody;
use crate::error::S3Error;
use crate::request::{Gateway, S3Request};
use crate::router::{Endpoint, Query, Route};
use crate::storage::{BucketName, ObjectKey};
use crate::xml::{self, XmlWriter};

/// Most keys one request may name.
pub const MAX_KEYS: usize = 1000;
/// Deletes in flight at once.
const PARALLEL: usize = 16;

/// Who asks, for the check on each key.
struct Caller {
    verified: blobgate_auth::Verified,
    headers: http::HeaderMap,
    peer: Option<std::net::IpAddr>,
}

struct Target {
    key: String,
    version_id: Option<String>,
}

/// Parse the Delete document: `Quiet` and the objects.
fn parse_request(doc: &[u8]) -> Result<(bool, Vec<Target>), S3Error> {
    let root = xml::parse(doc)?;
    if root.name != "Delete" {
        return Err(S3Error::malformed_xml());
    }
    let quiet = match root.child("Quiet").map(|q| q.text.trim()) {
        None => false,
        Some(q) if q.eq_ignore_ascii_case("true") => true,
        Some(q) if q.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(S3Error::malformed_xml()),
    };
    let mut targets = Vec::new();
    for object in root.children_named("Object") {
        let key = object.child("Key").ok_or_else(S3Error::malformed_xml)?;
        targets.push(Target {
            key: key.text.clone(),
            version_id: object.child("VersionId").map(|v| v.text.clone()),
        });
        if targets.len() > MAX_KEYS {
            return Err(S3Error::malformed_xml());
        }
    }
    if targets.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    Ok((quiet, targets))
}

/// Check and delete one key.
async fn delete_one(
    gateway: &Gateway,
    caller: &Caller,
    bucket: &BucketName,
    target: &Target,
) -> Result<(), S3Error> {
    let key = ObjectKey::parse(&target.key)?;
    let route = Route {
        endpoint: Endpoint::DeleteObject,
        bucket: Some(bucket.as_str().to_owned()),
        key: Some(target.key.clone()),
    };
    gateway
        .access
        .check(
            gateway.backend.as_ref(),
            &caller.verified,
            &route,
            &Query::default(),
            &caller.headers,
            caller.peer,
        )
        .await?;
    // Buckets are unversioned: a version other than `null` does not exist,
    // so there is nothing to delete (as for DeleteObject).
    if target.version_id.as_deref().is_some_and(|v| v != "null") {
        return Ok(());
    }
    gateway.backend.delete_object(bucket, &key).await
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html>
pub async fn handle_delete_objects(
    gateway: &Gateway,
    bucket: &BucketName,
    req: S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let caller = Caller {
        verified: req.verified.clone(),
        headers: req.parts.headers.clone(),
        peer: req.peer,
    };
    let (body, _) = request_body(gateway, req)?;
    let (quiet, targets) = parse_request(&xml::read_body_capped(body).await?)?;
    gateway.backend.head_bucket(bucket).await?;
    // Futures made up front: a closure in the stream would need them to be
    // Send for every lifetime, which the compiler cannot prove.
    let deletes: Vec<_> = targets
        .iter()
        .map(|t| delete_one(gateway, &caller, bucket, t))
        .collect();
    let results: Vec<Result<(), S3Error>> = futures_util::stream::iter(deletes)
        .buffered(PARALLEL)
        .collect()
        .await;
    let mut x = XmlWriter::new();
    x.open_root("DeleteResult");
    for (target, result) in targets.iter().zip(results) {
        match result {
            Ok(()) if quiet => {}
            Ok(()) => {
                x.open("Deleted");
                x.elem("Key", &target.key);
                if let Some(v) = &target.version_id {
                    x.elem("VersionId", v);
                }
                x.close("Deleted");
            }
            Err(e) => {
                x.open("Error");
                x.elem("Key", &target.key);
                if let Some(v) = &target.version_id {
                    x.elem("VersionId", v);
                }
                x.elem("Code", e.code.as_str());
                x.elem("Message", &e.message);
                x.close("Error");
            }
        }
    }
    x.close("DeleteResult");
    Ok(xml_response(x.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::S3ErrorCode;

    #[test]
    fn parses_and_limits() {
        let doc = b"<Delete><Quiet>true</Quiet><Object><Key>a</Key></Object><Object><Key>b</Key><VersionId>null</VersionId></Object></Delete>";
        let (quiet, targets) = parse_request(doc).unwrap();
        assert!(quiet);
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[1].version_id.as_deref(), Some("null"));
        let many = format!(
            "<Delete>{}</Delete>",
            "<Object><Key>k</Key></Object>".repeat(MAX_KEYS + 1)
        );
        for bad in [
            many.as_bytes(),
            b"<Delete></Delete>",
            b"<Delete><Object></Object></Delete>",
            b"<Delete><Quiet>maybe</Quiet><Object><Key>a</Key></Object></Delete>",
            b"<Remove><Object><Key>a</Key></Object></Remove>",
        ] {
            assert_eq!(
                parse_request(bad).err().map(|e| e.code),
                Some(S3ErrorCode::MalformedXML)
            );
        }
        let exactly = format!(
            "<Delete>{}</Delete>",
            "<Object><Key>k</Key></Object>".repeat(MAX_KEYS)
        );
        assert_eq!(parse_request(exactly.as_bytes()).unwrap().1.len(), MAX_KEYS);
    }
}

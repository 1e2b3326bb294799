//! GetObjectAttributes (`GET /bucket/key?attributes`): an object's ETag,
//! checksum, parts, storage class and size in one XML answer, the
//! attributes named in `x-amz-object-attributes`.
//!
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html>:
//! the ETag is given without quotes; a composite checksum without its
//! `-N` suffix (the part count is in ObjectParts), with its ChecksumType;
//! ObjectParts of a multipart object pages its parts by the
//! `x-amz-part-number-marker` and `x-amz-max-parts` headers (1000 at most);
//! an object that was not uploaded in parts has no ObjectParts. Access
//! needs s3:GetObjectAttributes and s3:GetObject (`access.rs`).

use http::{HeaderValue, Response};

use super::object::{names_current_version, no_such_version};
use super::xml_response;
use crate::body::ResponseBody;
use crate::conditions::Conditions;
use crate::error::S3Error;
use crate::request::{Gateway, S3Request};
use crate::storage::parts::checksum_type;
use crate::storage::{BucketName, ObjectKey, ObjectMeta};
use crate::xml::XmlWriter;

/// Most parts one answer lists.
const MAX_PARTS: u32 = 1000;

/// The attributes a request can name.
#[derive(Debug, Default, PartialEq, Eq)]
struct Wanted {
    etag: bool,
    checksum: bool,
    parts: bool,
    storage_class: bool,
    size: bool,
}

fn wanted(req: &S3Request) -> Result<Wanted, S3Error> {
    let mut w = Wanted::default();
    let mut any = false;
    for value in req.parts.headers.get_all("x-amz-object-attributes") {
        let text = value
            .to_str()
            .map_err(|_| S3Error::invalid_argument("Invalid attribute name specified."))?;
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let flag = match name {
                "ETag" => &mut w.etag,
                "Checksum" => &mut w.checksum,
                "ObjectParts" => &mut w.parts,
                "StorageClass" => &mut w.storage_class,
                "ObjectSize" => &mut w.size,
                _ => {
                    return Err(S3Error::invalid_argument(
                        "Invalid attribute name specified.",
                    ))
                }
            };
            *flag = true;
            any = true;
        }
    }
    if !any {
        return Err(S3Error::invalid_argument(
            "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
        ));
    }
    Ok(w)
}

/// A non-negative integer header; `default` when absent.
fn number_header(req: &S3Request, name: &str, default: u32) -> Result<u32, S3Error> {
    match req.parts.headers.get(name) {
        None => Ok(default),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .ok_or_else(|| {
                S3Error::invalid_argument(format!("{name} must be a non-negative integer"))
            }),
    }
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html>
pub async fn handle_get_object_attributes(
    gateway: &Gateway,
    bucket: &BucketName,
    key: &ObjectKey,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    if !names_current_version(req) {
        return Err(no_such_version());
    }
    let want = wanted(req)?;
    let max_parts = number_header(req, "x-amz-max-parts", MAX_PARTS)?.min(MAX_PARTS);
    let marker = number_header(req, "x-amz-part-number-marker", 0)?;
    let meta = gateway
        .backend
        .head_object(bucket, key, &Conditions::default())
        .await?;
    let mut response = xml_response(document(&meta, &want, marker, max_parts));
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(meta.last_modified())) {
        response
            .headers_mut()
            .insert(http::header::LAST_MODIFIED, v);
    }
    Ok(response)
}

fn document(meta: &ObjectMeta, want: &Wanted, marker: u32, max_parts: u32) -> String {
    let mut x = XmlWriter::new();
    x.open_root("GetObjectAttributesResponse");
    if want.etag {
        x.elem("ETag", &meta.etag);
    }
    if let (true, Some(c)) = (want.checksum, &meta.checksum) {
        x.open("Checksum");
        let value = c.value.split_once('-').map_or(c.value.as_str(), |(v, _)| v);
        x.elem(&format!("Checksum{}", c.algorithm), value);
        x.elem("ChecksumType", checksum_type(c));
        x.close("Checksum");
    }
    let layout = meta
        .parts
        .as_ref()
        .and_then(|p| Some((p, p.sizes()?)))
        .filter(|(_, sizes)| !sizes.is_empty());
    if let (true, Some((parts, sizes))) = (want.parts, layout) {
        let count = sizes.len() as u32;
        x.open("ObjectParts");
        x.elem("PartsCount", &count.to_string());
        x.elem("PartNumberMarker", &marker.to_string());
        let first = marker.saturating_add(1);
        let last = marker.saturating_add(max_parts).min(count);
        let truncated = last < count;
        if truncated {
            x.elem("NextPartNumberMarker", &last.to_string());
        }
        x.elem("MaxParts", &max_parts.to_string());
        x.elem("IsTruncated", if truncated { "true" } else { "false" });
        let algorithm = meta.checksum.as_ref().map(|c| c.algorithm.as_str());
        for n in first..=last {
            x.open("Part");
            x.elem("PartNumber", &n.to_string());
            x.elem("Size", &sizes[n as usize - 1].to_string());
            if let (Some(alg), Some(value)) = (algorithm, parts.checksum(n)) {
                x.elem(&format!("Checksum{alg}"), value);
            }
            x.close("Part");
        }
        x.close("ObjectParts");
    }
    if want.storage_class {
        x.elem("StorageClass", "STANDARD");
    }
    if want.size {
        x.elem("ObjectSize", &meta.size.to_string());
    }
    x.close("GetObjectAttributesResponse");
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{ObjectParts, StoredChecksum};

    fn all() -> Wanted {
        Wanted {
            etag: true,
            checksum: true,
            parts: true,
            storage_class: true,
            size: true,
        }
    }

    fn multipart() -> ObjectMeta {
        ObjectMeta {
            size: 12,
            etag: "abc-3".into(),
            last_modified_ms: 0,
            headers: Default::default(),
            user_metadata: vec![],
            tag_count: 0,
            checksum: Some(StoredChecksum {
                algorithm: "CRC32".into(),
                value: "AAAAAA==-3".into(),
            }),
            parts: Some(ObjectParts {
                sizes: "5x2,2".into(),
                checksums: vec!["AQAAAA==".into(), "AgAAAA==".into(), "AwAAAA==".into()],
            }),
        }
    }

    #[test]
    fn every_attribute() {
        let doc = document(&multipart(), &all(), 0, 1000);
        for want in [
            "<ETag>abc-3</ETag>",
            "<Checksum><ChecksumCRC32>AAAAAA==</ChecksumCRC32><ChecksumType>COMPOSITE</ChecksumType></Checksum>",
            "<PartsCount>3</PartsCount>",
            "<IsTruncated>false</IsTruncated>",
            "<Part><PartNumber>3</PartNumber><Size>2</Size><ChecksumCRC32>AwAAAA==</ChecksumCRC32></Part>",
            "<StorageClass>STANDARD</StorageClass>",
            "<ObjectSize>12</ObjectSize>",
        ] {
            assert!(doc.contains(want), "{want} in {doc}");
        }
    }

    #[test]
    fn parts_pages() {
        let doc = document(&multipart(), &all(), 1, 1);
        assert!(doc.contains("<PartNumberMarker>1</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker><MaxParts>1</MaxParts><IsTruncated>true</IsTruncated><Part><PartNumber>2</PartNumber>"), "{doc}");
        assert!(!doc.contains("<PartNumber>3</PartNumber>"), "{doc}");
        let past = document(&multipart(), &all(), 5, 10);
        assert!(!past.contains("<Part>"), "{past}");
        assert!(past.contains("<IsTruncated>false</IsTruncated>"), "{past}");
    }

    #[test]
    fn only_what_is_asked_and_no_parts_for_a_single_put() {
        let mut single = multipart();
        single.parts = None;
        single.checksum = None;
        let doc = document(
            &single,
            &Wanted {
                parts: true,
                size: true,
                checksum: true,
                ..Wanted::default()
            },
            0,
            1000,
        );
        assert_eq!(
            doc.split_once("?>").map_or(doc.as_str(), |(_, d)| d).trim(),
            "<GetObjectAttributesResponse xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><ObjectSize>12</ObjectSize></GetObjectAttributesResponse>"
        );
    }
}

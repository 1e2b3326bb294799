//! ListObjects (v1, marker) and ListObjectsV2 (continuation token).
//!
//! Continuation tokens carry the position to resume from, signed with a key
//! every replica shares, so any replica can continue a listing and clients
//! cannot forge positions. <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>

use base64::Engine;
use hmac::{Hmac, Mac};
use http::Response;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::bucket::write_owner;
use super::{iso8601, xml_response};
use crate::body::ResponseBody;
use crate::error::S3Error;
use crate::request::{Gateway, S3Request};
use crate::storage::{BucketName, ListPage, ListQuery};
use crate::xml::XmlWriter;

/// Most keys S3 returns in one page.
pub const MAX_KEYS: usize = 1000;

/// Characters left as they are by `encoding-type=url`.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Whether a listing asks for `encoding-type=url` (the only type there is).
pub fn url_encoding(q: &crate::router::Query) -> Result<bool, S3Error> {
    match q.get("encoding-type") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(S3Error::invalid_argument(
            "Invalid Encoding Method specified in Request",
        )),
    }
}

/// How listings write keys: as they are, or for `encoding-type=url`
/// percent-encoded (slashes kept).
pub fn url_encoder(url_encode: bool) -> impl Fn(&str) -> String {
    move |s| {
        if url_encode {
            utf8_percent_encode(s, URL_ENCODE).to_string()
        } else {
            s.to_owned()
        }
    }
}

#[derive(Serialize, Deserialize)]
struct TokenPayload {
    /// Resume strictly after this key or common prefix.
    a: String,
    /// The backend's own position there, when it has one (Azure's marker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<String>,
}

/// Where a listing resumes: after a key, optionally at a backend marker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    pub after: String,
    pub marker: Option<String>,
}

const TOKEN_MAC_LEN: usize = 16;

fn token_mac(key: &[u8; 32], payload: &[u8]) -> Result<Vec<u8>, S3Error> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(S3Error::internal)?;
    mac.update(payload);
    Ok(mac.finalize().into_bytes()[..TOKEN_MAC_LEN].to_vec())
}

/// An opaque, integrity-protected continuation token.
pub fn encode_token(key: &[u8; 32], resume: &Resume) -> Result<String, S3Error> {
    let payload = serde_json::to_vec(&TokenPayload {
        a: resume.after.clone(),
        m: resume.marker.clone(),
    })
    .map_err(S3Error::internal)?;
    let mut raw = token_mac(key, &payload)?;
    raw.extend_from_slice(&payload);
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

/// The position a token resumes after; InvalidArgument if it was not ours.
pub fn decode_token(key: &[u8; 32], token: &str) -> Result<Resume, S3Error> {
    let invalid = || S3Error::invalid_argument("The continuation token provided is incorrect");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| invalid())?;
    if raw.len() < TOKEN_MAC_LEN {
        return Err(invalid());
    }
    let (mac, payload) = raw.split_at(TOKEN_MAC_LEN);
    let mut check = Hmac::<Sha256>::new_from_slice(key).map_err(S3Error::internal)?;
    check.update(payload);
    check.verify_truncated_left(mac).map_err(|_| invalid())?;
    let payload: TokenPayload = serde_json::from_slice(payload).map_err(|_| invalid())?;
    Ok(Resume {
        after: payload.a,
        marker: payload.m,
    })
}

struct Common {
    prefix: String,
    delimiter: Option<String>,
    max_keys: usize,
    url_encode: bool,
}

impl Common {
    fn parse(req: &S3Request) -> Result<Self, S3Error> {
        let q = &req.query;
        let max_keys = match q.get("max-keys") {
            None => MAX_KEYS,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    S3Error::invalid_argument("max-keys must be a non-negative integer")
                })?
                .min(MAX_KEYS as i64) as usize,
        };
        let url_encode = url_encoding(q)?;
        Ok(Common {
            prefix: q.get("prefix").unwrap_or_default().to_owned(),
            delimiter: q
                .get("delimiter")
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            max_keys,
            url_encode,
        })
    }

    fn enc(&self, s: &str) -> String {
        url_encoder(self.url_encode)(s)
    }

    async fn list(
        &self,
        gateway: &Gateway,
        bucket: &BucketName,
        resume: Resume,
    ) -> Result<ListPage, S3Error> {
        if self.max_keys == 0 {
            gateway.backend.head_bucket(bucket).await?;
            return Ok(ListPage::default());
        }
        let query = ListQuery {
            prefix: self.prefix.clone(),
            delimiter: self.delimiter.clone(),
            start_after: Some(resume.after).filter(|s| !s.is_empty()),
            max_keys: self.max_keys,
            resume_marker: resume.marker,
        };
        gateway.backend.list_objects(bucket, &query).await
    }

    fn write_entries(&self, x: &mut XmlWriter, page: &ListPage, owner: Option<&str>) {
        for entry in &page.objects {
            x.open("Contents");
            x.elem("Key", &self.enc(&entry.key));
            x.elem("LastModified", &iso8601(entry.meta.last_modified()));
            x.elem("ETag", &format!("\"{}\"", entry.meta.etag));
            x.elem("Size", &entry.meta.size.to_string());
            if let Some(c) = &entry.meta.checksum {
                x.elem("ChecksumAlgorithm", &c.algorithm);
                x.elem("ChecksumType", crate::storage::parts::checksum_type(c));
            }
            x.elem("StorageClass", "STANDARD");
            if let Some(owner) = owner {
                write_owner(x, owner);
            }
            x.close("Contents");
        }
        for cp in &page.common_prefixes {
            x.open("CommonPrefixes");
            x.elem("Prefix", &self.enc(cp));
            x.close("CommonPrefixes");
        }
    }

    fn write_header(&self, x: &mut XmlWriter, bucket: &BucketName) {
        x.elem("Name", bucket.as_str());
        x.elem("Prefix", &self.enc(&self.prefix));
        if let Some(d) = &self.delimiter {
            x.elem("Delimiter", &self.enc(d));
        }
        x.elem("MaxKeys", &self.max_keys.to_string());
        if self.url_encode {
            x.elem("EncodingType", "url");
        }
    }
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjects.html>
pub async fn handle_list_objects(
    gateway: &Gateway,
    bucket: &BucketName,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let common = Common::parse(req)?;
    let marker = req.query.get("marker").unwrap_or_default().to_owned();
    let resume = Resume {
        after: marker.clone(),
        marker: None,
    };
    let page = common.list(gateway, bucket, resume).await?;
    let mut x = XmlWriter::new();
    x.open_root("ListBucketResult");
    common.write_header(&mut x, bucket);
    x.elem("Marker", &common.enc(&marker));
    x.elem("IsTruncated", bool_str(page.next_after.is_some()));
    if let Some(next) = &page.next_after {
        x.elem("NextMarker", &common.enc(next));
    }
    common.write_entries(&mut x, &page, Some(&req.verified.access_key));
    x.close("ListBucketResult");
    Ok(xml_response(x.finish()))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html>
/// Buckets here are unversioned, so every object is listed once, as its
/// `null` version, the latest (what S3 answers for an unversioned bucket;
/// cleanup tools such as Terraform's `force_destroy` rely on it).
pub async fn handle_list_object_versions(
    gateway: &Gateway,
    bucket: &BucketName,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let common = Common::parse(req)?;
    let key_marker = req.query.get("key-marker").unwrap_or_default().to_owned();
    let version_marker = req.query.get("version-id-marker").unwrap_or_default();
    if !version_marker.is_empty() && key_marker.is_empty() {
        return Err(S3Error::invalid_argument(
            "A version-id marker cannot be specified without a key marker.",
        ));
    }
    let resume = Resume {
        after: key_marker.clone(),
        marker: None,
    };
    let page = common.list(gateway, bucket, resume).await?;
    let mut x = XmlWriter::new();
    x.open_root("ListVersionsResult");
    common.write_header(&mut x, bucket);
    x.elem("KeyMarker", &common.enc(&key_marker));
    x.elem("VersionIdMarker", version_marker);
    x.elem("IsTruncated", bool_str(page.next_after.is_some()));
    if let Some(next) = &page.next_after {
        x.elem("NextKeyMarker", &common.enc(next));
        x.elem("NextVersionIdMarker", "null");
    }
    for entry in &page.objects {
        x.open("Version");
        x.elem("Key", &common.enc(&entry.key));
        x.elem("VersionId", "null");
        x.elem("IsLatest", "true");
        x.elem("LastModified", &iso8601(entry.meta.last_modified()));
        x.elem("ETag", &format!("\"{}\"", entry.meta.etag));
        x.elem("Size", &entry.meta.size.to_string());
        x.elem("StorageClass", "STANDARD");
        write_owner(&mut x, &req.verified.access_key);
        x.close("Version");
    }
    for cp in &page.common_prefixes {
        x.open("CommonPrefixes");
        x.elem("Prefix", &common.enc(cp));
        x.close("CommonPrefixes");
    }
    x.close("ListVersionsResult");
    Ok(xml_response(x.finish()))
}

/// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>
pub async fn handle_list_objects_v2(
    gateway: &Gateway,
    bucket: &BucketName,
    req: &S3Request,
) -> Result<Response<ResponseBody>, S3Error> {
    let common = Common::parse(req)?;
    let q = &req.query;
    // An empty token is no token, as S3 takes it (and echoes it, empty).
    let sent_token = q.get("continuation-token");
    let token = sent_token.filter(|t| !t.is_empty());
    let start_after = q.get("start-after").unwrap_or_default();
    let resume = match token {
        Some(t) => decode_token(&gateway.config.token_key, t)?,
        None => Resume {
            after: start_after.to_owned(),
            marker: None,
        },
    };
    let fetch_owner = q.get("fetch-owner").is_some_and(|v| v == "true");
    let page = common.list(gateway, bucket, resume).await?;
    let mut x = XmlWriter::new();
    x.open_root("ListBucketResult");
    common.write_header(&mut x, bucket);
    let count = page.objects.len() + page.common_prefixes.len();
    x.elem("KeyCount", &count.to_string());
    x.elem("IsTruncated", bool_str(page.next_after.is_some()));
    if let Some(t) = sent_token {
        x.elem("ContinuationToken", t);
    }
    if let Some(next) = &page.next_after {
        x.elem(
            "NextContinuationToken",
            &encode_token(
                &gateway.config.token_key,
                &Resume {
                    after: next.clone(),
                    marker: page.next_marker.clone(),
                },
            )?,
        );
    }
    if !start_after.is_empty() {
        x.elem("StartAfter", &common.enc(start_after));
    }
    let owner = fetch_owner.then_some(req.verified.access_key.as_str());
    common.write_entries(&mut x, &page, owner);
    x.close("ListBucketResult");
    Ok(xml_response(x.finish()))
}

pub fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let key = [7u8; 32];
        let resume = Resume {
            after: "a/é b".into(),
            marker: Some("2!88!opaque".into()),
        };
        let t = encode_token(&key, &resume).unwrap();
        assert_eq!(decode_token(&key, &t).unwrap(), resume);
        let plain = Resume {
            after: "k".into(),
            marker: None,
        };
        let t2 = encode_token(&key, &plain).unwrap();
        assert_eq!(decode_token(&key, &t2).unwrap(), plain);
        assert!(decode_token(&[8u8; 32], &t).is_err());
        let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&t)
            .unwrap();
        let last = raw.len() - 2;
        raw[last] ^= 1;
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        assert!(decode_token(&key, &forged).is_err());
        assert!(decode_token(&key, "not a token!").is_err());
    }

    #[test]
    fn url_encoding_keeps_slashes() {
        assert_eq!(
            utf8_percent_encode("a b/c+d%é", URL_ENCODE).to_string(),
            "a%20b/c%2Bd%25%C3%A9"
        );
    }
}

//! The bookkeeping of multipart uploads under the reserved prefix (see
//! the parent module for the layout): names, record contents, reading,
//! writing and removing records, and sweeping abandoned uploads.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use azure_storage_blob::models::BlockBlobClientUploadOptions;
use azure_storage_blob::BlobClient;
use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::super::{header, listxml, props, AzureBackend, Target};
use crate::error::{S3Error, S3ErrorCode};
use crate::storage::multipart::{no_such_upload, plausible_upload_id};
use crate::storage::{
    Backend, BucketName, ObjectKey, ObjectMeta, PartInfo, StoredChecksum, UploadInfo, UploadOptions,
};

pub(super) const UPLOADS: &str = ".blobgate/uploads/";
const PARTS: &str = ".blobgate/parts/";
const COMPLETED: &str = ".blobgate/completed/";

// Record fields, as blob metadata. Listings hand names the object mapping
// (`props`) does not know back as foreign metadata, lower-cased.
pub(super) const META_KEY: &str = "bgu_key";
pub(super) const META_INITIATED: &str = "bgu_initiated";
/// The declared checksum: `ALGORITHM` or `ALGORITHM:FULL_OBJECT`.
pub(super) const META_DECLARED: &str = "bgu_checksum";
pub(super) const META_SIZE: &str = "bgp_size";
pub(super) const META_MD5: &str = "bgp_md5";
pub(super) const META_NONCE: &str = "bgp_nonce";
pub(super) const META_BLOCKS: &str = "bgp_blocks";
/// The part's verified checksum: `ALGORITHM:base64`.
pub(super) const META_CHECKSUM: &str = "bgp_checksum";

/// A marker or completion record is small; refuse to read more.
const MAX_RECORD: usize = 64 << 10;
/// Deletions in flight while cleaning up or sweeping.
const DELETE_PARALLEL: usize = 8;

/// The body of an upload's marker.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Marker {
    pub key: String,
    pub initiated_ms: u64,
    pub options: UploadOptions,
}

/// The body of a completion record.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Completion {
    pub key: String,
    /// `parts_digest` of the completed part list.
    pub parts: String,
    pub meta: ObjectMeta,
}

/// A stored part and where its data is.
#[derive(Debug, Clone)]
pub(super) struct PartRecord {
    pub info: PartInfo,
    pub nonce: String,
    pub blocks: u64,
}

pub(super) fn marker_name(id: &str) -> String {
    format!("{UPLOADS}{id}")
}

pub(super) fn parts_prefix(id: &str) -> String {
    format!("{PARTS}{id}/")
}

pub(super) fn part_name(id: &str, part: u32) -> String {
    format!("{PARTS}{id}/{part:05}")
}

pub(super) fn completion_name(id: &str) -> String {
    format!("{COMPLETED}{id}")
}

pub(super) fn check_upload_id(id: &str) -> Result<(), S3Error> {
    if plausible_upload_id(id) {
        Ok(())
    } else {
        Err(no_such_upload())
    }
}

/// A record field from a listed blob's metadata.
fn field<'a>(meta: &'a ObjectMeta, name: &str) -> Option<&'a str> {
    meta.user_metadata
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn parse_part_record(prefix: &str, name: &str, meta: &ObjectMeta) -> Option<PartRecord> {
    let part_number: u32 = name.strip_prefix(prefix)?.parse().ok()?;
    let size = field(meta, META_SIZE)?.parse().ok()?;
    let etag = field(meta, META_MD5)?;
    let nonce = field(meta, META_NONCE)?;
    let blocks: u64 = field(meta, META_BLOCKS)?.parse().ok()?;
    let hex_of_len = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex_of_len(etag, 32) || !hex_of_len(nonce, 12) || blocks > 9999 {
        return None;
    }
    let checksum = match field(meta, META_CHECKSUM) {
        None => None,
        Some(v) => {
            let (algorithm, value) = v.split_once(':')?;
            Some(StoredChecksum {
                algorithm: algorithm.to_owned(),
                value: value.to_owned(),
            })
        }
    };
    Some(PartRecord {
        info: PartInfo {
            part_number,
            etag: etag.to_ascii_lowercase(),
            size,
            last_modified_ms: meta.last_modified_ms,
            checksum,
        },
        nonce: nonce.to_owned(),
        blocks,
    })
}

pub(super) fn parse_upload(name: &str, meta: &ObjectMeta) -> Option<UploadInfo> {
    let id = name.strip_prefix(UPLOADS)?;
    if !plausible_upload_id(id) {
        return None;
    }
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(field(meta, META_KEY)?)
        .ok()?;
    let initiated_ms = field(meta, META_INITIATED)
        .and_then(|v| v.parse().ok())
        .unwrap_or(meta.last_modified_ms);
    let checksum = field(meta, META_DECLARED).map(|v| {
        let (algorithm, kind) = v.split_once(':').unwrap_or((v, ""));
        crate::storage::UploadChecksum {
            algorithm: algorithm.to_owned(),
            full_object: kind == "FULL_OBJECT",
        }
    });
    Some(UploadInfo {
        key: String::from_utf8(key).ok()?,
        upload_id: id.to_owned(),
        initiated_ms,
        checksum,
    })
}

impl AzureBackend {
    /// A blob of the gateway's own bookkeeping.
    pub(super) fn record_blob(&self, bucket: &BucketName, name: &str) -> BlobClient {
        self.service.blob_client(bucket.as_str(), name)
    }

    /// The body of a small bookkeeping blob; `None` when it does not exist.
    pub(super) async fn read_record(
        &self,
        bucket: &BucketName,
        name: &str,
    ) -> Result<Option<Vec<u8>>, S3Error> {
        let blob = self.record_blob(bucket, name);
        let read = self
            .retry(|| async {
                let response = blob.download(None).await?;
                let mut body = response.body;
                let mut out = Vec::new();
                while let Some(chunk) = body.next().await {
                    out.extend_from_slice(&chunk?);
                    if out.len() > MAX_RECORD {
                        break;
                    }
                }
                Ok(out)
            })
            .await;
        match read {
            Ok(out) if out.len() > MAX_RECORD => {
                Err(S3Error::internal(format!("{name} is too large")))
            }
            Ok(out) => Ok(Some(out)),
            Err(e) => match self.s3_error(e, Target::Blob) {
                e if e.code == S3ErrorCode::NoSuchKey => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Write (replace) a small bookkeeping blob; answers its Last-Modified.
    pub(super) async fn write_record(
        &self,
        bucket: &BucketName,
        name: &str,
        body: Bytes,
        metadata: HashMap<String, String>,
    ) -> Result<u64, S3Error> {
        let client = self.record_blob(bucket, name).block_blob_client();
        let options = BlockBlobClientUploadOptions {
            blob_content_type: Some("application/json".into()),
            metadata: Some(metadata),
            parallel: std::num::NonZero::new(1),
            ..Default::default()
        };
        let response = self
            .retry(|| client.upload(body.clone().into(), Some(options.clone())))
            .await
            .map_err(|e| self.s3_error(e, Target::Container))?;
        Ok(
            match props::http_date_ms(header(response.raw_response.headers(), "last-modified")) {
                0 => props::now_ms(),
                ms => ms,
            },
        )
    }

    /// Delete a bookkeeping blob; a missing one is fine.
    pub(super) async fn delete_record(
        &self,
        bucket: &BucketName,
        name: &str,
    ) -> Result<(), S3Error> {
        let blob = self.record_blob(bucket, name);
        match self.retry(|| blob.delete(None)).await {
            Ok(_) => Ok(()),
            Err(e) => match self.s3_error(e, Target::Blob) {
                e if e.code == S3ErrorCode::NoSuchKey => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Delete bookkeeping blobs, a few at a time; answers how many went.
    async fn delete_records(&self, bucket: &BucketName, names: Vec<String>) -> usize {
        futures_util::stream::iter(names)
            .map(|name| async move {
                match self.delete_record(bucket, &name).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(bucket = %bucket.as_str(), record = %name, error = %e,
                            "could not remove a multipart upload record");
                        false
                    }
                }
            })
            .buffer_unordered(DELETE_PARALLEL)
            .filter(|deleted| std::future::ready(*deleted))
            .count()
            .await
    }

    /// Every blob under a reserved prefix, with its metadata.
    pub(super) async fn list_records(
        &self,
        bucket: &BucketName,
        prefix: &str,
    ) -> Result<Vec<(String, ObjectMeta)>, S3Error> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .list_page(bucket, prefix, None, marker.as_deref(), None, 5000)
                .await?;
            for item in page.items {
                if let listxml::Item::Blob { name, meta, .. } = item {
                    out.push((name, meta));
                }
            }
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => return Ok(out),
            }
        }
    }

    /// The marker of upload `id`, which must be an upload of `key`.
    pub(super) async fn load_marker(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        id: &str,
    ) -> Result<Marker, S3Error> {
        check_upload_id(id)?;
        let raw = self
            .read_record(bucket, &marker_name(id))
            .await?
            .ok_or_else(no_such_upload)?;
        let marker: Marker = serde_json::from_slice(&raw).map_err(S3Error::internal)?;
        if marker.key != key.as_str() {
            return Err(no_such_upload());
        }
        Ok(marker)
    }

    /// The stored parts of upload `id`, by part number.
    pub(super) async fn part_records(
        &self,
        bucket: &BucketName,
        id: &str,
    ) -> Result<Vec<PartRecord>, S3Error> {
        let prefix = parts_prefix(id);
        let mut parts = Vec::new();
        for (name, meta) in self.list_records(bucket, &prefix).await? {
            match parse_part_record(&prefix, &name, &meta) {
                Some(p) => parts.push(p),
                None => tracing::warn!(bucket = %bucket.as_str(), record = %name,
                    "ignoring a malformed multipart part record"),
            }
        }
        parts.sort_by_key(|p| p.info.part_number);
        Ok(parts)
    }

    /// Remove an upload's marker and part records, best effort (what
    /// remains is swept later).
    pub(super) async fn forget_upload(&self, bucket: &BucketName, id: &str) {
        if let Err(e) = self.delete_record(bucket, &marker_name(id)).await {
            tracing::warn!(bucket = %bucket.as_str(), upload = id, error = %e,
                "could not remove a multipart upload's marker");
        }
        match self.list_records(bucket, &parts_prefix(id)).await {
            Ok(records) => {
                let names = records.into_iter().map(|(name, _)| name).collect();
                self.delete_records(bucket, names).await;
            }
            Err(e) => tracing::warn!(bucket = %bucket.as_str(), upload = id, error = %e,
                "could not list a multipart upload's parts to remove them"),
        }
    }

    pub(in super::super) async fn mpu_sweep(&self, older_than: Duration) -> Result<usize, S3Error> {
        let cutoff = props::now_ms().saturating_sub(older_than.as_millis() as u64);
        let mut swept = 0;
        for info in self.list_buckets().await? {
            let Ok(bucket) = BucketName::parse(&info.name) else {
                continue;
            };
            match self.sweep_bucket(&bucket, cutoff).await {
                Ok(n) => swept += n,
                // Deleted meanwhile: nothing left to sweep.
                Err(e) if e.code == S3ErrorCode::NoSuchBucket => {}
                Err(e) => return Err(e),
            }
        }
        Ok(swept)
    }

    /// Remove the uploads of one bucket initiated at or before `cutoff`
    /// (ms), their part records, part records whose upload is gone, and
    /// completion records as old. Answers how many uploads went.
    async fn sweep_bucket(&self, bucket: &BucketName, cutoff: u64) -> Result<usize, S3Error> {
        let mut live = HashSet::new();
        let mut stale = HashSet::new();
        for (name, meta) in self.list_records(bucket, UPLOADS).await? {
            let Some(id) = name.strip_prefix(UPLOADS).map(str::to_owned) else {
                continue;
            };
            let initiated = parse_upload(&name, &meta)
                .map(|u| u.initiated_ms)
                .unwrap_or(meta.last_modified_ms);
            if initiated <= cutoff {
                stale.insert(id);
            } else {
                live.insert(id);
            }
        }
        let swept = self
            .delete_records(bucket, stale.iter().map(|id| marker_name(id)).collect())
            .await;
        // Part records: those of swept uploads, and orphans (their marker
        // is gone) as old as the cutoff. A live upload keeps its parts.
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .list_page(bucket, PARTS, None, marker.as_deref(), None, 5000)
                .await?;
            let mut doomed = Vec::new();
            for item in page.items {
                let listxml::Item::Blob { name, meta, .. } = item else {
                    continue;
                };
                let Some(id) = name
                    .strip_prefix(PARTS)
                    .and_then(|rest| rest.split('/').next())
                else {
                    continue;
                };
                if stale.contains(id) || (!live.contains(id) && meta.last_modified_ms <= cutoff) {
                    doomed.push(name);
                }
            }
            self.delete_records(bucket, doomed).await;
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        let old_completions = self
            .list_records(bucket, COMPLETED)
            .await?
            .into_iter()
            .filter(|(_, meta)| meta.last_modified_ms <= cutoff)
            .map(|(name, _)| name)
            .collect();
        self.delete_records(bucket, old_completions).await;
        Ok(swept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse() {
        let meta = |fields: &[(&str, &str)]| ObjectMeta {
            size: 0,
            etag: String::new(),
            last_modified_ms: 7,
            headers: Default::default(),
            user_metadata: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            checksum: None,
            tag_count: 0,
            parts: None,
        };
        let md5 = "0123456789abcdef0123456789abcdef";
        let good = meta(&[
            (META_SIZE, "5"),
            (META_MD5, md5),
            (META_NONCE, "00000000000a"),
            (META_BLOCKS, "1"),
        ]);
        let r = parse_part_record("p/", "p/00012", &good).unwrap();
        assert_eq!(r.info.part_number, 12);
        assert_eq!(r.info.size, 5);
        assert_eq!(r.info.last_modified_ms, 7);
        assert!(parse_part_record("p/", "p/x", &good).is_none());
        assert!(parse_part_record("p/", "p/1", &meta(&[(META_SIZE, "5")])).is_none());

        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("dir/ключ");
        let up = meta(&[(META_KEY, &key), (META_INITIATED, "42")]);
        let u = parse_upload(&format!("{UPLOADS}abc"), &up).unwrap();
        assert_eq!(u.key, "dir/ключ");
        assert_eq!(u.initiated_ms, 42);
        assert!(parse_upload(&format!("{UPLOADS}a/b"), &up).is_none());
    }
}

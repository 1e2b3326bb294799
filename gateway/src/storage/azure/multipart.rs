//! Multipart uploads on Azure Blob, with every bit of state in the storage
//! account, so any replica continues an upload another one started
//! (AZURE-MAPPING.md, "Multipart (no in-memory state)").
//!
//! # Layout
//!
//! Under the container's reserved prefix, hidden from S3 clients:
//! - `.blobgate/uploads/<id>`: the upload's marker. Its JSON body holds the
//!   key, the headers and metadata for the object, and the initiation
//!   time; its metadata repeats the key (`bgu_key`, base64url) and the time
//!   (`bgu_initiated`), so ListMultipartUploads is one listing.
//! - `.blobgate/parts/<id>/<part, 5 digits>`: one empty blob per part whose
//!   metadata is the part record: size, MD5, the nonce of the attempt that
//!   wrote it, its block count and its verified checksum, if any (`bgp_*`). Writing the record is what
//!   makes a part exist; a new upload of that part number replaces it.
//!   ListParts and Complete read all records with one listing per 5000.
//! - `.blobgate/completed/<id>`: written after a successful Complete, with
//!   the key, a digest of the completed part list and the object's
//!   metadata, so a retried Complete answers the same object. Swept like
//!   markers.
//!
//! The data is staged as uncommitted blocks on the target blob itself.
//! Block ids are [`BLOCK_ID_LEN`] ASCII bytes, like a PUT's:
//! `mpu` + 24 hex digits of the upload id's MD5 + the part number (5
//! digits) + a random 12-hex-digit nonce per UploadPart attempt + the
//! block's index within the part (4 digits). The nonce keeps a retried or
//! replaced part from overwriting the blocks the current record points at.
//!
//! # Block sizes and limits
//!
//! A blob has at most 50,000 committed blocks and S3 allows 10,000 parts,
//! so a part is never cut into more than [`MAX_PART_BLOCKS`] (5) blocks:
//! - parts up to 40 MiB: 8 MiB blocks, buffered (three in flight, buffers
//!   reused) and retried, as a PUT stages them;
//! - larger parts: blocks of at most 1 GiB ([`STREAMED_BLOCK_MAX`]), each
//!   streamed from the request body as one Put Block (see `feed`), so
//!   memory stays bounded; such a block is not retried (the client
//!   retries the part).
//!
//! Every valid S3 upload therefore fits: up to 10,000 parts of up to 5 GiB,
//! an object of up to 10,000 x 5 GiB (about 48.8 TiB, beyond S3's own
//! 5 TiB object limit, within Azure's 190.7 TiB block blob limit).
//!
//! # Completion
//!
//! Complete reads the marker and the records, checks the part list
//! (`multipart::assemble`), then commits ONE Put Block List on the target
//! blob: the parts' block ids in order, the headers and metadata from
//! Create, the final `md5-N` ETag (`bg_etag`), the upload id
//! (`bg_upload`), the object's checksum (`bgc_*`) and its part layout
//! (`props::add_parts`: part sizes, and part checksums, within Azure's
//! 8 KiB of metadata), under the client's conditions, which Azure enforces on
//! the Azure ETag in the same request. Then the completion record is
//! written and the marker and records are removed (best effort).
//!
//! A retried Complete finds the completion record. If the gateway failed
//! between the commit and that record, the marker is still there and the
//! target blob carries `bg_upload` = this id with the same ETag: the
//! commit is recognised and not repeated.
//!
//! # Concurrent writes to one key
//!
//! Azure discards all of a blob's uncommitted blocks whenever a block list
//! or a whole blob is committed on it. So a PUT to the key, or another
//! upload's Complete on it, discards the parts this upload had staged so
//! far. Its Complete then fails with InvalidPart ("the parts' data was
//! discarded because the key was written meanwhile"), the object written
//! meanwhile stays as it is, and the upload stays open: parts uploaded
//! again after that write complete normally. A Put Block List either finds
//! every block it names or fails, so a mixed object is never produced.
//!
//! Abort removes the marker and the records only, never the target blob.
//! Uncommitted blocks nobody completes expire on Azure after 7 days; the
//! sweep removes stale markers and records.

use std::collections::HashMap;
use std::time::Duration;

use azure_storage_blob::models::{BlockBlobClientCommitBlockListOptions, BlockLookupList};
use azure_storage_blob::{BlobClient, BlockBlobClient};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use md5::{Digest, Md5};

mod records;

use super::feed::{incomplete_body, PartFeed};
use super::{
    azure_conditions, check_addressable, header, props, reserved_key_error, visible, AzureBackend,
    BodyReader, Target, ATTEMPT_TIMEOUT, BLOCK_ID_LEN, BLOCK_SIZE,
};
use crate::conditions::{normalize_etag, Conditions};
use crate::error::{S3Error, S3ErrorCode};
use crate::storage::multipart::{
    assemble, new_upload_id, no_such_upload, page_parts, page_uploads, MAX_PART_NUMBER,
    MAX_PART_SIZE,
};
use crate::storage::parts::{check_part_checksum, completed_checksum};
use crate::storage::{
    BucketName, ByteStream, ChecksumSource, CompletedPart, ObjectKey, ObjectMeta, ObjectParts,
    PartInfo, PartsPage, UploadOptions, UploadsPage, UploadsQuery,
};
use records::{
    check_upload_id, completion_name, marker_name, parse_upload, part_name, Completion, Marker,
    PartRecord, META_BLOCKS, META_CHECKSUM, META_DECLARED, META_INITIATED, META_KEY, META_MD5,
    META_NONCE, META_SIZE, UPLOADS,
};

/// Most blocks a part is cut into: 50,000 committed blocks per blob over
/// 10,000 parts.
const MAX_PART_BLOCKS: u64 = 5;
/// Parts up to this size are staged as buffered, retried blocks.
const BUFFERED_PART_MAX: u64 = MAX_PART_BLOCKS * BLOCK_SIZE as u64;
/// Largest block streamed from a larger part (5 GiB parts: 5 blocks).
const STREAMED_BLOCK_MAX: u64 = 1 << 30;
/// Azure's limit of committed blocks per blob.
const MAX_COMMITTED_BLOCKS: usize = 50_000;

/// The id of block `index` of a part (see the module doc).
fn part_block_id(upload_id: &str, part: u32, nonce: &str, index: u64) -> Vec<u8> {
    let tag = hex::encode(Md5::digest(upload_id.as_bytes()));
    let id = format!("mpu{tag:.24}{part:05}{nonce:.12}{index:04}").into_bytes();
    debug_assert_eq!(id.len(), BLOCK_ID_LEN);
    id
}

/// A fresh nonce for one UploadPart attempt: 12 hex digits.
fn new_nonce() -> String {
    format!("{:012x}", rand::random::<u64>() >> 16)
}

/// What identifies a completion request: part numbers and ETags.
fn parts_digest(parts: &[CompletedPart]) -> String {
    let mut md5 = Md5::new();
    for p in parts {
        md5.update(format!("{}:{};", p.part_number, normalize_etag(&p.etag)));
    }
    hex::encode(md5.finalize())
}

/// The target of an upload: a key a blob can hold, outside the reserved
/// prefix (refused as put_object refuses it).
fn check_target(key: &ObjectKey) -> Result<(), S3Error> {
    check_addressable(key)?;
    if !visible(key.as_str()) {
        return Err(reserved_key_error());
    }
    Ok(())
}

/// Whether Azure refused a block list because a block it names is gone.
fn blocks_missing(e: &azure_core::Error) -> bool {
    matches!(
        e.kind(),
        azure_core::error::ErrorKind::HttpResponse { status, error_code: Some(code), .. }
            if u16::from(*status) == 400
                && matches!(code.as_str(), "InvalidBlockList" | "InvalidBlobOrBlock")
    )
}

fn parts_discarded() -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidPart,
        "One or more of the specified parts could not be found: their data was discarded \
         because the key was written (by a PUT or another multipart upload's completion) after \
         they were uploaded, or it expired. Upload those parts again, then complete the upload.",
    )
}

impl AzureBackend {
    /// Stage a part of at most [`BUFFERED_PART_MAX`] bytes as buffered,
    /// retried blocks. Answers the block count, MD5 and length.
    async fn stage_buffered(
        &self,
        blob: &BlobClient,
        mut body: ByteStream,
        len: u64,
        id_of: &(dyn Fn(u64) -> Vec<u8> + Sync),
    ) -> Result<(u64, [u8; 16], u64), S3Error> {
        let mut reader = BodyReader::new(Some(len));
        let (first, ended) = reader.read_block(&mut body, BytesMut::new()).await?;
        let blocks = if first.is_empty() {
            0 // an empty part has no blocks
        } else {
            self.put_blocks(blob, first, ended, &mut body, &mut reader, id_of)
                .await?
                .len() as u64
        };
        Ok((blocks, reader.md5.finalize().into(), reader.size))
    }

    /// Stage a larger part as a few blocks streamed from the body.
    async fn stage_streamed(
        &self,
        blob: &BlobClient,
        body: ByteStream,
        len: u64,
        id_of: &(dyn Fn(u64) -> Vec<u8> + Sync),
    ) -> Result<(u64, [u8; 16], u64), S3Error> {
        let blocks = len.div_ceil(STREAMED_BLOCK_MAX).max(1);
        let block_len = len.div_ceil(blocks);
        let feed = PartFeed::new(body);
        let client = blob.block_blob_client();
        for i in 0..blocks {
            let this = block_len.min(len.saturating_sub(i * block_len));
            let staged = self
                .stage_streamed_block(&client, &feed, &id_of(i), this)
                .await;
            if let Some(e) = feed.take_failure() {
                return Err(e);
            }
            staged?;
            if feed.remaining() != 0 {
                return Err(S3Error::internal("Azure accepted a block it did not read"));
            }
        }
        let (md5, size) = feed.finish().await?;
        Ok((blocks, md5, size))
    }

    /// One Put Block whose body streams from `feed`. Fails when Azure
    /// stops taking data (or answering) for ATTEMPT_TIMEOUT.
    async fn stage_streamed_block(
        &self,
        client: &BlockBlobClient,
        feed: &PartFeed,
        id: &[u8],
        len: u64,
    ) -> Result<(), S3Error> {
        let request = client.stage_block(id, len, feed.block(len).into(), None);
        tokio::pin!(request);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                result = &mut request => {
                    return result.map(drop).map_err(|e| self.s3_error(e, Target::Blob));
                }
                _ = tick.tick() => {
                    if feed.stalled_for() > ATTEMPT_TIMEOUT {
                        return Err(S3Error::new(
                            S3ErrorCode::ServiceUnavailable,
                            "The storage backend stopped accepting the part. Please try again.",
                        ));
                    }
                }
            }
        }
    }

    pub(super) async fn mpu_create(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        options: UploadOptions,
    ) -> Result<String, S3Error> {
        check_target(key)?;
        // Refused now rather than at Complete, after all the parts.
        super::tags::check(&options.tags)?;
        let id = new_upload_id();
        let marker = Marker {
            key: key.as_str().to_owned(),
            initiated_ms: props::now_ms(),
            options,
        };
        let mut metadata = HashMap::from([
            (
                META_KEY.to_owned(),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_str()),
            ),
            (META_INITIATED.to_owned(), marker.initiated_ms.to_string()),
        ]);
        if let Some(c) = &marker.options.checksum {
            metadata.insert(
                META_DECLARED.to_owned(),
                format!("{}:{}", c.algorithm, c.type_name()),
            );
        }
        let body = serde_json::to_vec(&marker).map_err(S3Error::internal)?;
        self.write_record(bucket, &marker_name(&id), body.into(), metadata)
            .await?;
        Ok(id)
    }

    pub(super) async fn mpu_upload_part(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u32,
        (body, content_length, checksum): (ByteStream, u64, Option<ChecksumSource>),
    ) -> Result<PartInfo, S3Error> {
        check_target(key)?;
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            ));
        }
        if content_length > MAX_PART_SIZE {
            return Err(S3Error::new(
                S3ErrorCode::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size",
            ));
        }
        let marker = self.load_marker(bucket, key, upload_id).await?;
        let blob = self.blob(bucket, key)?;
        let nonce = new_nonce();
        let id_of = |n: u64| part_block_id(upload_id, part_number, &nonce, n);
        let (blocks, md5, size) = if content_length <= BUFFERED_PART_MAX {
            self.stage_buffered(&blob, body, content_length, &id_of)
                .await?
        } else {
            self.stage_streamed(&blob, body, content_length, &id_of)
                .await?
        };
        if size != content_length {
            return Err(incomplete_body());
        }
        let checksum = checksum.and_then(|c| c.stored());
        check_part_checksum(marker.options.checksum.as_ref(), checksum.as_ref())?;
        let etag = hex::encode(md5);
        let mut metadata = HashMap::from([
            (META_SIZE.to_owned(), size.to_string()),
            (META_MD5.to_owned(), etag.clone()),
            (META_NONCE.to_owned(), nonce.clone()),
            (META_BLOCKS.to_owned(), blocks.to_string()),
        ]);
        if let Some(c) = &checksum {
            metadata.insert(
                META_CHECKSUM.to_owned(),
                format!("{}:{}", c.algorithm, c.value),
            );
        }
        let last_modified_ms = self
            .write_record(
                bucket,
                &part_name(upload_id, part_number),
                Bytes::new(),
                metadata,
            )
            .await?;
        Ok(PartInfo {
            part_number,
            etag,
            size,
            last_modified_ms,
            checksum,
        })
    }

    pub(super) async fn mpu_list_parts(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
        marker: u32,
        max_parts: usize,
    ) -> Result<PartsPage, S3Error> {
        check_target(key)?;
        let upload = self.load_marker(bucket, key, upload_id).await?;
        let parts = self.part_records(bucket, upload_id).await?;
        let mut page = page_parts(
            parts.into_iter().map(|p| p.info).collect(),
            marker,
            max_parts,
        );
        page.checksum = upload.options.checksum;
        Ok(page)
    }

    pub(super) async fn mpu_complete(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[CompletedPart],
        conditions: &Conditions,
    ) -> Result<ObjectMeta, S3Error> {
        check_target(key)?;
        check_upload_id(upload_id)?;
        let digest = parts_digest(parts);
        // Completed already: answer the same object.
        if let Some(raw) = self
            .read_record(bucket, &completion_name(upload_id))
            .await?
        {
            let done: Completion = serde_json::from_slice(&raw).map_err(S3Error::internal)?;
            if done.key != key.as_str() || done.parts != digest {
                return Err(no_such_upload());
            }
            self.forget_upload(bucket, upload_id).await;
            return Ok(done.meta);
        }
        let marker = self.load_marker(bucket, key, upload_id).await?;
        let records = self.part_records(bucket, upload_id).await?;
        let stored: Vec<PartInfo> = records.iter().map(|r| r.info.clone()).collect();
        let assembly = assemble(parts, &stored)?;
        let declared = marker.options.checksum.as_ref();
        let checksum = completed_checksum(declared, parts, &assembly.parts)?;
        let current = match self.props(bucket, key).await {
            Ok(p) => Some(p),
            Err(e) if e.code == S3ErrorCode::NoSuchKey => None,
            Err(e) => return Err(e),
        };
        let committed_before = current
            .as_ref()
            .filter(|p| p.upload.as_deref() == Some(upload_id) && p.meta.etag == assembly.etag);
        let meta = match committed_before {
            // An earlier attempt committed and failed before recording it.
            Some(p) => p.meta.clone(),
            None => {
                let (if_match, if_none_match) = azure_conditions(current.as_ref(), conditions)?;
                let by_number: HashMap<u32, &PartRecord> =
                    records.iter().map(|r| (r.info.part_number, r)).collect();
                let mut ids = Vec::new();
                for part in &assembly.parts {
                    let r = by_number
                        .get(&part.part_number)
                        .ok_or_else(|| S3Error::internal("an assembled part has no record"))?;
                    ids.extend(
                        (0..r.blocks)
                            .map(|i| part_block_id(upload_id, part.part_number, &r.nonce, i)),
                    );
                }
                if ids.len() > MAX_COMMITTED_BLOCKS {
                    return Err(S3Error::new(
                        S3ErrorCode::EntityTooLarge,
                        "Your proposed upload exceeds the maximum allowed size",
                    ));
                }
                let h = &marker.options.headers;
                let mut metadata = props::to_azure(
                    &marker.options.user_metadata,
                    h,
                    checksum.as_ref(),
                    Some(&assembly.etag),
                );
                metadata.insert(props::UPLOAD.to_owned(), upload_id.to_owned());
                let layout = ObjectParts::of(&assembly.parts, declared.is_some());
                let kept = props::add_parts(&mut metadata, &layout);
                let commit = BlockBlobClientCommitBlockListOptions {
                    blob_cache_control: h.cache_control.clone(),
                    blob_content_disposition: h.content_disposition.clone(),
                    blob_content_encoding: h.content_encoding.clone(),
                    blob_content_language: h.content_language.clone(),
                    blob_content_type: h.content_type.clone(),
                    metadata: Some(metadata),
                    blob_tags_string: super::tags::header(&marker.options.tags)?,
                    if_match,
                    if_none_match,
                    ..Default::default()
                };
                let list = BlockLookupList {
                    latest: Some(ids),
                    ..Default::default()
                };
                let client = self.blob(bucket, key)?.block_blob_client();
                let response = self
                    .retry(|| async {
                        client
                            .commit_block_list(list.clone().try_into()?, Some(commit.clone()))
                            .await
                    })
                    .await
                    .map_err(|e| {
                        if blocks_missing(&e) {
                            tracing::info!(bucket = %bucket.as_str(), upload = upload_id, error = %e,
                                "multipart completion found parts discarded by a later write");
                            parts_discarded()
                        } else {
                            self.s3_error(e, Target::Blob)
                        }
                    })?;
                let last_modified_ms =
                    match props::http_date_ms(header(response.headers(), "last-modified")) {
                        0 => props::now_ms(),
                        ms => ms,
                    };
                ObjectMeta {
                    size: assembly.size,
                    etag: assembly.etag.clone(),
                    last_modified_ms,
                    headers: marker.options.headers.clone(),
                    user_metadata: marker.options.user_metadata.clone(),
                    checksum,
                    parts: Some(kept).filter(|k| !k.sizes.is_empty()),
                    tag_count: marker.options.tags.len(),
                }
            }
        };
        let done = Completion {
            key: key.as_str().to_owned(),
            parts: digest,
            meta: meta.clone(),
        };
        let body = serde_json::to_vec(&done).map_err(S3Error::internal)?;
        match self
            .write_record(
                bucket,
                &completion_name(upload_id),
                body.into(),
                HashMap::new(),
            )
            .await
        {
            Ok(_) => self.forget_upload(bucket, upload_id).await,
            // The marker stays, so a retry still finds the commit (by its
            // bg_upload), and the sweep removes it in the end.
            Err(e) => tracing::warn!(bucket = %bucket.as_str(), upload = upload_id, error = %e,
                "completed a multipart upload but could not record it; it stays listed"),
        }
        Ok(meta)
    }

    pub(super) async fn mpu_abort(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        check_target(key)?;
        self.load_marker(bucket, key, upload_id).await?;
        // The marker first: the upload is gone at once. Part records left
        // by a failure (or by an UploadPart racing the abort) are swept.
        self.delete_record(bucket, &marker_name(upload_id)).await?;
        self.forget_upload(bucket, upload_id).await;
        Ok(())
    }

    pub(super) async fn mpu_list_uploads(
        &self,
        bucket: &BucketName,
        query: &UploadsQuery,
    ) -> Result<UploadsPage, S3Error> {
        let mut all = Vec::new();
        for (name, meta) in self.list_records(bucket, UPLOADS).await? {
            match parse_upload(&name, &meta) {
                Some(u) if u.key.starts_with(&query.prefix) => all.push(u),
                Some(_) => {}
                None => tracing::warn!(bucket = %bucket.as_str(), record = %name,
                    "ignoring a malformed multipart upload marker"),
            }
        }
        Ok(page_uploads(all, query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_block_ids_have_the_shared_length() {
        let id = new_upload_id();
        let a = part_block_id(&id, 1, &new_nonce(), 0);
        let b = part_block_id("x", 10_000, "ffffffffffff", 9999);
        assert_eq!(a.len(), BLOCK_ID_LEN);
        assert_eq!(b.len(), BLOCK_ID_LEN);
        assert!(a.starts_with(b"mpu"));
        assert_ne!(a, part_block_id(&id, 1, &new_nonce(), 0));
        assert_eq!(new_nonce().len(), 12);
    }

    #[test]
    fn every_part_fits_the_block_budget() {
        // Buffered parts: 8 MiB blocks.
        assert_eq!(
            BUFFERED_PART_MAX.div_ceil(BLOCK_SIZE as u64),
            MAX_PART_BLOCKS
        );
        // Streamed parts: at most MAX_PART_BLOCKS blocks of at most 4000 MiB.
        for len in [
            BUFFERED_PART_MAX + 1,
            64 << 20,
            STREAMED_BLOCK_MAX + 1,
            MAX_PART_SIZE,
        ] {
            let blocks = len.div_ceil(STREAMED_BLOCK_MAX);
            assert!(blocks <= MAX_PART_BLOCKS, "{len}");
            assert!(len.div_ceil(blocks) <= 4000 << 20, "{len}");
        }
        assert!(MAX_PART_NUMBER as u64 * MAX_PART_BLOCKS <= MAX_COMMITTED_BLOCKS as u64);
    }

    #[test]
    fn part_list_digest_depends_on_numbers_and_etags() {
        let p = |n, e: &str| CompletedPart {
            part_number: n,
            etag: e.into(),
            checksum: None,
        };
        assert_eq!(parts_digest(&[p(1, "\"ab\"")]), parts_digest(&[p(1, "ab")]));
        assert_ne!(parts_digest(&[p(1, "ab")]), parts_digest(&[p(2, "ab")]));
        assert_ne!(parts_digest(&[p(1, "ab")]), parts_digest(&[p(1, "ac")]));
    }
}

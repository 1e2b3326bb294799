//! Multipart uploads on the local directory.
//!
//! ```text
//! BUCKET/@uploads/ID/@upload   key, initiation time, headers, metadata (JSON)
//! BUCKET/@uploads/ID/00001     part 1: data + metadata trailer (see objfile)
//! BUCKET/@uploads/ID/@done     after Complete: the object it made (JSON)
//! ```
//!
//! Everything is in the data directory, so any gateway process sharing it
//! can continue an upload. A part is streamed to a temporary file and
//! renamed into its upload's directory, so re-uploading a part number
//! replaces it whole. Complete concatenates the parts into a temporary file
//! (in the kernel, with copy_file_range) outside the bucket lock, then under
//! the lock confirms the upload is still open, checks the conditions and
//! renames the file over the object; `@done` then answers a retried
//! Complete. Abort renames the upload directory away first, so a part that
//! lands concurrently cannot revive it. Two uploads of one key do not
//! interfere: the last Complete wins, as with PUTs.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::{
    blocking, commit_checked, key_segments, lock_bucket, not_found, now_ms, objfile, random_name,
    sync_dir, FsBackend, TmpFile,
};
use crate::conditions::Conditions;
use crate::error::S3Error;
use crate::storage::multipart::{
    assemble, new_upload_id, no_such_upload, page_parts, page_uploads, plausible_upload_id,
};
use crate::storage::parts::{check_part_checksum, completed_checksum};
use crate::storage::{
    BucketName, ByteStream, ChecksumSource, CompletedPart, ObjectKey, ObjectMeta, ObjectParts,
    PartInfo, PartsPage, UploadInfo, UploadOptions, UploadsPage, UploadsQuery,
};

const UPLOADS_DIR: &str = "@uploads";
const UPLOAD_FILE: &str = "@upload";
const DONE_FILE: &str = "@done";

#[derive(Serialize, Deserialize)]
struct UploadRecord {
    key: String,
    initiated_ms: u64,
    options: UploadOptions,
}

/// What a completed upload made, for a retried Complete.
#[derive(Serialize, Deserialize)]
struct DoneRecord {
    /// Hex MD5 over the requested part numbers and ETags.
    request: String,
    meta: ObjectMeta,
}

fn part_file(number: u32) -> String {
    format!("{number:05}")
}

fn request_digest(parts: &[CompletedPart]) -> String {
    let mut md5 = Md5::new();
    for p in parts {
        md5.update(format!("{}:{}\n", p.part_number, p.etag.trim_matches('"')).as_bytes());
    }
    hex::encode(md5.finalize())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, S3Error> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(S3Error::internal),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(S3Error::internal(e)),
    }
}

/// Write a small file durably under a temporary name, then rename it in.
fn write_json(tmp_dir: &Path, path: &Path, value: &impl Serialize) -> Result<(), S3Error> {
    let tmp = TmpFile {
        path: tmp_dir.join(format!("rec-{}", random_name())),
        committed: false,
    };
    let bytes = serde_json::to_vec(value).map_err(S3Error::internal)?;
    let mut file = File::create(&tmp.path)?;
    io::Write::write_all(&mut file, &bytes)?;
    file.sync_all()?;
    fs::rename(&tmp.path, path)?;
    let mut tmp = tmp;
    tmp.committed = true;
    Ok(())
}

/// An open upload of `key` (NoSuchUpload for a missing, completed or
/// foreign one).
fn open_upload(upload_dir: &Path, key: &ObjectKey) -> Result<UploadRecord, S3Error> {
    let record: UploadRecord =
        read_json(&upload_dir.join(UPLOAD_FILE))?.ok_or_else(no_such_upload)?;
    if record.key != key.as_str() || upload_dir.join(DONE_FILE).exists() {
        return Err(no_such_upload());
    }
    Ok(record)
}

/// Every stored part of an upload, by number.
fn read_parts(upload_dir: &Path) -> Result<Vec<PartInfo>, S3Error> {
    let entries = match fs::read_dir(upload_dir) {
        Ok(e) => e,
        Err(e) if not_found(&e) => return Err(no_such_upload()),
        Err(e) => return Err(S3Error::internal(e)),
    };
    let mut parts = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(number) = entry
            .file_name()
            .to_str()
            .filter(|n| n.len() == 5)
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let mut file = match File::open(entry.path()) {
            Ok(f) => f,
            // Replaced or removed while listing.
            Err(e) if not_found(&e) => continue,
            Err(e) => return Err(S3Error::internal(e)),
        };
        let meta = objfile::read_meta(&mut file).map_err(S3Error::internal)?;
        parts.push(PartInfo {
            part_number: number,
            etag: meta.etag,
            size: meta.size,
            last_modified_ms: meta.last_modified_ms,
            checksum: meta.checksum,
        });
    }
    parts.sort_by_key(|p| p.part_number);
    Ok(parts)
}

/// Move a directory out of the namespace, then delete it.
fn remove_dir_via_tmp(dir: &Path, tmp_dir: &Path) -> io::Result<()> {
    let trash = tmp_dir.join(format!("upload-{}", random_name()));
    fs::rename(dir, &trash)?;
    fs::remove_dir_all(&trash)
}

impl FsBackend {
    fn uploads_dir(&self, bucket: &BucketName) -> PathBuf {
        self.bucket_dir(bucket).join(UPLOADS_DIR)
    }

    /// The directory of an upload id; NoSuchUpload for ids never issued.
    fn upload_dir(&self, bucket: &BucketName, upload_id: &str) -> Result<PathBuf, S3Error> {
        if !plausible_upload_id(upload_id) {
            return Err(no_such_upload());
        }
        Ok(self.uploads_dir(bucket).join(upload_id))
    }

    pub(super) async fn mpu_create(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        options: UploadOptions,
    ) -> Result<String, S3Error> {
        self.existing_bucket_dir(bucket).await?;
        let id = new_upload_id();
        let dir = self.upload_dir(bucket, &id)?;
        let tmp_dir = self.tmp_dir();
        let record = UploadRecord {
            key: key.as_str().to_owned(),
            initiated_ms: now_ms(),
            options,
        };
        blocking(move || {
            fs::create_dir_all(&dir)?;
            write_json(&tmp_dir, &dir.join(UPLOAD_FILE), &record)?;
            sync_dir(&dir)?;
            Ok(())
        })
        .await?;
        Ok(id)
    }

    pub(super) async fn mpu_upload_part(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u32,
        (mut body, content_length, checksum): (ByteStream, u64, Option<ChecksumSource>),
    ) -> Result<PartInfo, S3Error> {
        self.existing_bucket_dir(bucket).await?;
        let dir = self.upload_dir(bucket, upload_id)?;
        let declared = {
            let (dir, key) = (dir.clone(), key.clone());
            blocking(move || open_upload(&dir, &key).map(|r| r.options.checksum)).await?
        };
        let (mut tmp, mut file, size, etag) = self
            .receive(&mut body, Some(content_length), "part")
            .await?;
        let checksum = checksum.and_then(|c| c.stored());
        check_part_checksum(declared.as_ref(), checksum.as_ref())?;
        let meta = ObjectMeta {
            size,
            etag,
            last_modified_ms: now_ms(),
            headers: Default::default(),
            user_metadata: Vec::new(),
            checksum,
            parts: None,
            tag_count: 0,
        };
        file.write(&objfile::encode_trailer(&objfile::Trailer::new(
            meta.clone(),
            Vec::new(),
        ))?)
        .await?;
        file.finish().await?;
        let tmp_path = tmp.path.clone();
        blocking(move || {
            // Aborted meanwhile: the directory was renamed away, so the
            // rename fails rather than reviving it.
            match fs::rename(&tmp_path, dir.join(part_file(part_number))) {
                Ok(()) => Ok(()),
                Err(e) if not_found(&e) => Err(no_such_upload()),
                Err(e) => Err(S3Error::internal(e)),
            }
        })
        .await?;
        tmp.committed = true;
        Ok(PartInfo {
            part_number,
            etag: meta.etag,
            size,
            last_modified_ms: meta.last_modified_ms,
            checksum: meta.checksum,
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
        self.existing_bucket_dir(bucket).await?;
        let dir = self.upload_dir(bucket, upload_id)?;
        let key = key.clone();
        blocking(move || {
            let record = open_upload(&dir, &key)?;
            let mut page = page_parts(read_parts(&dir)?, marker, max_parts);
            page.checksum = record.options.checksum;
            Ok(page)
        })
        .await
    }

    pub(super) async fn mpu_complete(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[CompletedPart],
        conditions: &Conditions,
    ) -> Result<ObjectMeta, S3Error> {
        let bucket_dir = self.existing_bucket_dir(bucket).await?;
        let dir = self.upload_dir(bucket, upload_id)?;
        let request = request_digest(parts);
        let (key, parts, conditions) = (key.clone(), parts.to_vec(), conditions.clone());
        let tmp_dir = self.tmp_dir();
        blocking(move || {
            // A step that fails because the upload was completed (by this
            // same request, retried or racing) or aborted meanwhile answers
            // as if it had come after that.
            let settle = |e: S3Error| -> Result<ObjectMeta, S3Error> {
                if let Some(done) = read_json::<DoneRecord>(&dir.join(DONE_FILE))? {
                    return retried(done, &request);
                }
                Err(match open_upload(&dir, &key) {
                    Err(now) => now,
                    Ok(_) => e,
                })
            };
            let record = match open_upload(&dir, &key) {
                Ok(r) => r,
                Err(e) => return settle(e),
            };
            let assembly = match read_parts(&dir).and_then(|stored| assemble(&parts, &stored)) {
                Ok(a) => a,
                Err(e) => return settle(e),
            };
            let declared = record.options.checksum.as_ref();
            let checksum = match completed_checksum(declared, &parts, &assembly.parts) {
                Ok(c) => c,
                Err(e) => return settle(e),
            };
            let meta = ObjectMeta {
                size: assembly.size,
                etag: assembly.etag,
                last_modified_ms: now_ms(),
                headers: record.options.headers,
                user_metadata: record.options.user_metadata,
                checksum,
                parts: Some(ObjectParts::of(&assembly.parts, declared.is_some())),
                tag_count: record.options.tags.len(),
            };
            let trailer = objfile::Trailer::new(meta.clone(), record.options.tags);
            let mut tmp = TmpFile {
                path: tmp_dir.join(format!("complete-{}", random_name())),
                committed: false,
            };
            if let Err(e) = concatenate(&dir, &assembly.parts, &trailer, &tmp.path) {
                return settle(e);
            }
            let done = DoneRecord {
                request: request.clone(),
                meta: meta.clone(),
            };
            let committed = commit_checked(
                &bucket_dir,
                &key_segments(&key),
                &tmp.path,
                &conditions,
                // Still open: not completed or aborted by someone else.
                || open_upload(&dir, &key).map(|_| ()),
                || write_json(&tmp_dir, &dir.join(DONE_FILE), &done),
            );
            if let Err(e) = committed {
                return settle(e);
            }
            tmp.committed = true;
            // The parts are no longer needed; `@done` stays until swept.
            for p in &assembly.parts {
                let _ = fs::remove_file(dir.join(part_file(p.part_number)));
            }
            Ok(meta)
        })
        .await
    }

    pub(super) async fn mpu_abort(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        let bucket_dir = self.existing_bucket_dir(bucket).await?;
        let dir = self.upload_dir(bucket, upload_id)?;
        let key = key.clone();
        let tmp_dir = self.tmp_dir();
        blocking(move || {
            // Under the lock a Complete commits under: an abort never
            // lands between the object's rename and its `@done`.
            let _lock = lock_bucket(&bucket_dir)?;
            open_upload(&dir, &key)?;
            match remove_dir_via_tmp(&dir, &tmp_dir) {
                Ok(()) => Ok(()),
                Err(e) if not_found(&e) => Err(no_such_upload()),
                Err(e) => Err(S3Error::internal(e)),
            }
        })
        .await
    }

    pub(super) async fn mpu_list_uploads(
        &self,
        bucket: &BucketName,
        query: &UploadsQuery,
    ) -> Result<UploadsPage, S3Error> {
        self.existing_bucket_dir(bucket).await?;
        let uploads_dir = self.uploads_dir(bucket);
        let query = query.clone();
        blocking(move || {
            let all = open_uploads(&uploads_dir)?
                .into_iter()
                .map(|(upload_id, record)| UploadInfo {
                    key: record.key,
                    upload_id,
                    initiated_ms: record.initiated_ms,
                    checksum: record.options.checksum,
                })
                .collect();
            Ok(page_uploads(all, &query))
        })
        .await
    }

    pub(super) async fn mpu_sweep(&self, older_than: Duration) -> Result<usize, S3Error> {
        let root = self.root.clone();
        let tmp_dir = self.tmp_dir();
        blocking(move || {
            let cutoff = now_ms().saturating_sub(older_than.as_millis() as u64);
            let mut removed = 0;
            for bucket in fs::read_dir(root.as_path())?.flatten() {
                let uploads_dir = bucket.path().join(UPLOADS_DIR);
                let Ok(entries) = fs::read_dir(&uploads_dir) else {
                    continue;
                };
                for upload in entries.flatten() {
                    let record: Option<UploadRecord> =
                        read_json(&upload.path().join(UPLOAD_FILE)).unwrap_or(None);
                    // A directory without a record is a Create that failed
                    // half-way: judge it by its age on disk.
                    let started = match record {
                        Some(r) => r.initiated_ms,
                        None => upload
                            .metadata()
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map_or(0, |d| d.as_millis() as u64),
                    };
                    if started < cutoff && remove_dir_via_tmp(&upload.path(), &tmp_dir).is_ok() {
                        removed += 1;
                    }
                }
            }
            Ok(removed)
        })
        .await
    }
}

/// A repeated Complete: the same parts answer the object made; other parts
/// name an upload that no longer exists.
fn retried(done: DoneRecord, request: &str) -> Result<ObjectMeta, S3Error> {
    if done.request == request {
        Ok(done.meta)
    } else {
        Err(no_such_upload())
    }
}

/// The open uploads of a bucket, with their ids.
fn open_uploads(uploads_dir: &Path) -> Result<Vec<(String, UploadRecord)>, S3Error> {
    let entries = match fs::read_dir(uploads_dir) {
        Ok(e) => e,
        Err(e) if not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(S3Error::internal(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if entry.path().join(DONE_FILE).exists() {
            continue;
        }
        if let Some(record) = read_json::<UploadRecord>(&entry.path().join(UPLOAD_FILE))? {
            out.push((id, record));
        }
    }
    Ok(out)
}

/// Write the parts' data, then the object's trailer, into `out`, durably.
fn concatenate(
    upload_dir: &Path,
    parts: &[PartInfo],
    trailer: &objfile::Trailer,
    out: &Path,
) -> Result<(), S3Error> {
    let mut target = File::create(out)?;
    for p in parts {
        let mut file = match File::open(upload_dir.join(part_file(p.part_number))) {
            Ok(f) => f,
            Err(e) if not_found(&e) => return Err(no_such_upload()),
            Err(e) => return Err(S3Error::internal(e)),
        };
        // The part may have been replaced since it was listed.
        let stored = objfile::read_meta(&mut file).map_err(S3Error::internal)?;
        if stored.etag != p.etag {
            return Err(S3Error::new(
                crate::error::S3ErrorCode::InvalidPart,
                "A part was replaced while the upload was being completed.",
            ));
        }
        file.seek(SeekFrom::Start(0))?;
        let copied = io::copy(&mut (&file).take(p.size), &mut target)?;
        if copied != p.size {
            return Err(S3Error::internal(io::Error::other("part file is short")));
        }
    }
    io::Write::write_all(&mut target, &objfile::encode_trailer(trailer)?)?;
    target.sync_all()?;
    Ok(())
}

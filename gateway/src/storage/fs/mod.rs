//! The local-directory backend (the embedded default).
//!
//! ```text
//! DATA_DIR/
//!   .blobgate/tmp/          uploads in progress and deleted buckets being removed
//!   BUCKET/@bucket          bucket metadata (creation time)
//!   BUCKET/@lock            serialises commits to the bucket (flock)
//!   BUCKET/@policy          the bucket policy (JSON), when it has one
//!   BUCKET/SEG/.../@obj     object = data + metadata trailer (see objfile)
//!   BUCKET/SEG/.../@tags    tags set after the object was written (see tags)
//! ```
//!
//! A PUT streams into a temporary file, appends the metadata, fsyncs and
//! renames over `@obj` under the bucket lock: readers see the old object or
//! the new one, never part of one, and a failed upload leaves the old one.
//! Several gateway processes may share one data directory.

mod layout;
mod list;
mod multipart;
mod objfile;
mod tags;
mod writer;

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::{
    Backend, BucketConfig, BucketInfo, BucketName, ByteStream, ChecksumSource, CompletedPart,
    GetObjectOutput, GetOptions, ListPage, ListQuery, ObjectKey, ObjectMeta, PartInfo, PartsPage,
    PutOptions, TagSet, UploadOptions, UploadsPage, UploadsQuery,
};
use crate::conditions::{Access, Conditions};
use crate::error::{S3Error, S3ErrorCode};
use layout::{BUCKET_FILE, NAME_FILE, OBJECT_FILE};
use writer::BackgroundWriter;

const INTERNAL_DIR: &str = ".blobgate";
const LOCK_FILE: &str = "@lock";
const POLICY_FILE: &str = "@policy";
/// Temporary files older than this are left-overs of a crash.
const STALE_TMP_AGE: Duration = Duration::from_secs(24 * 3600);
/// Read buffer for GET bodies.
const READ_CHUNK: usize = 256 * 1024;
/// Bodies up to this size are read in the same blocking call as the
/// metadata (one trip to the blocking pool for a small GET).
const SMALL_READ: u64 = 256 * 1024;

/// A GET body: read already, or a file positioned at its first byte.
enum Body {
    Read(Bytes),
    Open(File, u64),
}

/// Objects as files under a data directory.
pub struct FsBackend {
    root: Arc<PathBuf>,
}

#[derive(Serialize, Deserialize)]
struct BucketRecord {
    created_ms: u64,
}

impl FsBackend {
    /// Open (creating if needed) a data directory.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join(INTERNAL_DIR).join("tmp"))?;
        let root = root.canonicalize()?;
        let backend = FsBackend {
            root: Arc::new(root),
        };
        backend.sweep_stale_tmp();
        Ok(backend)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn bucket_dir(&self, bucket: &BucketName) -> PathBuf {
        self.root.join(bucket.as_str())
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join(INTERNAL_DIR).join("tmp")
    }

    fn sweep_stale_tmp(&self) {
        let Ok(entries) = fs::read_dir(self.tmp_dir()) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > STALE_TMP_AGE);
            if old {
                let path = entry.path();
                let _ = if path.is_dir() {
                    fs::remove_dir_all(path)
                } else {
                    fs::remove_file(path)
                };
            }
        }
    }

    /// Stream a body into a new temporary file (named `tag-RANDOM`), hashing
    /// it; checks the declared length. Returns the file still open for the
    /// trailer, the size and the hex MD5.
    async fn receive(
        &self,
        body: &mut ByteStream,
        content_length: Option<u64>,
        tag: &str,
    ) -> Result<(TmpFile, BackgroundWriter, u64, String), S3Error> {
        let tmp = TmpFile {
            path: self.tmp_dir().join(format!("{tag}-{}", random_name())),
            committed: false,
        };
        let tmp_path = tmp.path.clone();
        let file = blocking(move || Ok(File::create(tmp_path)?)).await?;
        let mut file = BackgroundWriter::new(file);
        let mut md5 = Md5::new();
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            md5.update(&chunk);
            size += chunk.len() as u64;
            file.write(&chunk).await?;
        }
        if let Some(expected) = content_length {
            if expected != size {
                return Err(S3Error::new(
                    S3ErrorCode::IncompleteBody,
                    "You did not provide the number of bytes specified by the Content-Length HTTP header",
                ));
            }
        }
        Ok((tmp, file, size, hex::encode(md5.finalize())))
    }

    async fn existing_bucket_dir(&self, bucket: &BucketName) -> Result<PathBuf, S3Error> {
        let dir = self.bucket_dir(bucket);
        let checked = dir.clone();
        blocking(move || check_bucket(&checked)).await?;
        Ok(dir)
    }
}

/// A path (or one of its directories) is missing.
fn not_found(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// NoSuchBucket unless the bucket exists (blocking).
fn check_bucket(bucket_dir: &Path) -> Result<(), S3Error> {
    match fs::metadata(bucket_dir.join(BUCKET_FILE)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(S3Error::no_such_bucket()),
        Err(e) => Err(S3Error::internal(e)),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn key_segments(key: &ObjectKey) -> Vec<&str> {
    key.as_str().split('/').collect()
}

/// Run blocking filesystem work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, S3Error> + Send + 'static,
) -> Result<T, S3Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(S3Error::internal)?
}

/// Open an object file and read its metadata (with its tag count);
/// NoSuchKey when absent.
fn open_object(dir: &Path) -> Result<(File, ObjectMeta), S3Error> {
    let (file, trailer, tags) = open_tagged(dir)?;
    let mut meta = trailer.meta;
    meta.tag_count = tags.len();
    Ok((file, meta))
}

/// Open an object file: its trailer and its current tags.
fn open_tagged(dir: &Path) -> Result<(File, objfile::Trailer, TagSet), S3Error> {
    let mut file = match File::open(dir.join(OBJECT_FILE)) {
        Ok(f) => f,
        Err(e) if not_found(&e) => return Err(S3Error::no_such_key()),
        Err(e) => return Err(S3Error::internal(e)),
    };
    let trailer = objfile::read_trailer(&mut file).map_err(S3Error::internal)?;
    let tags = tags::current(dir, &trailer).map_err(S3Error::internal)?;
    Ok((file, trailer, tags))
}

/// Deletes a temporary file unless it was committed.
struct TmpFile {
    path: PathBuf,
    committed: bool,
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Take the bucket's commit lock (an advisory lock, across processes) and
/// confirm the bucket still exists. Commits, deletes and DeleteBucket hold
/// it, so none of them can interleave with a bucket being removed.
fn lock_bucket(bucket_dir: &Path) -> Result<File, S3Error> {
    use std::os::unix::fs::MetadataExt;
    let path = bucket_dir.join(LOCK_FILE);
    loop {
        let file = match fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(S3Error::no_such_bucket()),
            Err(e) => return Err(S3Error::internal(e)),
        };
        file.lock().map_err(S3Error::internal)?;
        // The bucket may have been deleted (and even re-created) while we
        // waited: only a lock on the current lock file counts.
        let held = file.metadata().map_err(S3Error::internal)?;
        match fs::metadata(&path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {}
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(S3Error::no_such_bucket()),
            Err(e) => return Err(S3Error::internal(e)),
        }
        if !bucket_dir.join(BUCKET_FILE).exists() {
            return Err(S3Error::no_such_bucket());
        }
        return Ok(file);
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Create the key's directories (with `@name` files for hashed segments).
fn make_key_dir(bucket_dir: &Path, segments: &[&str]) -> io::Result<PathBuf> {
    let (dir, hashed) = layout::key_dir(bucket_dir, segments);
    fs::create_dir_all(&dir)?;
    for (hdir, segment) in hashed {
        let name = hdir.join(NAME_FILE);
        if !name.exists() {
            fs::write(&name, segment.as_bytes())?;
        }
    }
    Ok(dir)
}

/// Move a finished temporary file into place, checking the write conditions
/// under the bucket lock so that check and replace are one step.
fn commit(
    bucket_dir: &Path,
    segments: &[&str],
    tmp: &Path,
    conditions: &Conditions,
) -> Result<(), S3Error> {
    commit_checked(bucket_dir, segments, tmp, conditions, || Ok(()), || Ok(()))
}

/// [`commit`], with `check` run under the bucket lock before anything else
/// and `after` once the object is in place, still under the lock (a
/// multipart Complete confirms its upload is open, then closes it).
fn commit_checked(
    bucket_dir: &Path,
    segments: &[&str],
    tmp: &Path,
    conditions: &Conditions,
    check: impl FnOnce() -> Result<(), S3Error>,
    after: impl FnOnce() -> Result<(), S3Error>,
) -> Result<(), S3Error> {
    let _lock = lock_bucket(bucket_dir)?;
    check()?;
    let (dir, _) = layout::key_dir(bucket_dir, segments);
    if !conditions.is_empty() {
        match open_object(&dir) {
            Ok((_, meta)) => conditions.check(&meta.etag, meta.last_modified(), Access::Write)?,
            Err(e) if e.code == S3ErrorCode::NoSuchKey => conditions.check_absent()?,
            Err(e) => return Err(e),
        }
    }
    // A concurrent delete may prune the directories between the mkdir and
    // the rename; try again a few times.
    let mut attempts = 0;
    loop {
        let dir = make_key_dir(bucket_dir, segments).map_err(S3Error::internal)?;
        match fs::rename(tmp, dir.join(OBJECT_FILE)) {
            Ok(()) => {
                sync_dir(&dir).map_err(S3Error::internal)?;
                // Tags set on the object just replaced; void already.
                tags::forget(&dir);
                return after();
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 5 => attempts += 1,
            Err(e) => return Err(S3Error::internal(e)),
        }
    }
}

/// Remove now-empty key directories from `dir` up to the bucket directory.
/// Runs under the bucket lock, so no commit can add to a directory between
/// the emptiness check and its removal; listings may read it meanwhile, so a
/// directory that still holds anything keeps its `@name`.
fn prune_dirs(bucket_dir: &Path, mut dir: PathBuf) {
    while dir != bucket_dir && dir.starts_with(bucket_dir) {
        let only_name = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .all(|e| e.file_name() == NAME_FILE),
            Err(_) => return,
        };
        if !only_name {
            return;
        }
        let _ = fs::remove_file(dir.join(NAME_FILE));
        if fs::remove_dir(&dir).is_err() || !dir.pop() {
            return;
        }
    }
}

/// A bucket's own documents (policy, configurations): `@NAME` files in the
/// bucket directory, which no key can name.
fn config_file(kind: BucketConfig) -> String {
    format!("@{}", kind.name())
}

impl FsBackend {
    async fn read_bucket_file(
        &self,
        bucket: &BucketName,
        name: &str,
    ) -> Result<Option<Vec<u8>>, S3Error> {
        let bucket_dir = self.existing_bucket_dir(bucket).await?;
        match tokio::fs::read(bucket_dir.join(name)).await {
            Ok(doc) => Ok(Some(doc)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(S3Error::internal(e)),
        }
    }

    /// Written to a temporary file, synced and renamed into place.
    async fn write_bucket_file(
        &self,
        bucket: &BucketName,
        name: &str,
        doc: Vec<u8>,
    ) -> Result<(), S3Error> {
        let bucket_dir = self.existing_bucket_dir(bucket).await?;
        let tmp = self.tmp_dir().join(format!("doc-{}", random_name()));
        let target = bucket_dir.join(name);
        blocking(move || {
            let result = (|| {
                let mut file = File::create(&tmp).map_err(S3Error::internal)?;
                io::Write::write_all(&mut file, &doc).map_err(S3Error::internal)?;
                file.sync_all().map_err(S3Error::internal)?;
                // Under the bucket lock, so a concurrent DeleteBucket either
                // sees the document (and removes it) or the bucket is gone.
                let _lock = lock_bucket(&bucket_dir)?;
                fs::rename(&tmp, &target).map_err(S3Error::internal)?;
                sync_dir(&bucket_dir).map_err(S3Error::internal)
            })();
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            result
        })
        .await
    }

    async fn remove_bucket_file(&self, bucket: &BucketName, name: &str) -> Result<(), S3Error> {
        let bucket_dir = self.existing_bucket_dir(bucket).await?;
        let target = bucket_dir.join(name);
        blocking(move || {
            let _lock = lock_bucket(&bucket_dir)?;
            match fs::remove_file(&target) {
                Ok(()) => sync_dir(&bucket_dir).map_err(S3Error::internal),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(S3Error::internal(e)),
            }
        })
        .await
    }
}

#[async_trait]
impl Backend for FsBackend {
    fn kind(&self) -> &'static str {
        "fs"
    }

    async fn ready(&self) -> Result<(), S3Error> {
        let tmp = self.tmp_dir();
        tokio::fs::metadata(&tmp)
            .await
            .map(|_| ())
            .map_err(S3Error::internal)
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, S3Error> {
        let root = self.root.clone();
        blocking(move || {
            let mut out = Vec::new();
            for entry in fs::read_dir(root.as_path())? {
                let entry = entry?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if BucketName::parse(&name).is_err() {
                    continue;
                }
                let Ok(record) = fs::read(entry.path().join(BUCKET_FILE)) else {
                    continue;
                };
                let created_ms = serde_json::from_slice::<BucketRecord>(&record)
                    .map(|r| r.created_ms)
                    .unwrap_or(0);
                out.push(BucketInfo {
                    name,
                    created: UNIX_EPOCH + Duration::from_millis(created_ms),
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    async fn create_bucket(&self, bucket: &BucketName) -> Result<(), S3Error> {
        let dir = self.bucket_dir(bucket);
        let tmp = self.tmp_dir();
        blocking(move || {
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if dir.join(BUCKET_FILE).exists() {
                        return Err(S3Error::new(
                            S3ErrorCode::BucketAlreadyOwnedByYou,
                            "Your previous request to create the named bucket succeeded and you already own it.",
                        ));
                    }
                }
                Err(e) => return Err(S3Error::internal(e)),
            }
            let record = serde_json::to_vec(&BucketRecord { created_ms: now_ms() })
                .map_err(S3Error::internal)?;
            let tmp_file = tmp.join(format!("bucket-{}", random_name()));
            fs::write(&tmp_file, record)?;
            fs::rename(&tmp_file, dir.join(BUCKET_FILE))?;
            Ok(())
        })
        .await
    }

    async fn head_bucket(&self, bucket: &BucketName) -> Result<(), S3Error> {
        self.existing_bucket_dir(bucket).await.map(|_| ())
    }

    async fn delete_bucket(&self, bucket: &BucketName) -> Result<(), S3Error> {
        // lock_bucket confirms the bucket exists.
        let dir = self.bucket_dir(bucket);
        let trash_dir = self.tmp_dir();
        blocking(move || {
            let _lock = lock_bucket(&dir)?;
            let probe = ListQuery {
                max_keys: 1,
                ..ListQuery::default()
            };
            if !list::list(&dir, &probe)?.objects.is_empty() {
                return Err(S3Error::new(
                    S3ErrorCode::BucketNotEmpty,
                    "The bucket you tried to delete is not empty",
                ));
            }
            // Unmark it, then move it out of the namespace in one rename, so
            // the name is free at once and a half-finished removal is never a
            // bucket; then delete the moved tree.
            fs::remove_file(dir.join(BUCKET_FILE))?;
            let trash = trash_dir.join(format!("bucket-{}", random_name()));
            fs::rename(&dir, &trash)?;
            drop(_lock);
            fs::remove_dir_all(&trash)?;
            Ok(())
        })
        .await
    }

    async fn put_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        mut body: ByteStream,
        options: PutOptions,
    ) -> Result<ObjectMeta, S3Error> {
        let bucket_dir = self.existing_bucket_dir(bucket).await?;
        let (mut tmp, mut file, size, etag) = self
            .receive(&mut body, options.content_length, "put")
            .await?;
        let meta = ObjectMeta {
            size,
            etag,
            last_modified_ms: now_ms(),
            headers: options.headers,
            user_metadata: options.user_metadata,
            checksum: options.checksum.as_ref().and_then(|c| c.stored()),
            tag_count: options.tags.len(),
            parts: None,
        };
        let trailer = objfile::Trailer::new(meta, options.tags);
        file.write(&objfile::encode_trailer(&trailer)?).await?;
        file.finish().await?;

        let key = key.clone();
        let conditions = options.conditions;
        let tmp_path = tmp.path.clone();
        blocking(move || commit(&bucket_dir, &key_segments(&key), &tmp_path, &conditions)).await?;
        tmp.committed = true;
        Ok(trailer.meta)
    }

    async fn head_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        conditions: &Conditions,
    ) -> Result<ObjectMeta, S3Error> {
        // One trip to the blocking pool: bucket, object and metadata.
        let bucket_dir = self.bucket_dir(bucket);
        let key = key.clone();
        let meta = blocking(move || {
            check_bucket(&bucket_dir)?;
            let (dir, _) = layout::key_dir(&bucket_dir, &key_segments(&key));
            open_object(&dir).map(|(_, meta)| meta)
        })
        .await?;
        conditions.check(&meta.etag, meta.last_modified(), Access::Read)?;
        Ok(meta)
    }

    async fn get_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        options: GetOptions,
    ) -> Result<GetObjectOutput, S3Error> {
        let bucket_dir = self.bucket_dir(bucket);
        let key = key.clone();
        // One trip to the blocking pool for everything up to the body, and
        // for the body too when it is small.
        let (meta, range, body) = blocking(move || {
            check_bucket(&bucket_dir)?;
            let (dir, _) = layout::key_dir(&bucket_dir, &key_segments(&key));
            let (mut file, meta) = open_object(&dir)?;
            options
                .conditions
                .check(&meta.etag, meta.last_modified(), Access::Read)?;
            let (start, len, range) = match options.range {
                Some(r) => {
                    let (first, last) = r.resolve(meta.size)?;
                    (first, last - first + 1, Some((first, last)))
                }
                None => (0, meta.size, None),
            };
            file.seek(SeekFrom::Start(start))?;
            let body = if len <= SMALL_READ {
                let mut data = Vec::with_capacity(len as usize);
                io::Read::read_to_end(&mut io::Read::take(&mut file, len), &mut data)?;
                Body::Read(Bytes::from(data))
            } else {
                Body::Open(file, len)
            };
            Ok((meta, range, body))
        })
        .await?;
        let body: ByteStream = match body {
            Body::Read(data) => Box::pin(futures_util::stream::once(async move { Ok(data) })),
            Body::Open(file, len) => {
                let reader = tokio::fs::File::from_std(file).take(len);
                let stream = tokio_util::io::ReaderStream::with_capacity(reader, READ_CHUNK)
                    .map(|r| r.map_err(S3Error::internal));
                Box::pin(stream)
            }
        };
        Ok(GetObjectOutput { meta, range, body })
    }

    async fn delete_object(&self, bucket: &BucketName, key: &ObjectKey) -> Result<(), S3Error> {
        // lock_bucket confirms the bucket exists.
        let bucket_dir = self.bucket_dir(bucket);
        let key = key.clone();
        blocking(move || {
            let _lock = lock_bucket(&bucket_dir)?;
            let (dir, _) = layout::key_dir(&bucket_dir, &key_segments(&key));
            match fs::remove_file(dir.join(OBJECT_FILE)) {
                Ok(()) => {}
                Err(e) if not_found(&e) => return Ok(()),
                Err(e) => return Err(S3Error::internal(e)),
            }
            tags::forget(&dir);
            prune_dirs(&bucket_dir, dir);
            Ok(())
        })
        .await
    }

    async fn list_objects(
        &self,
        bucket: &BucketName,
        query: &ListQuery,
    ) -> Result<ListPage, S3Error> {
        let bucket_dir = self.existing_bucket_dir(bucket).await?;
        let query = query.clone();
        blocking(move || list::list(&bucket_dir, &query).map_err(S3Error::internal)).await
    }

    async fn get_object_tagging(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<TagSet, S3Error> {
        let bucket_dir = self.bucket_dir(bucket);
        let key = key.clone();
        blocking(move || {
            check_bucket(&bucket_dir)?;
            let (dir, _) = layout::key_dir(&bucket_dir, &key_segments(&key));
            open_tagged(&dir).map(|(_, _, tags)| tags)
        })
        .await
    }

    async fn put_object_tagging(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        tags: TagSet,
    ) -> Result<(), S3Error> {
        let bucket_dir = self.bucket_dir(bucket);
        let tmp = self.tmp_dir().join(format!("tags-{}", random_name()));
        let key = key.clone();
        blocking(move || {
            // Under the lock no PUT can replace the object between reading
            // its write id and binding the tags to it.
            let _lock = lock_bucket(&bucket_dir)?;
            let (dir, _) = layout::key_dir(&bucket_dir, &key_segments(&key));
            let (_, trailer, _) = open_tagged(&dir)?;
            tags::replace(&dir, &tmp, trailer.write_id, tags).map_err(S3Error::internal)
        })
        .await
    }

    async fn get_bucket_policy(&self, bucket: &BucketName) -> Result<Option<Vec<u8>>, S3Error> {
        self.read_bucket_file(bucket, POLICY_FILE).await
    }

    async fn put_bucket_policy(&self, bucket: &BucketName, policy: Vec<u8>) -> Result<(), S3Error> {
        self.write_bucket_file(bucket, POLICY_FILE, policy).await
    }

    async fn delete_bucket_policy(&self, bucket: &BucketName) -> Result<(), S3Error> {
        self.remove_bucket_file(bucket, POLICY_FILE).await
    }

    async fn get_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
    ) -> Result<Option<Vec<u8>>, S3Error> {
        self.read_bucket_file(bucket, &config_file(kind)).await
    }

    async fn put_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
        doc: Vec<u8>,
    ) -> Result<(), S3Error> {
        self.write_bucket_file(bucket, &config_file(kind), doc)
            .await
    }

    async fn delete_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
    ) -> Result<(), S3Error> {
        self.remove_bucket_file(bucket, &config_file(kind)).await
    }

    async fn create_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        options: UploadOptions,
    ) -> Result<String, S3Error> {
        self.mpu_create(bucket, key, options).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn upload_part(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        content_length: u64,
        checksum: Option<ChecksumSource>,
    ) -> Result<PartInfo, S3Error> {
        let data = (body, content_length, checksum);
        self.mpu_upload_part(bucket, key, upload_id, part_number, data)
            .await
    }

    async fn list_parts(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: usize,
    ) -> Result<PartsPage, S3Error> {
        self.mpu_list_parts(bucket, key, upload_id, part_number_marker, max_parts)
            .await
    }

    async fn complete_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[CompletedPart],
        conditions: &Conditions,
    ) -> Result<ObjectMeta, S3Error> {
        self.mpu_complete(bucket, key, upload_id, parts, conditions)
            .await
    }

    async fn abort_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        self.mpu_abort(bucket, key, upload_id).await
    }

    async fn list_multipart_uploads(
        &self,
        bucket: &BucketName,
        query: &UploadsQuery,
    ) -> Result<UploadsPage, S3Error> {
        self.mpu_list_uploads(bucket, query).await
    }

    async fn sweep_multipart_uploads(&self, older_than: Duration) -> Result<usize, S3Error> {
        self.mpu_sweep(older_than).await
    }
}

fn random_name() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

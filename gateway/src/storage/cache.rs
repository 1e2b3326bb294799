//! A read cache in front of any backend: object metadata, and the bytes of
//! small objects, for GET and HEAD (ranges are cut from cached bytes).
//!
//! Correctness rules:
//! - Every fill of an entry and every invalidation by a write runs inside
//!   moka's per-key compute, so they are ordered: a write through this
//!   gateway removes the entry after the backend accepted it and before the
//!   client hears back, and a fill that read the old object cannot land
//!   after that removal. A write and its removal run on a task of their
//!   own, so a write whose caller goes away (a client that disconnected
//!   drops the request) still removes the entry once it is over.
//! - Writes that bypass this gateway (another replica, an Azure tool) are
//!   caught by revalidation: an entry older than `revalidate_after` is
//!   checked with a conditional request on its ETag before it is served
//!   (304-style answer: keep the bytes; otherwise fetch anew). With
//!   `revalidate_after = 0` every request asks the backend, which still
//!   saves the transfer of unchanged bytes.
//! - Concurrent misses for one key are serialised by the same compute, so
//!   they make one backend request; the others find the entry filled.
//! - Requests the cache cannot answer exactly (a conditional GET or a range
//!   of an object whose bytes are not cached) go to the backend unchanged.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use moka::ops::compute::Op;

use super::{
    Backend, BucketConfig, BucketInfo, BucketName, ByteStream, ChecksumSource, CompletedPart,
    GetObjectOutput, GetOptions, ListPage, ListQuery, ObjectKey, ObjectMeta, PartInfo, PartsPage,
    PutOptions, TagSet, UploadOptions, UploadsPage, UploadsQuery,
};
use crate::conditions::{Access, Conditions};
use crate::error::{S3Error, S3ErrorCode};

/// Cache settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Memory budget for entries (bytes plus a fixed cost per entry).
    pub capacity_bytes: u64,
    /// Objects up to this size have their bytes cached.
    pub max_object_bytes: u64,
    /// How long an entry is served without asking the backend.
    pub revalidate_after: Duration,
}

/// Counters, for metrics and tests.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub revalidations: AtomicU64,
    pub evictions: AtomicU64,
}

/// What one entry weighs besides its bytes (key, metadata, bookkeeping).
const ENTRY_OVERHEAD: u32 = 512;

#[derive(Clone)]
struct Entry {
    meta: ObjectMeta,
    /// The whole object, when it is small enough.
    bytes: Option<Bytes>,
    checked: Instant,
}

type Key = (String, String);

async fn remove(entries: &moka::future::Cache<Key, Entry>, key: Key) {
    entries
        .entry(key)
        .and_compute_with(|_| async { Op::Remove })
        .await;
}

/// A backend with a read cache in front.
pub struct CachedBackend {
    inner: Arc<dyn Backend>,
    entries: moka::future::Cache<Key, Entry>,
    config: CacheConfig,
    stats: Arc<CacheStats>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl CachedBackend {
    pub fn new(inner: Arc<dyn Backend>, config: CacheConfig) -> Self {
        Self::build(inner, config, None)
    }

    /// Also count hits, misses, evictions and bytes in the gateway's metrics.
    pub fn with_metrics(self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        Self::build(self.inner, self.config, Some(metrics))
    }

    fn build(
        inner: Arc<dyn Backend>,
        config: CacheConfig,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Self {
        let stats = Arc::new(CacheStats::default());
        let evicted = stats.clone();
        let evicted_metrics = metrics.clone();
        let entries = moka::future::Cache::builder()
            .max_capacity(config.capacity_bytes)
            .weigher(|_k: &Key, e: &Entry| {
                let len = e.bytes.as_ref().map_or(0, Bytes::len);
                u32::try_from(len)
                    .unwrap_or(u32::MAX)
                    .saturating_add(ENTRY_OVERHEAD)
            })
            .eviction_listener(move |_k, _v, cause| {
                if cause == moka::notification::RemovalCause::Size {
                    evicted.evictions.fetch_add(1, Ordering::Relaxed);
                    if let Some(m) = &evicted_metrics {
                        m.cache_eviction();
                    }
                }
            })
            .build();
        CachedBackend {
            inner,
            entries,
            config,
            stats,
            metrics,
        }
    }

    pub fn stats(&self) -> Arc<CacheStats> {
        self.stats.clone()
    }

    /// Bytes held (weighted size), after pending maintenance.
    pub async fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.weighted_size()
    }

    fn hit(&self) {
        self.stats.hits.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.cache_hit();
        }
    }

    /// A miss: the backend was asked (a first fetch or a revalidation).
    fn miss(&self) {
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.cache_miss();
        }
    }

    fn key(bucket: &BucketName, key: &ObjectKey) -> Key {
        (bucket.as_str().to_owned(), key.as_str().to_owned())
    }

    fn fresh(&self, e: &Entry) -> bool {
        e.checked.elapsed() < self.config.revalidate_after
    }

    /// Drop the entry of a key a write went to, ordered after any fill.
    async fn invalidate(&self, bucket: &BucketName, key: &ObjectKey) {
        remove(&self.entries, Self::key(bucket, key)).await;
    }

    /// Run `write` to `key`, then drop the key's entry, on a task of its
    /// own. A write may go on when its caller goes away (a client that
    /// disconnected after sending its body; the backend may commit it all
    /// the same), and the entry must go after the write is over, not
    /// before, or a read in between would cache the old object again.
    async fn write_then_remove<T: Send + 'static>(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        write: impl Future<Output = Result<T, S3Error>> + Send + 'static,
    ) -> Result<T, S3Error> {
        let entries = self.entries.clone();
        let entry = Self::key(bucket, key);
        tokio::spawn(async move {
            let result = write.await;
            remove(&entries, entry).await;
            result
        })
        .await
        .unwrap_or_else(|e| Err(S3Error::internal(e)))
    }

    /// A current entry for the key: the cached one if fresh, else
    /// revalidated or fetched (with the bytes when `with_bytes` and the
    /// object is small). One backend request at a time per key.
    ///
    /// When a fetch for bytes finds a large object, its response (whose
    /// body is the whole object) comes back too, for the caller to stream.
    async fn current(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        with_bytes: bool,
    ) -> Result<(Entry, Option<GetObjectOutput>), S3Error> {
        if let Some(e) = self.entries.get(&Self::key(bucket, key)).await {
            if self.fresh(&e) && self.sufficient(&e, with_bytes) {
                self.hit();
                return Ok((e, None));
            }
        }
        let mut served: Option<Entry> = None;
        let mut stream: Option<GetObjectOutput> = None;
        let result = self
            .entries
            .entry(Self::key(bucket, key))
            .and_try_compute_with(|cached| {
                let (served, stream) = (&mut served, &mut stream);
                async move {
                    let cached = cached.map(|c| c.into_value());
                    // Filled by a concurrent request while we waited.
                    if let Some(c) = cached.as_ref().filter(|c| self.fresh(c)) {
                        if self.sufficient(c, with_bytes) {
                            self.hit();
                            *served = Some(c.clone());
                            return Ok(Op::Nop);
                        }
                    }
                    let fetched = self.fetch(bucket, key, cached, with_bytes).await;
                    match fetched {
                        Ok((e, output)) => {
                            *served = Some(e.clone());
                            *stream = output;
                            Ok(Op::Put(e))
                        }
                        Err(e) if e.code == S3ErrorCode::NoSuchKey => Err((e, true)),
                        Err(e) => Err((e, false)),
                    }
                }
            })
            .await;
        if let Some(m) = &self.metrics {
            // Misses only: settle moka's bookkeeping so the size is current.
            self.entries.run_pending_tasks().await;
            m.set_cache_bytes(self.entries.weighted_size());
        }
        match result {
            Ok(_) => served
                .map(|e| (e, stream))
                .ok_or_else(|| S3Error::internal("cache entry vanished")),
            Err((e, gone)) => {
                if gone {
                    self.invalidate(bucket, key).await;
                }
                Err(e)
            }
        }
    }

    /// Whether an entry holds what a request needs: its bytes, unless the
    /// request wants metadata only or the object is too large to cache.
    fn sufficient(&self, e: &Entry, with_bytes: bool) -> bool {
        e.bytes.is_some() || !with_bytes || !self.small(&e.meta)
    }

    fn small(&self, meta: &ObjectMeta) -> bool {
        meta.size <= self.config.max_object_bytes
    }

    /// Ask the backend: revalidate `cached` by its ETag, or fetch anew.
    async fn fetch(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        cached: Option<Entry>,
        with_bytes: bool,
    ) -> Result<(Entry, Option<GetObjectOutput>), S3Error> {
        if let Some(c) = cached {
            self.stats.revalidations.fetch_add(1, Ordering::Relaxed);
            // The ETag says whether the bytes changed; the rest of the
            // metadata may change without it (tags set through another
            // replica), so it is taken from the answer either way.
            match self
                .inner
                .head_object(bucket, key, &Conditions::default())
                .await
            {
                Ok(meta)
                    if meta.etag == c.meta.etag
                        && meta.size == c.meta.size
                        && self.sufficient(&c, with_bytes) =>
                {
                    let entry = Entry {
                        meta,
                        bytes: c.bytes,
                        checked: Instant::now(),
                    };
                    return Ok((entry, None));
                }
                Err(e) => return Err(e),
                Ok(meta) if !with_bytes => {
                    let entry = Entry {
                        meta,
                        bytes: None,
                        checked: Instant::now(),
                    };
                    return Ok((entry, None));
                }
                Ok(_) => {}
            }
        } else {
            self.miss();
        }
        if !with_bytes {
            let meta = self
                .inner
                .head_object(bucket, key, &Conditions::default())
                .await?;
            let entry = Entry {
                meta,
                bytes: None,
                checked: Instant::now(),
            };
            return Ok((entry, None));
        }
        // The whole object when small; only its metadata otherwise (the
        // response goes to the caller to stream).
        let checked = Instant::now();
        let out = self
            .inner
            .get_object(bucket, key, GetOptions::default())
            .await?;
        if !self.small(&out.meta) {
            let entry = Entry {
                meta: out.meta.clone(),
                bytes: None,
                checked,
            };
            return Ok((entry, Some(out)));
        }
        let bytes = read_all(out.body, out.meta.size).await?;
        let entry = Entry {
            meta: out.meta,
            bytes: Some(bytes),
            checked,
        };
        Ok((entry, None))
    }
}

async fn read_all(mut body: ByteStream, size: u64) -> Result<Bytes, S3Error> {
    let mut buf = BytesMut::with_capacity(usize::try_from(size).unwrap_or(0));
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk?);
    }
    if buf.len() as u64 != size {
        return Err(S3Error::internal("object changed size while being read"));
    }
    Ok(buf.freeze())
}

/// Cached bytes as a body, in slices (no copies), so a reader that stops
/// early (an S3 Select LIMIT) has taken only what it read.
fn sliced(bytes: Bytes) -> ByteStream {
    const SLICE: usize = 64 * 1024;
    let count = bytes.len().div_ceil(SLICE);
    Box::pin(futures_util::stream::iter((0..count).map(move |i| {
        Ok(bytes.slice(i * SLICE..((i + 1) * SLICE).min(bytes.len())))
    })))
}

#[async_trait]
impl Backend for CachedBackend {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn ready(&self) -> Result<(), S3Error> {
        self.inner.ready().await
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, S3Error> {
        self.inner.list_buckets().await
    }

    async fn create_bucket(&self, bucket: &BucketName) -> Result<(), S3Error> {
        self.inner.create_bucket(bucket).await
    }

    async fn head_bucket(&self, bucket: &BucketName) -> Result<(), S3Error> {
        self.inner.head_bucket(bucket).await
    }

    async fn delete_bucket(&self, bucket: &BucketName) -> Result<(), S3Error> {
        self.inner.delete_bucket(bucket).await?;
        // Only empty buckets are deleted, but entries of objects deleted
        // elsewhere may linger: drop them all (a rare operation).
        self.entries.invalidate_all();
        Ok(())
    }

    async fn put_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        body: ByteStream,
        options: PutOptions,
    ) -> Result<ObjectMeta, S3Error> {
        let (inner, b, k) = (self.inner.clone(), bucket.clone(), key.clone());
        self.write_then_remove(bucket, key, async move {
            inner.put_object(&b, &k, body, options).await
        })
        .await
    }

    async fn head_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        conditions: &Conditions,
    ) -> Result<ObjectMeta, S3Error> {
        let (entry, _) = self.current(bucket, key, false).await?;
        conditions.check(&entry.meta.etag, entry.meta.last_modified(), Access::Read)?;
        Ok(entry.meta)
    }

    async fn get_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        options: GetOptions,
    ) -> Result<GetObjectOutput, S3Error> {
        // Large objects stream from the backend (a GET is always current);
        // so do conditional reads and ranges of objects whose bytes are not
        // cached.
        let cached = self.entries.get(&Self::key(bucket, key)).await;
        let bypass = match &cached {
            Some(e) => {
                !self.small(&e.meta)
                    || (e.bytes.is_none()
                        && (options.range.is_some() || !options.conditions.is_empty()))
            }
            None => options.range.is_some() || !options.conditions.is_empty(),
        };
        if bypass {
            return self.inner.get_object(bucket, key, options).await;
        }
        let (entry, output) = self.current(bucket, key, true).await?;
        if let Some(output) = output {
            // Fetched just now, whole: a large object.
            return Ok(output);
        }
        let Some(bytes) = entry.bytes else {
            return self.inner.get_object(bucket, key, options).await;
        };
        options
            .conditions
            .check(&entry.meta.etag, entry.meta.last_modified(), Access::Read)?;
        let (body, range) = match options.range {
            Some(r) => {
                let (first, last) = r.resolve(entry.meta.size)?;
                (
                    bytes.slice(first as usize..=last as usize),
                    Some((first, last)),
                )
            }
            None => (bytes, None),
        };
        Ok(GetObjectOutput {
            meta: entry.meta,
            range,
            body: sliced(body),
        })
    }

    async fn delete_object(&self, bucket: &BucketName, key: &ObjectKey) -> Result<(), S3Error> {
        let (inner, b, k) = (self.inner.clone(), bucket.clone(), key.clone());
        self.write_then_remove(
            bucket,
            key,
            async move { inner.delete_object(&b, &k).await },
        )
        .await
    }

    async fn list_objects(
        &self,
        bucket: &BucketName,
        query: &ListQuery,
    ) -> Result<ListPage, S3Error> {
        self.inner.list_objects(bucket, query).await
    }

    async fn get_object_tagging(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<TagSet, S3Error> {
        self.inner.get_object_tagging(bucket, key).await
    }

    /// The ETag stays, but the cached tag count would not: the entry goes.
    async fn put_object_tagging(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        tags: TagSet,
    ) -> Result<(), S3Error> {
        let (inner, b, k) = (self.inner.clone(), bucket.clone(), key.clone());
        self.write_then_remove(bucket, key, async move {
            inner.put_object_tagging(&b, &k, tags).await
        })
        .await
    }

    async fn get_bucket_policy(&self, bucket: &BucketName) -> Result<Option<Vec<u8>>, S3Error> {
        self.inner.get_bucket_policy(bucket).await
    }

    async fn put_bucket_policy(&self, bucket: &BucketName, policy: Vec<u8>) -> Result<(), S3Error> {
        self.inner.put_bucket_policy(bucket, policy).await
    }

    async fn delete_bucket_policy(&self, bucket: &BucketName) -> Result<(), S3Error> {
        self.inner.delete_bucket_policy(bucket).await
    }

    async fn get_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
    ) -> Result<Option<Vec<u8>>, S3Error> {
        self.inner.get_bucket_config(bucket, kind).await
    }

    async fn put_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
        doc: Vec<u8>,
    ) -> Result<(), S3Error> {
        self.inner.put_bucket_config(bucket, kind, doc).await
    }

    async fn delete_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
    ) -> Result<(), S3Error> {
        self.inner.delete_bucket_config(bucket, kind).await
    }

    async fn create_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        options: UploadOptions,
    ) -> Result<String, S3Error> {
        self.inner
            .create_multipart_upload(bucket, key, options)
            .await
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
        self.inner
            .upload_part(
                bucket,
                key,
                upload_id,
                part_number,
                body,
                content_length,
                checksum,
            )
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
        self.inner
            .list_parts(bucket, key, upload_id, part_number_marker, max_parts)
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
        let (inner, b, k) = (self.inner.clone(), bucket.clone(), key.clone());
        let (id, parts, conditions) = (upload_id.to_owned(), parts.to_vec(), conditions.clone());
        self.write_then_remove(bucket, key, async move {
            inner
                .complete_multipart_upload(&b, &k, &id, &parts, &conditions)
                .await
        })
        .await
    }

    async fn abort_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        self.inner
            .abort_multipart_upload(bucket, key, upload_id)
            .await
    }

    async fn list_multipart_uploads(
        &self,
        bucket: &BucketName,
        query: &UploadsQuery,
    ) -> Result<UploadsPage, S3Error> {
        self.inner.list_multipart_uploads(bucket, query).await
    }

    async fn sweep_multipart_uploads(&self, older_than: Duration) -> Result<usize, S3Error> {
        self.inner.sweep_multipart_uploads(older_than).await
    }
}

//! A [`Backend`] decorator that counts and times every call into the
//! backend it wraps, and counts failures by S3 error code.
//!
//! Counters and histograms are resolved once per method when the decorator
//! is built, so a call costs two atomic additions and a histogram
//! observation. A read's duration ends when its body starts; errors while
//! its body streams count as errors of that read.
//!
//! It also keeps `blobgate_multipart_uploads_in_progress`: uploads created
//! through this process minus those completed or aborted through it. With
//! several replicas an upload may start on one and finish on another, so
//! only the sum over replicas means "in progress" (since they started, and
//! without uploads the hourly sweep removes).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use futures_util::StreamExt;
use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge};

use super::{
    Backend, BucketConfig, BucketInfo, BucketName, ByteStream, ChecksumSource, CompletedPart,
    GetObjectOutput, GetOptions, ListPage, ListQuery, ObjectKey, ObjectMeta, PartInfo, PartsPage,
    PutOptions, TagSet, UploadOptions, UploadsPage, UploadsQuery,
};
use crate::conditions::Conditions;
use crate::error::S3Error;
use crate::metrics::Metrics;

/// The backend methods, as metric label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Ready,
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    PutObject,
    HeadObject,
    GetObject,
    DeleteObject,
    ListObjects,
    GetObjectTagging,
    PutObjectTagging,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    GetBucketConfig,
    PutBucketConfig,
    DeleteBucketConfig,
    CreateMultipartUpload,
    UploadPart,
    ListParts,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListMultipartUploads,
    SweepMultipartUploads,
}

const METHODS: [Method; 25] = [
    Method::Ready,
    Method::ListBuckets,
    Method::CreateBucket,
    Method::HeadBucket,
    Method::DeleteBucket,
    Method::PutObject,
    Method::HeadObject,
    Method::GetObject,
    Method::DeleteObject,
    Method::ListObjects,
    Method::GetObjectTagging,
    Method::PutObjectTagging,
    Method::GetBucketPolicy,
    Method::PutBucketPolicy,
    Method::DeleteBucketPolicy,
    Method::GetBucketConfig,
    Method::PutBucketConfig,
    Method::DeleteBucketConfig,
    Method::CreateMultipartUpload,
    Method::UploadPart,
    Method::ListParts,
    Method::CompleteMultipartUpload,
    Method::AbortMultipartUpload,
    Method::ListMultipartUploads,
    Method::SweepMultipartUploads,
];

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Ready => "ready",
            Method::ListBuckets => "list_buckets",
            Method::CreateBucket => "create_bucket",
            Method::HeadBucket => "head_bucket",
            Method::DeleteBucket => "delete_bucket",
            Method::PutObject => "put_object",
            Method::HeadObject => "head_object",
            Method::GetObject => "get_object",
            Method::DeleteObject => "delete_object",
            Method::ListObjects => "list_objects",
            Method::GetObjectTagging => "get_object_tagging",
            Method::PutObjectTagging => "put_object_tagging",
            Method::GetBucketPolicy => "get_bucket_policy",
            Method::PutBucketPolicy => "put_bucket_policy",
            Method::DeleteBucketPolicy => "delete_bucket_policy",
            Method::GetBucketConfig => "get_bucket_config",
            Method::PutBucketConfig => "put_bucket_config",
            Method::DeleteBucketConfig => "delete_bucket_config",
            Method::CreateMultipartUpload => "create_multipart_upload",
            Method::UploadPart => "upload_part",
            Method::ListParts => "list_parts",
            Method::CompleteMultipartUpload => "complete_multipart_upload",
            Method::AbortMultipartUpload => "abort_multipart_upload",
            Method::ListMultipartUploads => "list_multipart_uploads",
            Method::SweepMultipartUploads => "sweep_multipart_uploads",
        }
    }
}

/// The metrics of one method, resolved in advance.
struct MethodMetrics {
    calls: IntCounter,
    duration: Histogram,
}

/// Errors of one backend by method and error code (resolved on failure).
#[derive(Clone)]
struct ErrorCounter {
    backend: &'static str,
    errors: IntCounterVec,
}

impl ErrorCounter {
    fn count(&self, method: Method, e: &S3Error) {
        self.errors
            .with_label_values(&[self.backend, method.name(), e.code.as_str()])
            .inc();
    }
}

/// Wraps a backend; see the module documentation.
pub struct MeteredBackend {
    inner: Arc<dyn Backend>,
    methods: Vec<MethodMetrics>,
    errors: ErrorCounter,
    uploads_in_progress: IntGauge,
}

impl MeteredBackend {
    pub fn new(inner: Arc<dyn Backend>, metrics: &Metrics) -> Self {
        let backend = inner.kind();
        let methods = METHODS
            .iter()
            .map(|m| MethodMetrics {
                calls: metrics
                    .backend_calls
                    .with_label_values(&[backend, m.name()]),
                duration: metrics
                    .backend_call_duration
                    .with_label_values(&[backend, m.name()]),
            })
            .collect();
        MeteredBackend {
            inner,
            methods,
            errors: ErrorCounter {
                backend,
                errors: metrics.backend_errors.clone(),
            },
            uploads_in_progress: metrics.multipart_uploads_in_progress.clone(),
        }
    }

    /// Run one call, counting and timing it.
    async fn observe<T>(
        &self,
        method: Method,
        call: impl Future<Output = Result<T, S3Error>>,
    ) -> Result<T, S3Error> {
        let started = Instant::now();
        let result = call.await;
        // METHODS lists every variant in declaration order.
        if let Some(m) = self.methods.get(method as usize) {
            m.calls.inc();
            m.duration.observe(started.elapsed().as_secs_f64());
        }
        if let Err(e) = &result {
            self.errors.count(method, e);
        }
        result
    }
}

#[async_trait]
impl Backend for MeteredBackend {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn ready(&self) -> Result<(), S3Error> {
        self.observe(Method::Ready, self.inner.ready()).await
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, S3Error> {
        self.observe(Method::ListBuckets, self.inner.list_buckets())
            .await
    }

    async fn create_bucket(&self, bucket: &BucketName) -> Result<(), S3Error> {
        self.observe(Method::CreateBucket, self.inner.create_bucket(bucket))
            .await
    }

    async fn head_bucket(&self, bucket: &BucketName) -> Result<(), S3Error> {
        self.observe(Method::HeadBucket, self.inner.head_bucket(bucket))
            .await
    }

    async fn delete_bucket(&self, bucket: &BucketName) -> Result<(), S3Error> {
        self.observe(Method::DeleteBucket, self.inner.delete_bucket(bucket))
            .await
    }

    async fn put_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        body: ByteStream,
        options: PutOptions,
    ) -> Result<ObjectMeta, S3Error> {
        self.observe(
            Method::PutObject,
            self.inner.put_object(bucket, key, body, options),
        )
        .await
    }

    async fn head_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        conditions: &Conditions,
    ) -> Result<ObjectMeta, S3Error> {
        self.observe(
            Method::HeadObject,
            self.inner.head_object(bucket, key, conditions),
        )
        .await
    }

    async fn get_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        options: GetOptions,
    ) -> Result<GetObjectOutput, S3Error> {
        let mut output = self
            .observe(
                Method::GetObject,
                self.inner.get_object(bucket, key, options),
            )
            .await?;
        let errors = self.errors.clone();
        output.body = Box::pin(output.body.inspect(move |item| {
            if let Err(e) = item {
                errors.count(Method::GetObject, e);
            }
        }));
        Ok(output)
    }

    async fn delete_object(&self, bucket: &BucketName, key: &ObjectKey) -> Result<(), S3Error> {
        self.observe(Method::DeleteObject, self.inner.delete_object(bucket, key))
            .await
    }

    async fn list_objects(
        &self,
        bucket: &BucketName,
        query: &ListQuery,
    ) -> Result<ListPage, S3Error> {
        self.observe(Method::ListObjects, self.inner.list_objects(bucket, query))
            .await
    }

    async fn get_object_tagging(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<TagSet, S3Error> {
        self.observe(
            Method::GetObjectTagging,
            self.inner.get_object_tagging(bucket, key),
        )
        .await
    }

    async fn put_object_tagging(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        tags: TagSet,
    ) -> Result<(), S3Error> {
        self.observe(
            Method::PutObjectTagging,
            self.inner.put_object_tagging(bucket, key, tags),
        )
        .await
    }

    async fn get_bucket_policy(&self, bucket: &BucketName) -> Result<Option<Vec<u8>>, S3Error> {
        self.observe(
            Method::GetBucketPolicy,
            self.inner.get_bucket_policy(bucket),
        )
        .await
    }

    async fn put_bucket_policy(&self, bucket: &BucketName, policy: Vec<u8>) -> Result<(), S3Error> {
        self.observe(
            Method::PutBucketPolicy,
            self.inner.put_bucket_policy(bucket, policy),
        )
        .await
    }

    async fn delete_bucket_policy(&self, bucket: &BucketName) -> Result<(), S3Error> {
        self.observe(
            Method::DeleteBucketPolicy,
            self.inner.delete_bucket_policy(bucket),
        )
        .await
    }

    async fn get_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
    ) -> Result<Option<Vec<u8>>, S3Error> {
        self.observe(
            Method::GetBucketConfig,
            self.inner.get_bucket_config(bucket, kind),
        )
        .await
    }

    async fn put_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
        doc: Vec<u8>,
    ) -> Result<(), S3Error> {
        self.observe(
            Method::PutBucketConfig,
            self.inner.put_bucket_config(bucket, kind, doc),
        )
        .await
    }

    async fn delete_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
    ) -> Result<(), S3Error> {
        self.observe(
            Method::DeleteBucketConfig,
            self.inner.delete_bucket_config(bucket, kind),
        )
        .await
    }

    async fn create_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        options: UploadOptions,
    ) -> Result<String, S3Error> {
        let id = self
            .observe(
                Method::CreateMultipartUpload,
                self.inner.create_multipart_upload(bucket, key, options),
            )
            .await?;
        self.uploads_in_progress.inc();
        Ok(id)
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
        self.observe(
            Method::UploadPart,
            self.inner.upload_part(
                bucket,
                key,
                upload_id,
                part_number,
                body,
                content_length,
                checksum,
            ),
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
        self.observe(
            Method::ListParts,
            self.inner
                .list_parts(bucket, key, upload_id, part_number_marker, max_parts),
        )
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
        let meta = self
            .observe(
                Method::CompleteMultipartUpload,
                self.inner
                    .complete_multipart_upload(bucket, key, upload_id, parts, conditions),
            )
            .await?;
        self.uploads_in_progress.dec();
        Ok(meta)
    }

    async fn abort_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        self.observe(
            Method::AbortMultipartUpload,
            self.inner.abort_multipart_upload(bucket, key, upload_id),
        )
        .await?;
        self.uploads_in_progress.dec();
        Ok(())
    }

    async fn list_multipart_uploads(
        &self,
        bucket: &BucketName,
        query: &UploadsQuery,
    ) -> Result<UploadsPage, S3Error> {
        self.observe(
            Method::ListMultipartUploads,
            self.inner.list_multipart_uploads(bucket, query),
        )
        .await
    }

    async fn sweep_multipart_uploads(
        &self,
        older_than: std::time::Duration,
    ) -> Result<usize, S3Error> {
        self.observe(
            Method::SweepMultipartUploads,
            self.inner.sweep_multipart_uploads(older_than),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::fs::FsBackend;

    #[test]
    fn methods_are_listed_in_declaration_order() {
        for (i, m) in METHODS.iter().enumerate() {
            assert_eq!(*m as usize, i, "{m:?}");
        }
    }

    #[tokio::test]
    async fn counts_calls_errors_and_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Metrics::new();
        let fs: Arc<dyn Backend> = Arc::new(FsBackend::open(dir.path()).unwrap());
        let backend = MeteredBackend::new(fs, &metrics);
        let bucket = BucketName::parse("metered").unwrap();
        let key = ObjectKey::parse("k").unwrap();
        backend.create_bucket(&bucket).await.unwrap();
        let missing = backend
            .head_object(&bucket, &key, &Conditions::default())
            .await;
        assert!(missing.is_err());
        let id = backend
            .create_multipart_upload(&bucket, &key, UploadOptions::default())
            .await
            .unwrap();
        assert_eq!(metrics.multipart_uploads_in_progress.get(), 1);
        backend
            .abort_multipart_upload(&bucket, &key, &id)
            .await
            .unwrap();
        assert_eq!(metrics.multipart_uploads_in_progress.get(), 0);
        // An abort that fails does not count.
        let _ = backend.abort_multipart_upload(&bucket, &key, "nope").await;
        let text = String::from_utf8(metrics.render()).unwrap();
        for line in [
            "blobgate_backend_calls_total{backend=\"fs\",operation=\"create_bucket\"} 1",
            "blobgate_backend_calls_total{backend=\"fs\",operation=\"head_object\"} 1",
            "blobgate_backend_calls_total{backend=\"fs\",operation=\"abort_multipart_upload\"} 2",
            "blobgate_backend_errors_total{backend=\"fs\",kind=\"NoSuchKey\",operation=\"head_object\"} 1",
            "blobgate_backend_call_duration_seconds_count{backend=\"fs\",operation=\"head_object\"} 1",
            "blobgate_multipart_uploads_in_progress 0",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}

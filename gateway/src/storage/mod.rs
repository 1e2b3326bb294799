//! The storage backend contract: what every backend (local directory, Azure
//! Blob) must do, in S3 terms, with streamed bodies.
//!
//! Backends never see HTTP headers. They receive validated names, parsed
//! options and body streams, and answer with [`ObjectMeta`] and streams.
//! Errors are [`S3Error`]s; each backend converts its private errors in one
//! place.

pub mod azure;
pub mod cache;
pub mod fs;
pub mod metered;
pub mod multipart;
pub mod names;
pub mod parts;

use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use serde::{Deserialize, Serialize};

use crate::conditions::Conditions;
use crate::error::S3Error;
use crate::range::ByteRange;
pub use multipart::{
    CompletedPart, PartInfo, PartsPage, UploadChecksum, UploadInfo, UploadOptions, UploadsPage,
    UploadsQuery,
};
pub use names::{BucketName, ObjectKey};
pub use parts::ObjectParts;

/// A configuration document stored with a bucket, beside its policy; it
/// goes when the bucket goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BucketConfig {
    /// PutBucketCors's CORSConfiguration (XML).
    Cors,
    /// PutBucketTagging's Tagging document (XML).
    Tagging,
}

impl BucketConfig {
    /// Its name in storage (`@cors` on fs, `.blobgate/cors` on Azure).
    pub fn name(self) -> &'static str {
        match self {
            BucketConfig::Cors => "cors",
            BucketConfig::Tagging => "tagging",
        }
    }
}

/// A body flowing in or out. Memory use must not depend on its length.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, S3Error>> + Send>>;

/// A bucket as listed.
#[derive(Debug, Clone)]
pub struct BucketInfo {
    pub name: String,
    pub created: SystemTime,
}

/// Standard headers stored with an object and returned on GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// A checksum the client supplied and the gateway verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChecksum {
    /// Algorithm name as S3 spells it: CRC32, CRC32C, SHA1, SHA256, CRC64NVME.
    pub algorithm: String,
    /// Base64 value.
    pub value: String,
}

/// What is known about a stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub size: u64,
    /// The S3 ETag without quotes: hex MD5, or `md5-N` for multipart objects.
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: u64,
    #[serde(default)]
    pub headers: ContentHeaders,
    /// User metadata, names lower-cased, in the order given.
    #[serde(default)]
    pub user_metadata: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
    /// How many tags the object has (`x-amz-tagging-count`). Backends keep
    /// the tags themselves apart from this record: see
    /// [`Backend::get_object_tagging`].
    #[serde(skip)]
    pub tag_count: usize,
    /// A multipart object's parts (sizes, checksums); `None` for others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<ObjectParts>,
}

/// An object's tags, in the order given: (key, value) pairs with unique
/// keys, already checked against S3's limits.
pub type TagSet = Vec<(String, String)>;

impl ObjectMeta {
    pub fn last_modified(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(self.last_modified_ms)
    }
}

/// Options for storing an object.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub headers: ContentHeaders,
    pub user_metadata: Vec<(String, String)>,
    /// The client's checksum, already verified by the time the body ends.
    /// It is read from the shared outcome when the body has completed.
    pub checksum: Option<ChecksumSource>,
    /// Conditions on the object being replaced (If-Match / If-None-Match).
    pub conditions: Conditions,
    /// Exact body length when known in advance.
    pub content_length: Option<u64>,
    /// The object's tags (`x-amz-tagging`, or the source's on a copy).
    pub tags: TagSet,
}

/// Where a backend finds the verified checksum once the body is consumed.
#[derive(Clone)]
pub struct ChecksumSource(pub blobgate_auth::BodyOutcome);

impl std::fmt::Debug for ChecksumSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChecksumSource")
    }
}

impl ChecksumSource {
    /// The verified checksum, if the client sent one.
    pub fn stored(&self) -> Option<StoredChecksum> {
        self.0.checksum().map(|(alg, value)| StoredChecksum {
            algorithm: alg.name().to_owned(),
            value,
        })
    }
}

/// Options for reading an object.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    pub range: Option<ByteRange>,
    pub conditions: Conditions,
}

/// An object being read: its metadata, the byte range served and the body.
pub struct GetObjectOutput {
    pub meta: ObjectMeta,
    /// Inclusive byte range served, when a range was asked for.
    pub range: Option<(u64, u64)>,
    pub body: ByteStream,
}

/// A listing request, already validated.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// List keys strictly after this one (V1 marker, V2 start-after or the
    /// position carried by a continuation token).
    pub start_after: Option<String>,
    /// 1..=1000.
    pub max_keys: usize,
    /// A backend position from the previous page's `next_marker`, given
    /// together with that page's `next_after` as `start_after`. Opaque.
    pub resume_marker: Option<String>,
}

/// One listed object.
#[derive(Debug, Clone)]
pub struct ListEntry {
    pub key: String,
    pub meta: ObjectMeta,
}

/// One page of a listing, in UTF-8 binary key order.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ListEntry>,
    pub common_prefixes: Vec<String>,
    /// When truncated: the last key or common prefix returned; the next page
    /// starts strictly after it.
    pub next_after: Option<String>,
    /// With `next_after`, a backend position that resumes the listing
    /// cheaply (the Azure marker), carried in the continuation token.
    pub next_marker: Option<String>,
}

/// The storage contract. All methods take validated names.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs and metrics ("fs", "azure").
    fn kind(&self) -> &'static str;

    /// Whether the storage is reachable (readiness).
    async fn ready(&self) -> Result<(), S3Error>;

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, S3Error>;
    async fn create_bucket(&self, bucket: &BucketName) -> Result<(), S3Error>;
    async fn head_bucket(&self, bucket: &BucketName) -> Result<(), S3Error>;
    /// Fails with BucketNotEmpty while any object exists.
    async fn delete_bucket(&self, bucket: &BucketName) -> Result<(), S3Error>;

    /// Store an object atomically: readers see the previous object or the
    /// new one, never a partial one; a body error leaves the previous object.
    async fn put_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        body: ByteStream,
        options: PutOptions,
    ) -> Result<ObjectMeta, S3Error>;

    async fn head_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        conditions: &Conditions,
    ) -> Result<ObjectMeta, S3Error>;

    async fn get_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        options: GetOptions,
    ) -> Result<GetObjectOutput, S3Error>;

    /// Deleting a missing key succeeds, as in S3.
    async fn delete_object(&self, bucket: &BucketName, key: &ObjectKey) -> Result<(), S3Error>;

    async fn list_objects(
        &self,
        bucket: &BucketName,
        query: &ListQuery,
    ) -> Result<ListPage, S3Error>;

    /// The object's tags; NoSuchKey when there is no object.
    async fn get_object_tagging(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<TagSet, S3Error>;

    /// Replace the object's tags (an empty set removes them) without
    /// touching its bytes, metadata or ETag; NoSuchKey when there is no
    /// object. A backend that cannot hold a tag refuses it with InvalidTag,
    /// never storing something else.
    async fn put_object_tagging(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        tags: TagSet,
    ) -> Result<(), S3Error>;

    /// The bucket's policy document as stored, if it has one.
    async fn get_bucket_policy(&self, bucket: &BucketName) -> Result<Option<Vec<u8>>, S3Error>;
    /// Store (replace) the bucket's policy document, already validated.
    async fn put_bucket_policy(&self, bucket: &BucketName, policy: Vec<u8>) -> Result<(), S3Error>;
    /// Remove the bucket's policy; succeeds when there is none.
    async fn delete_bucket_policy(&self, bucket: &BucketName) -> Result<(), S3Error>;

    /// A configuration document kept with the bucket (its CORS rules), as
    /// stored, if it has one.
    async fn get_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
    ) -> Result<Option<Vec<u8>>, S3Error>;
    /// Store (replace) a configuration document, already validated.
    async fn put_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
        doc: Vec<u8>,
    ) -> Result<(), S3Error>;
    /// Remove a configuration document; succeeds when there is none.
    async fn delete_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
    ) -> Result<(), S3Error>;

    // Multipart uploads. All of their state lives in the storage, so any
    // gateway process can continue an upload another one started. Upload
    // ids are opaque to the caller; an id the backend never issued (or one
    // for another key) is NoSuchUpload. See `multipart` for the shared rules.

    /// Start an upload; returns its id. Headers and metadata are kept for
    /// the object that Complete creates.
    async fn create_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        options: UploadOptions,
    ) -> Result<String, S3Error>;

    /// Store one part (1..=10000), replacing an earlier part of that number.
    /// `content_length` is the exact body length. The part keeps the
    /// client's verified checksum (`checksum`, read once the body ended),
    /// which must be of the algorithm the upload declared, if it declared
    /// one (`parts::check_part_checksum`).
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
    ) -> Result<PartInfo, S3Error>;

    /// Parts after `part_number_marker`, in order, at most `max_parts`.
    async fn list_parts(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
        part_number_marker: u32,
        max_parts: usize,
    ) -> Result<PartsPage, S3Error>;

    /// Assemble the listed parts (already checked to be in ascending order)
    /// into the object, atomically, under `conditions` on the object being
    /// replaced. A failure leaves the upload as it was; a repeated Complete
    /// of an upload that already completed answers the same object.
    async fn complete_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[CompletedPart],
        conditions: &Conditions,
    ) -> Result<ObjectMeta, S3Error>;

    /// Forget an upload and its parts. Never touches the object at `key`.
    async fn abort_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        upload_id: &str,
    ) -> Result<(), S3Error>;

    /// Uploads in progress, ordered by key then initiation.
    async fn list_multipart_uploads(
        &self,
        bucket: &BucketName,
        query: &UploadsQuery,
    ) -> Result<UploadsPage, S3Error>;

    /// Remove uploads started more than `older_than` ago, in every bucket.
    /// Returns how many were removed.
    async fn sweep_multipart_uploads(
        &self,
        older_than: std::time::Duration,
    ) -> Result<usize, S3Error>;
}

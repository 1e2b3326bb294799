//! The Azure Blob backend: one bucket = one container of the project's
//! storage account, one key = one block blob of the same name.
//!
//! Decisions and pitfalls: the design's AZURE-MAPPING.md. In short:
//! - writes stream into staged blocks (or one Put Blob when the body fits
//!   in one block) and become visible in one commit that carries the
//!   Content-MD5, content headers and metadata, so the blob is a plain
//!   block blob other Azure tools read, and the S3 ETag is its MD5;
//! - S3 conditions are checked against the S3 ETag, then enforced by Azure
//!   on the Azure ETag in the same request, so check and act are atomic;
//! - reads stream from Azure as the client reads (one request, no
//!   buffering);
//! - listings use the service's own prefix/delimiter listing; the Azure
//!   marker travels in the continuation token, so any replica resumes;
//! - transient failures are retried here with backoff; what stays
//!   unavailable becomes 503 for the client, quickly.

mod feed;
mod listxml;
mod multipart;
mod props;
pub mod settings;
mod sharedkey;
mod tags;

use std::future::Future;
use std::num::NonZero;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::headers::HeaderName;
use azure_core::http::{ClientOptions, Etag, RetryOptions, Transport, Url};
use azure_identity::{
    ClientAssertionCredentialOptions, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use azure_storage_blob::models::{
    BlobClientDownloadOptions, BlobContainerClientListBlobsOptions,
    BlockBlobClientCommitBlockListOptions, BlockBlobClientUploadOptions, BlockLookupList,
    HttpRange, ListBlobsIncludeItem,
};
use azure_storage_blob::{
    BlobClient, BlobContainerClient, BlobContainerClientOptions, BlobServiceClient,
    BlobServiceClientOptions,
};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use md5::{Digest, Md5};

use crate::body::IdleTimeout;
use crate::conditions::{Access, Conditions, EtagCondition};
use crate::error::{S3Error, S3ErrorCode};
use crate::range::ByteRange;
use crate::storage::{
    Backend, BucketConfig, BucketInfo, BucketName, ByteStream, ChecksumSource, CompletedPart,
    GetObjectOutput, GetOptions, ListEntry, ListPage, ListQuery, ObjectKey, ObjectMeta, PartInfo,
    PartsPage, PutOptions, TagSet, UploadOptions, UploadsPage, UploadsQuery,
};
use props::BlobProps;
pub use settings::{AzureAuth, AzureSettings};
use sharedkey::{SharedKey, SharedKeyPolicy};

/// The Blob API version the gateway speaks: recent enough for every
/// feature used, and served by Azurite 3.35 without special flags.
const API_VERSION: &str = "2025-11-05";
/// Size of a staged block, and the largest body sent as one Put Blob.
const BLOCK_SIZE: usize = 8 << 20;
/// Blocks uploaded concurrently by one PUT (each holds one block in memory).
const STAGE_PARALLEL: usize = 3;
/// Attempts of one idempotent call, and the first backoff (then x3).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// One attempt (a metadata call, a block, the headers of a read) must
/// finish within this; so must each piece of a body being read.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// No new attempt starts after this much time, so a client waits at most
/// about this plus one attempt when Azure hangs.
const RETRY_BUDGET: Duration = Duration::from_secs(25);
/// Readiness must answer quickly even when Azure hangs.
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of a key left as they are in a blob URL (RFC 3986 unreserved).
const BLOB_NAME: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Keys under this prefix hold the gateway's own bookkeeping.
pub const RESERVED_PREFIX: &str = ".blobgate/";
/// The bucket policy of a container.
const POLICY_BLOB: &str = ".blobgate/policy.json";
/// A bucket policy is at most 20 KiB (S3's limit); refuse to read more.
const MAX_POLICY_BLOB: usize = 64 << 10;

/// Which object an Azure 404 without an error code refers to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Service,
    Container,
    Blob,
}

/// Entra ID tokens for the storage account from AKS workload identity: the
/// pod's projected service account token exchanged at Entra ID (the
/// variables the webhook sets). Tokens are cached and renewed before they
/// expire by the SDK.
fn workload_identity(transport: &Transport) -> Result<Arc<dyn TokenCredential>, String> {
    let options = WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: ClientOptions {
                transport: Some(transport.clone()),
                ..ClientOptions::default()
            },
        },
        ..WorkloadIdentityCredentialOptions::default()
    };
    let credential = WorkloadIdentityCredential::new(Some(options))
        .map_err(|e| format!("workload identity (AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_AUTHORITY_HOST): {e}"))?;
    Ok(credential)
}

/// Cheap to clone: spawned block uploads hold a clone.
#[derive(Clone)]
pub struct AzureBackend {
    account: String,
    service: Arc<BlobServiceClient>,
    client_options: ClientOptions,
    /// Entra ID tokens (workload identity); None with a key or SAS.
    credential: Option<Arc<dyn TokenCredential>>,
    /// Last time (seconds since the epoch) a credentials error was logged.
    auth_logged: Arc<AtomicU64>,
}

impl AzureBackend {
    /// A backend for the account in `settings`. Nothing is contacted yet:
    /// readiness reports whether Azure answers.
    pub fn new(settings: AzureSettings) -> Result<Self, String> {
        let mut endpoint = settings.endpoint.clone();
        let transport = Transport::new(azure_core::http::new_http_client(None));
        // How requests are signed: a policy of ours (account key), the SAS in
        // every URL, or the SDK's bearer tokens (workload identity).
        let mut per_try: Vec<Arc<dyn azure_core::http::policies::Policy>> = Vec::new();
        let mut credential = None;
        match &settings.auth {
            AzureAuth::SharedKey(key) => per_try.push(Arc::new(SharedKeyPolicy(Arc::new(
                SharedKey::new(&settings.account, key.clone()),
            )))),
            AzureAuth::Sas(query) => endpoint.set_query(Some(query)),
            AzureAuth::WorkloadIdentity => credential = Some(workload_identity(&transport)?),
        }
        let client_options = ClientOptions {
            per_try_policies: per_try,
            // Retries happen here, where it is known what is idempotent.
            retry: RetryOptions::none(),
            // One HTTP client (one connection pool, root certificates loaded
            // once) for every blob client made per request; without it the
            // SDK builds a new one each time (about 3 ms of CPU and a new
            // TCP connection per request).
            transport: Some(transport),
            ..ClientOptions::default()
        };
        let service = BlobServiceClient::new(
            endpoint,
            credential.clone(),
            Some(BlobServiceClientOptions {
                client_options: client_options.clone(),
                version: API_VERSION.to_owned(),
            }),
        )
        .map_err(|e| format!("--azure-endpoint {}: {e}", settings.endpoint))?;
        Ok(AzureBackend {
            account: settings.account,
            service: Arc::new(service),
            client_options,
            credential,
            auth_logged: Arc::new(AtomicU64::new(0)),
        })
    }

    fn container(&self, bucket: &BucketName) -> BlobContainerClient {
        self.service.blob_container_client(bucket.as_str())
    }

    /// The client of one blob. The key is percent-encoded here, whole (its
    /// `/` too): the SDK's own path building drops tabs and line breaks, as
    /// URL parsing does with literal ones.
    fn blob(&self, bucket: &BucketName, key: &ObjectKey) -> Result<BlobClient, S3Error> {
        let mut url: Url = self.container(bucket).url().clone();
        let path = format!(
            "{}/{}",
            url.path(),
            percent_encoding::utf8_percent_encode(key.as_str(), BLOB_NAME)
        );
        url.set_path(&path);
        BlobClient::new(
            url,
            self.credential.clone(),
            Some(azure_storage_blob::BlobClientOptions {
                client_options: self.client_options.clone(),
                version: API_VERSION.to_owned(),
            }),
        )
        .map_err(S3Error::internal)
    }

    /// Run an idempotent call, retrying transient failures with backoff.
    async fn retry<T, F, Fut>(&self, mut call: F) -> azure_core::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = azure_core::Result<T>>,
    {
        let started = std::time::Instant::now();
        let mut delay = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let result = match tokio::time::timeout(ATTEMPT_TIMEOUT, call()).await {
                Ok(r) => r,
                Err(_) => Err(azure_core::Error::with_message(
                    ErrorKind::Io,
                    format!("Azure did not answer within {ATTEMPT_TIMEOUT:?}"),
                )),
            };
            match result {
                Err(e)
                    if attempt < ATTEMPTS
                        && transient(&e)
                        && started.elapsed() + delay < RETRY_BUDGET =>
                {
                    tracing::debug!(error = %e, attempt, "retrying an Azure call");
                    crate::metrics::azure_retry();
                    let jitter = Duration::from_millis(rand::random::<u64>() % 50);
                    tokio::time::sleep(delay + jitter).await;
                    delay *= 3;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Translate an Azure failure into what the S3 client sees.
    fn s3_error(&self, e: azure_core::Error, target: Target) -> S3Error {
        let (status, code) = match e.kind() {
            ErrorKind::HttpResponse {
                status, error_code, ..
            } => (u16::from(*status), error_code.clone().unwrap_or_default()),
            // No Entra ID token (workload identity): Azure was not asked.
            ErrorKind::Credential => {
                self.log_token_problem(&e);
                return S3Error::new(
                    S3ErrorCode::ServiceUnavailable,
                    "The gateway cannot access its storage account.",
                );
            }
            ErrorKind::Connection | ErrorKind::Io => {
                tracing::warn!(account = %self.account, error = %e, "Azure Blob storage is unreachable");
                return S3Error::new(
                    S3ErrorCode::ServiceUnavailable,
                    "The storage backend is unreachable. Please try again.",
                );
            }
            _ => return S3Error::internal(e),
        };
        match (status, code.as_str()) {
            (404, "ContainerNotFound") => S3Error::no_such_bucket(),
            (404, "BlobNotFound") => S3Error::no_such_key(),
            (404, _) if target == Target::Container => S3Error::no_such_bucket(),
            (404, _) if target == Target::Blob => S3Error::no_such_key(),
            (304, _) => S3Error::not_modified(),
            (412, _) | (409, "BlobAlreadyExists") => S3Error::precondition_failed(),
            (409, "ContainerAlreadyExists") => S3Error::new(
                S3ErrorCode::BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it.",
            ),
            (409, "ContainerBeingDeleted") if target == Target::Container => S3Error::new(
                S3ErrorCode::OperationAborted,
                "The bucket is being deleted. Please try again.",
            ),
            (409, "ContainerBeingDeleted") => S3Error::no_such_bucket(),
            (400, "InvalidBlockList" | "InvalidBlobOrBlock") => S3Error::new(
                S3ErrorCode::OperationAborted,
                "A concurrent write to this key replaced this upload's data. Please try again.",
            ),
            (400, "BlockCountExceedsLimit") => S3Error::new(
                S3ErrorCode::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size",
            ),
            (400, "InvalidUri" | "InvalidResourceName") if target == Target::Blob => S3Error::new(
                S3ErrorCode::InvalidObjectName,
                "The storage backend cannot store an object under this key",
            ),
            (401 | 403, _) => {
                self.log_credentials_problem(&code);
                S3Error::new(
                    S3ErrorCode::ServiceUnavailable,
                    "The gateway cannot access its storage account.",
                )
            }
            (503, _) | (500, "OperationTimedOut") => S3Error::new(
                S3ErrorCode::SlowDown,
                "The storage backend is busy. Please reduce your request rate.",
            ),
            (500..=599, _) => {
                tracing::warn!(account = %self.account, status, code = %code, "Azure Blob storage failed");
                S3Error::new(
                    S3ErrorCode::ServiceUnavailable,
                    "The storage backend is unavailable. Please try again.",
                )
            }
            _ => S3Error::internal(e),
        }
    }

    /// A wrong key or SAS is the operator's problem, not the client's: say
    /// so clearly in the log (at most every 10 s).
    fn log_credentials_problem(&self, code: &str) {
        if self.credentials_log_due() {
            tracing::error!(
                account = %self.account,
                azure_error = %code,
                "Azure rejected the gateway's credentials: check AZURE_STORAGE_KEY, \
                 AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING, or the workload \
                 identity's role on the account (the S3 client's credentials are not the problem)"
            );
        }
    }

    /// No Entra ID token (workload identity): Entra ID refused the service
    /// account token, or could not be reached. Azure was not asked.
    fn log_token_problem(&self, error: &azure_core::Error) {
        if self.credentials_log_due() {
            tracing::error!(
                account = %self.account,
                error = %error,
                "no Entra ID token for the storage account (workload identity): check the \
                 managed identity's federated credential for this service account, \
                 AZURE_CLIENT_ID and AZURE_TENANT_ID, and that Entra ID is reachable"
            );
        }
    }

    /// Whether a credentials problem may be logged now (every 10 s at most).
    fn credentials_log_due(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let last = self.auth_logged.load(Ordering::Relaxed);
        now >= last + 10
            && self
                .auth_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    async fn props(&self, bucket: &BucketName, key: &ObjectKey) -> Result<BlobProps, S3Error> {
        let blob = self.blob(bucket, key)?;
        let response = self
            .retry(|| blob.get_properties(None))
            .await
            .map_err(|e| self.s3_error(e, Target::Blob))?;
        let headers = response.headers();
        let size = header(headers, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let props = props::from_headers(headers, size);
        if props.is_folder {
            return Err(S3Error::no_such_key());
        }
        Ok(props)
    }

    /// Turn S3 write conditions into Azure conditions on the current blob,
    /// checking the S3 ETag now and letting Azure enforce the Azure ETag at
    /// commit time (so nothing can slip in between).
    async fn write_conditions(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        conditions: &Conditions,
    ) -> Result<(Option<Etag>, Option<Etag>), S3Error> {
        if conditions.is_empty() {
            return Ok((None, None));
        }
        if conditions.if_match.is_none() && conditions.if_none_match == Some(EtagCondition::Any) {
            return Ok((None, Some(Etag::from("*"))));
        }
        let current = match self.props(bucket, key).await {
            Ok(p) => Some(p),
            Err(e) if e.code == S3ErrorCode::NoSuchKey => None,
            Err(e) => return Err(e),
        };
        azure_conditions(current.as_ref(), conditions)
    }

    /// One page of List Blobs, parsed. `delimiter` is passed in the URL:
    /// the SDK no longer offers it as an option.
    async fn list_page(
        &self,
        bucket: &BucketName,
        prefix: &str,
        delimiter: Option<&str>,
        marker: Option<&str>,
        start_from: Option<&str>,
        max_results: usize,
    ) -> Result<listxml::Page, S3Error> {
        let mut url: Url = self.container(bucket).url().clone();
        if let Some(d) = delimiter {
            url.query_pairs_mut().append_pair("delimiter", d);
        }
        let client = BlobContainerClient::new(
            url,
            self.credential.clone(),
            Some(BlobContainerClientOptions {
                client_options: self.client_options.clone(),
                version: API_VERSION.to_owned(),
            }),
        )
        .map_err(S3Error::internal)?;
        let body = self
            .retry(|| async {
                let options = BlobContainerClientListBlobsOptions {
                    include: Some(vec![ListBlobsIncludeItem::Metadata]),
                    marker: marker.map(str::to_owned),
                    maxresults: Some(max_results.clamp(1, 5000) as i32),
                    prefix: Some(prefix.to_owned()).filter(|p| !p.is_empty()),
                    start_from: start_from.map(str::to_owned),
                    ..Default::default()
                };
                let mut pages = client.list_blobs(Some(options))?.into_pages();
                match pages.next().await {
                    Some(page) => Ok(Some(page?.into_body())),
                    None => Ok(None),
                }
            })
            .await
            .map_err(|e| self.s3_error(e, Target::Container))?;
        match body {
            Some(body) => listxml::parse(body.as_ref()).map_err(S3Error::internal),
            None => Ok(listxml::Page::default()),
        }
    }

    /// Whether any visible key under `prefix` sorts after `bound`.
    async fn any_key_after(
        &self,
        bucket: &BucketName,
        prefix: &str,
        bound: &str,
    ) -> Result<bool, S3Error> {
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .list_page(bucket, prefix, None, marker.as_deref(), Some(bound), 1000)
                .await?;
            let found = page.items.iter().any(|item| match item {
                listxml::Item::Blob {
                    name, is_folder, ..
                } => !is_folder && azure_order(name, bound).is_gt() && visible(name),
                listxml::Item::Prefix(_) => false,
            });
            if found {
                return Ok(true);
            }
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => return Ok(false),
            }
        }
    }

    /// Stream the rest of `body` into staged blocks; the first block is
    /// already in `first` (and is the last when `ended`). Block `n` is
    /// staged under `id_of(n)`. Returns the block ids to commit, in order.
    ///
    /// At most STAGE_PARALLEL blocks are in flight, and their buffers are
    /// reused: an upload allocates a handful of block buffers however long
    /// it is (allocating one per block made the allocator's footprint grow
    /// with object size).
    async fn put_blocks(
        &self,
        blob: &BlobClient,
        first: BytesMut,
        ended: bool,
        body: &mut ByteStream,
        reader: &mut BodyReader,
        id_of: &(dyn Fn(u64) -> Vec<u8> + Sync),
    ) -> Result<Vec<Vec<u8>>, S3Error> {
        let mut ids: Vec<Vec<u8>> = Vec::new();
        let mut staging: tokio::task::JoinSet<Result<Bytes, S3Error>> = tokio::task::JoinSet::new();
        let mut spare: Vec<BytesMut> = Vec::new();
        let mut next = Some(first);
        while let Some(block) = next.take() {
            while staging.len() >= STAGE_PARALLEL {
                spare.extend(join_one(&mut staging).await?);
            }
            let id = id_of(ids.len() as u64);
            ids.push(id.clone());
            let client = blob.block_blob_client();
            let backend = self.clone();
            let block = block.freeze();
            staging.spawn(async move {
                let len = block.len() as u64;
                backend
                    .retry(|| client.stage_block(&id, len, block.clone().into(), None))
                    .await
                    .map_err(|e| backend.s3_error(e, Target::Blob))?;
                Ok(block)
            });
            if ended {
                break;
            }
            let buf = spare.pop().unwrap_or_default();
            let (chunk, _ended) = reader.read_block(body, buf).await?;
            if !chunk.is_empty() {
                next = Some(chunk);
            }
        }
        while !staging.is_empty() {
            join_one(&mut staging).await?;
        }
        Ok(ids)
    }
}

/// The Azure conditions that enforce S3 write `conditions` (already checked
/// here against `current`, the blob as it is now, `None` when absent) at
/// commit time: If-Match on its Azure ETag, or If-None-Match `*`.
fn azure_conditions(
    current: Option<&BlobProps>,
    conditions: &Conditions,
) -> Result<(Option<Etag>, Option<Etag>), S3Error> {
    if conditions.is_empty() {
        return Ok((None, None));
    }
    match current {
        Some(p) => {
            conditions.check(&p.meta.etag, p.meta.last_modified(), Access::Write)?;
            Ok((Some(Etag::from(p.azure_etag.clone())), None))
        }
        None => {
            conditions.check_absent()?;
            Ok((None, Some(Etag::from("*"))))
        }
    }
}

/// Length in bytes of every block id the gateway stages: all ids staged on
/// one blob must have the same length, and a PUT and multipart uploads may
/// stage on the same blob at the same time.
const BLOCK_ID_LEN: usize = 48;

/// Block ids of a PUT: a 32-character upload tag and a 16-digit sequence
/// number (multipart ids: `multipart::part_block_id`).
fn block_id(upload: &str, n: u64) -> Vec<u8> {
    let id = format!("{upload:.32}{n:016}").into_bytes();
    debug_assert_eq!(id.len(), BLOCK_ID_LEN);
    id
}

/// Wait for one staged block; hand back its buffer for reuse when nothing
/// else holds it any more.
async fn join_one(
    set: &mut tokio::task::JoinSet<Result<Bytes, S3Error>>,
) -> Result<Option<BytesMut>, S3Error> {
    match set.join_next().await {
        Some(Ok(r)) => Ok(r?.try_into_mut().ok()),
        Some(Err(e)) => Err(S3Error::internal(e)),
        None => Ok(None),
    }
}

/// Reads a PUT body block by block, keeping the MD5 and the length.
struct BodyReader {
    md5: Md5,
    size: u64,
    /// The length the client announced, if any.
    expected: Option<u64>,
    /// The part of a frame that did not fit in the previous block.
    pending: Option<Bytes>,
}

impl BodyReader {
    fn new(expected: Option<u64>) -> Self {
        BodyReader {
            md5: Md5::new(),
            size: 0,
            expected,
            pending: None,
        }
    }

    /// Read up to one block into `buf` (cleared first). Returns the block
    /// and whether the body ended.
    async fn read_block(
        &mut self,
        body: &mut ByteStream,
        mut buf: BytesMut,
    ) -> Result<(BytesMut, bool), S3Error> {
        buf.clear();
        // Reserve the block once when its size is known, so the buffer does
        // not grow by reallocation; a small object gets a small buffer.
        let hint = match self.expected {
            Some(total) => total.saturating_sub(self.size).min(BLOCK_SIZE as u64) as usize,
            None if self.size > 0 => BLOCK_SIZE,
            None => 64 << 10,
        };
        if buf.capacity() < hint {
            buf.reserve(hint - buf.len());
        }
        if let Some(rest) = self.pending.take() {
            buf.extend_from_slice(&rest);
        }
        while buf.len() < BLOCK_SIZE {
            let Some(chunk) = body.next().await else {
                return Ok((buf, true));
            };
            let chunk = chunk?;
            self.md5.update(&chunk);
            self.size += chunk.len() as u64;
            let room = BLOCK_SIZE - buf.len();
            if chunk.len() <= room {
                buf.extend_from_slice(&chunk);
            } else {
                // Blocks stay BLOCK_SIZE, so reused buffers never grow.
                buf.extend_from_slice(&chunk[..room]);
                self.pending = Some(chunk.slice(room..));
            }
        }
        Ok((buf, false))
    }
}

fn header<'a>(
    headers: &'a azure_core::http::headers::Headers,
    name: &'static str,
) -> Option<&'a str> {
    headers.get_optional_str(&HeaderName::from_static(name))
}

/// Failures worth another attempt: the request may not have been served.
fn transient(e: &azure_core::Error) -> bool {
    match e.kind() {
        ErrorKind::Connection | ErrorKind::Io => true,
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => {
            let status = u16::from(*status);
            matches!(status, 408 | 500 | 502 | 503 | 504)
                || matches!(
                    error_code.as_deref(),
                    Some("ServerBusy" | "OperationTimedOut" | "InternalError")
                )
        }
        _ => false,
    }
}

/// Keys S3 clients may see (the reserved prefix holds gateway state).
fn visible(key: &str) -> bool {
    !key.starts_with(RESERVED_PREFIX)
}

/// Keys no blob can carry unchanged: `.` and `..` are dot segments, removed
/// from any URL path before Azure sees it, and Azure turns `\` into `/`,
/// so such a key would be stored (and listed) under another name, possibly
/// another object's.
fn check_addressable(key: &ObjectKey) -> Result<(), S3Error> {
    let k = key.as_str();
    if matches!(k, "." | "..") {
        return Err(S3Error::new(
            S3ErrorCode::InvalidObjectName,
            "Azure Blob storage cannot store an object named '.' or '..'",
        ));
    }
    if k.contains('\\') {
        return Err(S3Error::new(
            S3ErrorCode::InvalidObjectName,
            "Azure Blob storage cannot store keys with a backslash",
        ));
    }
    Ok(())
}

fn reserved_key_error() -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidObjectName,
        format!("Keys under {RESERVED_PREFIX} are reserved by the gateway"),
    )
}

/// The common prefix `key` rolls up into, if any.
fn common_prefix<'a>(key: &'a str, prefix: &str, delimiter: Option<&str>) -> Option<&'a str> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    let at = rest.find(delimiter)?;
    key.get(..prefix.len() + at + delimiter.len())
}

fn parse_content_range_total(v: &str) -> Option<u64> {
    v.rsplit_once('/')?.1.trim().parse().ok()
}

/// A bucket's configuration document: a blob under the reserved prefix,
/// which listings never show and DeleteBucket removes with the container.
fn config_blob(kind: BucketConfig) -> String {
    format!("{RESERVED_PREFIX}{}", kind.name())
}

impl AzureBackend {
    async fn read_bucket_blob(
        &self,
        bucket: &BucketName,
        name: &str,
    ) -> Result<Option<Vec<u8>>, S3Error> {
        let blob = self.service.blob_client(bucket.as_str(), name);
        let response = match self.retry(|| blob.download(None)).await {
            Ok(r) => r,
            Err(e) => {
                return match self.s3_error(e, Target::Blob) {
                    e if e.code == S3ErrorCode::NoSuchKey => Ok(None),
                    e => Err(e),
                }
            }
        };
        let mut body = response.body;
        let mut doc = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.s3_error(e, Target::Blob))?;
            if doc.len() + chunk.len() > MAX_POLICY_BLOB {
                return Err(S3Error::internal(format!(
                    "the stored bucket document {name} is too large"
                )));
            }
            doc.extend_from_slice(&chunk);
        }
        Ok(Some(doc))
    }

    async fn write_bucket_blob(
        &self,
        bucket: &BucketName,
        name: &str,
        content_type: &str,
        doc: Vec<u8>,
    ) -> Result<(), S3Error> {
        let client = self
            .service
            .blob_client(bucket.as_str(), name)
            .block_blob_client();
        let doc = Bytes::from(doc);
        let options = BlockBlobClientUploadOptions {
            blob_content_type: Some(content_type.into()),
            parallel: NonZero::new(1),
            ..Default::default()
        };
        self.retry(|| client.upload(doc.clone().into(), Some(options.clone())))
            .await
            .map(drop)
            .map_err(|e| self.s3_error(e, Target::Container))
    }

    async fn remove_bucket_blob(&self, bucket: &BucketName, name: &str) -> Result<(), S3Error> {
        let blob = self.service.blob_client(bucket.as_str(), name);
        match self.retry(|| blob.delete(None)).await {
            Ok(_) => Ok(()),
            Err(e) => match self.s3_error(e, Target::Blob) {
                e if e.code == S3ErrorCode::NoSuchKey => Ok(()),
                e => Err(e),
            },
        }
    }
}

#[async_trait]
impl Backend for AzureBackend {
    fn kind(&self) -> &'static str {
        "azure"
    }

    async fn ready(&self) -> Result<(), S3Error> {
        // One cheap authenticated call, no retries: readiness must be quick.
        let mut pages = self
            .service
            .list_containers(Some(
                azure_storage_blob::models::BlobServiceClientListContainersOptions {
                    maxresults: Some(1),
                    ..Default::default()
                },
            ))
            .map_err(S3Error::internal)?
            .into_pages();
        match tokio::time::timeout(READY_TIMEOUT, pages.next()).await {
            Ok(Some(Err(e))) => Err(self.s3_error(e, Target::Service)),
            Ok(_) => Ok(()),
            Err(_) => Err(S3Error::new(
                S3ErrorCode::ServiceUnavailable,
                "The storage backend did not answer in time.",
            )),
        }
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>, S3Error> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .retry(|| async {
                    let options =
                        azure_storage_blob::models::BlobServiceClientListContainersOptions {
                            marker: marker.clone(),
                            ..Default::default()
                        };
                    let mut pages = self.service.list_containers(Some(options))?.into_pages();
                    match pages.next().await {
                        Some(p) => Ok(Some(p?.into_model()?)),
                        None => Ok(None),
                    }
                })
                .await
                .map_err(|e| self.s3_error(e, Target::Service))?;
            let Some(page) = page else { break };
            for c in page.container_items {
                // System containers ($logs, $web...) are not S3 buckets.
                let Some(name) = c.name.filter(|n| BucketName::parse(n).is_ok()) else {
                    continue;
                };
                let created = c
                    .properties
                    .and_then(|p| p.last_modified)
                    .map(SystemTime::from)
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                out.push(BucketInfo { name, created });
            }
            match page.next_marker.filter(|m| !m.is_empty()) {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn create_bucket(&self, bucket: &BucketName) -> Result<(), S3Error> {
        let container = self.container(bucket);
        self.retry(|| container.create(None))
            .await
            .map(drop)
            .map_err(|e| self.s3_error(e, Target::Container))
    }

    async fn head_bucket(&self, bucket: &BucketName) -> Result<(), S3Error> {
        let container = self.container(bucket);
        self.retry(|| container.get_properties(None))
            .await
            .map(drop)
            .map_err(|e| self.s3_error(e, Target::Container))
    }

    async fn delete_bucket(&self, bucket: &BucketName) -> Result<(), S3Error> {
        // Azure deletes a container with its blobs: refuse while any object
        // is visible, as S3 does.
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .list_page(bucket, "", Some("/"), marker.as_deref(), None, 100)
                .await?;
            let occupied = page.items.iter().any(|item| match item {
                listxml::Item::Blob {
                    name, is_folder, ..
                } => !is_folder && visible(name),
                listxml::Item::Prefix(p) => p.as_str() != RESERVED_PREFIX,
            });
            if occupied {
                return Err(S3Error::new(
                    S3ErrorCode::BucketNotEmpty,
                    "The bucket you tried to delete is not empty",
                ));
            }
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        let container = self.container(bucket);
        match self.retry(|| container.delete(None)).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.s3_error(e, Target::Container)),
        }
    }

    async fn put_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        mut body: ByteStream,
        options: PutOptions,
    ) -> Result<ObjectMeta, S3Error> {
        check_addressable(key)?;
        if !visible(key.as_str()) {
            return Err(reserved_key_error());
        }
        let tag_header = tags::header(&options.tags)?;
        let (if_match, if_none_match) = self
            .write_conditions(bucket, key, &options.conditions)
            .await?;
        let blob = self.blob(bucket, key)?;
        let mut reader = BodyReader::new(options.content_length);
        let (first, ended) = reader.read_block(&mut body, BytesMut::new()).await?;
        let (single, blocks) = if ended {
            (first.freeze(), None)
        } else {
            let upload = format!("{:032x}", rand::random::<u128>());
            let ids = self
                .put_blocks(&blob, first, false, &mut body, &mut reader, &|n| {
                    block_id(&upload, n)
                })
                .await?;
            (Bytes::new(), Some(ids))
        };
        let size = reader.size;
        if let Some(expected) = options.content_length {
            if expected != size {
                return Err(S3Error::new(
                    S3ErrorCode::IncompleteBody,
                    "You did not provide the number of bytes specified by the Content-Length HTTP header",
                ));
            }
        }
        // The body has ended, so its checksum (if any) has been verified.
        let checksum = options.checksum.as_ref().and_then(|c| c.stored());
        let digest = reader.md5.finalize().to_vec();
        let metadata = props::to_azure(
            &options.user_metadata,
            &options.headers,
            checksum.as_ref(),
            None,
        );
        let h = &options.headers;
        let response_headers = match blocks {
            None => {
                let upload = BlockBlobClientUploadOptions {
                    blob_cache_control: h.cache_control.clone(),
                    blob_content_disposition: h.content_disposition.clone(),
                    blob_content_encoding: h.content_encoding.clone(),
                    blob_content_language: h.content_language.clone(),
                    blob_content_md5: Some(digest.clone()),
                    blob_content_type: h.content_type.clone(),
                    metadata: Some(metadata),
                    blob_tags_string: tag_header,
                    if_match,
                    if_none_match,
                    parallel: NonZero::new(1),
                    partition_size: NonZero::new((BLOCK_SIZE as u64) * 2),
                    ..Default::default()
                };
                let client = blob.block_blob_client();
                self.retry(|| client.upload(single.clone().into(), Some(upload.clone())))
                    .await
                    .map(|r| r.raw_response.headers().clone())
            }
            Some(ids) => {
                let commit = BlockBlobClientCommitBlockListOptions {
                    blob_cache_control: h.cache_control.clone(),
                    blob_content_disposition: h.content_disposition.clone(),
                    blob_content_encoding: h.content_encoding.clone(),
                    blob_content_language: h.content_language.clone(),
                    blob_content_md5: Some(digest.clone()),
                    blob_content_type: h.content_type.clone(),
                    metadata: Some(metadata),
                    blob_tags_string: tag_header,
                    if_match,
                    if_none_match,
                    ..Default::default()
                };
                let list = BlockLookupList {
                    latest: Some(ids),
                    ..Default::default()
                };
                let client = blob.block_blob_client();
                self.retry(|| async {
                    client
                        .commit_block_list(list.clone().try_into()?, Some(commit.clone()))
                        .await
                })
                .await
                .map(|r| r.headers().clone())
            }
        }
        .map_err(|e| self.s3_error(e, Target::Blob))?;
        let last_modified_ms = match props::http_date_ms(header(&response_headers, "last-modified"))
        {
            0 => props::now_ms(),
            ms => ms,
        };
        Ok(ObjectMeta {
            size,
            etag: hex::encode(&digest),
            last_modified_ms,
            headers: options.headers,
            user_metadata: options.user_metadata,
            checksum,
            tag_count: options.tags.len(),
            parts: None,
        })
    }

    async fn head_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        conditions: &Conditions,
    ) -> Result<ObjectMeta, S3Error> {
        check_addressable(key)?;
        if !visible(key.as_str()) {
            return Err(S3Error::no_such_key());
        }
        let p = self.props(bucket, key).await?;
        conditions.check(&p.meta.etag, p.meta.last_modified(), Access::Read)?;
        Ok(p.meta)
    }

    async fn get_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        options: GetOptions,
    ) -> Result<GetObjectOutput, S3Error> {
        check_addressable(key)?;
        if !visible(key.as_str()) {
            return Err(S3Error::no_such_key());
        }
        let blob = self.blob(bucket, key)?;
        // A few rounds in case the blob changes between the check and the read.
        let mut rounds = 0;
        loop {
            rounds += 1;
            // Conditions on the S3 ETag and suffix ranges need the
            // properties first; the read is then pinned to that version.
            let needs_props = !options.conditions.is_empty()
                || matches!(options.range, Some(ByteRange::Suffix(_)));
            let (pin, known_size) = if needs_props {
                let p = self.props(bucket, key).await?;
                options
                    .conditions
                    .check(&p.meta.etag, p.meta.last_modified(), Access::Read)?;
                (Some(Etag::from(p.azure_etag)), Some(p.meta.size))
            } else {
                (None, None)
            };
            let range: Option<HttpRange> = match (options.range, known_size) {
                (None, _) => None,
                (Some(r), Some(size)) => {
                    let (first, last) = r.resolve(size)?;
                    Some((first..=last).into())
                }
                (Some(ByteRange::From { first, last: None }), None) => Some((first..).into()),
                (
                    Some(ByteRange::From {
                        first,
                        last: Some(last),
                    }),
                    None,
                ) => Some((first..=last).into()),
                (Some(ByteRange::Suffix(_)), None) => None,
            };
            let download = BlobClientDownloadOptions {
                range,
                if_match: pin.clone(),
                parallel: NonZero::new(1),
                partition_size: NonZero::new(usize::MAX / 2),
                ..Default::default()
            };
            let result = self.retry(|| blob.download(Some(download.clone()))).await;
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    let status = e.http_status().map(u16::from);
                    if status == Some(412) && pin.is_some() && rounds < 3 {
                        continue; // changed since the check: check again
                    }
                    if status == Some(416) {
                        // Answer exactly as for any other unsatisfiable range.
                        let p = self.props(bucket, key).await?;
                        if let Some(r) = options.range {
                            r.resolve(p.meta.size)?;
                        }
                        if rounds < 3 {
                            continue;
                        }
                    }
                    return Err(self.s3_error(e, Target::Blob));
                }
            };
            let headers = &response.headers;
            let total = header(headers, "content-range")
                .and_then(parse_content_range_total)
                .or_else(|| header(headers, "content-length").and_then(|v| v.parse().ok()))
                .unwrap_or(0);
            let p = props::from_headers(headers, total);
            if p.is_folder {
                return Err(S3Error::no_such_key());
            }
            let served = match options.range {
                None => None,
                Some(r) => Some(r.resolve(total)?),
            };
            let body = response.body.map(|chunk| {
                chunk.map_err(|e| {
                    S3Error::new(
                        S3ErrorCode::ServiceUnavailable,
                        "The storage backend failed while sending the object",
                    )
                    .with_source(e)
                })
            });
            // A read that stalls in Azure ends (the client's connection is
            // cut) rather than hanging.
            let body: ByteStream = Box::pin(IdleTimeout::with_error(body, ATTEMPT_TIMEOUT, || {
                S3Error::new(
                    S3ErrorCode::ServiceUnavailable,
                    "The storage backend stopped sending the object",
                )
            }));
            return Ok(GetObjectOutput {
                meta: p.meta,
                range: served,
                body,
            });
        }
    }

    async fn delete_object(&self, bucket: &BucketName, key: &ObjectKey) -> Result<(), S3Error> {
        check_addressable(key)?;
        if !visible(key.as_str()) {
            return Ok(());
        }
        let blob = self.blob(bucket, key)?;
        match self.retry(|| blob.delete(None)).await {
            Ok(_) => Ok(()),
            Err(e) => match self.s3_error(e, Target::Blob) {
                // Deleting a missing key succeeds, as in S3.
                e if e.code == S3ErrorCode::NoSuchKey => Ok(()),
                e => Err(e),
            },
        }
    }

    async fn list_objects(
        &self,
        bucket: &BucketName,
        query: &ListQuery,
    ) -> Result<ListPage, S3Error> {
        let prefix = query.prefix.as_str();
        let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty());
        // Azurite rolls up on the first character of a longer delimiter, so
        // only one-character delimiters go to the service; longer ones are
        // rolled up here, from a flat listing.
        let native = delimiter.filter(|d| d.chars().count() == 1);
        let bound = query.start_after.as_deref().unwrap_or("");
        // A bound that is itself a common prefix skips everything under it.
        let skip = common_prefix(bound, prefix, delimiter).filter(|cp| *cp == bound);
        let mut marker = query.resume_marker.clone();
        let mut page = ListPage::default();
        let mut emitted = 0usize;
        loop {
            // Without a marker, start near the bound (real Azure honours
            // startFrom; an emulator that ignores it is still correct, as
            // keys up to the bound are skipped below).
            let start_from = (marker.is_none() && !bound.is_empty()).then_some(bound);
            let want = query.max_keys.saturating_sub(emitted).max(1);
            let azure = self
                .list_page(bucket, prefix, native, marker.as_deref(), start_from, want)
                .await?;
            for item in azure.items {
                let (name, meta) = match item {
                    listxml::Item::Blob {
                        name,
                        meta,
                        is_folder,
                    } => {
                        if is_folder || !visible(&name) || !name.starts_with(prefix) {
                            continue;
                        }
                        (name, Some(meta))
                    }
                    listxml::Item::Prefix(cp) => {
                        if !visible(&cp) || !cp.starts_with(prefix) {
                            continue;
                        }
                        (cp, None)
                    }
                };
                if skip.is_some_and(|s| name.starts_with(s)) {
                    continue;
                }
                let rolled = match &meta {
                    Some(_) => common_prefix(&name, prefix, delimiter).map(str::to_owned),
                    None => Some(name.clone()),
                };
                match (rolled, meta) {
                    (None, Some(meta)) => {
                        if azure_order(&name, bound).is_le() {
                            continue;
                        }
                        page.objects.push(ListEntry { key: name, meta });
                    }
                    (Some(cp), _) => {
                        if page.common_prefixes.last() == Some(&cp) {
                            continue; // rolled up here: one entry per prefix
                        }
                        if azure_order(&cp, bound).is_le() {
                            // The bound lies inside this prefix: show it only
                            // if keys after the bound roll into it.
                            let after = match &rolled_key(&name, &cp) {
                                Some(key) => azure_order(key, bound).is_gt(),
                                None => self.any_key_after(bucket, &cp, bound).await?,
                            };
                            if !(bound.starts_with(cp.as_str()) && after) {
                                continue;
                            }
                        }
                        page.common_prefixes.push(cp);
                    }
                    (None, None) => continue,
                }
                emitted += 1;
            }
            match azure.next_marker {
                Some(m) if emitted >= query.max_keys => {
                    page.next_after = last_returned(&page);
                    page.next_marker = Some(m);
                    return Ok(page);
                }
                Some(m) => marker = Some(m),
                None => return Ok(page),
            }
        }
    }
    async fn get_object_tagging(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<TagSet, S3Error> {
        check_addressable(key)?;
        if !visible(key.as_str()) {
            return Err(S3Error::no_such_key());
        }
        let blob = self.blob(bucket, key)?;
        let response = self
            .retry(|| blob.get_tags(None))
            .await
            .map_err(|e| self.s3_error(e, Target::Blob))?;
        let doc = response
            .into_model()
            .map_err(|e| self.s3_error(e, Target::Blob))?;
        Ok(tags::from_document(doc))
    }

    async fn put_object_tagging(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        tags: TagSet,
    ) -> Result<(), S3Error> {
        check_addressable(key)?;
        if !visible(key.as_str()) {
            return Err(S3Error::no_such_key());
        }
        let doc = tags::document(&tags)?;
        let blob = self.blob(bucket, key)?;
        self.retry(|| async { blob.set_tags(doc.clone().try_into()?, None).await })
            .await
            .map_err(|e| self.s3_error(e, Target::Blob))?;
        Ok(())
    }

    async fn get_bucket_policy(&self, bucket: &BucketName) -> Result<Option<Vec<u8>>, S3Error> {
        self.read_bucket_blob(bucket, POLICY_BLOB).await
    }

    async fn put_bucket_policy(&self, bucket: &BucketName, policy: Vec<u8>) -> Result<(), S3Error> {
        self.write_bucket_blob(bucket, POLICY_BLOB, "application/json", policy)
            .await
    }

    async fn delete_bucket_policy(&self, bucket: &BucketName) -> Result<(), S3Error> {
        self.remove_bucket_blob(bucket, POLICY_BLOB).await
    }

    async fn get_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
    ) -> Result<Option<Vec<u8>>, S3Error> {
        self.read_bucket_blob(bucket, &config_blob(kind)).await
    }

    async fn put_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
        doc: Vec<u8>,
    ) -> Result<(), S3Error> {
        self.write_bucket_blob(bucket, &config_blob(kind), "application/xml", doc)
            .await
    }

    async fn delete_bucket_config(
        &self,
        bucket: &BucketName,
        kind: BucketConfig,
    ) -> Result<(), S3Error> {
        self.remove_bucket_blob(bucket, &config_blob(kind)).await
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

/// For a blob rolled up into `cp` here, the blob's own key (a prefix
/// entry from the service has none).
fn rolled_key<'a>(name: &'a str, cp: &str) -> Option<&'a str> {
    (name != cp).then_some(name)
}

/// The order Azure lists blob names in: by UTF-16 code units (it differs
/// from S3's UTF-8 byte order only for characters beyond U+FFFF).
fn azure_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The greatest key or common prefix in a page.
fn last_returned(page: &ListPage) -> Option<String> {
    let obj = page.objects.last().map(|o| o.key.as_str());
    let cp = page.common_prefixes.last().map(String::as_str);
    match (obj, cp) {
        (Some(o), Some(c)) => Some(if azure_order(o, c).is_gt() { o } else { c }.to_owned()),
        (Some(x), None) | (None, Some(x)) => Some(x.to_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_have_one_length() {
        let a = block_id(&format!("{:032x}", 1u128), 0);
        let b = block_id(&format!("{:032x}", u128::MAX), 123_456);
        assert_eq!(a.len(), BLOCK_ID_LEN);
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn content_range_totals() {
        assert_eq!(
            parse_content_range_total("bytes 0-9/25165824"),
            Some(25_165_824)
        );
        assert_eq!(parse_content_range_total("bytes */0"), Some(0));
        assert_eq!(parse_content_range_total("junk"), None);
    }

    #[test]
    fn transient_failures() {
        let http = |status: u16, code: &str| {
            azure_core::Error::new(
                ErrorKind::HttpResponse {
                    status: azure_core::http::StatusCode::from(status),
                    error_code: Some(code.to_owned()),
                    raw_response: None,
                },
                "x",
            )
        };
        assert!(transient(&http(503, "ServerBusy")));
        assert!(transient(&http(500, "InternalError")));
        assert!(!transient(&http(404, "BlobNotFound")));
        assert!(!transient(&http(412, "ConditionNotMet")));
        assert!(transient(&azure_core::Error::new(
            ErrorKind::Connection,
            "refused"
        )));
    }
}

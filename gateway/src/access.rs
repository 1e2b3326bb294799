//! Who may do what: the root key, the scoped keys of the users file, the
//! sessions of its roles (temporary credentials from STS), and bucket
//! policies (including anonymous access).
//!
//! Every request is authenticated first (SigV4, in `blobgate-auth`), then
//! authorized here before any handler or backend call, so a denial says
//! nothing about whether a bucket or object exists. The root key
//! (BLOBGATE_ACCESS_KEY) may do everything. Any other key is allowed what
//! its policy or the bucket's policy allows, and nothing an explicit Deny in
//! either forbids. Requests without any signature are anonymous: only a
//! bucket policy can let them through.
//!
//! A session (an assumed role's temporary credentials) is allowed what its
//! role's policy allows, as the users file says *now* (so removing a role or
//! narrowing its policy applies to sessions already handed out), narrowed
//! by the session policy it was given.
//!
//! The users file is re-read when its contents change (Kubernetes updates
//! mounted Secrets in place by swapping a symlink), so it is polled rather
//! than watched; a file that does not parse keeps the previous users. The
//! STS key file is polled the same way: a new key seals new sessions at
//! once, and sessions sealed with the previous key are accepted for
//! [`STS_KEY_GRACE`] more, so that replicas that see the new file a little
//! later do not refuse each other's fresh sessions for long.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use blobgate_auth::roles::{OidcProvider, Role};
use blobgate_auth::{
    authorize, bucket_arn, object_arn, AuthError, ConditionContext, CredentialStore, Policy,
    Principal, Request as PolicyRequest, Session, SessionError, SessionKeys, UserEntry, Verified,
    ALL_BUCKETS_ARN,
};
use sha2::{Digest, Sha256};

use crate::error::{S3Error, S3ErrorCode};
use crate::router::{Endpoint, Query, Route};
use crate::storage::{Backend, BucketName, ObjectKey, TagSet};

/// How long a bucket policy read from the backend is trusted. Changes made
/// through this gateway apply at once; changes through another replica
/// within this time.
const POLICY_TTL: Duration = Duration::from_secs(5);
/// Most buckets whose policies are remembered: unsigned requests may name
/// any bucket, existing or not, and must not grow memory without bound.
const POLICY_CACHE_MAX: usize = 10_000;

/// How long sessions sealed with the previous STS key are still accepted
/// after the key file changed.
pub const STS_KEY_GRACE: Duration = Duration::from_secs(300);

/// A bucket's policy (if any) and when it was read.
type CachedPolicy = (Instant, Option<Arc<Policy>>);

/// The access keys this gateway accepts and what each may do.
pub struct AccessControl {
    root_access_key: String,
    root_secret_key: String,
    users_file: Option<PathBuf>,
    users: RwLock<Arc<Users>>,
    /// Fingerprint of the last file contents that failed to load, so a
    /// broken file is reported once, not at every poll.
    failed: Mutex<Option<[u8; 32]>>,
    bucket_policies: Mutex<HashMap<String, CachedPolicy>>,
    sts: StsKeys,
    /// The listener speaks TLS (`aws:SecureTransport`).
    secure_transport: bool,
}

/// The key that seals session tokens, and where it comes from.
struct StsKeys {
    file: Option<PathBuf>,
    keys: RwLock<Arc<SessionKeys>>,
    /// SHA-256 of the file contents the keys were made from.
    fingerprint: Mutex<[u8; 32]>,
}

#[derive(Default)]
struct Users {
    by_key: HashMap<String, UserEntry>,
    providers: Vec<OidcProvider>,
    roles: HashMap<String, Arc<Role>>,
    /// SHA-256 of the file they were read from and the secret files it names.
    fingerprint: [u8; 32],
}

/// An S3 action on a resource, as policies name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub action: &'static str,
    pub resource: String,
}

impl AccessControl {
    /// The root key plus, when given, the users of `users_file` (which must
    /// load: a broken file at start-up is a configuration error).
    pub fn new(
        root_access_key: String,
        root_secret_key: String,
        users_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        let access = AccessControl {
            root_access_key,
            root_secret_key,
            users_file,
            users: RwLock::new(Arc::new(Users::default())),
            failed: Mutex::new(None),
            bucket_policies: Mutex::new(HashMap::new()),
            sts: StsKeys {
                file: None,
                keys: RwLock::new(Arc::new(SessionKeys::random())),
                fingerprint: Mutex::new([0; 32]),
            },
            secure_transport: false,
        };
        if access.users_file.is_some() {
            access.reload()?;
        }
        Ok(access)
    }

    /// Seal sessions with the key of `file` (at least 32 bytes), shared by
    /// the replicas; without it each process has a random key of its own.
    pub fn with_sts_key_file(mut self, file: PathBuf) -> Result<Self, String> {
        let raw = std::fs::read(&file).map_err(|e| sts_key_error(&file, e))?;
        let keys = SessionKeys::new(&raw).map_err(|e| sts_key_error(&file, e))?;
        self.sts = StsKeys {
            file: Some(file),
            keys: RwLock::new(Arc::new(keys)),
            fingerprint: Mutex::new(Sha256::digest(&raw).into()),
        };
        Ok(self)
    }

    /// Requests arrive over TLS: `aws:SecureTransport` is true.
    pub fn with_secure_transport(mut self, secure: bool) -> Self {
        self.secure_transport = secure;
        self
    }

    /// The keys sealing and opening session tokens.
    pub fn session_keys(&self) -> Arc<SessionKeys> {
        match self.sts.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-read the STS key file if it changed; returns whether it did.
    pub fn reload_sts_key(&self) -> Result<bool, String> {
        let Some(file) = &self.sts.file else {
            return Ok(false);
        };
        let raw = std::fs::read(file).map_err(|e| sts_key_error(file, e))?;
        let fingerprint: [u8; 32] = Sha256::digest(&raw).into();
        let mut seen = match self.sts.fingerprint.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        if *seen == fingerprint {
            return Ok(false);
        }
        *seen = fingerprint;
        let rotated = self
            .session_keys()
            .rotated(&raw, std::time::SystemTime::now() + STS_KEY_GRACE)
            .map_err(|e| sts_key_error(file, e))?;
        match self.sts.keys.write() {
            Ok(mut k) => *k = Arc::new(rotated),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(rotated),
        }
        Ok(true)
    }

    /// The role named `name`, if the users file has it.
    pub fn role(&self, name: &str) -> Option<Arc<Role>> {
        self.users().roles.get(name).cloned()
    }

    /// The OIDC provider whose issuer is exactly `issuer`.
    pub fn provider(&self, issuer: &str) -> Option<OidcProvider> {
        self.users()
            .providers
            .iter()
            .find(|p| p.issuer == issuer)
            .cloned()
    }

    fn users(&self) -> Arc<Users> {
        match self.users.read() {
            Ok(u) => u.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Number of users from the users file.
    pub fn user_count(&self) -> usize {
        self.users().by_key.len()
    }

    /// Re-read the users file if its contents changed. Returns whether the
    /// users changed; on error the previous users stay.
    pub fn reload(&self) -> Result<bool, String> {
        let Some(path) = &self.users_file else {
            return Ok(false);
        };
        let raw = std::fs::read(path).map_err(|e| format!("users file {}: {e}", path.display()))?;
        // The fingerprint covers the secret files the users name too, so a
        // key rotated in its own file (a Kubernetes Secret's key) is seen.
        let (entries, fingerprint) = load(path, &raw);
        if fingerprint == self.users().fingerprint {
            return Ok(false);
        }
        let failed_before = self
            .failed
            .lock()
            .map(|f| *f == Some(fingerprint))
            .unwrap_or(false);
        if failed_before {
            return Ok(false);
        }
        let entries = entries.and_then(|entries| {
            match entries
                .users
                .iter()
                .find(|u| u.access_key == self.root_access_key)
            {
                Some(clash) => Err(format!(
                    "users file {}: access key {:?} is the root key (BLOBGATE_ACCESS_KEY)",
                    path.display(),
                    clash.access_key
                )),
                None => Ok(entries),
            }
        });
        let entries = match entries {
            Ok(e) => e,
            Err(e) => {
                if let Ok(mut f) = self.failed.lock() {
                    *f = Some(fingerprint);
                }
                return Err(e);
            }
        };
        let users = Users {
            by_key: entries
                .users
                .into_iter()
                .map(|u| (u.access_key.clone(), u))
                .collect(),
            providers: entries.oidc_providers,
            roles: entries
                .roles
                .into_iter()
                .map(|r| (r.name.clone(), Arc::new(r)))
                .collect(),
            fingerprint,
        };
        match self.users.write() {
            Ok(mut u) => *u = Arc::new(users),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(users),
        }
        Ok(true)
    }

    /// Poll the users file and the STS key file every `every` and reload
    /// them when they change.
    pub fn spawn_reloader(self: &Arc<Self>, every: Duration) {
        if self.users_file.is_none() && self.sts.file.is_none() {
            return;
        }
        let path = self.users_file.clone().unwrap_or_default();
        let access = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(access) = access.upgrade() else {
                    return;
                };
                match access.reload() {
                    Ok(true) => tracing::info!(
                        file = %path.display(),
                        users = access.user_count(),
                        "users file reloaded"
                    ),
                    Ok(false) => {}
                    Err(e) => tracing::error!(
                        error = %e,
                        "users file not reloaded; the previous users stay in force"
                    ),
                }
                match access.reload_sts_key() {
                    Ok(true) => tracing::warn!(
                        key_id = %access.session_keys().key_id(),
                        grace_s = STS_KEY_GRACE.as_secs(),
                        "STS key file changed: new sessions use the new key; sessions of the previous key end after the grace period"
                    ),
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "STS key file not reloaded"),
                }
            }
        });
    }

    /// Forget a cached bucket policy (after it changed here, or the bucket
    /// was deleted).
    pub fn policy_changed(&self, bucket: &str) {
        if let Ok(mut cache) = self.bucket_policies.lock() {
            cache.remove(bucket);
        }
    }

    async fn bucket_policy(
        &self,
        backend: &dyn Backend,
        bucket: &BucketName,
    ) -> Result<Option<Arc<Policy>>, S3Error> {
        if let Ok(cache) = self.bucket_policies.lock() {
            if let Some((at, policy)) = cache.get(bucket.as_str()) {
                if at.elapsed() < POLICY_TTL {
                    return Ok(policy.clone());
                }
            }
        }
        let policy = match backend.get_bucket_policy(bucket).await {
            Ok(Some(doc)) => match Policy::parse_bucket_policy(&doc, bucket.as_str()) {
                Ok(p) => Some(Arc::new(p)),
                Err(e) => {
                    // Fail closed: a policy that no longer parses grants nothing.
                    tracing::error!(bucket = %bucket, error = %e, "stored bucket policy does not parse; ignoring it");
                    None
                }
            },
            Ok(None) => None,
            Err(e) if e.code == S3ErrorCode::NoSuchBucket => None,
            Err(e) => return Err(e),
        };
        if let Ok(mut cache) = self.bucket_policies.lock() {
            if cache.len() >= POLICY_CACHE_MAX {
                cache.retain(|_, (at, _)| at.elapsed() < POLICY_TTL);
            }
            // Full of fresh entries (a burst of names): ask again next time.
            if cache.len() < POLICY_CACHE_MAX {
                cache.insert(bucket.as_str().to_owned(), (Instant::now(), policy.clone()));
            }
        }
        Ok(policy)
    }

    /// Decide whether `caller` may perform `route`. Root may do anything;
    /// AccessDenied otherwise unless a policy allows it.
    pub async fn check(
        &self,
        backend: &dyn Backend,
        caller: &Verified,
        route: &Route,
        query: &Query,
        headers: &http::HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<(), S3Error> {
        self.check_tagged(backend, caller, route, query, headers, peer, None)
            .await
    }

    /// [`AccessControl::check`] for a request whose tags are in its body
    /// (PutObjectTagging), once the body has been read: they are the
    /// `s3:RequestObjectTag/*` of the request. For the other writes the
    /// tags come from `x-amz-tagging`.
    #[allow(clippy::too_many_arguments)]
    pub async fn check_tagged(
        &self,
        backend: &dyn Backend,
        caller: &Verified,
        route: &Route,
        query: &Query,
        headers: &http::HeaderMap,
        peer: Option<IpAddr>,
        body_tags: Option<TagSet>,
    ) -> Result<(), S3Error> {
        if self.is_root(caller) {
            return Ok(());
        }
        let Some(action) = action_for(route) else {
            if !caller.is_anonymous() {
                // DeleteObjects is checked key by key by its handler;
                // operations the gateway does not serve answer 501.
                return Ok(());
            }
            // Anonymous callers learn nothing: not that an operation is
            // missing, nor whether a bucket exists. A batch delete goes on to
            // its per-key checks only where a bucket policy could allow one.
            let bucket = route.bucket.as_deref().map(BucketName::parse);
            if let (Endpoint::DeleteObjects, Some(Ok(bucket))) = (&route.endpoint, bucket) {
                if self.bucket_policy(backend, &bucket).await?.is_some() {
                    return Ok(());
                }
            }
            return Err(access_denied());
        };
        let listing = matches!(
            route.endpoint,
            Endpoint::ListObjects | Endpoint::ListObjectsV2 | Endpoint::ListObjectVersions
        );
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let copying = matches!(
            route.endpoint,
            Endpoint::CopyObject | Endpoint::UploadPartCopy
        );
        let context = ConditionContext {
            prefix: listing.then(|| query.get("prefix").unwrap_or_default().to_owned()),
            delimiter: query.get("delimiter").map(str::to_owned),
            max_keys: query.get("max-keys").and_then(|v| v.parse().ok()),
            source_ip: peer,
            secure_transport: self.secure_transport,
            referer: header("referer"),
            user_agent: header("user-agent"),
            copy_source: header("x-amz-copy-source").filter(|_| copying),
            metadata_directive: header("x-amz-metadata-directive")
                .filter(|_| route.endpoint == Endpoint::CopyObject),
            server_side_encryption: header("x-amz-server-side-encryption"),
            existing_object_tags: None,
            // A malformed header is refused by the handler before anything
            // is written; here it tags nothing.
            request_object_tags: body_tags.or_else(|| {
                matches!(
                    route.endpoint,
                    Endpoint::PutObject | Endpoint::CopyObject | Endpoint::CreateMultipartUpload
                )
                .then(|| crate::ops::tagging::header_tags(headers).ok())
                .flatten()
            }),
        };
        let bucket = route
            .bucket
            .as_deref()
            .map(BucketName::parse)
            .and_then(Result::ok);
        // Actions that have s3:ExistingObjectTag (the service authorization
        // reference for S3).
        let tagged_object = match route.endpoint {
            Endpoint::GetObject
            | Endpoint::HeadObject
            | Endpoint::SelectObjectContent
            | Endpoint::GetObjectAttributes
            | Endpoint::GetObjectAcl
            | Endpoint::PutObjectAcl
            | Endpoint::GetObjectTagging
            | Endpoint::PutObjectTagging
            | Endpoint::DeleteObjectTagging => {
                route.key.as_deref().and_then(|k| ObjectKey::parse(k).ok())
            }
            _ => None,
        };
        // Some operations need a second action, as on AWS: a write that
        // tags its object s3:PutObjectTagging; GetObjectAttributes
        // s3:GetObject (and its own)
        // <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html>.
        let tags_object = route.endpoint != Endpoint::PutObjectTagging
            && context
                .request_object_tags
                .as_ref()
                .is_some_and(|t| !t.is_empty());
        let second = match route.endpoint {
            Endpoint::GetObjectAttributes => Some("s3:GetObject"),
            _ if tags_object => Some("s3:PutObjectTagging"),
            _ => None,
        };
        if !self
            .allows(
                backend,
                caller,
                &action,
                bucket.as_ref(),
                tagged_object.as_ref(),
                context.clone(),
            )
            .await?
        {
            return Err(access_denied());
        }
        if let Some(second) = second {
            let second = Action {
                action: second,
                resource: action.resource.clone(),
            };
            if !self
                .allows(
                    backend,
                    caller,
                    &second,
                    bucket.as_ref(),
                    tagged_object.as_ref(),
                    context,
                )
                .await?
            {
                return Err(access_denied());
            }
        }
        Ok(())
    }

    /// What a missing key looks like to `caller`: as in S3, a caller who may
    /// read objects but not list the bucket learns nothing (AccessDenied
    /// rather than NoSuchKey).
    pub async fn missing_key_error(
        &self,
        backend: &dyn Backend,
        caller: &Verified,
        bucket: &str,
        peer: Option<IpAddr>,
    ) -> Result<S3Error, S3Error> {
        let Ok(bucket) = BucketName::parse(bucket) else {
            return Ok(access_denied());
        };
        let list = Action {
            action: "s3:ListBucket",
            resource: bucket_arn(bucket.as_str()),
        };
        let context = ConditionContext {
            source_ip: peer,
            secure_transport: self.secure_transport,
            ..ConditionContext::default()
        };
        let may_list = self
            .allows(backend, caller, &list, Some(&bucket), None, context)
            .await?;
        Ok(if may_list {
            S3Error::no_such_key()
        } else {
            access_denied()
        })
    }

    /// The root key may do everything (its own signature, not a session).
    pub fn is_root(&self, caller: &Verified) -> bool {
        !caller.is_anonymous()
            && caller.session().is_none()
            && caller.access_key == self.root_access_key
    }

    /// Whether the policies allow `action`. `object` is the object whose
    /// tags `s3:ExistingObjectTag/*` reads; they are fetched only when a
    /// policy that applies has such a condition.
    async fn allows(
        &self,
        backend: &dyn Backend,
        caller: &Verified,
        action: &Action,
        bucket: Option<&BucketName>,
        object: Option<&ObjectKey>,
        mut context: ConditionContext,
    ) -> Result<bool, S3Error> {
        if self.is_root(caller) {
            return Ok(true);
        }
        let users = self.users();
        let role;
        let (principal, identity) = if caller.is_anonymous() {
            (Principal::Anonymous, None)
        } else if let Some(session) = caller.session() {
            role = users.roles.get(&session.role).cloned();
            // A role removed from the users file ends its sessions, bucket
            // policies naming them included.
            if role.is_none() {
                return Ok(false);
            }
            (
                Principal::Session(session),
                role.as_ref().and_then(|r| r.policy.as_ref()),
            )
        } else {
            let user = users.by_key.get(&caller.access_key);
            (
                Principal::AccessKey(&caller.access_key),
                user.and_then(|u| u.policy.as_ref()),
            )
        };
        let session_policy = match caller.session().and_then(|s| s.session_policy.as_deref()) {
            Some(doc) => match Policy::parse(doc.as_bytes()) {
                Ok(p) => Some(p),
                // Checked when the session was made: a policy that no longer
                // parses (a newer gateway's) grants nothing.
                Err(_) => return Ok(false),
            },
            None => None,
        };
        let bucket_policy = match bucket {
            Some(bucket) => self.bucket_policy(backend, bucket).await?,
            None => None,
        };
        let reads_tags = identity.is_some_and(Policy::reads_existing_tags)
            || session_policy
                .as_ref()
                .is_some_and(Policy::reads_existing_tags)
            || bucket_policy
                .as_deref()
                .is_some_and(Policy::reads_existing_tags);
        if let (true, Some(bucket), Some(key)) = (reads_tags, bucket, object) {
            context.existing_object_tags = match backend.get_object_tagging(bucket, key).await {
                Ok(tags) => Some(tags),
                // No object, no tags: the conditions see the key absent.
                Err(e) if e.code == S3ErrorCode::NoSuchKey => None,
                Err(e) => return Err(e),
            };
        }
        let request = PolicyRequest {
            action: action.action,
            resource: &action.resource,
            principal,
            context: &context,
        };
        Ok(authorize(
            identity,
            session_policy.as_ref(),
            bucket_policy.as_deref(),
            &request,
        ))
    }
}

impl CredentialStore for AccessControl {
    fn secret_key(&self, access_key: &str) -> Option<String> {
        if access_key == self.root_access_key {
            return Some(self.root_secret_key.clone());
        }
        self.users()
            .by_key
            .get(access_key)
            .map(|u| u.secret_key().to_owned())
    }

    fn session(
        &self,
        access_key: &str,
        session_token: &str,
        now: std::time::SystemTime,
    ) -> Result<Arc<Session>, AuthError> {
        let session = self
            .session_keys()
            .open(session_token, now)
            .map_err(|e| match e {
                SessionError::Expired => AuthError::ExpiredToken,
                SessionError::Invalid => AuthError::InvalidToken,
            })?;
        // A token is bound to its own access key id.
        if session.access_key != access_key {
            return Err(AuthError::InvalidToken);
        }
        Ok(Arc::new(session))
    }
}

/// The users of the users file `path` (contents `raw`), and a fingerprint
/// of everything they were read from: the file and the secret files it names.
fn load(path: &Path, raw: &[u8]) -> (Result<blobgate_auth::UsersFile, String>, [u8; 32]) {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let hasher = std::cell::RefCell::new(Sha256::new());
    hasher.borrow_mut().update(raw);
    let entries = blobgate_auth::parse_users_file(
        raw,
        |name| std::env::var(name).ok(),
        |file| {
            let file = if file.is_relative() {
                dir.join(file)
            } else {
                file.to_path_buf()
            };
            let text = std::fs::read_to_string(&file);
            let mut h = hasher.borrow_mut();
            // Length-prefixed, so no two sets of files hash alike.
            for part in [
                file.as_os_str().as_encoded_bytes(),
                text.as_deref().unwrap_or("").as_bytes(),
            ] {
                h.update((part.len() as u64).to_le_bytes());
                h.update(part);
            }
            text
        },
    )
    .map_err(|e| format!("users file {}: {e}", path.display()));
    (entries, hasher.into_inner().finalize().into())
}

fn sts_key_error(file: &Path, e: impl std::fmt::Display) -> String {
    format!("STS key file {}: {e}", file.display())
}

pub fn access_denied() -> S3Error {
    S3Error::new(S3ErrorCode::AccessDenied, "Access Denied")
}

/// The S3 action a request performs and the resource it acts on, as IAM
/// names them. None for operations the gateway does not serve.
pub fn action_for(route: &Route) -> Option<Action> {
    let bucket = route.bucket.as_deref().unwrap_or_default();
    let on_bucket = |action| {
        Some(Action {
            action,
            resource: bucket_arn(bucket),
        })
    };
    let on_object = |action| {
        Some(Action {
            action,
            resource: object_arn(bucket, route.key.as_deref().unwrap_or_default()),
        })
    };
    match route.endpoint {
        Endpoint::ListBuckets => Some(Action {
            action: "s3:ListAllMyBuckets",
            resource: ALL_BUCKETS_ARN.to_owned(),
        }),
        Endpoint::CreateBucket => on_bucket("s3:CreateBucket"),
        // HeadBucket needs s3:ListBucket on AWS.
        Endpoint::HeadBucket | Endpoint::ListObjects | Endpoint::ListObjectsV2 => {
            on_bucket("s3:ListBucket")
        }
        Endpoint::DeleteBucket => on_bucket("s3:DeleteBucket"),
        Endpoint::GetBucketLocation => on_bucket("s3:GetBucketLocation"),
        Endpoint::GetBucketVersioning => on_bucket("s3:GetBucketVersioning"),
        Endpoint::GetBucketPolicy => on_bucket("s3:GetBucketPolicy"),
        Endpoint::GetBucketPolicyStatus => on_bucket("s3:GetBucketPolicyStatus"),
        Endpoint::GetBucketCors => on_bucket("s3:GetBucketCORS"),
        // DeleteBucketCors needs s3:PutBucketCORS on AWS.
        Endpoint::PutBucketCors | Endpoint::DeleteBucketCors => on_bucket("s3:PutBucketCORS"),
        Endpoint::GetBucketTagging => on_bucket("s3:GetBucketTagging"),
        // DeleteBucketTagging needs s3:PutBucketTagging on AWS.
        Endpoint::PutBucketTagging | Endpoint::DeleteBucketTagging => {
            on_bucket("s3:PutBucketTagging")
        }
        Endpoint::GetBucketAcl => on_bucket("s3:GetBucketAcl"),
        Endpoint::PutBucketAcl => on_bucket("s3:PutBucketAcl"),
        Endpoint::GetObjectAcl => on_object("s3:GetObjectAcl"),
        Endpoint::GetObjectTagging => on_object("s3:GetObjectTagging"),
        Endpoint::PutObjectTagging => on_object("s3:PutObjectTagging"),
        Endpoint::DeleteObjectTagging => on_object("s3:DeleteObjectTagging"),
        // It needs s3:GetObject too (checked in `check`), as AWS documents.
        Endpoint::GetObjectAttributes => on_object("s3:GetObjectAttributes"),
        Endpoint::PutObjectAcl => on_object("s3:PutObjectAcl"),
        Endpoint::PutBucketPolicy => on_bucket("s3:PutBucketPolicy"),
        Endpoint::DeleteBucketPolicy => on_bucket("s3:DeleteBucketPolicy"),
        // HeadObject and SelectObjectContent need s3:GetObject on AWS.
        Endpoint::GetObject | Endpoint::HeadObject | Endpoint::SelectObjectContent => {
            on_object("s3:GetObject")
        }
        // A copy also needs s3:GetObject on its source, checked by the handler.
        Endpoint::PutObject
        | Endpoint::CopyObject
        | Endpoint::CreateMultipartUpload
        | Endpoint::UploadPart
        | Endpoint::UploadPartCopy
        | Endpoint::CompleteMultipartUpload => on_object("s3:PutObject"),
        Endpoint::AbortMultipartUpload => on_object("s3:AbortMultipartUpload"),
        Endpoint::ListParts => on_object("s3:ListMultipartUploadParts"),
        Endpoint::ListMultipartUploads => on_bucket("s3:ListBucketMultipartUploads"),
        Endpoint::ListObjectVersions => on_bucket("s3:ListBucketVersions"),
        // Checked key by key (s3:DeleteObject) by the handler, as AWS does.
        Endpoint::DeleteObjects => None,
        Endpoint::DeleteObject => on_object("s3:DeleteObject"),
        // Its key is in the form: the handler checks s3:PutObject on it.
        Endpoint::PostObject => None,
        Endpoint::NotImplemented(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(endpoint: Endpoint, bucket: Option<&str>, key: Option<&str>) -> Route {
        Route {
            endpoint,
            bucket: bucket.map(str::to_owned),
            key: key.map(str::to_owned),
        }
    }

    #[tokio::test]
    async fn remembered_bucket_policies_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let backend = crate::storage::fs::FsBackend::open(dir.path().join("data")).unwrap();
        let access = AccessControl::new("root".into(), "root-secret".into(), None).unwrap();
        for i in 0..POLICY_CACHE_MAX + 50 {
            let bucket = BucketName::parse(&format!("no-such-bucket-{i}")).unwrap();
            assert!(access
                .bucket_policy(&backend, &bucket)
                .await
                .unwrap()
                .is_none());
        }
        assert_eq!(
            access.bucket_policies.lock().unwrap().len(),
            POLICY_CACHE_MAX
        );
    }

    #[test]
    fn operations_map_to_their_actions() {
        let cases = [
            (
                route(Endpoint::ListBuckets, None, None),
                "s3:ListAllMyBuckets",
                "arn:aws:s3:::*",
            ),
            (
                route(Endpoint::HeadBucket, Some("b"), None),
                "s3:ListBucket",
                "arn:aws:s3:::b",
            ),
            (
                route(Endpoint::ListObjectsV2, Some("b"), None),
                "s3:ListBucket",
                "arn:aws:s3:::b",
            ),
            (
                route(Endpoint::HeadObject, Some("b"), Some("k/x")),
                "s3:GetObject",
                "arn:aws:s3:::b/k/x",
            ),
            (
                route(Endpoint::PutObject, Some("b"), Some("k")),
                "s3:PutObject",
                "arn:aws:s3:::b/k",
            ),
            (
                route(Endpoint::DeleteObject, Some("b"), Some("k")),
                "s3:DeleteObject",
                "arn:aws:s3:::b/k",
            ),
            (
                route(Endpoint::PutBucketPolicy, Some("b"), None),
                "s3:PutBucketPolicy",
                "arn:aws:s3:::b",
            ),
            (
                route(Endpoint::GetObjectAttributes, Some("b"), Some("k")),
                "s3:GetObjectAttributes",
                "arn:aws:s3:::b/k",
            ),
        ];
        for (r, action, resource) in cases {
            let a = action_for(&r).unwrap();
            assert_eq!((a.action, a.resource.as_str()), (action, resource), "{r:?}");
        }
        assert_eq!(
            action_for(&route(Endpoint::NotImplemented("X"), Some("b"), None)),
            None
        );
    }
}

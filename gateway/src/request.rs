//! The state a request carries: the gateway it is served by
//! ([`Gateway`]: configuration, access control, storage, metrics) and the
//! request itself once authenticated ([`S3Request`]). The server builds
//! them, `ops/` and the STS handlers read them; this module depends on
//! neither, so the two never import each other.

use std::sync::Arc;
use std::time::Duration;

use blobgate_auth::Verified;
use hyper::body::Incoming;

use crate::access::AccessControl;
use crate::identity::IdentityProviders;
use crate::metrics::Metrics;
use crate::observe::BodyCounter;
use crate::router::Query;
use crate::storage::Backend;

/// Settings the request path needs.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub region: String,
    /// Base domain for virtual-host-style addressing.
    pub domain: Option<String>,
    /// A request body that sends nothing for this long is cut off.
    pub body_idle_timeout: Duration,
    /// A response the client does not read for this long is cut off.
    pub write_timeout: Duration,
    /// Request headers must arrive within this time.
    pub header_timeout: Duration,
    /// Key protecting continuation tokens (the same on every replica).
    pub token_key: [u8; 32],
    /// Limits; beyond them clients get 503 SlowDown.
    pub limits: Limits,
    /// The web console at `/-/console/`.
    pub console: crate::console::ConsoleConfig,
}

/// Connection and request limits, and how shutdown proceeds.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open client connections.
    pub max_connections: usize,
    /// Requests being handled at once (health and metrics not counted).
    pub max_requests: usize,
    /// Largest request head (request line and headers).
    pub max_header_bytes: usize,
    /// After SIGTERM: how long to go on serving while reporting not ready
    /// (so that load balancers stop sending), then how long open requests
    /// may take to finish.
    pub shutdown_delay: Duration,
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_requests: 1024,
            max_header_bytes: 64 * 1024,
            shutdown_delay: Duration::ZERO,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Everything a request needs: configuration, access control, storage.
pub struct Gateway {
    pub config: GatewayConfig,
    /// Credentials (the CredentialStore) and authorization.
    pub access: Arc<AccessControl>,
    /// The OIDC providers' keys, for STS web identity.
    pub identity: IdentityProviders,
    pub backend: Arc<dyn Backend>,
    /// Set on shutdown: readiness answers 503 from then on.
    pub draining: std::sync::atomic::AtomicBool,
    /// Permits for requests being handled.
    pub(crate) requests: Arc<tokio::sync::Semaphore>,
    pub metrics: Arc<Metrics>,
    /// HTTPS when set (see [`crate::tls`]).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Buckets' CORS rules, as recently read.
    pub cors: crate::cors::Cache,
}

impl Gateway {
    pub fn new(
        config: GatewayConfig,
        access: Arc<AccessControl>,
        backend: Arc<dyn Backend>,
        metrics: Arc<Metrics>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let requests = Arc::new(tokio::sync::Semaphore::new(config.limits.max_requests));
        Gateway {
            config,
            access,
            identity: IdentityProviders::new(),
            backend,
            draining: std::sync::atomic::AtomicBool::new(false),
            requests,
            metrics,
            tls,
            cors: crate::cors::Cache::default(),
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// One authenticated request on its way to a handler.
pub struct S3Request {
    pub parts: http::request::Parts,
    pub query: Query,
    pub body: Incoming,
    pub verified: Verified,
    /// The client's address, for policy conditions on further checks (a
    /// copy's source, each key of a batch delete).
    pub peer: Option<std::net::IpAddr>,
    /// Counts the body's bytes as they are read.
    pub received: BodyCounter,
}

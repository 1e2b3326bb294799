//! The signing keys of the OIDC providers the users file trusts: fetched
//! from each issuer's discovery document (`ISSUER/.well-known/openid-configuration`
//! names `jwks_uri`), cached, and fetched again when a token names a key id
//! the cache lacks (the issuer rotated its keys), at most once per
//! [`REFETCH_INTERVAL`] per issuer so that tokens with made-up key ids
//! cannot turn the gateway into a load generator against the issuer.
//!
//! Verification itself (signature, algorithm, claims) is
//! [`blobgate_auth::jwt`]'s; this module only does the I/O, with a short
//! timeout: an issuer that does not answer is `IDPCommunicationError`, as in
//! AWS STS. Keys older than [`KEYS_TTL`] are fetched again in the
//! background on use, the held keys serving meanwhile; if the issuer is
//! unreachable then, they are still used (a provider's outage must not log
//! everybody out), and the failure is logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use blobgate_auth::jwt::{self, Discovery, Expectations, JwkSet, TokenError};
use blobgate_auth::roles::{issuer_url_is_acceptable, OidcProvider};

/// How long fetched keys are used before they are fetched again.
pub const KEYS_TTL: Duration = Duration::from_secs(3600);
/// Least time between two fetches for one issuer caused by unknown key ids.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// How long the issuer may take to answer one request.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest discovery or JWKS document read.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// Why a web identity token was not accepted.
#[derive(Debug)]
pub enum WebIdentityError {
    /// The token itself (AWS: `InvalidIdentityToken`, or
    /// `ExpiredTokenException` for [`TokenError::Expired`]).
    Token(TokenError),
    /// The issuer's keys could not be fetched (`IDPCommunicationError`).
    Unreachable(String),
}

#[derive(Default)]
struct IssuerState {
    keys: Option<Arc<JwkSet>>,
    fetched: Option<Instant>,
    /// The last fetch attempt, successful or not.
    attempted: Option<Instant>,
}

/// The key caches of every provider, and the HTTP client that fills them.
pub struct IdentityProviders {
    fetcher: Fetcher,
    issuers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<IssuerState>>>>,
}

/// What fetches keys: the HTTP client and a count of fetches (for tests
/// and metrics). Cloned into background refreshes.
#[derive(Clone)]
struct Fetcher {
    http: reqwest::Client,
    fetches: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for IdentityProviders {
    fn default() -> Self {
        Self::new()
    }
}

impl IdentityProviders {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            // A discovery document is fetched where it is configured; a
            // redirect elsewhere is not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        IdentityProviders {
            fetcher: Fetcher {
                http,
                fetches: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            },
            issuers: Mutex::new(HashMap::new()),
        }
    }

    fn state(&self, issuer: &str) -> Arc<tokio::sync::Mutex<IssuerState>> {
        let mut issuers = match self.issuers.lock() {
            Ok(i) => i,
            Err(poisoned) => poisoned.into_inner(),
        };
        issuers.entry(issuer.to_owned()).or_default().clone()
    }

    /// Verify `token` as a token of `provider`: its signature with the
    /// issuer's keys, its issuer, audience and times. Returns its claims.
    ///
    /// Signatures are checked outside the issuer's lock. Keys older than
    /// [`KEYS_TTL`] are refreshed in the background while the held ones go
    /// on serving; only an issuer with no keys yet, or a key id not seen (at
    /// most once per [`REFETCH_INTERVAL`]), makes a request wait for a fetch.
    pub async fn verify(
        &self,
        provider: &OidcProvider,
        token: &str,
        now: SystemTime,
    ) -> Result<serde_json::Map<String, serde_json::Value>, WebIdentityError> {
        let expect = Expectations {
            issuer: &provider.issuer,
            audiences: &provider.audiences,
            now,
        };
        let check = |keys: &JwkSet| {
            let parsed = jwt::parse(token).map_err(WebIdentityError::Token)?;
            jwt::verify(token, parsed, keys, &expect).map_err(WebIdentityError::Token)
        };
        let shared = self.state(&provider.issuer);
        let keys = {
            let mut state = shared.lock().await;
            let stale = state.fetched.is_none_or(|t| t.elapsed() >= KEYS_TTL);
            if state.keys.is_none() {
                if may_fetch(&state, true) {
                    refresh(&self.fetcher, provider, &mut state).await?;
                }
            } else if stale && may_fetch(&state, false) {
                // Marked now, so that one refresh runs at a time.
                state.attempted = Some(Instant::now());
                let (fetcher, provider, shared) =
                    (self.fetcher.clone(), provider.clone(), shared.clone());
                tokio::spawn(async move {
                    let mut state = shared.lock().await;
                    let _ = refresh(&fetcher, &provider, &mut state).await;
                });
            }
            state.keys.clone()
        };
        let Some(keys) = keys else {
            return Err(WebIdentityError::Unreachable(
                "the identity provider's keys could not be fetched".to_owned(),
            ));
        };
        match check(&keys) {
            Err(WebIdentityError::Token(TokenError::UnknownKey)) => {
                let mut state = shared.lock().await;
                let changed = state.keys.as_ref().is_some_and(|k| !Arc::ptr_eq(k, &keys));
                if !changed {
                    if !may_fetch(&state, false) {
                        return Err(WebIdentityError::Token(TokenError::UnknownKey));
                    }
                    // Perhaps rotated: fetch once more, then decide.
                    refresh(&self.fetcher, provider, &mut state).await?;
                }
                let keys = state.keys.clone().unwrap_or_default();
                drop(state);
                check(&keys)
            }
            other => other,
        }
    }

    /// How many times keys were fetched (any issuer).
    pub fn fetch_count(&self) -> u64 {
        self.fetcher
            .fetches
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Whether a fetch may start now: once per [`REFETCH_INTERVAL`] after the
/// last one ended, or per second while no keys are held (an issuer that was
/// down at the first token is tried again soon, but not at every request).
fn may_fetch(state: &IssuerState, no_keys: bool) -> bool {
    let wait = if no_keys {
        Duration::from_secs(1)
    } else {
        REFETCH_INTERVAL
    };
    state.attempted.is_none_or(|t| t.elapsed() >= wait)
}

/// Fetch the keys; on failure keep any held keys (logged) or fail.
async fn refresh(
    fetcher: &Fetcher,
    provider: &OidcProvider,
    state: &mut IssuerState,
) -> Result<(), WebIdentityError> {
    fetcher
        .fetches
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let fetched = fetcher.fetch_keys(&provider.issuer).await;
    // The interval counts from the end of a fetch: a slow issuer is not
    // asked again the moment it answers.
    state.attempted = Some(Instant::now());
    match fetched {
        Ok(keys) => {
            tracing::info!(issuer = %provider.issuer, keys = keys.keys.len(), "identity provider keys fetched");
            state.keys = Some(Arc::new(keys));
            state.fetched = Some(Instant::now());
            Ok(())
        }
        Err(e) => {
            tracing::warn!(issuer = %provider.issuer, error = %e, held = state.keys.is_some(), "identity provider keys not fetched");
            if state.keys.is_some() {
                Ok(())
            } else {
                Err(WebIdentityError::Unreachable(e))
            }
        }
    }
}

impl Fetcher {
    async fn fetch_keys(&self, issuer: &str) -> Result<JwkSet, String> {
        let doc = self.get(&jwt::discovery_url(issuer)).await?;
        let discovery = Discovery::parse(&doc, issuer)?;
        if !issuer_url_is_acceptable(&discovery.jwks_uri) {
            return Err(format!(
                "jwks_uri {:?} is not https (or http on loopback)",
                discovery.jwks_uri
            ));
        }
        JwkSet::parse(&self.get(&discovery.jwks_uri).await?)
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut response = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(format!("GET {url}: the document is larger than 1 MiB"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

//! Temporary credentials (STS sessions) that any replica can check with no
//! shared store: everything a session is (its access key and secret, role,
//! session name, the identity claims its policies use, its session policy
//! and its expiry) travels sealed inside its session token.
//!
//! Sealing is AES-256-GCM (authenticated encryption, so a token can be
//! neither read nor altered without the key), with a random 96-bit nonce per
//! token. The key is derived from the operator's key file (32 bytes or more,
//! shared by the replicas through a Kubernetes Secret) with HMAC-SHA256
//! under a fixed label, and a 4-byte key id (a hash of the derived key) in
//! front of every token says which key sealed it, so a token sealed under a
//! previous key is told apart from a forged one without trying every key.
//!
//! Token: `BGS1` followed by base64url(`key id || nonce || ciphertext || tag`),
//! the ciphertext being the session as JSON. The key id is also the AEAD's
//! associated data.
//!
//! The secret key is part of the sealed session: a client sends only the
//! token and its access key id, and the gateway recovers the secret it must
//! check the signature with. AWS's names: `X-Amz-Security-Token`
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_use-resources.html>).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const PREFIX: &str = "BGS1";
const KEY_ID_LEN: usize = 4;
/// Shortest key file accepted.
pub const MIN_KEY_BYTES: usize = 32;
/// Longest token accepted; a session policy is at most 2048 characters.
pub const MAX_TOKEN_LEN: usize = 12 * 1024;

/// A claim of the identity token, as policies see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClaimValue {
    Text(String),
    List(Vec<String>),
}

impl ClaimValue {
    /// The claim's values: one for a string, each element for a list.
    pub fn values(&self) -> Vec<&str> {
        match self {
            Self::Text(s) => vec![s.as_str()],
            Self::List(l) => l.iter().map(String::as_str).collect(),
        }
    }

    /// The claim as one string; None for a list.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            Self::List(_) => None,
        }
    }

    /// A JSON claim as policies can use it: a string, a number or boolean
    /// (as text), or an array of those. Objects and nulls are not usable.
    pub fn from_json(v: &serde_json::Value) -> Option<Self> {
        let scalar = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        match v {
            serde_json::Value::Array(items) => items
                .iter()
                .map(scalar)
                .collect::<Option<_>>()
                .map(Self::List),
            other => scalar(other).map(Self::Text),
        }
    }
}

/// Identity claims by name.
pub type Claims = BTreeMap<String, ClaimValue>;

/// How a session was obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionSource {
    /// AssumeRoleWithWebIdentity: the token's issuer (its claims are in
    /// [`Session::claims`]).
    #[serde(rename = "w")]
    WebIdentity { issuer: String },
    /// AssumeRole, signed with this long-term access key.
    #[serde(rename = "k")]
    AccessKey(String),
}

/// One set of temporary credentials.
///
/// Its `Debug` output never shows the secret key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// `ASIA...`, as AWS spells temporary access key ids.
    #[serde(rename = "a")]
    pub access_key: String,
    #[serde(rename = "s")]
    secret_key: String,
    /// The role's name (`arn:aws:iam::ACCOUNT:role/NAME`).
    #[serde(rename = "r")]
    pub role: String,
    /// The account id the caller named in the role ARN.
    #[serde(rename = "c")]
    pub account: String,
    /// RoleSessionName.
    #[serde(rename = "n")]
    pub session_name: String,
    #[serde(rename = "o")]
    pub source: SessionSource,
    /// The identity claims the role's and the session's policies use
    /// (`${jwt:...}`, `jwt:...` conditions), plus `sub`, `iss` and `aud`.
    #[serde(rename = "j", default)]
    pub claims: Claims,
    /// The session policy as sent (JSON), narrowing the role's policy.
    #[serde(rename = "p", default)]
    pub session_policy: Option<String>,
    /// Seconds since the epoch.
    #[serde(rename = "e")]
    pub expires: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("access_key", &self.access_key)
            .field("role", &self.role)
            .field("session_name", &self.session_name)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new session with fresh random credentials.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        role: String,
        account: String,
        session_name: String,
        source: SessionSource,
        claims: Claims,
        session_policy: Option<String>,
        expires: SystemTime,
    ) -> Self {
        Session {
            access_key: random_access_key(),
            secret_key: random_secret(),
            role,
            account,
            session_name,
            source,
            claims,
            session_policy,
            expires: expires
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
        }
    }

    /// The secret key of these credentials.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// When the credentials stop working.
    pub fn expiry(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.expires)
    }

    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub fn assumed_role_arn(&self) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.account, self.role, self.session_name
        )
    }

    /// `aws:userid` of the session: `ROLE:SESSION` (AWS: `ROLEID:SESSION`).
    pub fn user_id(&self) -> String {
        format!("{}:{}", self.role, self.session_name)
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The system RNG does not fail on the platforms this runs on; an
    // all-zero fallback would be caught by nothing, so abort instead.
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        std::process::abort();
    }
    b
}

/// `ASIA` and 16 characters of base32 (AWS's shape for temporary keys).
fn random_access_key() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes: [u8; 16] = random_bytes();
    let mut key = String::from("ASIA");
    key.extend(bytes.iter().map(|b| ALPHABET[usize::from(b % 32)] as char));
    key
}

/// 40 characters, as AWS secret keys are.
fn random_secret() -> String {
    let bytes: [u8; 30] = random_bytes();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Why a session token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not a token of this gateway, altered, or sealed under a key this
    /// process does not hold (S3 `InvalidToken`).
    #[error("the session token is invalid")]
    Invalid,
    /// Past its expiry (S3 `ExpiredToken`).
    #[error("the session token has expired")]
    Expired,
}

struct SealingKey {
    id: [u8; KEY_ID_LEN],
    key: LessSafeKey,
}

impl SealingKey {
    fn derive(material: &[u8]) -> Result<Self, String> {
        if material.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the STS key must be at least {MIN_KEY_BYTES} bytes (it has {})",
                material.len()
            ));
        }
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(material)
            .map_err(|_| "unusable STS key".to_owned())?;
        mac.update(b"blobgate sts session token key v1");
        let derived = mac.finalize().into_bytes();
        let digest = Sha256::digest([b"blobgate sts key id".as_slice(), &derived].concat());
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        let key =
            UnboundKey::new(&AES_256_GCM, &derived).map_err(|_| "unusable STS key".to_owned())?;
        Ok(SealingKey {
            id,
            key: LessSafeKey::new(key),
        })
    }
}

/// The keys that seal and open session tokens: the current one, and the
/// previous one until a deadline (after the key file was rotated).
pub struct SessionKeys {
    current: Arc<SealingKey>,
    previous: Option<(Arc<SealingKey>, SystemTime)>,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("key_id", &hex::encode(self.current.id))
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// Keys from the contents of a key file (at least 32 bytes).
    pub fn new(material: &[u8]) -> Result<Self, String> {
        Ok(SessionKeys {
            current: Arc::new(SealingKey::derive(material)?),
            previous: None,
        })
    }

    /// A random key (no key file: only this process accepts its tokens).
    pub fn random() -> Self {
        let material: [u8; 32] = random_bytes();
        match Self::new(&material) {
            Ok(keys) => keys,
            Err(_) => std::process::abort(),
        }
    }

    /// A new current key; tokens of the present one are still opened until
    /// `previous_until`.
    pub fn rotated(&self, material: &[u8], previous_until: SystemTime) -> Result<Self, String> {
        Ok(SessionKeys {
            current: Arc::new(SealingKey::derive(material)?),
            previous: Some((self.current.clone(), previous_until)),
        })
    }

    /// The current key's id, hex (safe to log: it reveals nothing of the key).
    pub fn key_id(&self) -> String {
        hex::encode(self.current.id)
    }

    /// Seal a session into its token.
    pub fn seal(&self, session: &Session) -> String {
        // Strings and numbers only: serialisation cannot fail.
        let mut data = serde_json::to_vec(session).unwrap_or_default();
        let nonce: [u8; NONCE_LEN] = random_bytes();
        let sealed = self.current.key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(self.current.id),
            &mut data,
        );
        if sealed.is_err() {
            std::process::abort();
        }
        let mut raw = Vec::with_capacity(KEY_ID_LEN + NONCE_LEN + data.len());
        raw.extend_from_slice(&self.current.id);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&data);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    /// Open a token: the session it carries, if this gateway sealed it, it
    /// is intact and it has not expired at `now`.
    pub fn open(&self, token: &str, now: SystemTime) -> Result<Session, SessionError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SessionError::Invalid);
        }
        let body = token.strip_prefix(PREFIX).ok_or(SessionError::Invalid)?;
        let mut raw = URL_SAFE_NO_PAD
            .decode(body.as_bytes())
            .map_err(|_| SessionError::Invalid)?;
        if raw.len() < KEY_ID_LEN + NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SessionError::Invalid);
        }
        let id: [u8; KEY_ID_LEN] = raw[..KEY_ID_LEN]
            .try_into()
            .map_err(|_| SessionError::Invalid)?;
        let key = if id == self.current.id {
            &self.current
        } else {
            match &self.previous {
                Some((previous, until)) if previous.id == id && now < *until => previous,
                _ => return Err(SessionError::Invalid),
            }
        };
        let nonce = Nonce::try_assume_unique_for_key(&raw[KEY_ID_LEN..KEY_ID_LEN + NONCE_LEN])
            .map_err(|_| SessionError::Invalid)?;
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(id), &mut raw[KEY_ID_LEN + NONCE_LEN..])
            .map_err(|_| SessionError::Invalid)?;
        let session: Session = serde_json::from_slice(plain).map_err(|_| SessionError::Invalid)?;
        if now >= session.expiry() {
            return Err(SessionError::Expired);
        }
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires: SystemTime) -> Session {
        let mut claims = Claims::new();
        claims.insert("sub".into(), ClaimValue::Text("alice".into()));
        claims.insert(
            "groups".into(),
            ClaimValue::List(vec!["stats".into(), "admins".into()]),
        );
        Session::new(
            "analyst".into(),
            "123456789012".into(),
            "alice-notebook".into(),
            SessionSource::WebIdentity {
                issuer: "https://login.example/".into(),
            },
            claims,
            Some(r#"{"Version":"2012-10-17"}"#.into()),
            expires,
        )
    }

    #[test]
    fn sealed_sessions_open_whole() {
        let keys = SessionKeys::new(&[7u8; 32]).unwrap();
        let now = SystemTime::now();
        let s = session(now + Duration::from_secs(900));
        let token = keys.seal(&s);
        assert!(token.starts_with("BGS1"));
        // Nothing of the session is readable in the token.
        for secret in [s.secret_key(), "alice", "analyst", "admins"] {
            assert!(!token.contains(secret), "{secret} visible in the token");
        }
        let opened = keys.open(&token, now).unwrap();
        assert_eq!(opened, s);
        assert!(opened.access_key.starts_with("ASIA") && opened.access_key.len() == 20);
        assert_eq!(opened.secret_key().len(), 40);
        assert_eq!(
            opened.assumed_role_arn(),
            "arn:aws:sts::123456789012:assumed-role/analyst/alice-notebook"
        );
        // Same key material on another replica: same keys.
        let replica = SessionKeys::new(&[7u8; 32]).unwrap();
        assert_eq!(replica.open(&token, now).unwrap(), s);
        // Two sessions never share credentials or tokens.
        let other = session(now + Duration::from_secs(900));
        assert_ne!(other.access_key, s.access_key);
        assert_ne!(other.secret_key(), s.secret_key());
    }

    #[test]
    fn tampered_foreign_and_expired_tokens_are_refused() {
        let keys = SessionKeys::new(&[7u8; 32]).unwrap();
        let now = SystemTime::now();
        let token = keys.seal(&session(now + Duration::from_secs(900)));
        // Every single-character change is caught.
        let bytes = token.as_bytes();
        for i in (0..bytes.len()).step_by(7) {
            let mut t = bytes.to_vec();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(t).unwrap();
            if t != token {
                assert_eq!(keys.open(&t, now), Err(SessionError::Invalid), "byte {i}");
            }
        }
        let foreign = SessionKeys::new(&[8u8; 32]).unwrap();
        assert_eq!(foreign.open(&token, now), Err(SessionError::Invalid));
        for garbage in [
            "",
            "BGS1",
            "BGS1!!!!",
            "FQoGZXIvYXdzE",
            &"BGS1A".repeat(5000),
        ] {
            assert_eq!(keys.open(garbage, now), Err(SessionError::Invalid));
        }
        let later = now + Duration::from_secs(900);
        assert_eq!(keys.open(&token, later), Err(SessionError::Expired));
        assert!(SessionKeys::new(&[1u8; 31]).is_err());
    }

    #[test]
    fn a_rotated_key_opens_old_tokens_until_the_deadline() {
        let now = SystemTime::now();
        let old = SessionKeys::new(&[1u8; 40]).unwrap();
        let token = old.seal(&session(now + Duration::from_secs(3600)));
        let keys = old
            .rotated(&[2u8; 40], now + Duration::from_secs(300))
            .unwrap();
        assert!(keys.open(&token, now).is_ok());
        assert_eq!(
            keys.open(&token, now + Duration::from_secs(301)),
            Err(SessionError::Invalid)
        );
        let fresh = keys.seal(&session(now + Duration::from_secs(3600)));
        assert!(keys.open(&fresh, now + Duration::from_secs(301)).is_ok());
    }

    #[test]
    fn claims_from_json() {
        let v: serde_json::Value = serde_json::json!({
            "s": "x", "n": 3, "b": true, "l": ["a", "b"], "o": {"k": 1}, "m": ["a", {}]
        });
        let c = |k: &str| ClaimValue::from_json(&v[k]);
        assert_eq!(c("s"), Some(ClaimValue::Text("x".into())));
        assert_eq!(c("n"), Some(ClaimValue::Text("3".into())));
        assert_eq!(c("b"), Some(ClaimValue::Text("true".into())));
        assert_eq!(c("l"), Some(ClaimValue::List(vec!["a".into(), "b".into()])));
        assert_eq!(c("o"), None);
        assert_eq!(c("m"), None);
    }
}

//! Where secret keys come from: the [`CredentialStore`] trait and a static
//! in-memory store of (access key, secret key) pairs.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::error::AuthError;
use crate::session::Session;

/// Looks up the secret key of an access key id.
pub trait CredentialStore: Send + Sync {
    /// Secret key for an access key id, None if unknown.
    fn secret_key(&self, access_key: &str) -> Option<String>;

    /// The session of temporary credentials: `access_key` as signed with,
    /// `session_token` as sent (`X-Amz-Security-Token`). A store without
    /// sessions refuses every token.
    ///
    /// Errors: [`AuthError::InvalidToken`] (malformed, altered, foreign, or
    /// for another access key), [`AuthError::ExpiredToken`].
    fn session(
        &self,
        access_key: &str,
        session_token: &str,
        now: SystemTime,
    ) -> Result<Arc<Session>, AuthError> {
        let _ = (access_key, session_token, now);
        Err(AuthError::InvalidToken)
    }
}

/// A fixed set of (access key, secret key) pairs.
///
/// Its `Debug` output lists access keys only, never secrets.
#[derive(Clone, Default)]
pub struct StaticCredentials {
    keys: HashMap<String, String>,
}

impl StaticCredentials {
    /// A store holding `pairs`; a later pair with the same access key wins.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            keys: pairs.into_iter().collect(),
        }
    }
}

impl CredentialStore for StaticCredentials {
    fn secret_key(&self, access_key: &str) -> Option<String> {
        self.keys.get(access_key).cloned()
    }
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut access_keys: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        access_keys.sort_unstable();
        f.debug_struct("StaticCredentials")
            .field("access_keys", &access_keys)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_debug_hides_secrets() {
        let store = StaticCredentials::new([
            ("AK1".to_owned(), "secret-one".to_owned()),
            ("AK2".to_owned(), "secret-two".to_owned()),
        ]);
        assert_eq!(store.secret_key("AK1").as_deref(), Some("secret-one"));
        assert_eq!(store.secret_key("AK2").as_deref(), Some("secret-two"));
        assert_eq!(store.secret_key("AK3"), None);
        let debug = format!("{store:?}");
        assert!(debug.contains("AK1") && !debug.contains("secret"));
    }
}

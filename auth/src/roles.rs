//! Identity federation settings of the users file: the OIDC providers whose
//! tokens AssumeRoleWithWebIdentity accepts, and the roles that
//! AssumeRole and AssumeRoleWithWebIdentity make sessions of.
//!
//! ```json
//! {"oidc_providers": [{"issuer": "https://login.example/realms/stats",
//!                      "audiences": ["blobgate"]}],
//!  "roles": [{"name": "analyst", "max_session_secs": 43200,
//!    "trust": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
//!      "Principal": {"Federated": "https://login.example/realms/stats"},
//!      "Action": "sts:AssumeRoleWithWebIdentity",
//!      "Condition": {"ForAnyValue:StringEquals":
//!        {"login.example/realms/stats:groups": "statisticians"}}}]},
//!    "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
//!      "Action": "s3:*", "Resource": "arn:aws:s3:::team/home/${jwt:sub}/*"}]}}]}
//! ```
//!
//! - An issuer is an `https` URL; plain `http` only on loopback
//!   (`127.0.0.1`, `[::1]`, `localhost`), which tests use. It is compared
//!   with a token's `iss` exactly, as OpenID Connect requires.
//! - `audiences`: a token's `aud` must name one of them. Give each service
//!   its own (for Kubernetes service-account tokens, a projected token with
//!   audience `blobgate`, never the API server's own: a token meant for the
//!   API server must not open the storage, see GHSA-7m6v-q233-q9j9).
//! - A role's name is IAM's (1-64 of `[A-Za-z0-9+=,.@_-]`); its ARN is
//!   `arn:aws:iam::ACCOUNT:role/NAME` with any account id. `trust` is an
//!   IAM trust policy ([`Policy::parse_trust_policy`]); `policy` its
//!   permissions (none: the sessions may do nothing); `max_session_secs`
//!   the longest session (900 to 43200, default 3600).

use serde::Deserialize;

use crate::policy::raw::{MapOnly, RawPolicy};
use crate::policy::{is_valid_role_name, Policy, PolicyKind};

/// Shortest session AWS STS hands out.
pub const MIN_SESSION_SECS: u64 = 900;
/// Longest `max_session_secs` of a role (AWS's limit, 12 hours).
pub const MAX_SESSION_SECS: u64 = 43_200;
/// A role's `max_session_secs` when the file does not say.
pub const DEFAULT_SESSION_SECS: u64 = 3_600;

/// An identity provider whose tokens are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProvider {
    /// The issuer URL, exactly as its tokens' `iss`.
    pub issuer: String,
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
}

/// A role sessions are made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    /// Who may assume it.
    pub trust: Policy,
    /// What its sessions may do; None: nothing (unless a bucket policy says).
    pub policy: Option<Policy>,
    pub max_session_secs: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    issuer: String,
    audiences: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRole {
    name: String,
    trust: MapOnly<RawPolicy>,
    #[serde(default)]
    policy: Option<MapOnly<RawPolicy>>,
    #[serde(default)]
    max_session_secs: Option<u64>,
}

/// Whether `issuer` may be trusted: https, or http on a loopback host.
pub fn issuer_url_is_acceptable(issuer: &str) -> bool {
    let rest = if let Some(rest) = issuer.strip_prefix("https://") {
        rest
    } else if let Some(rest) = issuer.strip_prefix("http://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        if !matches!(host, "127.0.0.1" | "[::1]" | "localhost") {
            return false;
        }
        rest
    } else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    !host.is_empty() && !rest.contains(['?', '#']) && !rest.contains(char::is_whitespace)
}

pub(crate) fn check_providers(
    raw: impl Iterator<Item = RawProvider>,
) -> Result<Vec<OidcProvider>, String> {
    let mut providers: Vec<OidcProvider> = Vec::new();
    for (i, p) in raw.enumerate() {
        let label = format!("oidc_providers[{i}] (issuer {:?})", p.issuer);
        if !issuer_url_is_acceptable(&p.issuer) {
            return Err(format!(
                "{label}: the issuer must be an https URL (plain http only on loopback: \
                 127.0.0.1, [::1], localhost), without query or fragment"
            ));
        }
        if p.audiences.is_empty() || p.audiences.iter().any(String::is_empty) {
            return Err(format!(
                "{label}: audiences must list at least one non-empty audience"
            ));
        }
        if providers.iter().any(|q| q.issuer == p.issuer) {
            return Err(format!("{label}: the issuer is listed twice"));
        }
        providers.push(OidcProvider {
            issuer: p.issuer,
            audiences: p.audiences,
        });
    }
    Ok(providers)
}

pub(crate) fn check_roles(raw: impl Iterator<Item = RawRole>) -> Result<Vec<Role>, String> {
    let mut roles: Vec<Role> = Vec::new();
    for (i, r) in raw.enumerate() {
        let label = format!("roles[{i}] (name {:?})", r.name);
        if !is_valid_role_name(&r.name) {
            return Err(format!(
                "{label}: a role name is 1 to 64 of the characters A-Z a-z 0-9 + = , . @ _ -"
            ));
        }
        if roles.iter().any(|q| q.name == r.name) {
            return Err(format!("{label}: duplicate role name"));
        }
        let trust = Policy::from_raw(r.trust.0, PolicyKind::Trust)
            .map_err(|e| format!("{label}: trust: {e}"))?;
        let policy = r
            .policy
            .map(|MapOnly(p)| Policy::from_raw(p, PolicyKind::Identity))
            .transpose()
            .map_err(|e| format!("{label}: policy: {e}"))?;
        let max_session_secs = r.max_session_secs.unwrap_or(DEFAULT_SESSION_SECS);
        if !(MIN_SESSION_SECS..=MAX_SESSION_SECS).contains(&max_session_secs) {
            return Err(format!(
                "{label}: max_session_secs must be between {MIN_SESSION_SECS} and \
                 {MAX_SESSION_SECS}"
            ));
        }
        roles.push(Role {
            name: r.name,
            trust,
            policy,
            max_session_secs,
        });
    }
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_must_be_https_or_loopback() {
        for ok in [
            "https://login.example/realms/x",
            "https://oidc.prod-aks.azure.com/tenant/cluster/",
            "http://127.0.0.1:8080/realms/x",
            "http://localhost:5556/dex",
            "http://[::1]:9/x",
        ] {
            assert!(issuer_url_is_acceptable(ok), "{ok}");
        }
        for bad in [
            "http://login.example/x",
            "http://127.0.0.1.evil.example/x",
            "http://localhost.evil.example:80/x",
            "ftp://x",
            "https://",
            "https://x/?a=b",
            "https://x/#f",
            "login.example",
        ] {
            assert!(!issuer_url_is_acceptable(bad), "{bad}");
        }
    }
}

//! The users file (`--users FILE`): access keys, where each secret key comes
//! from, and each key's identity policy.
//!
//! ```json
//! {"users": [
//!   {"access_key": "reader", "secret_key_env": "READER_SECRET",
//!    "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
//!      "Action": ["s3:GetObject", "s3:ListBucket"],
//!      "Resource": ["arn:aws:s3:::datasets", "arn:aws:s3:::datasets/*"]}]}},
//!   {"access_key": "ci", "secret_key_file": "secrets/ci"}
//! ]}
//! ```
//!
//! Each user names its secret in exactly one way: inline `secret_key`,
//! `secret_key_env` (an environment variable) or `secret_key_file` (a file,
//! relative paths resolved against the users file's folder), so the file
//! itself can live in a ConfigMap while secrets stay in a Kubernetes Secret
//! mounted as files or environment variables. Values from the environment
//! and from files are trimmed of surrounding whitespace, because
//! `echo`, editors and `kubectl create secret --from-file` leave a trailing
//! newline that would otherwise become part of the key; inline values are
//! taken as written.
//!
//! A user without `policy` is authenticated but may do nothing by itself
//! (default deny); a bucket policy naming it can still grant access.
//!
//! The same file configures identity federation (STS), see [`crate::roles`]:
//! `oidc_providers` (the token issuers this gateway trusts) and `roles`
//! (what AssumeRole and AssumeRoleWithWebIdentity hand out). Each of
//! `users`, `oidc_providers` and `roles` may be left out.
//!
//! The file is checked strictly: unknown fields, duplicate access keys,
//! empty keys or secrets and policy errors are refused, each error naming
//! the entry (`users[INDEX] (access key "KEY")`) and never a secret.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::policy::raw::{MapOnly, RawPolicy};
use crate::policy::{is_valid_access_key, Policy, PolicyKind};
use crate::roles::{check_providers, check_roles, OidcProvider, RawProvider, RawRole, Role};

/// One user of the users file.
///
/// Its `Debug` output never shows the secret key.
#[derive(Clone)]
pub struct UserEntry {
    /// The access key id.
    pub access_key: String,
    secret_key: String,
    /// The identity policy; None means the user may do nothing unless a
    /// bucket policy allows it.
    pub policy: Option<Policy>,
}

impl UserEntry {
    /// The secret key.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }
}

impl fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserEntry")
            .field("access_key", &self.access_key)
            .field("has_policy", &self.policy.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsersFile {
    #[serde(default)]
    users: RawUsers,
    #[serde(default)]
    oidc_providers: Vec<MapOnly<RawProvider>>,
    #[serde(default)]
    roles: Vec<MapOnly<RawRole>>,
}

/// Everything a users file configures.
#[derive(Debug, Clone, Default)]
pub struct UsersFile {
    /// Long-term access keys, in file order.
    pub users: Vec<UserEntry>,
    /// Identity token issuers trusted by AssumeRoleWithWebIdentity.
    pub oidc_providers: Vec<OidcProvider>,
    /// Roles sessions are made from.
    pub roles: Vec<Role>,
}

/// The `users` array; an entry's parse error says which entry it is.
#[derive(Default)]
struct RawUsers(Vec<RawUser>);

impl<'de> Deserialize<'de> for RawUsers {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawUsers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of users")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut users = Vec::new();
                loop {
                    match seq.next_element::<MapOnly<RawUser>>() {
                        Ok(Some(MapOnly(user))) => users.push(user),
                        Ok(None) => return Ok(RawUsers(users)),
                        Err(e) => {
                            return Err(serde::de::Error::custom(format_args!(
                                "users[{}]: {e}",
                                users.len()
                            )))
                        }
                    }
                }
            }
        }
        deserializer.deserialize_seq(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    access_key: String,
    /// Kept as a JSON value so that a wrongly typed secret is never echoed
    /// by a serde error message ("invalid type: integer `1234`...").
    secret_key: Option<serde_json::Value>,
    secret_key_env: Option<String>,
    secret_key_file: Option<PathBuf>,
    policy: Option<MapOnly<RawPolicy>>,
}

/// Parse and check a users file.
///
/// `env` looks up an environment variable (for `secret_key_env`);
/// `read_file` reads a `secret_key_file` path as written in the file (the
/// caller resolves relative paths; [`load_users_file`] does so against the
/// users file's folder). Returns the users in file order, or the first
/// error, naming the entry and the problem.
pub fn parse_users(
    json: &[u8],
    env: impl Fn(&str) -> Option<String>,
    read_file: impl Fn(&Path) -> io::Result<String>,
) -> Result<Vec<UserEntry>, String> {
    parse_users_file(json, env, read_file).map(|f| f.users)
}

/// Parse and check a whole users file: its users (as [`parse_users`]), OIDC
/// providers and roles.
pub fn parse_users_file(
    json: &[u8],
    env: impl Fn(&str) -> Option<String>,
    read_file: impl Fn(&Path) -> io::Result<String>,
) -> Result<UsersFile, String> {
    let MapOnly(raw): MapOnly<RawUsersFile> =
        serde_json::from_slice(json).map_err(|e| locate_error(json, e))?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut users = Vec::with_capacity(raw.users.0.len());
    for (index, user) in raw.users.0.into_iter().enumerate() {
        let label = entry_label(index, Some(&user.access_key));
        let entry = check_user(user, &env, &read_file).map_err(|e| format!("{label}: {e}"))?;
        if let Some(first) = seen.insert(entry.access_key.clone(), index) {
            return Err(format!(
                "{label}: duplicate access key (also users[{first}])"
            ));
        }
        users.push(entry);
    }
    let oidc_providers = check_providers(raw.oidc_providers.into_iter().map(|MapOnly(p)| p))?;
    let roles = check_roles(raw.roles.into_iter().map(|MapOnly(r)| r))?;
    Ok(UsersFile {
        users,
        oidc_providers,
        roles,
    })
}

/// Read and parse the users file at `path` with the process environment,
/// resolving relative `secret_key_file` paths against the file's folder.
/// Errors start with the users file's path.
pub fn load_users_file(path: &Path) -> Result<Vec<UserEntry>, String> {
    let in_file = |e: String| format!("users file {}: {e}", path.display());
    let json = std::fs::read(path).map_err(|e| in_file(e.to_string()))?;
    let folder = path.parent().unwrap_or(Path::new(""));
    parse_users(
        &json,
        |name| std::env::var(name).ok(),
        |p| std::fs::read_to_string(folder.join(p)),
    )
    .map_err(in_file)
}

fn entry_label(index: usize, access_key: Option<&str>) -> String {
    match access_key {
        // Debug-quoted: a stray control character cannot garble a log line.
        Some(key) if !key.is_empty() => format!("users[{index}] (access key {key:?})"),
        _ => format!("users[{index}]"),
    }
}

fn check_user(
    user: RawUser,
    env: &impl Fn(&str) -> Option<String>,
    read_file: &impl Fn(&Path) -> io::Result<String>,
) -> Result<UserEntry, String> {
    if user.access_key.is_empty() {
        return Err("access_key is empty".to_owned());
    }
    if !is_valid_access_key(&user.access_key) {
        return Err("access_key must be visible ASCII without '/', ',', '*' or '?'".to_owned());
    }
    let secret_key = match (user.secret_key, user.secret_key_env, user.secret_key_file) {
        (Some(value), None, None) => match value {
            serde_json::Value::String(s) if !s.is_empty() => s,
            serde_json::Value::String(_) => return Err("secret_key is empty".to_owned()),
            _ => return Err("secret_key must be a string".to_owned()),
        },
        (None, Some(name), None) => {
            if name.is_empty() {
                return Err("secret_key_env is empty".to_owned());
            }
            let value = env(&name).ok_or_else(|| {
                format!("environment variable {name} (secret_key_env) is not set")
            })?;
            let value = value.trim();
            if value.is_empty() {
                return Err(format!(
                    "environment variable {name} (secret_key_env) is empty"
                ));
            }
            value.to_owned()
        }
        (None, None, Some(path)) => {
            if path.as_os_str().is_empty() {
                return Err("secret_key_file is empty".to_owned());
            }
            let contents = read_file(&path)
                .map_err(|e| format!("cannot read secret_key_file {}: {e}", path.display()))?;
            let value = contents.trim();
            if value.is_empty() {
                return Err(format!("secret_key_file {} is empty", path.display()));
            }
            value.to_owned()
        }
        (None, None, None) => {
            return Err("needs one of secret_key, secret_key_env, secret_key_file".to_owned())
        }
        _ => {
            return Err(
                "needs exactly one of secret_key, secret_key_env, secret_key_file, not several"
                    .to_owned(),
            )
        }
    };
    let policy = user
        .policy
        .map(|MapOnly(raw)| Policy::from_raw(raw, PolicyKind::Identity))
        .transpose()
        .map_err(|e| format!("policy: {e}"))?;
    Ok(UserEntry {
        access_key: user.access_key,
        secret_key,
        policy,
    })
}

/// A serde error for the whole file rarely says which user is wrong; read
/// the file again loosely and find the first entry that does not parse, so
/// the message can name it. Falls back to serde's line and column.
fn locate_error(json: &[u8], err: serde_json::Error) -> String {
    let loose: Option<serde_json::Value> = serde_json::from_slice(json).ok();
    let entries = loose
        .as_ref()
        .and_then(|v| v.get("users"))
        .and_then(|v| v.as_array());
    if let Some(entries) = entries {
        for (index, entry) in entries.iter().enumerate() {
            if let Err(e) = serde_json::from_value::<MapOnly<RawUser>>(entry.clone()) {
                let key = entry.get("access_key").and_then(|k| k.as_str());
                return format!(
                    "{}: {e} (line {}, column {})",
                    entry_label(index, key),
                    err.line(),
                    err.column()
                );
            }
        }
    }
    err.to_string()
}

#[cfg(test)]
mod tests;

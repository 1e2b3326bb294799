//! The Azure account a gateway serves, read from the standard variables of
//! the interface contract: `AZURE_STORAGE_CONNECTION_STRING`, or
//! `AZURE_STORAGE_ACCOUNT` with `AZURE_STORAGE_KEY` or
//! `AZURE_STORAGE_SAS_TOKEN` or, with neither, Entra ID tokens from AKS
//! workload identity (`AZURE_FEDERATED_TOKEN_FILE`, `AZURE_CLIENT_ID`,
//! `AZURE_TENANT_ID`, as the webhook sets them); and an endpoint override
//! for Azurite or other clouds. Every error names the setting to fix.

use azure_core::http::Url;
use base64::Engine;

/// How the gateway authenticates to Azure.
#[derive(Clone)]
pub enum AzureAuth {
    /// Account key (SharedKey): decoded key bytes.
    SharedKey(Vec<u8>),
    /// A SAS token: the query string, without a leading `?`.
    Sas(String),
    /// Entra ID tokens, obtained with the Kubernetes service account token
    /// of AKS workload identity (read by azure_identity from
    /// `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`
    /// and `AZURE_AUTHORITY_HOST`).
    WorkloadIdentity,
}

impl AzureAuth {
    /// How the gateway signs in, for the log (never the secret).
    pub fn name(&self) -> &'static str {
        match self {
            AzureAuth::SharedKey(_) => "account key",
            AzureAuth::Sas(_) => "SAS token",
            AzureAuth::WorkloadIdentity => "workload identity",
        }
    }
}

impl std::fmt::Debug for AzureAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            AzureAuth::SharedKey(_) => f.write_str("SharedKey(..)"),
            AzureAuth::Sas(_) => f.write_str("Sas(..)"),
            AzureAuth::WorkloadIdentity => f.write_str("WorkloadIdentity"),
        }
    }
}

/// A storage account and how to reach it.
#[derive(Debug, Clone)]
pub struct AzureSettings {
    pub account: String,
    /// The Blob service URL, without a trailing `/` (e.g.
    /// `https://acct.blob.core.windows.net` or
    /// `http://127.0.0.1:10000/devstoreaccount1`).
    pub endpoint: Url,
    pub auth: AzureAuth,
}

/// Set by the AKS workload identity webhook in pods that use it.
const FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";

const VARS: [&str; 4] = [
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
];

impl AzureSettings {
    /// Read the settings from the process environment.
    pub fn from_env(endpoint_override: Option<&str>) -> Result<Self, String> {
        Self::from_lookup(endpoint_override, |name| {
            std::env::var(name).ok().filter(|v| !v.trim().is_empty())
        })
    }

    /// Read the settings through `get` (the environment, or a table in tests).
    pub fn from_lookup(
        endpoint_override: Option<&str>,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let endpoint_override = endpoint_override.filter(|e| !e.trim().is_empty());
        if let Some(cs) = get(VARS[0]) {
            return Self::from_connection_string(&cs, endpoint_override);
        }
        let Some(account) = get(VARS[1]) else {
            return Err(format!(
                "--backend azure needs the storage account: set AZURE_STORAGE_CONNECTION_STRING, \
                 or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN \
                 (none of {} is set)",
                VARS.join(", ")
            ));
        };
        let auth = match (get(VARS[2]), get(VARS[3])) {
            (Some(key), _) => AzureAuth::SharedKey(decode_key(&key, "AZURE_STORAGE_KEY")?),
            (None, Some(sas)) => AzureAuth::Sas(sas.trim().trim_start_matches('?').to_owned()),
            (None, None) if get(FEDERATED_TOKEN_FILE).is_some() => {
                for var in ["AZURE_CLIENT_ID", "AZURE_TENANT_ID"] {
                    if get(var).is_none() {
                        return Err(format!(
                            "{FEDERATED_TOKEN_FILE} is set (workload identity) but {var} is not"
                        ));
                    }
                }
                AzureAuth::WorkloadIdentity
            }
            (None, None) => {
                return Err(format!(
                    "AZURE_STORAGE_ACCOUNT is set ({account}) but neither AZURE_STORAGE_KEY nor \
                     AZURE_STORAGE_SAS_TOKEN is, nor {FEDERATED_TOKEN_FILE} (workload identity)"
                ))
            }
        };
        let endpoint = match endpoint_override {
            Some(e) => parse_endpoint(e, "--azure-endpoint / BLOBGATE_AZURE_ENDPOINT")?,
            None => parse_endpoint(
                &format!("https://{account}.blob.core.windows.net"),
                "AZURE_STORAGE_ACCOUNT",
            )?,
        };
        if matches!(auth, AzureAuth::WorkloadIdentity) && endpoint.scheme() != "https" {
            return Err(format!(
                "--azure-endpoint / BLOBGATE_AZURE_ENDPOINT {endpoint}: Entra ID tokens \
                 (workload identity, {FEDERATED_TOKEN_FILE}) are sent over HTTPS only"
            ));
        }
        Ok(AzureSettings {
            account,
            endpoint,
            auth,
        })
    }

    fn from_connection_string(cs: &str, endpoint_override: Option<&str>) -> Result<Self, String> {
        const VAR: &str = "AZURE_STORAGE_CONNECTION_STRING";
        let mut fields = std::collections::HashMap::new();
        for part in cs.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(format!(
                    "{VAR}: expected Name=value pairs separated by ';', found {:?}",
                    part.split('=').next().unwrap_or_default()
                ));
            };
            fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
        let field = |name: &str| fields.get(name).filter(|v| !v.is_empty()).cloned();
        if field("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            // The well-known Azurite account and key.
            fields
                .entry("accountname".into())
                .or_insert_with(|| "devstoreaccount1".into());
            fields.entry("accountkey".into()).or_insert_with(|| {
                "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==".into()
            });
            fields
                .entry("blobendpoint".into())
                .or_insert_with(|| "http://127.0.0.1:10000/devstoreaccount1".into());
        }
        let field = |name: &str| fields.get(name).filter(|v| !v.is_empty()).cloned();
        let account = field("accountname");
        let auth = match (field("accountkey"), field("sharedaccesssignature")) {
            (Some(key), _) => AzureAuth::SharedKey(decode_key(&key, &format!("{VAR} AccountKey"))?),
            (None, Some(sas)) => AzureAuth::Sas(sas.trim_start_matches('?').to_owned()),
            (None, None) => {
                return Err(format!(
                    "{VAR} has neither AccountKey nor SharedAccessSignature"
                ))
            }
        };
        let endpoint = if let Some(e) = endpoint_override {
            parse_endpoint(e, "--azure-endpoint / BLOBGATE_AZURE_ENDPOINT")?
        } else if let Some(e) = field("blobendpoint") {
            parse_endpoint(&e, &format!("{VAR} BlobEndpoint"))?
        } else {
            let Some(account) = &account else {
                return Err(format!("{VAR} has neither AccountName nor BlobEndpoint"));
            };
            let protocol = field("defaultendpointsprotocol").unwrap_or_else(|| "https".into());
            let suffix = field("endpointsuffix").unwrap_or_else(|| "core.windows.net".into());
            parse_endpoint(
                &format!("{protocol}://{account}.blob.{suffix}"),
                &format!("{VAR} DefaultEndpointsProtocol/EndpointSuffix"),
            )?
        };
        let account = match account {
            Some(a) => a,
            None => account_from_endpoint(&endpoint).ok_or_else(|| {
                format!("{VAR} has no AccountName and the endpoint does not name the account")
            })?,
        };
        if matches!(auth, AzureAuth::SharedKey(_)) && account.is_empty() {
            return Err(format!("{VAR}: AccountKey needs AccountName"));
        }
        Ok(AzureSettings {
            account,
            endpoint,
            auth,
        })
    }
}

fn decode_key(key: &str, setting: &str) -> Result<Vec<u8>, String> {
    match base64::engine::general_purpose::STANDARD.decode(key.trim()) {
        Ok(k) if !k.is_empty() => Ok(k),
        _ => Err(format!(
            "{setting} is not a valid account key (expected the base64 key from the portal)"
        )),
    }
}

fn parse_endpoint(raw: &str, setting: &str) -> Result<Url, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url =
        Url::parse(trimmed).map_err(|e| format!("{setting}: {trimmed:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{setting}: {trimmed:?} must be an http:// or https:// URL"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{setting}: {trimmed:?} must not carry a query (put a SAS token in AZURE_STORAGE_SAS_TOKEN)"
        ));
    }
    Ok(url)
}

/// `acct` from `https://acct.blob.core.windows.net` or `http://host:port/acct`.
fn account_from_endpoint(url: &Url) -> Option<String> {
    let path = url.path().trim_matches('/');
    if !path.is_empty() {
        return Some(path.split('/').next()?.to_owned());
    }
    let host = url.host_str()?;
    host.split_once(".blob.").map(|(a, _)| a.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)], over: Option<&str>) -> Result<AzureSettings, String> {
        AzureSettings::from_lookup(over, |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn account_and_key() {
        let s = settings(
            &[
                ("AZURE_STORAGE_ACCOUNT", "acct"),
                ("AZURE_STORAGE_KEY", "AAAA"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(s.account, "acct");
        assert_eq!(s.endpoint.as_str(), "https://acct.blob.core.windows.net/");
        assert!(matches!(s.auth, AzureAuth::SharedKey(ref k) if k == &[0, 0, 0]));
        let s = settings(
            &[
                ("AZURE_STORAGE_ACCOUNT", "acct"),
                ("AZURE_STORAGE_SAS_TOKEN", "?sv=1&sig=x"),
            ],
            Some("http://127.0.0.1:10000/acct/"),
        )
        .unwrap();
        assert_eq!(s.endpoint.as_str(), "http://127.0.0.1:10000/acct");
        assert!(matches!(s.auth, AzureAuth::Sas(ref q) if q == "sv=1&sig=x"));
    }

    #[test]
    fn connection_strings() {
        let s = settings(
            &[(
                "AZURE_STORAGE_CONNECTION_STRING",
                "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=AAAA;BlobEndpoint=http://127.0.0.1:1234/devstoreaccount1;",
            )],
            None,
        )
        .unwrap();
        assert_eq!(s.account, "devstoreaccount1");
        assert_eq!(
            s.endpoint.as_str(),
            "http://127.0.0.1:1234/devstoreaccount1"
        );
        let s = settings(
            &[(
                "AZURE_STORAGE_CONNECTION_STRING",
                "AccountName=a;AccountKey=AAAA;EndpointSuffix=core.chinacloudapi.cn",
            )],
            None,
        )
        .unwrap();
        assert_eq!(s.endpoint.as_str(), "https://a.blob.core.chinacloudapi.cn/");
        let s = settings(
            &[(
                "AZURE_STORAGE_CONNECTION_STRING",
                "BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2&sig=y",
            )],
            None,
        )
        .unwrap();
        assert_eq!(s.account, "a");
        assert!(matches!(s.auth, AzureAuth::Sas(ref q) if q == "sv=2&sig=y"));
        let s = settings(
            &[(
                "AZURE_STORAGE_CONNECTION_STRING",
                "UseDevelopmentStorage=true",
            )],
            None,
        )
        .unwrap();
        assert_eq!(s.account, "devstoreaccount1");
    }

    #[test]
    fn workload_identity_without_key_or_sas() {
        let wi = [
            ("AZURE_STORAGE_ACCOUNT", "acct"),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                "/var/run/secrets/azure/tokens/azure-identity-token",
            ),
            ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
            ("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000002"),
        ];
        let s = settings(&wi, None).unwrap();
        assert!(matches!(s.auth, AzureAuth::WorkloadIdentity));
        assert_eq!(s.endpoint.as_str(), "https://acct.blob.core.windows.net/");
        // A key, when given, wins (the webhook may inject into any pod).
        let with_key = [wi[0], wi[1], wi[2], wi[3], ("AZURE_STORAGE_KEY", "AAAA")];
        assert!(matches!(
            settings(&with_key, None).unwrap().auth,
            AzureAuth::SharedKey(_)
        ));
        let e = settings(&wi[..3], None).unwrap_err();
        assert!(e.contains("AZURE_TENANT_ID"), "{e}");
        let e = settings(&wi, Some("http://127.0.0.1:10000/acct")).unwrap_err();
        assert!(e.contains("HTTPS"), "{e}");
    }

    #[test]
    fn errors_name_the_setting() {
        let e = settings(&[], None).unwrap_err();
        assert!(e.contains("AZURE_STORAGE_CONNECTION_STRING"), "{e}");
        let e = settings(&[("AZURE_STORAGE_ACCOUNT", "a")], None).unwrap_err();
        assert!(e.contains("AZURE_STORAGE_KEY"), "{e}");
        let e = settings(
            &[
                ("AZURE_STORAGE_ACCOUNT", "a"),
                ("AZURE_STORAGE_KEY", "not base64!"),
            ],
            None,
        )
        .unwrap_err();
        assert!(e.starts_with("AZURE_STORAGE_KEY"), "{e}");
        let e = settings(
            &[
                ("AZURE_STORAGE_ACCOUNT", "a"),
                ("AZURE_STORAGE_KEY", "AAAA"),
            ],
            Some("ftp://x"),
        )
        .unwrap_err();
        assert!(e.contains("--azure-endpoint"), "{e}");
        let e = settings(&[("AZURE_STORAGE_CONNECTION_STRING", "garbage")], None).unwrap_err();
        assert!(e.starts_with("AZURE_STORAGE_CONNECTION_STRING"), "{e}");
    }
}

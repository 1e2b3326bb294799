//! Command line, environment and file configuration (the interface
//! contract in the design's ARCHITECTURE.md).
//!
//! Precedence, highest first: a flag, its `BLOBGATE_*` variable, the TOML
//! file given by `--config` (keys are the flag names, `-` or `_`), the
//! default. Unknown keys and bad values in the file are errors that name
//! the file and the key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sha2::{Digest, Sha256};

use crate::console::{check_frame_ancestor, ConsoleConfig, ConsoleOidc};
use crate::logging::LogFormat;
use crate::request::GatewayConfig;
use crate::tls::TlsFiles;

/// Development credentials, accepted only while listening on loopback.
pub const DEV_ACCESS_KEY: &str = "blobgate-dev";
pub const DEV_SECRET_KEY: &str = "blobgate-dev-secret";

#[derive(Debug, Parser)]
#[command(
    name = "blobgate",
    version,
    about = "S3-compatible gateway onto Azure Blob Storage or a local directory"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the S3 API.
    Serve(ServeOptions),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// Objects as files under --data-dir (the embedded default).
    Fs,
    /// Containers and blobs of an Azure storage account (AZURE_STORAGE_*).
    Azure,
}

#[derive(Debug, Args)]
pub struct ServeOptions {
    /// TOML file with any of these options (keys are the flag names);
    /// flags and environment variables override it.
    #[arg(long, env = "BLOBGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "BLOBGATE_LISTEN", default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Storage backend.
    #[arg(long, env = "BLOBGATE_BACKEND", value_enum, default_value = "fs")]
    pub backend: BackendKind,
    /// Data directory of the fs backend.
    #[arg(long, env = "BLOBGATE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Azure Blob service URL, for Azurite or other clouds (default:
    /// https://ACCOUNT.blob.core.windows.net, or the connection string's).
    #[arg(long, env = "BLOBGATE_AZURE_ENDPOINT")]
    pub azure_endpoint: Option<String>,
    /// Region reported to clients and required in signatures.
    #[arg(long, env = "BLOBGATE_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Base domain for virtual-host-style requests (BUCKET.DOMAIN).
    #[arg(long, env = "BLOBGATE_DOMAIN")]
    pub domain: Option<String>,
    /// Seconds a client may stall (request headers, request body, or not
    /// reading the response) before its connection is cut off.
    #[arg(long, env = "BLOBGATE_IDLE_TIMEOUT", default_value_t = 60)]
    pub idle_timeout: u64,
    /// Users file: scoped access keys with IAM-style policies (JSON; see
    /// README). Re-read when it changes.
    #[arg(long = "users", env = "BLOBGATE_USERS_FILE", value_name = "FILE")]
    pub users_file: Option<PathBuf>,
    /// STS key file: 32 or more random bytes that seal STS session tokens,
    /// the same file on every replica (a Kubernetes Secret). Re-read when
    /// it changes; without it each process seals with a random key of its
    /// own, and its sessions end when it restarts.
    #[arg(long, env = "BLOBGATE_STS_KEY_FILE", value_name = "FILE")]
    pub sts_key_file: Option<PathBuf>,
    /// Multipart uploads neither completed nor aborted are removed after this
    /// many hours (Azure drops their uncommitted blocks after 7 days).
    #[arg(long, env = "BLOBGATE_MULTIPART_EXPIRY_HOURS", default_value_t = 168)]
    pub multipart_expiry_hours: u64,
    /// Memory for the read cache of object metadata and small objects, in
    /// MiB; 0 turns the cache off.
    #[arg(long, env = "BLOBGATE_CACHE_SIZE_MIB", default_value_t = 256)]
    pub cache_size_mib: u64,
    /// Objects up to this many KiB have their bytes cached.
    #[arg(long, env = "BLOBGATE_CACHE_MAX_OBJECT_KIB", default_value_t = 4096)]
    pub cache_max_object_kib: u64,
    /// Seconds a cached object is served without asking the backend; after
    /// that one conditional request (on its ETag) revalidates it. Bounds how
    /// long a write that bypassed this gateway can go unseen; 0 asks every
    /// time.
    #[arg(long, env = "BLOBGATE_CACHE_REVALIDATE_SECS", default_value_t = 2.0)]
    pub cache_revalidate_secs: f64,
    /// Most open client connections; beyond, a new connection gets one
    /// 503 SlowDown answer and is closed.
    #[arg(long, env = "BLOBGATE_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Most requests handled at once, a response being streamed counting
    /// until its last byte; beyond, 503 SlowDown.
    #[arg(long, env = "BLOBGATE_MAX_REQUESTS", default_value_t = 1024)]
    pub max_requests: usize,
    /// Largest request head (request line and headers), in KiB.
    #[arg(long, env = "BLOBGATE_MAX_HEADER_KIB", default_value_t = 64)]
    pub max_header_kib: usize,
    /// On SIGTERM, seconds to go on serving while /-/health/ready answers
    /// 503 (so load balancers stop sending), before new connections are
    /// refused.
    #[arg(long, env = "BLOBGATE_SHUTDOWN_DELAY_SECS", default_value_t = 0)]
    pub shutdown_delay_secs: u64,
    /// Then, seconds open requests get to finish before the process exits.
    #[arg(long, env = "BLOBGATE_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
    /// Log line format: text, or one JSON object per line.
    #[arg(long, env = "BLOBGATE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// TLS certificate chain (PEM), with --tls-key: serve HTTPS. Reloaded
    /// when the file changes.
    #[arg(long, env = "BLOBGATE_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1), with --tls-cert.
    #[arg(long, env = "BLOBGATE_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Serve the web console at /-/console/ (`false` turns it off).
    #[arg(long, env = "BLOBGATE_CONSOLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub console: bool,
    /// Origins allowed to embed the console in a frame (the Kubeflow
    /// dashboard's), comma-separated; by default no page may frame it.
    #[arg(
        long,
        env = "BLOBGATE_CONSOLE_FRAME_ANCESTORS",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub console_frame_ancestors: Vec<String>,
    /// OIDC issuer of the console's "Sign in with" button (authorization
    /// code with PKCE, then AssumeRoleWithWebIdentity).
    #[arg(long, env = "BLOBGATE_CONSOLE_OIDC_ISSUER", value_name = "URL")]
    pub console_oidc_issuer: Option<String>,
    /// The console's client id at that issuer (a public client).
    #[arg(long, env = "BLOBGATE_CONSOLE_OIDC_CLIENT_ID")]
    pub console_oidc_client_id: Option<String>,
    /// The role the console assumes with the ID token (its ARN).
    #[arg(long, env = "BLOBGATE_CONSOLE_OIDC_ROLE", value_name = "ARN")]
    pub console_oidc_role: Option<String>,
    /// Scopes the console asks for (offline_access lets it renew sessions
    /// while the tab is open).
    #[arg(
        long,
        env = "BLOBGATE_CONSOLE_OIDC_SCOPES",
        default_value = "openid profile email offline_access"
    )]
    pub console_oidc_scopes: String,
    /// The provider's name on the sign-in button (default: the issuer's
    /// host).
    #[arg(long, env = "BLOBGATE_CONSOLE_OIDC_NAME")]
    pub console_oidc_name: Option<String>,
    /// Root access key id (with BLOBGATE_SECRET_KEY).
    #[arg(long, env = "BLOBGATE_ACCESS_KEY", hide_env_values = true)]
    pub access_key: Option<String>,
    /// Root secret key.
    #[arg(long, env = "BLOBGATE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
}

/// Why the command line or the configuration file cannot be used.
#[derive(Debug)]
pub enum ConfigError {
    /// From the command line (including --help and --version, which exit 0).
    Cli(clap::Error),
    /// From the configuration file.
    File(String),
}

/// Parse the command line, completed from the `--config` file.
pub fn load(args: Vec<std::ffi::OsString>) -> Result<Cli, ConfigError> {
    use clap::parser::ValueSource;
    use clap::CommandFactory;

    let cli = Cli::try_parse_from(&args).map_err(ConfigError::Cli)?;
    let Command::Serve(options) = &cli.command;
    let Some(path) = options.config.clone() else {
        return Ok(cli);
    };
    let shown = path.display().to_string();
    let file_error = |what: String| ConfigError::File(format!("config file {shown}: {what}"));
    let text = std::fs::read_to_string(&path).map_err(|e| file_error(e.to_string()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| file_error(e.to_string()))?;

    let matches = Cli::command()
        .try_get_matches_from(&args)
        .map_err(ConfigError::Cli)?;
    let given = matches
        .subcommand_matches("serve")
        .ok_or_else(|| file_error("only `serve` reads a config file".into()))?;
    let command = Cli::command();
    let serve = command
        .find_subcommand("serve")
        .ok_or_else(|| file_error("no serve command".into()))?;
    let mut extra: Vec<std::ffi::OsString> = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let arg = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != "config")
            .ok_or_else(|| {
                let known: Vec<String> = serve
                    .get_arguments()
                    .filter_map(|a| a.get_long())
                    .filter(|l| *l != "config" && *l != "help")
                    .map(|l| l.replace('-', "_"))
                    .collect();
                file_error(format!("unknown key `{key}` (known: {})", known.join(", ")))
            })?;
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(file_error(format!(
                    "`{key}` must be a string, a number or a boolean"
                )))
            }
        };
        // One `--flag=value` word, so that a value starting with `-` (a
        // secret key) is a value, not another flag.
        let flag = format!("--{long}={text}");
        // The value alone, so that an error names the file's key.
        let alone = ["blobgate", "serve"]
            .into_iter()
            .map(String::from)
            .chain([flag.clone()]);
        if let Err(e) = Cli::try_parse_from(alone) {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            return Err(file_error(format!("`{key}`: {first}")));
        }
        // Flags and variables win over the file.
        let source = given.value_source(arg.get_id().as_str());
        if matches!(source, None | Some(ValueSource::DefaultValue)) {
            extra.push(flag.into());
        }
    }
    let mut all = args;
    all.extend(extra);
    Cli::try_parse_from(all).map_err(ConfigError::Cli)
}

/// Root credentials and whether they are the development pair.
#[derive(Debug, Clone)]
pub struct RootCredentials {
    pub access_key: String,
    pub secret_key: String,
    pub development: bool,
}

impl ServeOptions {
    /// The root credentials, or why the server must not start.
    pub fn root_credentials(&self) -> Result<RootCredentials, String> {
        match (&self.access_key, &self.secret_key) {
            (Some(a), Some(s)) if !a.is_empty() && !s.is_empty() => Ok(RootCredentials {
                access_key: a.clone(),
                secret_key: s.clone(),
                development: false,
            }),
            (None, None) if self.listen.ip().is_loopback() => Ok(RootCredentials {
                access_key: DEV_ACCESS_KEY.to_owned(),
                secret_key: DEV_SECRET_KEY.to_owned(),
                development: true,
            }),
            (None, None) => Err(format!(
                "BLOBGATE_ACCESS_KEY and BLOBGATE_SECRET_KEY must be set to listen on {} \
                 (development credentials are allowed on loopback only)",
                self.listen
            )),
            _ => Err("set both BLOBGATE_ACCESS_KEY and BLOBGATE_SECRET_KEY, or neither".into()),
        }
    }

    /// The cache settings, or None when the cache is off.
    pub fn cache_config(&self) -> Result<Option<crate::storage::cache::CacheConfig>, String> {
        if self.cache_size_mib == 0 {
            return Ok(None);
        }
        let revalidate_after = Duration::try_from_secs_f64(self.cache_revalidate_secs)
            .map_err(|_| "--cache-revalidate-secs must be a non-negative number".to_owned())?;
        Ok(Some(crate::storage::cache::CacheConfig {
            capacity_bytes: self.cache_size_mib.saturating_mul(1 << 20),
            max_object_bytes: self.cache_max_object_kib.saturating_mul(1 << 10),
            revalidate_after,
        }))
    }

    /// The TLS files, when HTTPS is asked for.
    pub fn tls_files(&self) -> Result<Option<TlsFiles>, String> {
        let given = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
        match (given(&self.tls_cert), given(&self.tls_key)) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key })),
            (None, None) => Ok(None),
            (Some(_), None) => Err("--tls-cert needs --tls-key (BLOBGATE_TLS_KEY) too".into()),
            (None, Some(_)) => Err("--tls-key needs --tls-cert (BLOBGATE_TLS_CERT) too".into()),
        }
    }

    /// The console's settings, or why they cannot be used.
    pub fn console_config(&self) -> Result<ConsoleConfig, String> {
        let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        for origin in &self.console_frame_ancestors {
            check_frame_ancestor(origin).map_err(|e| format!("--console-frame-ancestors: {e}"))?;
        }
        let oidc = match (
            given(&self.console_oidc_issuer),
            given(&self.console_oidc_client_id),
            given(&self.console_oidc_role),
        ) {
            (None, None, None) => None,
            (Some(issuer), Some(client_id), Some(role_arn)) => {
                if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
                    return Err(format!(
                        "--console-oidc-issuer {issuer:?} must be an http(s) URL"
                    ));
                }
                let name = given(&self.console_oidc_name).unwrap_or_else(|| {
                    let host = issuer.split("://").nth(1).unwrap_or(&issuer);
                    host.split(['/', ':']).next().unwrap_or(host).to_owned()
                });
                Some(ConsoleOidc {
                    issuer,
                    client_id,
                    scopes: self.console_oidc_scopes.clone(),
                    role_arn,
                    name,
                })
            }
            _ => {
                return Err("console OIDC sign-in needs --console-oidc-issuer, \
                     --console-oidc-client-id and --console-oidc-role together"
                    .into())
            }
        };
        Ok(ConsoleConfig {
            enabled: self.console,
            frame_ancestors: self.console_frame_ancestors.clone(),
            oidc,
            region: self.region.clone(),
        })
    }

    /// Settings for the request path.
    pub fn gateway_config(&self, root: &RootCredentials, console: ConsoleConfig) -> GatewayConfig {
        let idle = Duration::from_secs(self.idle_timeout.max(1));
        let mut token_key = [0u8; 32];
        token_key.copy_from_slice(&Sha256::digest(
            format!("blobgate continuation tokens\n{}", root.secret_key).as_bytes(),
        ));
        GatewayConfig {
            region: self.region.clone(),
            domain: self.domain.clone().filter(|d| !d.is_empty()),
            body_idle_timeout: idle,
            write_timeout: idle,
            header_timeout: idle.min(Duration::from_secs(30)),
            token_key,
            limits: crate::request::Limits {
                max_connections: self.max_connections.max(1),
                max_requests: self.max_requests.max(1),
                max_header_bytes: self.max_header_kib.saturating_mul(1024),
                shutdown_delay: Duration::from_secs(self.shutdown_delay_secs),
                shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            },
            console,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(cli: Cli) -> ServeOptions {
        let Command::Serve(options) = cli.command;
        options
    }

    fn args(extra: &[&str]) -> Vec<std::ffi::OsString> {
        ["blobgate", "serve"]
            .iter()
            .chain(extra)
            .map(Into::into)
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    fn error(r: Result<Cli, ConfigError>) -> String {
        match r {
            Err(ConfigError::File(m)) => m,
            Err(ConfigError::Cli(e)) => e.to_string(),
            Ok(_) => panic!("expected an error"),
        }
    }

    fn parsed(args: &[&str]) -> ServeOptions {
        let cli = Cli::try_parse_from(["blobgate", "serve"].iter().chain(args)).unwrap();
        match cli.command {
            Command::Serve(o) => o,
        }
    }

    #[test]
    fn file_fills_what_flags_leave() {
        let f = file(
            "cache_size_mib = 7\nregion = \"eu-north-1\"\ncache-revalidate-secs = 0.5\nbackend = \"fs\"\n",
        );
        let path = f.path().to_str().unwrap();
        let o = serve(load(args(&["--config", path])).unwrap());
        assert_eq!(o.cache_size_mib, 7);
        assert_eq!(o.region, "eu-north-1");
        assert_eq!(o.cache_revalidate_secs, 0.5);
        // A flag wins over the file; untouched options keep their defaults.
        let o = serve(load(args(&["--config", path, "--region", "us-west-2"])).unwrap());
        assert_eq!(o.region, "us-west-2");
        assert_eq!(o.cache_size_mib, 7);
        assert_eq!(o.idle_timeout, 60);
    }

    #[test]
    fn file_values_may_start_with_a_dash() {
        let f = file("secret_key = \"-Abc+def/ghi\"\nregion = \"--odd\"\n");
        let o = serve(load(args(&["--config", f.path().to_str().unwrap()])).unwrap());
        assert_eq!(o.secret_key.as_deref(), Some("-Abc+def/ghi"));
        assert_eq!(o.region, "--odd");
    }

    #[test]
    fn environment_wins_over_the_file() {
        // The only test that sets this variable.
        std::env::set_var("BLOBGATE_DOMAIN", "from-env.example");
        let f = file("domain = \"from-file.example\"\n");
        let o = serve(load(args(&["--config", f.path().to_str().unwrap()])).unwrap());
        std::env::remove_var("BLOBGATE_DOMAIN");
        assert_eq!(o.domain.as_deref(), Some("from-env.example"));
    }

    #[test]
    fn bad_files_name_the_problem() {
        let cases = [
            ("cache_sise_mib = 1\n", "unknown key `cache_sise_mib`"),
            (
                "cache_size_mib = \"lots\"\n",
                "`cache_size_mib`: invalid value 'lots'",
            ),
            ("backend = \"s3\"\n", "`backend`: invalid value 's3'"),
            ("region = [1]\n", "`region` must be a string"),
            ("region = \n", "config file"),
        ];
        for (text, want) in cases {
            let f = file(text);
            let got = error(load(args(&["--config", f.path().to_str().unwrap()])));
            assert!(got.contains(want), "{text:?}: {got}");
            assert!(got.contains(f.path().to_str().unwrap()), "{got}");
        }
        let got = error(load(args(&["--config", "/nonexistent/blobgate.toml"])));
        assert!(got.contains("/nonexistent/blobgate.toml"), "{got}");
    }

    #[test]
    fn tls_files_come_in_pairs() {
        assert!(parsed(&[]).tls_files().unwrap().is_none());
        let both = parsed(&["--tls-cert", "c.pem", "--tls-key", "k.pem"])
            .tls_files()
            .unwrap()
            .unwrap();
        assert_eq!(both.cert, PathBuf::from("c.pem"));
        assert_eq!(both.key, PathBuf::from("k.pem"));
        let e = parsed(&["--tls-cert", "c.pem"]).tls_files().unwrap_err();
        assert!(e.contains("--tls-key"), "{e}");
        let e = parsed(&["--tls-key", "k.pem"]).tls_files().unwrap_err();
        assert!(e.contains("--tls-cert"), "{e}");
    }

    #[test]
    fn log_format_is_text_or_json() {
        assert_eq!(parsed(&[]).log_format, LogFormat::Text);
        assert_eq!(
            parsed(&["--log-format", "json"]).log_format,
            LogFormat::Json
        );
        assert!(Cli::try_parse_from(["blobgate", "serve", "--log-format", "xml"]).is_err());
    }
}

//! Command line and environment configuration (the interface contract in
//! the design's ARCHITECTURE.md): flags, with `BLOBGATE_*` variables as
//! their fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sha2::{Digest, Sha256};

use crate::logging::LogFormat;
use crate::server::GatewayConfig;
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
    /// Multipart uploads neither completed nor aborted are removed after this
    /// many hours (Azure drops their uncommitted blocks after 7 days).
    #[arg(long, env = "BLOBGATE_MULTIPART_EXPIRY_HOURS", default_value_t = 168)]
    pub multipart_expiry_hours: u64,
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
    /// Root access key id (with BLOBGATE_SECRET_KEY).
    #[arg(long, env = "BLOBGATE_ACCESS_KEY", hide_env_values = true)]
    pub access_key: Option<String>,
    /// Root secret key.
    #[arg(long, env = "BLOBGATE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
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

    /// Settings for the request path.
    pub fn gateway_config(&self, root: &RootCredentials) -> GatewayConfig {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeOptions {
        let cli = Cli::try_parse_from(["blobgate", "serve"].iter().chain(args)).unwrap();
        match cli.command {
            Command::Serve(o) => o,
        }
    }

    #[test]
    fn tls_files_come_in_pairs() {
        assert!(serve(&[]).tls_files().unwrap().is_none());
        let both = serve(&["--tls-cert", "c.pem", "--tls-key", "k.pem"])
            .tls_files()
            .unwrap()
            .unwrap();
        assert_eq!(both.cert, PathBuf::from("c.pem"));
        assert_eq!(both.key, PathBuf::from("k.pem"));
        let e = serve(&["--tls-cert", "c.pem"]).tls_files().unwrap_err();
        assert!(e.contains("--tls-key"), "{e}");
        let e = serve(&["--tls-key", "k.pem"]).tls_files().unwrap_err();
        assert!(e.contains("--tls-cert"), "{e}");
    }

    #[test]
    fn log_format_is_text_or_json() {
        assert_eq!(serve(&[]).log_format, LogFormat::Text);
        assert_eq!(serve(&["--log-format", "json"]).log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["blobgate", "serve", "--log-format", "xml"]).is_err());
    }
}

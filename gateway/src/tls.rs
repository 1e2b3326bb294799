//! HTTPS with rustls: a certificate chain and private key from PEM files,
//! reloaded when the files change (as cert-manager rotates a Kubernetes
//! Secret), each new handshake presenting the newest valid pair.
//!
//! The files are polled: a change of either file's modification time,
//! size or inode triggers a reload. A pair that does not load (unreadable,
//! not PEM, key not matching the certificate, e.g. while one file has been
//! replaced and the other not yet) is logged and the previous certificate
//! stays in use.
//!
//! The crypto provider is aws-lc-rs, the one azure_core's reqwest already
//! builds.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::metrics::Metrics;

/// The certificate and key files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    // Follows symlinks: Kubernetes swaps the `..data` link of a Secret
    // volume, which changes the target and so its stamp.
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(FileStamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode,
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Load and check a certificate chain and its key.
pub fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let cert_err = |e: &dyn std::fmt::Display| format!("--tls-cert {}: {e}", files.cert.display());
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| cert_err(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(&e))?;
    if certs.is_empty() {
        return Err(cert_err(&"no PEM CERTIFICATE block found"));
    }
    let key_err = |e: &dyn std::fmt::Display| format!("--tls-key {}: {e}", files.key.display());
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| key_err(&e))?;
    CertifiedKey::from_der(certs, key, provider).map_err(|e| {
        format!(
            "--tls-cert {} with --tls-key {}: {e}",
            files.cert.display(),
            files.key.display()
        )
    })
}

/// Hands every handshake the current certificate.
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertResolver {
    fn get(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, key: CertifiedKey) {
        let key = Arc::new(key);
        match self.current.write() {
            Ok(mut c) => *c = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// TLS for the listener, and the task that reloads the certificate.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    resolver: Arc<CertResolver>,
    provider: Arc<CryptoProvider>,
    files: TlsFiles,
}

impl Tls {
    /// Load the files (failing if they do not hold a valid pair) and build
    /// the server configuration: TLS 1.2 and 1.3, HTTP/1.1 by ALPN.
    pub fn new(files: TlsFiles) -> Result<Self, String> {
        let provider = provider();
        let key = load(&files, &provider)?;
        let resolver = Arc::new(CertResolver {
            current: RwLock::new(Arc::new(key)),
        });
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            resolver,
            provider,
            files,
        })
    }

    /// Check the files every `every`; load a changed pair.
    pub fn spawn_reloader(&self, every: Duration, metrics: Arc<Metrics>) {
        let resolver = self.resolver.clone();
        let provider = self.provider.clone();
        let files = self.files.clone();
        tokio::spawn(async move {
            let stamps = || (stamp(&files.cert), stamp(&files.key));
            let mut seen = stamps();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = stamps();
                if now == seen {
                    continue;
                }
                seen = now;
                match load(&files, &provider) {
                    Ok(key) => {
                        resolver.set(key);
                        metrics.tls_reload(true);
                        tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                    }
                    Err(e) => {
                        metrics.tls_reload(false);
                        tracing::error!(error = %e, "TLS certificate files changed but do not load; keeping the previous certificate");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> TlsFiles {
        TlsFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        }
    }

    #[test]
    fn missing_or_garbage_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        let e = load(&f, &provider()).unwrap_err();
        assert!(e.starts_with("--tls-cert "), "{e}");
        std::fs::write(&f.cert, "not pem").unwrap();
        let e = load(&f, &provider()).unwrap_err();
        assert!(e.contains("no PEM CERTIFICATE"), "{e}");
    }

    #[test]
    fn stamps_change_when_a_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "one").unwrap();
        let first = stamp(&path);
        let tmp = dir.path().join("g");
        std::fs::write(&tmp, "two").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_ne!(first, stamp(&path));
        assert!(first.is_some());
        assert_eq!(stamp(&dir.path().join("missing")), None);
    }
}

//! HTTPS with rustls: a certificate chain and private key from PEM files,
//! reloaded when the files change (as cert-manager rotates a Kubernetes
//! Secret), each new handshake presenting the newest valid pair.
//!
//! The files are polled: a change in either file's contents triggers a
//! reload. A pair that does not load (unreadable,
//! not PEM, key not matching the certificate, e.g. while one file has been
//! replaced and the other not yet) is logged and the previous certificate
//! stays in use.
//!
//! The crypto provider is aws-lc-rs, the one azure_core's reqwest already
//! builds.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

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

/// The contents of a file as last read (`None`: unreadable). Certificate
/// files are small, so comparing contents is cheap, and unlike timestamps
/// it sees every change, however quick.
fn contents(path: &Path) -> Option<Vec<u8>> {
    // Follows symlinks, as Kubernetes' `..data` link of a Secret volume.
    std::fs::read(path).ok()
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
        let read = move |files: &TlsFiles| (contents(&files.cert), contents(&files.key));
        let mut seen = read(&files);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = read(&files);
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

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/tls")
            .join(name)
    }

    fn pair(name: &str) -> TlsFiles {
        TlsFiles {
            cert: testdata(&format!("{name}.crt")),
            key: testdata(&format!("{name}.key")),
        }
    }

    #[test]
    fn a_matching_pair_loads_and_a_mismatched_one_does_not() {
        let a = load(&pair("a"), &provider()).unwrap();
        assert_eq!(a.cert.len(), 1);
        let mixed = TlsFiles {
            cert: testdata("a.crt"),
            key: testdata("b.key"),
        };
        let e = load(&mixed, &provider()).unwrap_err();
        assert!(e.contains("a.crt") && e.contains("b.key"), "{e}");
        let e = load(
            &TlsFiles {
                cert: testdata("a.crt"),
                key: testdata("a.crt"),
            },
            &provider(),
        )
        .unwrap_err();
        assert!(e.starts_with("--tls-key "), "{e}");
    }

    /// Whether `check` holds within two seconds.
    async fn eventually(check: impl Fn() -> bool) -> bool {
        for _ in 0..200 {
            if check() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn changed_files_are_served_and_broken_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path());
        let install = |name: &str| {
            for (from, to) in [(".key", &f.key), (".crt", &f.cert)] {
                let tmp = to.with_extension("tmp");
                std::fs::copy(testdata(&format!("{name}{from}")), &tmp).unwrap();
                std::fs::rename(&tmp, to).unwrap();
            }
        };
        install("a");
        let tls = Tls::new(f.clone()).unwrap();
        let served = || tls.resolver.get().cert[0].clone();
        let a = served();
        let metrics = Metrics::new();
        tls.spawn_reloader(Duration::from_millis(20), metrics.clone());
        // A broken pair: the previous certificate stays.
        std::fs::copy(testdata("b.key"), &f.key).unwrap();
        let errors = || {
            String::from_utf8(metrics.render())
                .unwrap()
                .contains("blobgate_tls_reloads_total{result=\"error\"}")
        };
        assert!(eventually(errors).await);
        assert_eq!(served(), a);
        // The matching certificate arrives: it is served.
        std::fs::copy(testdata("b.crt"), &f.cert).unwrap();
        assert!(eventually(|| served() != a).await);
        let b = load(&pair("b"), &provider()).unwrap();
        assert_eq!(served(), b.cert[0]);
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
    fn unreadable_files_have_no_contents() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(contents(&dir.path().join("missing")), None);
    }
}

//! The `blobgate` command.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use blobgate::access::AccessControl;
use blobgate::config::{self, BackendKind, Command, ConfigError, ServeOptions};
use blobgate::metrics::Metrics;
use blobgate::request::Gateway;
use blobgate::server;
use blobgate::storage::azure::{AzureBackend, AzureSettings};
use blobgate::storage::cache::CachedBackend;
use blobgate::storage::fs::FsBackend;
use blobgate::storage::metered::MeteredBackend;
use blobgate::storage::Backend;
use blobgate::{logging, tls};

/// How often the users file is checked for changes.
const USERS_FILE_POLL: std::time::Duration = std::time::Duration::from_secs(2);
/// How often the TLS certificate and key files are checked for changes.
const TLS_FILES_POLL: std::time::Duration = std::time::Duration::from_secs(2);

fn main() -> ExitCode {
    let cli = match config::load(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(ConfigError::Cli(e)) => e.exit(),
        Err(ConfigError::File(message)) => {
            eprintln!("blobgate: {message}");
            return ExitCode::from(2);
        }
    };
    match &cli.command {
        Command::Serve(options) => {
            // Masked in every log line, whatever prints them.
            let mut secrets = logging::azure_secrets_from_env();
            secrets.extend(options.secret_key.clone());
            logging::init(options.log_format, secrets);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("blobgate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(options) => runtime.block_on(run_serve(options)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("blobgate: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run_serve(options: ServeOptions) -> Result<(), String> {
    let root = options.root_credentials()?;
    let tls_files = options.tls_files()?;
    let console = options.console_config()?;
    let metrics = Metrics::new();
    let backend: Arc<dyn Backend> = match options.backend {
        BackendKind::Fs => Arc::new(FsBackend::open(&options.data_dir).map_err(|e| {
            format!(
                "cannot use data directory {}: {e}",
                options.data_dir.display()
            )
        })?),
        BackendKind::Azure => {
            let settings = AzureSettings::from_env(options.azure_endpoint.as_deref())?;
            tracing::info!(
                account = %settings.account,
                endpoint = %settings.endpoint,
                auth = settings.auth.name(),
                "using Azure Blob storage"
            );
            Arc::new(AzureBackend::new(settings)?)
        }
    };
    let backend: Arc<dyn Backend> = Arc::new(MeteredBackend::new(backend, &metrics));
    // Cache outside the meter: backend metrics count real backend calls.
    let backend: Arc<dyn Backend> = match options.cache_config()? {
        Some(config) => {
            tracing::info!(
                size_mib = options.cache_size_mib,
                max_object_kib = options.cache_max_object_kib,
                revalidate_secs = options.cache_revalidate_secs,
                "read cache on"
            );
            Arc::new(CachedBackend::new(backend, config).with_metrics(metrics.clone()))
        }
        None => backend,
    };
    let tls = match tls_files {
        Some(files) => {
            let tls = tls::Tls::new(files)?;
            tls.spawn_reloader(TLS_FILES_POLL, metrics.clone());
            Some(tls.acceptor)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut access = AccessControl::new(
        root.access_key.clone(),
        root.secret_key.clone(),
        options.users_file.clone(),
    )?
    .with_secure_transport(tls.is_some());
    if let Some(file) = &options.users_file {
        tracing::info!(file = %file.display(), users = access.user_count(), "users file loaded");
    }
    match &options.sts_key_file {
        Some(file) => {
            access = access.with_sts_key_file(file.clone())?;
            tracing::info!(file = %file.display(), key_id = %access.session_keys().key_id(), "STS key loaded");
        }
        None => tracing::warn!(
            "no STS key file: STS sessions are sealed with a key of this process only (other replicas refuse them, a restart ends them)"
        ),
    }
    let access = Arc::new(access);
    access.spawn_reloader(USERS_FILE_POLL);
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let gateway = Arc::new(Gateway::new(
        options.gateway_config(&root, console),
        access.clone(),
        backend,
        metrics,
        tls,
    ));
    spawn_upload_sweeper(
        gateway.backend.clone(),
        Duration::from_secs(options.multipart_expiry_hours.max(1) * 3600),
    );
    tracing::info!(listen = %local, scheme, backend = gateway.backend.kind(), region = %gateway.config.region, "blobgate serving");
    if root.development {
        eprintln!(
            "blobgate: serving S3 on {scheme}://{local} with DEVELOPMENT credentials\n  \
             access key: {}\n  secret key: {}\n  (set BLOBGATE_ACCESS_KEY and BLOBGATE_SECRET_KEY for real use)",
            root.access_key, root.secret_key
        );
    }
    server::serve(gateway, listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

/// Remove abandoned multipart uploads now and then every hour. Every
/// replica sweeps; removing an upload twice is harmless.
fn spawn_upload_sweeper(backend: Arc<dyn Backend>, older_than: Duration) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            match backend.sweep_multipart_uploads(older_than).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "abandoned multipart uploads removed"),
                Err(e) => tracing::warn!(error = %e, "sweeping abandoned multipart uploads failed"),
            }
        }
    });
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

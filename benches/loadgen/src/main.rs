//! A load generator for S3 endpoints (and, for reference, Azure Blob and
//! plain static file servers): throughput of large PUTs, GETs and multipart
//! uploads, operations per second and latency of small PUT/GET/HEAD, and
//! listing, each phase with an op bound and a time bound. It prints a table
//! and appends one JSON line per phase to a file.
//!
//! The client is built not to be the bottleneck: one keep-alive connection
//! per simulated client, S3 requests signed with `UNSIGNED-PAYLOAD` (no
//! body hashing), every body a slice of one buffer generated at start-up,
//! response bodies counted and dropped. Its own CPU time is reported per
//! phase beside the servers'.
//!
//!     loadgen --endpoint http://127.0.0.1:9000 --access-key AK --secret-key SK \
//!         --label blobgate --watch gateway=PID --json results.jsonl
//!
//! See benches/README.md and benches/compare.sh.

mod client;
mod phases;
mod procstat;
mod protocol;
mod report;

use std::fs::OpenOptions;
use std::io::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use clap::{Parser, ValueEnum};

use crate::client::Conn;
use crate::phases::{run_phase, size_name, Bench, Kind, Phase};
use crate::procstat::Watch;
use crate::protocol::{Api, Op, S3Signer, Target};
use crate::report::PhaseResult;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ApiArg {
    /// S3, path-style, SigV4.
    S3,
    /// Azure Blob REST with an account SAS (`--azure-sas`).
    Azure,
    /// Unsigned GET/HEAD only (a static file server).
    Plain,
}

#[derive(Parser, Debug)]
#[command(version, about = "S3 load generator for blobgate's benchmarks")]
struct Args {
    /// Service URL: http://HOST:PORT for S3, http://HOST:PORT/ACCOUNT for
    /// Azurite, the document root's URL for a static server.
    #[arg(long, env = "LOADGEN_ENDPOINT")]
    endpoint: String,
    #[arg(long, value_enum, default_value = "s3")]
    api: ApiArg,
    /// Bucket (container; first path segment for a static server).
    #[arg(long, default_value = "loadgen")]
    bucket: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", default_value = "")]
    access_key: String,
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        default_value = "",
        hide_env_values = true
    )]
    secret_key: String,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Account SAS query string for `--api azure` (without the `?`).
    #[arg(
        long,
        env = "LOADGEN_AZURE_SAS",
        default_value = "",
        hide_env_values = true
    )]
    azure_sas: String,
    /// Name of the target in the output.
    #[arg(long, default_value = "target")]
    label: String,
    /// Processes whose CPU seconds and peak RSS are recorded per phase:
    /// LABEL=PID[,PID...] (the PIDs' costs are added up). Repeatable.
    #[arg(long)]
    watch: Vec<Watch>,
    /// Run only the phases whose id starts with one of these (comma-separated).
    #[arg(long, value_delimiter = ',')]
    phases: Vec<String>,
    /// Print the phases that would run, and exit.
    #[arg(long)]
    list_phases: bool,
    /// Append one JSON line per phase to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Do not create the bucket first.
    #[arg(long)]
    no_create_bucket: bool,
    /// Runtime threads of the client (1: everything on one thread).
    #[arg(long, default_value_t = 1)]
    threads: usize,

    /// Large object size, MiB.
    #[arg(long, default_value_t = 64)]
    large_mib: usize,
    /// Streams for the large PUT/GET phases.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    streams: Vec<usize>,
    /// Large objects per stream per phase (op bound = this x streams).
    #[arg(long, default_value_t = 8)]
    large_ops: u64,
    /// Time bound of each large-object phase, seconds.
    #[arg(long, default_value_t = 15.0)]
    large_secs: f64,
    /// Multipart part size, MiB (the object is --large-mib).
    #[arg(long, default_value_t = 8)]
    part_mib: usize,
    /// Connections a multipart upload sends its parts over.
    #[arg(long, default_value_t = 4)]
    part_streams: usize,
    /// Op bound of the multipart phase (whole uploads).
    #[arg(long, default_value_t = 8)]
    mpu_ops: u64,
    /// Small object size, KiB.
    #[arg(long, default_value_t = 4)]
    small_kib: usize,
    /// Concurrent clients for the small-object phases.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    clients: Vec<usize>,
    /// Distinct small keys (PUTs cycle over them; GET/HEAD read them).
    #[arg(long, default_value_t = 1000)]
    small_keys: u64,
    /// Op bound of each small-object phase.
    #[arg(long, default_value_t = 30_000)]
    small_ops: u64,
    /// Time bound of each small-object phase, seconds.
    #[arg(long, default_value_t = 8.0)]
    small_secs: f64,
    /// Keys the listing phase lists (written first by the list-fill phase).
    #[arg(long, default_value_t = 10_000)]
    list_keys: u64,
    /// Keys per listing page.
    #[arg(long, default_value_t = 1000)]
    page_size: u32,
    /// Clients that write the keys to list.
    #[arg(long, default_value_t = 64)]
    fill_clients: usize,
    /// Time bound of the list-fill phase, seconds.
    #[arg(long, default_value_t = 90.0)]
    fill_secs: f64,
    /// Op bound of the listing phase (pages).
    #[arg(long, default_value_t = 100)]
    list_ops: u64,
    /// Time bound of the listing phase, seconds.
    #[arg(long, default_value_t = 15.0)]
    list_secs: f64,
}

/// The phases, in the order they run. Large GETs read what the large PUTs
/// wrote, small GET/HEAD what the small PUTs wrote; the listing lists the
/// keys list-fill wrote (last, because some servers slow down as they hold
/// more objects).
fn plan(a: &Args) -> Vec<Phase> {
    let large = a.large_mib << 20;
    let small = a.small_kib << 10;
    let (ln, sn) = (size_name(large), size_name(small));
    let mut out = Vec::new();
    let phase = |id: String, what: String, kind, concurrency, size, prefix: &str| Phase {
        id,
        what,
        kind,
        concurrency,
        size,
        prefix: prefix.to_owned(),
        width: 0,
        keys: 0,
        max_ops: 0,
        max_secs: 0.0,
    };
    for (verb, kind) in [("put", Kind::Put), ("get", Kind::Get)] {
        for &s in &a.streams {
            out.push(Phase {
                keys: 4,
                max_ops: a.large_ops * s as u64,
                max_secs: a.large_secs,
                ..phase(
                    format!("{verb}-{ln}-x{s}"),
                    format!("{} {ln} objects, {s} stream(s)", verb.to_uppercase()),
                    kind,
                    s,
                    large,
                    "large/",
                )
            });
        }
    }
    let part = a.part_mib << 20;
    out.push(Phase {
        keys: 4,
        max_ops: a.mpu_ops,
        max_secs: a.large_secs,
        ..phase(
            format!("mpu-{ln}-x{}", a.part_streams),
            format!(
                "multipart {ln} in {} parts over {} connections",
                size_name(part),
                a.part_streams
            ),
            Kind::Multipart { part },
            a.part_streams,
            large,
            "mpu/",
        )
    });
    for (verb, kind) in [("put", Kind::Put), ("get", Kind::Get), ("head", Kind::Head)] {
        for &c in &a.clients {
            out.push(Phase {
                keys: a.small_keys,
                max_ops: a.small_ops,
                max_secs: a.small_secs,
                ..phase(
                    format!("{verb}-{sn}-c{c}"),
                    format!("{} {sn} objects, {c} clients", verb.to_uppercase()),
                    kind,
                    c,
                    small,
                    "small/",
                )
            });
        }
    }
    let width = a.list_keys.saturating_sub(1).to_string().len();
    out.push(Phase {
        width,
        keys: a.list_keys,
        max_ops: a.list_keys,
        max_secs: a.fill_secs,
        ..phase(
            format!("list-fill-c{}", a.fill_clients),
            format!("PUT {} empty objects to list", a.list_keys),
            Kind::Put,
            a.fill_clients,
            0,
            "list/",
        )
    });
    out.push(Phase {
        width,
        keys: a.list_keys,
        max_ops: a.list_ops,
        max_secs: a.list_secs,
        ..phase(
            format!("list-{}", a.page_size),
            format!(
                "list {} keys in pages of {} (ops are pages)",
                a.list_keys, a.page_size
            ),
            Kind::List { page: a.page_size },
            1,
            0,
            "list/",
        )
    });
    if !a.phases.is_empty() {
        out.retain(|p| a.phases.iter().any(|sel| p.id.starts_with(sel.as_str())));
    }
    out
}

/// Payload bytes that are neither zeros nor compressible (xorshift).
fn payload(len: usize) -> Bytes {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = Vec::with_capacity(len + 8);
    while buf.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.extend_from_slice(&x.to_le_bytes());
    }
    buf.truncate(len);
    Bytes::from(buf)
}

async fn target(a: &Args) -> Result<(Target, std::net::SocketAddr), String> {
    let uri: http::Uri = a
        .endpoint
        .parse()
        .map_err(|e| format!("--endpoint {}: {e}", a.endpoint))?;
    if uri.scheme_str() != Some("http") {
        return Err("--endpoint must be an http:// URL".into());
    }
    let authority = uri
        .authority()
        .ok_or("--endpoint has no host")?
        .as_str()
        .to_owned();
    let with_port = if uri.port().is_some() {
        authority.clone()
    } else {
        format!("{authority}:80")
    };
    let addr = tokio::net::lookup_host(&with_port)
        .await
        .map_err(|e| format!("resolving {with_port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{with_port} resolves to nothing"))?;
    let api = match a.api {
        ApiArg::S3 => Api::S3(S3Signer::new(&a.access_key, &a.secret_key, &a.region)),
        ApiArg::Azure => {
            if a.azure_sas.is_empty() {
                return Err("--api azure needs --azure-sas".into());
            }
            Api::Azure {
                sas: a.azure_sas.trim_start_matches('?').to_owned(),
            }
        }
        ApiArg::Plain => Api::Plain,
    };
    let target = Target {
        api,
        authority,
        base: uri.path().trim_end_matches('/').to_owned(),
        bucket: a.bucket.clone(),
    };
    Ok((target, addr))
}

async fn run(a: Args) -> Result<(), String> {
    let phases = plan(&a);
    if a.list_phases {
        for p in &phases {
            println!(
                "{:<18} {} (at most {} ops, {} s)",
                p.id, p.what, p.max_ops, p.max_secs
            );
        }
        return Ok(());
    }
    let (target, addr) = target(&a).await?;
    let needs_payload = phases.iter().map(|p| p.size).max().unwrap_or(0);
    let bench = Arc::new(Bench {
        label: a.label.clone(),
        target,
        addr,
        data: payload(needs_payload),
        watches: a.watch.clone(),
    });
    let mut json = match &a.json {
        Some(path) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))?,
        ),
        None => None,
    };
    if !a.no_create_bucket && !matches!(a.api, ApiArg::Plain) {
        let req = bench.target.request(&Op::CreateBucket, SystemTime::now())?;
        if let Err(e) = Conn::new(addr).exchange(req, false).await {
            // 409: it exists already (BucketAlreadyOwnedByYou, ContainerAlreadyExists).
            if !e.starts_with("409") {
                return Err(format!("creating bucket {}: {e}", a.bucket));
            }
        }
    }
    println!("{}", PhaseResult::table_header());
    // GETs read only keys that their PUT phase wrote, and a listing expects
    // as many keys as were written (when no PUT phase ran, the objects are
    // expected to exist already).
    let mut written: std::collections::HashMap<String, u64> = Default::default();
    for phase in &phases {
        let mut phase = phase.clone();
        if let Some(&n) = written.get(&phase.prefix) {
            match phase.kind {
                Kind::Get | Kind::Head => phase.keys = phase.keys.min(n.max(1)),
                // A listing must find what the fill phase wrote, no more.
                Kind::List { .. } => phase.keys = n,
                _ => {}
            }
        }
        let result = run_phase(&bench, &phase).await;
        if phase.kind == Kind::Put {
            let n = written.entry(phase.prefix.clone()).or_insert(0);
            *n = (*n).max(result.ok.min(phase.keys));
        }
        println!("{}", result.table_row());
        if let Some(file) = &mut json {
            let line = result.to_json(&now_rfc3339());
            writeln!(file, "{line}").map_err(|e| format!("writing results: {e}"))?;
        }
        for w in &bench.watches {
            if !w.alive() {
                return Err(format!("{} exited during {}", w.label, phase.id));
            }
        }
    }
    Ok(())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn main() {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let result = match runtime {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => Err(format!("tokio runtime: {e}")),
    };
    if let Err(e) = result {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plan() {
        let a = Args::parse_from(["loadgen", "--endpoint", "http://127.0.0.1:1"]);
        let ids: Vec<String> = plan(&a).into_iter().map(|p| p.id).collect();
        assert_eq!(
            ids,
            [
                "put-64MiB-x1",
                "put-64MiB-x4",
                "get-64MiB-x1",
                "get-64MiB-x4",
                "mpu-64MiB-x4",
                "put-4KiB-c16",
                "put-4KiB-c64",
                "get-4KiB-c16",
                "get-4KiB-c64",
                "head-4KiB-c16",
                "head-4KiB-c64",
                "list-fill-c64",
                "list-1000",
            ]
        );
        let sel = Args::parse_from([
            "loadgen",
            "--endpoint",
            "x",
            "--phases",
            "get,head-4KiB-c64",
        ]);
        let ids: Vec<String> = plan(&sel).into_iter().map(|p| p.id).collect();
        assert_eq!(
            ids,
            [
                "get-64MiB-x1",
                "get-64MiB-x4",
                "get-4KiB-c16",
                "get-4KiB-c64",
                "head-4KiB-c64"
            ]
        );
    }

    #[test]
    fn payload_is_deterministic_and_sized() {
        let a = payload(1001);
        assert_eq!(a.len(), 1001);
        assert_eq!(a, payload(1001));
        assert!(a.iter().any(|&b| b != 0));
    }
}

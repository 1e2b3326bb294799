//! The benchmark phases and the loop that runs one: `concurrency` clients,
//! each with its own connection, take operation numbers from a shared
//! counter until the phase's op bound or time bound is reached (or until
//! every operation so far has failed, which ends it early and marks it
//! failed instead of stopping the run).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::future::join_all;

use crate::client::Conn;
use crate::procstat::{own_cpu_seconds, Watch};
use crate::protocol::{xml_field, Op, Target};
use crate::report::{Cost, PhaseResult, Stop};

/// What a phase does with each operation number `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// PUT `size` bytes to key `i mod keys`.
    Put,
    /// GET key `i mod keys`, checking the length.
    Get,
    /// HEAD key `i mod keys`.
    Head,
    /// A multipart upload of `size` bytes in `part` byte parts, the parts
    /// spread over `concurrency` connections.
    Multipart { part: usize },
    /// One listing page of `page` keys; a full listing must find `keys`.
    List { page: u32 },
}

/// One phase: what, how many at once, and its two bounds.
#[derive(Clone, Debug)]
pub struct Phase {
    pub id: String,
    pub what: String,
    pub kind: Kind,
    pub concurrency: usize,
    /// Object size in bytes (0 for listing).
    pub size: usize,
    /// Key prefix; keys are `prefix` + the number, zero-padded to `width`.
    pub prefix: String,
    pub width: usize,
    /// Number of distinct keys the phase cycles through.
    pub keys: u64,
    pub max_ops: u64,
    pub max_secs: f64,
}

impl Phase {
    fn key(&self, i: u64) -> String {
        format!(
            "{}{:0w$}",
            self.prefix,
            i % self.keys.max(1),
            w = self.width
        )
    }

    /// Every operation failed: give up after this many.
    fn give_up_after(&self) -> u64 {
        match self.kind {
            Kind::Multipart { .. } | Kind::List { .. } => 3,
            _ if self.size >= 1 << 20 => 3,
            _ => (2 * self.concurrency as u64).max(8),
        }
    }
}

/// What every phase of a run shares.
pub struct Bench {
    pub label: String,
    pub target: Target,
    pub addr: SocketAddr,
    /// The payload, generated once: every body is a slice of it.
    pub data: Bytes,
    pub watches: Vec<Watch>,
}

struct Progress {
    start: Instant,
    deadline: Duration,
    next: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    give_up: AtomicBool,
    first_error: Mutex<Option<String>>,
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    bytes: u64,
}

/// Run `phase` against the bench's target.
pub async fn run_phase(bench: &Arc<Bench>, phase: &Phase) -> PhaseResult {
    for w in &bench.watches {
        w.reset_peak();
    }
    let cpu0: Vec<f64> = bench.watches.iter().map(Watch::cpu_seconds).collect();
    let client0 = own_cpu_seconds();
    let progress = Arc::new(Progress {
        start: Instant::now(),
        deadline: Duration::from_secs_f64(phase.max_secs),
        next: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        give_up: AtomicBool::new(false),
        first_error: Mutex::new(None),
    });
    // A multipart upload uses all the phase's connections for its parts.
    let workers = match phase.kind {
        Kind::Multipart { .. } => 1,
        _ => phase.concurrency,
    };
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let bench = Arc::clone(bench);
            let phase = phase.clone();
            let progress = Arc::clone(&progress);
            tokio::spawn(async move { work(&bench, &phase, &progress).await })
        })
        .collect();
    let mut tally = Tally::default();
    for task in join_all(tasks).await {
        match task {
            Ok(t) => {
                tally.latencies_us.extend(t.latencies_us);
                tally.bytes += t.bytes;
            }
            Err(e) => note_error(&progress, phase, format!("worker panicked: {e}")),
        }
    }
    let secs = progress.start.elapsed().as_secs_f64();
    let client_cpu_s = own_cpu_seconds() - client0;
    let costs = bench
        .watches
        .iter()
        .zip(cpu0)
        .map(|(w, c0)| Cost {
            label: w.label.clone(),
            cpu_s: w.cpu_seconds() - c0,
            peak_rss_mib: w.peak_rss_mib(),
        })
        .collect();
    tally.latencies_us.sort_unstable();
    let ok = progress.ok.load(Ordering::Relaxed);
    let errors = progress.errors.load(Ordering::Relaxed);
    let stop = if progress.give_up.load(Ordering::Relaxed) {
        Stop::Failing
    } else if ok + errors >= phase.max_ops {
        Stop::Ops
    } else {
        Stop::Time
    };
    let first_error = progress
        .first_error
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    PhaseResult {
        target: bench.label.clone(),
        phase: phase.id.clone(),
        what: phase.what.clone(),
        concurrency: phase.concurrency,
        object_bytes: phase.size as u64,
        ok,
        errors,
        first_error,
        stop,
        secs,
        bytes: tally.bytes,
        latencies_us: tally.latencies_us,
        costs,
        client_cpu_s,
    }
}

fn note_error(progress: &Progress, phase: &Phase, error: String) {
    let errors = progress.errors.fetch_add(1, Ordering::Relaxed) + 1;
    if let Ok(mut first) = progress.first_error.lock() {
        first.get_or_insert(error);
    }
    if progress.ok.load(Ordering::Relaxed) == 0 && errors >= phase.give_up_after() {
        progress.give_up.store(true, Ordering::Relaxed);
    }
}

/// One client: its connections and, for listing, where it is.
struct Worker<'a> {
    bench: &'a Bench,
    phase: &'a Phase,
    conns: Vec<Conn>,
    list_token: Option<String>,
    listed: u64,
}

async fn work(bench: &Bench, phase: &Phase, progress: &Progress) -> Tally {
    let conns = match phase.kind {
        Kind::Multipart { .. } => phase.concurrency,
        _ => 1,
    };
    let mut worker = Worker {
        bench,
        phase,
        conns: (0..conns.max(1)).map(|_| Conn::new(bench.addr)).collect(),
        list_token: None,
        listed: 0,
    };
    let mut tally = Tally::default();
    loop {
        if progress.give_up.load(Ordering::Relaxed) || progress.start.elapsed() >= progress.deadline
        {
            break;
        }
        let i = progress.next.fetch_add(1, Ordering::Relaxed);
        if i >= phase.max_ops {
            break;
        }
        let t0 = Instant::now();
        match worker.op(i).await {
            Ok(bytes) => {
                let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
                tally.latencies_us.push(us);
                tally.bytes += bytes;
                progress.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => note_error(progress, phase, e),
        }
    }
    tally
}

impl Worker<'_> {
    /// Operation `i`; the payload bytes it moved.
    async fn op(&mut self, i: u64) -> Result<u64, String> {
        let size = self.phase.size;
        match self.phase.kind {
            Kind::Put => {
                let key = self.phase.key(i);
                let body = self.bench.data.slice(..size);
                self.send(0, &Op::Put { key: &key, body }, false).await?;
                Ok(size as u64)
            }
            Kind::Get => {
                let key = self.phase.key(i);
                let reply = self.send(0, &Op::Get { key: &key }, false).await?;
                if reply.bytes != size as u64 {
                    return Err(format!("GET {key}: {} bytes, not {size}", reply.bytes));
                }
                Ok(reply.bytes)
            }
            Kind::Head => {
                let key = self.phase.key(i);
                self.send(0, &Op::Head { key: &key }, false).await?;
                Ok(0)
            }
            Kind::Multipart { part } => self.multipart(i, part).await,
            Kind::List { page } => self.list_page(page).await,
        }
    }

    async fn send(
        &mut self,
        conn: usize,
        op: &Op<'_>,
        keep: bool,
    ) -> Result<crate::client::Reply, String> {
        let req = self.bench.target.request(op, SystemTime::now())?;
        self.conns[conn]
            .exchange(req, keep)
            .await
            .map_err(|e| format!("{}: {e}", op.name()))
    }

    async fn list_page(&mut self, page: u32) -> Result<u64, String> {
        let token = self.list_token.take();
        let op = Op::List {
            prefix: &self.phase.prefix,
            max_keys: page,
            token: token.as_deref(),
        };
        let result = self.send(0, &op, true).await;
        let reply = match result {
            Ok(r) => r,
            Err(e) => {
                self.listed = 0; // start over
                return Err(e);
            }
        };
        let parsed = self
            .bench
            .target
            .parse_list(&String::from_utf8_lossy(&reply.body));
        self.listed += parsed.keys as u64;
        self.list_token = parsed.next;
        if self.list_token.is_none() {
            let listed = std::mem::take(&mut self.listed);
            if listed != self.phase.keys {
                return Err(format!(
                    "a full listing found {listed} keys, not {}",
                    self.phase.keys
                ));
            }
        }
        Ok(reply.bytes)
    }

    async fn multipart(&mut self, i: u64, part_size: usize) -> Result<u64, String> {
        let key = self.phase.key(i);
        let target = &self.bench.target;
        let upload_id = if target.has_upload_ids() {
            let reply = self.send(0, &Op::CreateUpload { key: &key }, true).await?;
            xml_field(&String::from_utf8_lossy(&reply.body), "UploadId")
                .ok_or("CreateMultipartUpload: no UploadId in the response")?
        } else {
            String::new()
        };
        match self.upload_parts(&key, &upload_id, part_size).await {
            Ok(()) => Ok(self.phase.size as u64),
            Err(e) => {
                if target.has_upload_ids() {
                    let abort = Op::AbortUpload {
                        key: &key,
                        upload_id: &upload_id,
                    };
                    let _ = self.send(0, &abort, false).await;
                }
                Err(e)
            }
        }
    }

    async fn upload_parts(
        &mut self,
        key: &str,
        upload_id: &str,
        part_size: usize,
    ) -> Result<(), String> {
        let size = self.phase.size;
        let count = size.div_ceil(part_size.max(1)) as u32;
        let streams = self.conns.len() as u32;
        let bench = self.bench;
        // Connection c sends parts c+1, c+1+streams, ... one after another.
        let uploads = self.conns.iter_mut().enumerate().map(|(c, conn)| {
            let data = &bench.data;
            async move {
                let mut etags = Vec::new();
                let mut number = c as u32 + 1;
                while number <= count {
                    let start = (number as usize - 1) * part_size;
                    let body = data.slice(start..(start + part_size).min(size));
                    let op = Op::UploadPart {
                        key,
                        upload_id,
                        part: number,
                        body,
                    };
                    let req = bench.target.request(&op, SystemTime::now())?;
                    let reply = conn
                        .exchange(req, false)
                        .await
                        .map_err(|e| format!("UploadPart {number}: {e}"))?;
                    let etag = reply
                        .headers
                        .get(http::header::ETAG)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    etags.push((number, etag));
                    number += streams;
                }
                Ok::<_, String>(etags)
            }
        });
        let mut parts = Vec::with_capacity(count as usize);
        for result in join_all(uploads).await {
            parts.extend(result?);
        }
        parts.sort_unstable_by_key(|(n, _)| *n);
        let complete = Op::CompleteUpload {
            key,
            upload_id,
            parts: &parts,
        };
        let reply = self.send(0, &complete, true).await?;
        // S3 may report a failed completion in a 200 response's body.
        let text = String::from_utf8_lossy(&reply.body);
        if text.contains("<Error>") {
            let code = xml_field(&text, "Code").unwrap_or_default();
            return Err(format!(
                "CompleteMultipartUpload: {} {code}",
                reply.status.as_u16()
            ));
        }
        Ok(())
    }
}

/// Sizes as phase names show them: `64MiB`, `4KiB`, `100B`.
pub fn size_name(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{}MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{}KiB", bytes >> 10)
    } else {
        format!("{bytes}B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cycle_and_pad() {
        let p = Phase {
            id: "x".into(),
            what: "x".into(),
            kind: Kind::Put,
            concurrency: 1,
            size: 0,
            prefix: "list/".into(),
            width: 5,
            keys: 10_000,
            max_ops: 1,
            max_secs: 1.0,
        };
        assert_eq!(p.key(7), "list/00007");
        assert_eq!(p.key(10_007), "list/00007");
    }

    #[test]
    fn size_names() {
        assert_eq!(size_name(64 << 20), "64MiB");
        assert_eq!(size_name(4096), "4KiB");
        assert_eq!(size_name(100), "100B");
        assert_eq!(size_name(0), "0B");
    }
}

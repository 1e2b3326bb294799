//! A phase's result: latency percentiles, rates, costs; printed as a table
//! row and written as one JSON line.

use serde_json::{json, Map, Value};

/// The nearest-rank `p`-th percentile (0 < p <= 100) of sorted `values`;
/// 0 for none.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Why a phase ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// It did its op bound.
    Ops,
    /// It reached its time bound first.
    Time,
    /// Every operation failed: it gave up early.
    Failing,
}

impl Stop {
    pub fn as_str(self) -> &'static str {
        match self {
            Stop::Ops => "ops",
            Stop::Time => "time",
            Stop::Failing => "failing",
        }
    }
}

/// Cost of one watched process group during a phase.
pub struct Cost {
    pub label: String,
    pub cpu_s: f64,
    pub peak_rss_mib: f64,
}

/// Everything measured in one phase.
pub struct PhaseResult {
    pub target: String,
    pub phase: String,
    pub what: String,
    pub concurrency: usize,
    pub object_bytes: u64,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub stop: Stop,
    pub secs: f64,
    /// Payload bytes moved by successful operations.
    pub bytes: u64,
    /// Sorted latencies of successful operations, in microseconds.
    pub latencies_us: Vec<u32>,
    pub costs: Vec<Cost>,
    pub client_cpu_s: f64,
}

impl PhaseResult {
    pub fn ops_per_s(&self) -> f64 {
        if self.secs > 0.0 {
            self.ok as f64 / self.secs
        } else {
            0.0
        }
    }

    pub fn mib_per_s(&self) -> f64 {
        if self.secs > 0.0 {
            self.bytes as f64 / self.secs / (1 << 20) as f64
        } else {
            0.0
        }
    }

    fn ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p) as f64 / 1000.0
    }

    /// "ok", "partial" (some operations failed) or "failed" (none succeeded).
    pub fn status(&self) -> &'static str {
        match (self.ok, self.errors) {
            (_, 0) => "ok",
            (0, _) => "failed",
            _ => "partial",
        }
    }

    pub fn to_json(&self, time: &str) -> Value {
        let round = |x: f64, d: i32| {
            let f = 10f64.powi(d);
            (x * f).round() / f
        };
        let mut cpu = Map::new();
        let mut rss = Map::new();
        for c in &self.costs {
            cpu.insert(c.label.clone(), json!(round(c.cpu_s, 2)));
            rss.insert(c.label.clone(), json!(round(c.peak_rss_mib, 1)));
        }
        json!({
            "time": time,
            "target": self.target,
            "phase": self.phase,
            "what": self.what,
            "concurrency": self.concurrency,
            "object_bytes": self.object_bytes,
            "status": self.status(),
            "stopped_by": self.stop.as_str(),
            "ops": self.ok,
            "errors": self.errors,
            "first_error": self.first_error,
            "secs": round(self.secs, 3),
            "bytes": self.bytes,
            "ops_per_s": round(self.ops_per_s(), 1),
            "mib_per_s": round(self.mib_per_s(), 1),
            "p50_ms": round(self.ms(50.0), 3),
            "p99_ms": round(self.ms(99.0), 3),
            "max_ms": round(self.ms(100.0), 3),
            "cpu_s": cpu,
            "peak_rss_mib": rss,
            "client_cpu_s": round(self.client_cpu_s, 2),
        })
    }

    pub fn table_header() -> String {
        format!(
            "{:<14} {:<16} {:>7} {:>5} {:>7} {:>9} {:>8} {:>8} {:>8}  {}",
            "target",
            "phase",
            "ops",
            "err",
            "secs",
            "ops/s",
            "MiB/s",
            "p50 ms",
            "p99 ms",
            "CPU s / peak RSS MiB per process; client CPU s"
        )
    }

    pub fn table_row(&self) -> String {
        let costs: Vec<String> = self
            .costs
            .iter()
            .map(|c| format!("{} {:.2}/{:.0}", c.label, c.cpu_s, c.peak_rss_mib))
            .collect();
        let mut row = format!(
            "{:<14} {:<16} {:>7} {:>5} {:>7.2} {:>9.1} {:>8.1} {:>8.2} {:>8.2}  {}; client {:.2}",
            self.target,
            self.phase,
            self.ok,
            self.errors,
            self.secs,
            self.ops_per_s(),
            self.mib_per_s(),
            self.ms(50.0),
            self.ms(99.0),
            costs.join(", "),
            self.client_cpu_s,
        );
        if let Some(e) = &self.first_error {
            row.push_str(&format!("\n{:<14}   first error: {e}", ""));
        }
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.1), 1);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[1, 2, 3], 50.0), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), 2);
    }

    #[test]
    fn status_and_json() {
        let r = PhaseResult {
            target: "t".into(),
            phase: "get-4k-c16".into(),
            what: "GET 4 KiB".into(),
            concurrency: 16,
            object_bytes: 4096,
            ok: 0,
            errors: 3,
            first_error: Some("501 NotImplemented".into()),
            stop: Stop::Failing,
            secs: 0.5,
            bytes: 0,
            latencies_us: vec![],
            costs: vec![Cost {
                label: "gw".into(),
                cpu_s: 0.123,
                peak_rss_mib: 12.34,
            }],
            client_cpu_s: 0.0,
        };
        assert_eq!(r.status(), "failed");
        let j = r.to_json("now");
        assert_eq!(j["status"], "failed");
        assert_eq!(j["stopped_by"], "failing");
        assert_eq!(j["cpu_s"]["gw"], 0.12);
        assert_eq!(j["peak_rss_mib"]["gw"], 12.3);
        assert_eq!(j["first_error"], "501 NotImplemented");
        assert!(r.table_row().contains("first error: 501 NotImplemented"));
    }
}

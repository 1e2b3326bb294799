//! Prometheus metrics: one registry per gateway, rendered in the text
//! exposition format at `GET /-/metrics`.
//!
//! Names follow the Prometheus conventions (base units: seconds and bytes;
//! counters end in `_total`). Label values come from small fixed sets: AWS
//! operation names, status classes, backend method names, S3 error codes.
//! Request metrics are recorded by [`crate::observe`], backend metrics by
//! [`crate::storage::metered`].
//!
//! <https://prometheus.io/docs/practices/naming/>

use std::sync::{Arc, LazyLock};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Upper bounds (seconds) of the latency histograms: from a cached metadata
/// answer to a multi-GiB transfer.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Attempts the Azure backend repeated after a transient failure. Global
/// because the retry loop knows no gateway; every [`Metrics`] registry
/// exports it (as `blobgate_backend_retries_total{backend="azure"}`).
static AZURE_RETRIES: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    IntCounter::with_opts(
        Opts::new(
            "blobgate_backend_retries_total",
            "Backend calls attempted again after a transient failure.",
        )
        .const_label("backend", "azure"),
    )
    .ok()
});

/// Count one retried Azure call (a line in the Azure retry loop).
pub fn azure_retry() {
    if let Some(c) = AZURE_RETRIES.as_ref() {
        c.inc();
    }
}

/// Every metric the gateway exports.
pub struct Metrics {
    registry: Registry,
    pub(crate) requests: IntCounterVec,
    pub(crate) request_duration: HistogramVec,
    pub(crate) received_bytes: IntCounter,
    pub(crate) sent_bytes: IntCounter,
    pub(crate) requests_in_flight: IntGauge,
    pub(crate) backend_calls: IntCounterVec,
    pub(crate) backend_call_duration: HistogramVec,
    pub(crate) backend_errors: IntCounterVec,
    pub(crate) multipart_uploads_in_progress: IntGauge,
    select_queries: IntCounter,
    select_bytes_scanned: IntCounter,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    cache_evictions: IntCounter,
    cache_bytes: IntGauge,
    tls_reloads: IntCounterVec,
    sts_requests: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let c = IntCounter::new(name, help)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<HistogramVec> {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )?;
    registry.register(Box::new(h.clone()))?;
    Ok(h)
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Arc<Self> {
        // Registration fails only on a duplicate or malformed name, which
        // the unit tests rule out.
        match Self::build() {
            Ok(m) => Arc::new(m),
            Err(e) => panic!("metric definitions are invalid: {e}"),
        }
    }

    fn build() -> prometheus::Result<Self> {
        let r = Registry::new();
        if let Some(retries) = AZURE_RETRIES.as_ref() {
            r.register(Box::new(retries.clone()))?;
        }
        Ok(Metrics {
            requests: counter_vec(
                &r,
                "blobgate_requests_total",
                "Requests answered, by S3 operation and HTTP status class (2xx..5xx).",
                &["operation", "status_class"],
            )?,
            request_duration: histogram_vec(
                &r,
                "blobgate_request_duration_seconds",
                "Time from the request's arrival to the last byte of its response, by S3 operation.",
                &["operation"],
            )?,
            received_bytes: counter(
                &r,
                "blobgate_received_bytes_total",
                "Request body bytes received from clients (as sent, before aws-chunked decoding).",
            )?,
            sent_bytes: counter(
                &r,
                "blobgate_sent_bytes_total",
                "Response body bytes sent to clients.",
            )?,
            requests_in_flight: gauge(
                &r,
                "blobgate_requests_in_flight",
                "Requests being served, response bodies still streaming included.",
            )?,
            backend_calls: counter_vec(
                &r,
                "blobgate_backend_calls_total",
                "Calls into the storage backend, by backend and method.",
                &["backend", "operation"],
            )?,
            backend_call_duration: histogram_vec(
                &r,
                "blobgate_backend_call_duration_seconds",
                "Time a backend call took to answer (for reads: until the body starts), by backend and method.",
                &["backend", "operation"],
            )?,
            backend_errors: counter_vec(
                &r,
                "blobgate_backend_errors_total",
                "Backend calls and body streams that failed, by backend, method and S3 error code.",
                &["backend", "operation", "kind"],
            )?,
            multipart_uploads_in_progress: gauge(
                &r,
                "blobgate_multipart_uploads_in_progress",
                "Multipart uploads created through this process minus those completed or aborted \
                 through it since it started; sum over replicas for the fleet.",
            )?,
            select_queries: counter(
                &r,
                "blobgate_select_queries_total",
                "S3 Select (SelectObjectContent) queries started.",
            )?,
            select_bytes_scanned: counter(
                &r,
                "blobgate_select_bytes_scanned_total",
                "Object bytes S3 Select read from storage (BytesScanned).",
            )?,
            cache_hits: counter(
                &r,
                "blobgate_cache_hits_total",
                "Reads answered from the cache.",
            )?,
            cache_misses: counter(
                &r,
                "blobgate_cache_misses_total",
                "Reads the cache could not answer.",
            )?,
            cache_evictions: counter(
                &r,
                "blobgate_cache_evictions_total",
                "Entries removed from the cache to respect its budget or expiry.",
            )?,
            cache_bytes: gauge(
                &r,
                "blobgate_cache_bytes",
                "Bytes of object data held by the cache.",
            )?,
            tls_reloads: counter_vec(
                &r,
                "blobgate_tls_reloads_total",
                "Changes of the TLS certificate files seen, by result (ok, error).",
                &["result"],
            )?,
            sts_requests: counter_vec(
                &r,
                "blobgate_sts_requests_total",
                "STS requests answered, by action and result (ok, or the STS error code).",
                &["action", "result"],
            )?,
            registry: r,
        })
    }

    /// The metrics in the text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 << 10);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "rendering metrics failed");
        }
        out
    }

    /// An S3 Select query started.
    pub fn select_query(&self) {
        self.select_queries.inc();
    }

    /// Bytes an S3 Select query read from storage.
    pub fn select_scanned(&self, bytes: u64) {
        self.select_bytes_scanned.inc_by(bytes);
    }

    /// A read answered from the cache.
    pub fn cache_hit(&self) {
        self.cache_hits.inc();
    }

    /// A read the cache could not answer.
    pub fn cache_miss(&self) {
        self.cache_misses.inc();
    }

    /// An entry evicted from the cache.
    pub fn cache_eviction(&self) {
        self.cache_evictions.inc();
    }

    /// The bytes of object data the cache holds now.
    pub fn set_cache_bytes(&self, bytes: u64) {
        self.cache_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// An STS request answered: `result` is `ok` or the error code.
    pub fn sts_request(&self, action: &str, result: &str) {
        self.sts_requests.with_label_values(&[action, result]).inc();
    }

    /// A changed TLS certificate was loaded (`ok`) or rejected.
    pub fn tls_reload(&self, ok: bool) {
        self.tls_reloads
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }
}

/// Adds a query's BytesScanned to `blobgate_select_bytes_scanned_total`
/// when its event stream is dropped (ended or abandoned).
pub struct SelectScanned {
    metrics: Arc<Metrics>,
    counters: Arc<blobgate_sql::engine::Counters>,
}

impl SelectScanned {
    pub fn new(metrics: Arc<Metrics>, counters: Arc<blobgate_sql::engine::Counters>) -> Self {
        SelectScanned { metrics, counters }
    }
}

impl Drop for SelectScanned {
    fn drop(&mut self) {
        let scanned = self
            .counters
            .scanned
            .load(std::sync::atomic::Ordering::Relaxed);
        self.metrics.select_scanned(scanned);
    }
}

/// The label of a status code's class.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &Metrics) -> String {
        String::from_utf8(m.render()).unwrap()
    }

    #[test]
    fn every_metric_registers_and_renders() {
        let m = Metrics::new();
        m.requests.with_label_values(&["GetObject", "2xx"]).inc();
        m.request_duration
            .with_label_values(&["GetObject"])
            .observe(0.02);
        m.received_bytes.inc_by(5);
        m.cache_hit();
        m.set_cache_bytes(1024);
        m.select_scanned(7);
        m.tls_reload(true);
        let out = text(&m);
        for line in [
            "blobgate_requests_total{operation=\"GetObject\",status_class=\"2xx\"} 1",
            "blobgate_request_duration_seconds_bucket{operation=\"GetObject\",le=\"0.025\"} 1",
            "blobgate_received_bytes_total 5",
            "blobgate_sent_bytes_total 0",
            "blobgate_requests_in_flight 0",
            "blobgate_multipart_uploads_in_progress 0",
            "blobgate_cache_hits_total 1",
            "blobgate_cache_misses_total 0",
            "blobgate_cache_evictions_total 0",
            "blobgate_cache_bytes 1024",
            "blobgate_select_queries_total 0",
            "blobgate_select_bytes_scanned_total 7",
            "blobgate_tls_reloads_total{result=\"ok\"} 1",
        ] {
            assert!(out.contains(line), "missing {line:?} in\n{out}");
        }
        assert!(out.contains("# TYPE blobgate_backend_retries_total counter"));
    }

    #[test]
    fn registries_are_independent_but_share_azure_retries() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.cache_miss();
        assert!(text(&a).contains("blobgate_cache_misses_total 1"));
        assert!(text(&b).contains("blobgate_cache_misses_total 0"));
        azure_retry();
        let line = |m: &Metrics| {
            text(m)
                .lines()
                .find(|l| l.starts_with("blobgate_backend_retries_total{"))
                .map(str::to_owned)
        };
        assert!(line(&a).is_some_and(|l| !l.ends_with(" 0")));
        assert_eq!(line(&a), line(&b));
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(206), "2xx");
        assert_eq!(status_class(304), "3xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}

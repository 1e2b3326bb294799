//! What every request leaves behind: its tracing span (request id,
//! operation, bucket, key, status, bytes in and out, duration), one
//! completion log line, and the request metrics.
//!
//! A request is finished when the last byte of its response body has been
//! handed to the connection, or when the client goes away: the response
//! body carries the [`Observation`] and completes it. Bytes are counted as
//! they stream; nothing is buffered.
//!
//! Never recorded: headers (Authorization among them) and the signature
//! and credential of presigned URLs, which [`redacted_query`] masks.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_core::Stream;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use prometheus::IntCounter;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Span;

use crate::body::ResponseBody;
use crate::error::S3Error;
use crate::metrics::{status_class, Metrics};
use crate::router::Route;

/// The status recorded for a request whose client left before the
/// response was ready (nginx's convention).
const CLIENT_CLOSED: u16 = 499;

/// Query parameters whose values are secrets or signatures, lower-cased:
/// SigV4 and SigV2 presigned URLs, Azure SAS tokens, and the OAuth
/// authorization code the console is sent back with.
const SECRET_PARAMS: [&str; 8] = [
    "x-amz-signature",
    "webidentitytoken",
    "x-amz-credential",
    "x-amz-security-token",
    "signature",
    "awsaccesskeyid",
    "sig",
    "code",
];

/// A query string fit for logs: the values of [`SECRET_PARAMS`] replaced.
pub fn redacted_query(query: &str) -> Cow<'_, str> {
    let secret = |pair: &str| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s))
    };
    if !query.split('&').any(secret) {
        return Cow::Borrowed(query);
    }
    let pairs: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if secret(pair) => Cow::Owned(format!("{name}=REDACTED")),
            _ => Cow::Borrowed(pair),
        })
        .collect();
    Cow::Owned(pairs.join("&"))
}

/// The span of one request. Fields left empty are recorded as they become
/// known.
pub fn request_span<B>(id: &str, req: &Request<B>, peer: SocketAddr) -> Span {
    let span = tracing::info_span!(
        "request",
        id = id,
        method = req.method().as_str(),
        path = req.uri().path(),
        query = tracing::field::Empty,
        peer = %peer,
        op = tracing::field::Empty,
        bucket = tracing::field::Empty,
        key = tracing::field::Empty,
        status = tracing::field::Empty,
        bytes_in = tracing::field::Empty,
        bytes_out = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    );
    if let Some(q) = req.uri().query().filter(|q| !q.is_empty()) {
        span.record("query", redacted_query(q).as_ref());
    }
    span
}

/// Counts request body bytes as the handler reads them: for the request
/// and for `blobgate_received_bytes_total`.
#[derive(Clone)]
pub struct BodyCounter {
    request: Arc<AtomicU64>,
    total: IntCounter,
}

impl BodyCounter {
    /// `stream`, counted.
    pub fn wrap<S>(self, stream: S) -> Counted<S> {
        Counted {
            inner: stream,
            counter: self,
        }
    }
}

/// A byte stream counted by a [`BodyCounter`].
pub struct Counted<S> {
    inner: S,
    counter: BodyCounter,
}

impl<S, E> Stream for Counted<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = ready!(Pin::new(&mut self.inner).poll_next(cx));
        if let Some(Ok(chunk)) = &item {
            let n = chunk.len() as u64;
            self.counter.request.fetch_add(n, Ordering::Relaxed);
            self.counter.total.inc_by(n);
        }
        Poll::Ready(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// One request being served; finishing it (once) logs and records it.
pub struct Observation {
    metrics: Arc<Metrics>,
    span: Span,
    started: Instant,
    operation: &'static str,
    /// Operator probes (health, metrics) log at debug, not info.
    probe: bool,
    status: u16,
    received: Arc<AtomicU64>,
    sent: u64,
    finished: bool,
    /// The request's slot under `--max-requests`, released when the request
    /// finishes: a streamed response holds it until its last byte.
    slot: Option<OwnedSemaphorePermit>,
}

impl Observation {
    /// A request arrived.
    pub fn start(metrics: Arc<Metrics>, span: Span) -> Self {
        metrics.requests_in_flight.inc();
        Observation {
            metrics,
            span,
            started: Instant::now(),
            operation: "Unknown",
            probe: false,
            status: CLIENT_CLOSED,
            received: Arc::new(AtomicU64::new(0)),
            sent: 0,
            finished: false,
            slot: None,
        }
    }

    /// Hold `slot` until the request finishes.
    pub fn hold(&mut self, slot: OwnedSemaphorePermit) {
        self.slot = Some(slot);
    }

    /// The counter for this request's body.
    pub fn body_counter(&self) -> BodyCounter {
        BodyCounter {
            request: self.received.clone(),
            total: self.metrics.received_bytes.clone(),
        }
    }

    /// The request is an operator probe (`/-/...`), named `operation`.
    pub fn probe(&mut self, operation: &'static str) {
        self.probe = true;
        self.operation = operation;
        self.span.record("op", operation);
    }

    /// The request is the operation `operation` of another API than S3's
    /// (STS).
    pub fn named(&mut self, operation: &'static str) {
        self.operation = operation;
        self.span.record("op", operation);
    }

    /// The request was routed.
    pub fn routed(&mut self, route: &Route) {
        self.operation = route.endpoint.name();
        self.span.record("op", self.operation);
        if let Some(bucket) = &route.bucket {
            self.span.record("bucket", bucket.as_str());
        }
        if let Some(key) = &route.key {
            self.span.record("key", key.as_str());
        }
    }

    /// The response is ready: it carries the observation until its body
    /// has been sent.
    pub fn respond(mut self, response: Response<ResponseBody>) -> Response<ResponseBody> {
        self.status = response.status().as_u16();
        // A streamed body does not know its length; its Content-Length does.
        let announced = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        response.map(|inner| {
            ObservedBody {
                length: announced.or(inner.size_hint().exact()),
                inner,
                observation: self,
            }
            .boxed_unsync()
        })
    }

    fn finish(&mut self, complete: bool) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.slot = None;
        let elapsed = self.started.elapsed();
        let received = self.received.load(Ordering::Relaxed);
        let m = &self.metrics;
        m.requests_in_flight.dec();
        m.requests
            .with_label_values(&[self.operation, status_class(self.status)])
            .inc();
        m.request_duration
            .with_label_values(&[self.operation])
            .observe(elapsed.as_secs_f64());
        let span = &self.span;
        span.record("status", self.status);
        span.record("bytes_in", received);
        span.record("bytes_out", self.sent);
        // Milliseconds with microsecond precision.
        span.record("duration_ms", elapsed.as_micros() as f64 / 1000.0);
        let _entered = span.enter();
        if self.probe {
            tracing::debug!(complete, "done");
        } else {
            tracing::info!(complete, "done");
        }
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        // Dropped without a response: the client went away first.
        self.finish(false);
    }
}

/// A response body that counts what it sends and finishes the request.
struct ObservedBody {
    inner: ResponseBody,
    /// The body's length, when known in advance: hyper stops polling a
    /// body once it has sent that many bytes.
    length: Option<u64>,
    observation: Observation,
}

impl ObservedBody {
    /// Whether everything has been sent.
    fn sent_all(&self) -> bool {
        self.inner.is_end_stream() || self.length == Some(self.observation.sent)
    }
}

impl Body for ObservedBody {
    type Data = Bytes;
    type Error = S3Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, S3Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(data) = f.data_ref() {
                    let n = data.len() as u64;
                    this.observation.sent += n;
                    this.observation.metrics.sent_bytes.inc_by(n);
                }
                if this.sent_all() {
                    this.observation.finish(true);
                }
            }
            Some(Err(_)) => this.observation.finish(false),
            None => this.observation.finish(true),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        // A body hyper never polled (HEAD, empty) ended; one dropped
        // part-way did not.
        let complete = self.sent_all();
        self.observation.finish(complete);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presigned_signatures_are_redacted() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20250101%2Fus-east-1%2Fs3%2Faws4_request\
                 &X-Amz-Date=20250101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
                 &X-Amz-Signature=deadbeef";
        assert_eq!(
            redacted_query(q),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED\
             &X-Amz-Date=20250101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=REDACTED"
        );
        assert_eq!(
            redacted_query("sv=2022&sig=abc%3D&se=x"),
            "sv=2022&sig=REDACTED&se=x"
        );
        assert_eq!(
            redacted_query("AWSAccessKeyId=A&Signature=s&Expires=1"),
            "AWSAccessKeyId=REDACTED&Signature=REDACTED&Expires=1"
        );
        assert_eq!(
            redacted_query("x-amz-security-token=t"),
            "x-amz-security-token=REDACTED"
        );
    }

    #[test]
    fn plain_queries_are_kept() {
        let q = "list-type=2&prefix=a%2F&signature-version";
        assert!(matches!(redacted_query(q), Cow::Borrowed(_)));
        assert_eq!(redacted_query("uploads"), "uploads");
        // A key-less parameter named like a secret has no value to hide.
        assert_eq!(redacted_query("sig"), "sig");
    }

    #[tokio::test]
    async fn a_request_is_recorded_when_its_body_has_been_sent() {
        let metrics = Metrics::new();
        let mut obs = Observation::start(metrics.clone(), Span::none());
        obs.probe("GetMetrics");
        assert_eq!(metrics.requests_in_flight.get(), 1);
        let counter = obs.body_counter();
        let chunks: Vec<Result<Bytes, S3Error>> = vec![Ok(Bytes::from_static(b"abc"))];
        let mut body = counter.wrap(futures_util::stream::iter(chunks));
        while futures_util::StreamExt::next(&mut body).await.is_some() {}
        let response = obs.respond(Response::new(crate::body::full("hello")));
        assert_eq!(response.body().size_hint().exact(), Some(5));
        let sent = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(sent, "hello");
        assert_eq!(metrics.requests_in_flight.get(), 0);
        assert_eq!(metrics.received_bytes.get(), 3);
        assert_eq!(metrics.sent_bytes.get(), 5);
        assert_eq!(
            metrics
                .requests
                .with_label_values(&["GetMetrics", "2xx"])
                .get(),
            1
        );
    }

    #[tokio::test]
    async fn a_streamed_body_of_known_length_is_complete_when_all_is_sent() {
        use http_body_util::StreamBody;
        let metrics = Metrics::new();
        let obs = Observation::start(metrics.clone(), Span::none());
        // Like a GetObject body: a stream of unknown length, and a
        // Content-Length header.
        let chunks: Vec<Result<Frame<Bytes>, S3Error>> = vec![
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Ok(Frame::data(Bytes::from_static(b"cd"))),
        ];
        let body = StreamBody::new(futures_util::stream::iter(chunks)).boxed_unsync();
        let mut response = Response::new(body);
        response
            .headers_mut()
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(4));
        let mut response = obs.respond(response).into_body();
        // Poll exactly the announced bytes, then drop, as hyper does.
        let mut got = 0;
        while got < 4 {
            let frame = response.frame().await.unwrap().unwrap();
            got += frame.into_data().unwrap().len();
        }
        // Finished (as complete) on the last byte, before the drop.
        assert_eq!(metrics.requests_in_flight.get(), 0);
        drop(response);
        assert_eq!(metrics.sent_bytes.get(), 4);
    }

    #[test]
    fn a_request_dropped_before_its_response_counts_as_client_closed() {
        let metrics = Metrics::new();
        drop(Observation::start(metrics.clone(), Span::none()));
        assert_eq!(metrics.requests_in_flight.get(), 0);
        assert_eq!(
            metrics
                .requests
                .with_label_values(&["Unknown", "4xx"])
                .get(),
            1
        );
    }
}

//! Request and response bodies as streams: the request body with an idle
//! timeout (a stalled client is cut off), and the response body type.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http_body::Body as _;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::time::{sleep, Sleep};

use crate::error::{S3Error, S3ErrorCode};
use crate::storage::ByteStream;

/// The body of every response.
pub type ResponseBody = UnsyncBoxBody<Bytes, S3Error>;

pub fn empty() -> ResponseBody {
    full(Bytes::new())
}

pub fn full(data: impl Into<Bytes>) -> ResponseBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A response body streamed from a backend.
pub fn streamed(stream: ByteStream) -> ResponseBody {
    use futures_util::StreamExt;
    StreamBody::new(stream.map(|r| r.map(Frame::data))).boxed_unsync()
}

/// The request body's data frames as a stream.
pub struct IncomingStream {
    body: Incoming,
    done: bool,
}

impl IncomingStream {
    pub fn new(body: Incoming) -> Self {
        IncomingStream { body, done: false }
    }
}

impl Stream for IncomingStream {
    type Item = Result<Bytes, S3Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        while !this.done {
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                    // Trailer frames carry no data; keep reading.
                }
                Some(Err(e)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(S3Error {
                        source: Some(Box::new(e)),
                        ..S3Error::new(
                            S3ErrorCode::IncompleteBody,
                            "The request body was not received completely",
                        )
                    })));
                }
                None => this.done = true,
            }
        }
        Poll::Ready(None)
    }
}

/// Fails a body stream with RequestTimeout when it yields nothing for
/// `idle`: a stalled client is cut off and its upload abandoned.
pub struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    expired: bool,
    on_idle: fn() -> S3Error,
}

impl<S> IdleTimeout<S> {
    pub fn new(inner: S, idle: Duration) -> Self {
        Self::with_error(inner, idle, || {
            S3Error::new(
                S3ErrorCode::RequestTimeout,
                "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.",
            )
        })
    }

    /// Fail with `on_idle()` instead (for streams the gateway reads from
    /// its storage rather than from the client).
    pub fn with_error(inner: S, idle: Duration, on_idle: fn() -> S3Error) -> Self {
        IdleTimeout {
            inner,
            idle,
            timer: Box::pin(sleep(idle)),
            expired: false,
            on_idle,
        }
    }
}

impl<S> Stream for IdleTimeout<S>
where
    S: Stream<Item = Result<Bytes, S3Error>> + Unpin,
{
    type Item = Result<Bytes, S3Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.expired {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(item) => {
                let deadline = tokio::time::Instant::now() + this.idle;
                this.timer.as_mut().reset(deadline);
                Poll::Ready(item)
            }
            Poll::Pending => {
                ready!(this.timer.as_mut().poll(cx));
                this.expired = true;
                Poll::Ready(Some(Err((this.on_idle)())))
            }
        }
    }
}

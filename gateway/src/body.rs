//! Request and response bodies as streams: the request body with an idle
//! timeout (a stalled client is cut off), and the response body type.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
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

/// The request body's data frames, failing with RequestTimeout when the
/// client sends nothing for `idle`.
pub struct IncomingStream {
    body: Incoming,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    done: bool,
}

impl IncomingStream {
    pub fn new(body: Incoming, idle: Duration) -> Self {
        IncomingStream {
            body,
            idle,
            timer: Box::pin(sleep(idle)),
            done: false,
        }
    }
}

impl Stream for IncomingStream {
    type Item = Result<Bytes, S3Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let deadline = tokio::time::Instant::now() + this.idle;
                    this.timer.as_mut().reset(deadline);
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                    // Trailers frames carry no data; keep reading.
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(S3Error {
                        source: Some(Box::new(e)),
                        ..S3Error::new(
                            S3ErrorCode::IncompleteBody,
                            "The request body was not received completely",
                        )
                    })));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    if this.timer.as_mut().poll(cx).is_ready() {
                        this.done = true;
                        return Poll::Ready(Some(Err(S3Error::new(
                            S3ErrorCode::RequestTimeout,
                            "Your socket connection to the server was not read from or written to within the timeout period.",
                        ))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

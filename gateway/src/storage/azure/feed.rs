//! Streaming a request body straight into staged blocks, without buffering
//! a block: large multipart parts are cut into a few large blocks (see
//! `multipart`), each sent as one Put Block whose body reads from the
//! client's body as Azure consumes it.
//!
//! Memory per part stays at a chunk or two however large the block. The
//! price: a block read from the client cannot be sent again, so a failed
//! block is not retried here; the part fails and the client retries it
//! (S3 clients retry UploadPart). Parts small enough to buffer take the
//! buffered, retried path instead.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use azure_core::http::Body;
use azure_core::stream::SeekableStream;
use futures_util::io::AsyncRead;
use futures_util::StreamExt;
use md5::{Digest, Md5};

use crate::error::{S3Error, S3ErrorCode};
use crate::storage::ByteStream;

/// A body being fed into blocks, one block at a time. Cheap to clone: the
/// clones share the state (the HTTP client clones the request body).
#[derive(Clone)]
pub(super) struct PartFeed {
    state: Arc<Mutex<FeedState>>,
}

struct FeedState {
    body: ByteStream,
    /// What was read from the body past the end of the previous block.
    pending: Option<bytes::Bytes>,
    /// Bytes of the current block still to hand out.
    remaining: u64,
    /// Length of the current block.
    block_len: u64,
    md5: Md5,
    size: u64,
    /// Why the body could not be read (the client's error, or a short body).
    failure: Option<S3Error>,
    /// When Azure last took data (or the block began).
    last_progress: Instant,
    /// Whether the feed is waiting for the client rather than for Azure.
    waiting_on_client: bool,
}

impl PartFeed {
    pub fn new(body: ByteStream) -> Self {
        PartFeed {
            state: Arc::new(Mutex::new(FeedState {
                body,
                pending: None,
                remaining: 0,
                block_len: 0,
                md5: Md5::new(),
                size: 0,
                failure: None,
                last_progress: Instant::now(),
                waiting_on_client: false,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FeedState> {
        // A panic while holding the lock cannot leave the state torn in a
        // way that matters more than the failed request itself.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request body for the next `len` bytes of the client's body.
    pub fn block(&self, len: u64) -> Body {
        {
            let mut s = self.lock();
            s.remaining = len;
            s.block_len = len;
            s.last_progress = Instant::now();
            s.waiting_on_client = false;
        }
        Body::SeekableStream(Box::new(BlockBody {
            feed: self.clone(),
            len,
        }))
    }

    /// Why the client's body failed during the last block, if it did.
    pub fn take_failure(&self) -> Option<S3Error> {
        self.lock().failure.take()
    }

    /// Bytes of the current block not yet handed to Azure.
    pub fn remaining(&self) -> u64 {
        self.lock().remaining
    }

    /// How long Azure has not taken data while the client had some ready
    /// (zero while the feed waits for the client: its own idle timeout
    /// covers that).
    pub fn stalled_for(&self) -> Duration {
        let s = self.lock();
        if s.waiting_on_client {
            Duration::ZERO
        } else {
            s.last_progress.elapsed()
        }
    }

    /// After the last block: check that the body has ended, and return its
    /// MD5 and length.
    pub async fn finish(self) -> Result<([u8; 16], u64), S3Error> {
        let mut body = {
            let mut s = self.lock();
            if s.pending.as_ref().is_some_and(|p| !p.is_empty()) {
                return Err(incomplete_body());
            }
            std::mem::replace(&mut s.body, Box::pin(futures_util::stream::empty()))
        };
        while let Some(chunk) = body.next().await {
            if !chunk?.is_empty() {
                return Err(incomplete_body());
            }
        }
        let s = self.lock();
        Ok((s.md5.clone().finalize().into(), s.size))
    }
}

pub(super) fn incomplete_body() -> S3Error {
    S3Error::new(
        S3ErrorCode::IncompleteBody,
        "You did not provide the number of bytes specified by the Content-Length HTTP header",
    )
}

/// The body of one Put Block: the next `len` bytes of the feed.
#[derive(Clone)]
struct BlockBody {
    feed: PartFeed,
    len: u64,
}

impl std::fmt::Debug for BlockBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockBody").field("len", &self.len).finish()
    }
}

#[async_trait::async_trait]
impl SeekableStream for BlockBody {
    async fn reset(&mut self) -> azure_core::Result<()> {
        // Nothing read yet: nothing to rewind. Otherwise the bytes are gone.
        if self.feed.remaining() == self.len {
            Ok(())
        } else {
            Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Io,
                "a streamed block cannot be sent again",
            ))
        }
    }

    fn len(&self) -> Option<u64> {
        Some(self.len)
    }
}

impl AsyncRead for BlockBody {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut guard = self.feed.lock();
        let s = &mut *guard;
        if s.remaining == 0 || buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let chunk = loop {
            if let Some(p) = s.pending.take().filter(|p| !p.is_empty()) {
                break p;
            }
            match s.body.poll_next_unpin(cx) {
                Poll::Pending => {
                    s.waiting_on_client = true;
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(chunk))) => s.pending = Some(chunk),
                Poll::Ready(Some(Err(e))) => {
                    s.failure = Some(e);
                    return Poll::Ready(Err(io::Error::other("the request body failed")));
                }
                Poll::Ready(None) => {
                    s.failure = Some(incomplete_body());
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the request body ended early",
                    )));
                }
            }
        };
        let take = (chunk.len() as u64).min(s.remaining).min(buf.len() as u64) as usize;
        buf[..take].copy_from_slice(&chunk[..take]);
        s.md5.update(&chunk[..take]);
        s.size += take as u64;
        s.remaining -= take as u64;
        if take < chunk.len() {
            s.pending = Some(chunk.slice(take..));
        }
        s.waiting_on_client = false;
        s.last_progress = Instant::now();
        Poll::Ready(Ok(take))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn feed(chunks: &[&'static [u8]]) -> PartFeed {
        let items: Vec<Result<Bytes, S3Error>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        PartFeed::new(Box::pin(futures_util::stream::iter(items)))
    }

    async fn read(body: Body) -> io::Result<Vec<u8>> {
        let Body::SeekableStream(mut s) = body else {
            panic!("not a stream")
        };
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            let n = std::future::poll_fn(|cx| Pin::new(&mut *s).poll_read(cx, &mut buf)).await?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[tokio::test]
    async fn blocks_cut_the_body_exactly() {
        let f = feed(&[b"hello", b"", b" wor", b"ld"]);
        assert_eq!(read(f.block(4)).await.unwrap(), b"hell");
        assert_eq!(read(f.block(7)).await.unwrap(), b"o world");
        let (md5, size) = f.finish().await.unwrap();
        assert_eq!(size, 11);
        assert_eq!(md5, <[u8; 16]>::from(Md5::digest(b"hello world")));
    }

    #[tokio::test]
    async fn short_and_long_bodies_are_incomplete() {
        let f = feed(&[b"abc"]);
        assert!(read(f.block(5)).await.is_err());
        assert_eq!(
            f.take_failure().map(|e| e.code),
            Some(S3ErrorCode::IncompleteBody)
        );
        let f = feed(&[b"abcdef"]);
        assert_eq!(read(f.block(4)).await.unwrap(), b"abcd");
        assert_eq!(
            f.finish().await.map_err(|e| e.code).unwrap_err(),
            S3ErrorCode::IncompleteBody
        );
    }
}

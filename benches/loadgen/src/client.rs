//! One keep-alive HTTP/1.1 connection per simulated client (hyper's
//! low-level connection API: no pool, no locks), reopened after an error.
//! Response bodies are read to the end and counted, never kept, except the
//! small XML bodies the load generator needs to parse.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::protocol::{xml_field, Body};

/// At most this much of a response body is kept for parsing.
const KEEP_LIMIT: usize = 4 << 20;

/// A connection to one server, opened on first use.
pub struct Conn {
    addr: SocketAddr,
    sender: Option<SendRequest<Body>>,
}

/// What a successful exchange returned.
pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    /// Response body bytes received.
    pub bytes: u64,
    /// The body itself, when asked for.
    pub body: Bytes,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Conn { addr, sender: None }
    }

    async fn sender(&mut self) -> Result<&mut SendRequest<Body>, String> {
        if let Some(sender) = &mut self.sender {
            if sender.ready().await.is_ok() {
                // Reborrow: the borrow checker cannot see through the `if let`.
                return self
                    .sender
                    .as_mut()
                    .ok_or_else(|| "connection vanished".to_owned());
            }
        }
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            // Ends when the server closes or the sender is dropped; an error
            // here shows up as a failed request on the sender's side.
            let _ = conn.await;
        });
        Ok(self.sender.insert(sender))
    }

    /// Send `req` and read the whole response. A 2xx (or 3xx, e.g. 304)
    /// status is a success; anything else an error naming the status and
    /// the error code of the body. The body is returned when `keep` is set.
    pub async fn exchange(&mut self, req: Request<Body>, keep: bool) -> Result<Reply, String> {
        let result = self.exchange_inner(req, keep).await;
        if result.is_err() {
            // The connection may be half-way through a response: start afresh.
            self.sender = None;
        }
        result
    }

    async fn exchange_inner(&mut self, req: Request<Body>, keep: bool) -> Result<Reply, String> {
        let sender = self.sender().await?;
        let response: Response<Incoming> = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let (parts, mut body) = response.into_parts();
        let failed = !(parts.status.is_success() || parts.status.is_redirection());
        let keep = keep || failed;
        let mut kept = BytesMut::new();
        let mut bytes = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("reading the body: {e}"))?;
            if let Ok(data) = frame.into_data() {
                bytes += data.len() as u64;
                if keep && kept.len() < KEEP_LIMIT {
                    kept.extend_from_slice(&data);
                }
            }
        }
        if failed {
            let text = String::from_utf8_lossy(&kept);
            let code = xml_field(&text, "Code").unwrap_or_default();
            return Err(format!("{} {code}", parts.status.as_u16())
                .trim_end()
                .to_owned());
        }
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            bytes,
            body: kept.freeze(),
        })
    }
}

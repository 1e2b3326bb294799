//! The HTTP server: accepts connections, gives every request an id and a
//! span, authenticates it, routes it and renders errors once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use blobgate_auth::{AuthError, RequestParts, Verified};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::body::{self, ResponseBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::observe::{self, Observation};
use crate::ops;
use crate::request::{Gateway, S3Request};
use crate::router::{self, Endpoint, Query};

fn slow_down() -> S3Error {
    S3Error::new(S3ErrorCode::SlowDown, "Please reduce your request rate.")
}

fn new_request_id() -> String {
    let bytes: [u8; 8] = rand::random();
    hex::encode_upper(bytes)
}

/// Serve until `shutdown` resolves, then let open requests finish.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limits = gateway.config.limits.clone();
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    let mut draining_until: Option<tokio::time::Instant> = None;
    loop {
        let deadline = async {
            match draining_until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown, if draining_until.is_none() => {
                gateway.draining.store(true, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(delay_s = limits.shutdown_delay.as_secs_f64(), "shutting down: not ready");
                draining_until = Some(tokio::time::Instant::now() + limits.shutdown_delay);
                continue;
            }
            () = deadline => break,
        };
        let _ = stream.set_nodelay(true);
        let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
        stream.set_write_timeout(Some(gateway.config.write_timeout));
        let stream = Box::pin(stream);
        let gw = gateway.clone();
        // Over the connection limit: one 503 SlowDown, then the connection
        // closes (a reset would look like a network fault to the client).
        let permit = connections.clone().try_acquire_owned().ok();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let over_limit = permit.is_none();
            match &gw.tls {
                None => serve_connection(gw.clone(), peer, stream, watcher, over_limit).await,
                Some(tls) => {
                    // The handshake runs here, off the accept loop, within
                    // the time allowed for request headers.
                    let handshake = tls.accept(stream);
                    match tokio::time::timeout(gw.config.header_timeout, handshake).await {
                        Ok(Ok(tls_stream)) => {
                            serve_connection(gw.clone(), peer, tls_stream, watcher, over_limit)
                                .await
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    // No new connections from here on; open requests may finish.
    drop(listener);
    tracing::info!(
        grace_s = limits.shutdown_grace.as_secs_f64(),
        "shutting down: waiting for open requests"
    );
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("open requests did not finish within the grace period");
        }
    }
    Ok(())
}

/// Serve HTTP/1.1 on one (plain or TLS) connection until it closes.
async fn serve_connection<IO>(
    gateway: Arc<Gateway>,
    peer: SocketAddr,
    io: IO,
    watcher: hyper_util::server::graceful::Watcher,
    over_limit: bool,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(gateway.config.header_timeout)
        .max_buf_size(gateway.config.limits.max_header_bytes.max(8192))
        .keep_alive(!over_limit);
    if over_limit {
        let service = service_fn(|_req| async {
            let mut r = error_response(&slow_down(), "/", &new_request_id(), false);
            r.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            Ok::<_, Infallible>(r)
        });
        let _ = http.serve_connection(TokioIo::new(io), service).await;
        return;
    }
    let service = service_fn(move |req| handle(gateway.clone(), peer, req));
    let conn = http.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

async fn handle(
    gateway: Arc<Gateway>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let request_id = new_request_id();
    let span = observe::request_span(&request_id, &req, peer);
    let mut observation = Observation::start(gateway.metrics.clone(), span.clone());
    async move {
        let resource = req.uri().path().to_owned();
        let is_head = req.method() == Method::HEAD;
        // A browser's request from another origin gets the bucket's CORS
        // headers on its answer, success or error.
        let cross_origin = cross_origin_bucket(&gateway, &req);
        let sent_body = has_body(&req);
        let operator = req.uri().path().starts_with("/-/");
        // A slot is held until the response's last byte is sent (operator
        // endpoints are free).
        let admitted = operator
            || match gateway.requests.clone().try_acquire_owned() {
                Ok(slot) => {
                    observation.hold(slot);
                    true
                }
                Err(_) => false,
            };
        let result = if admitted {
            serve_request(&gateway, peer, req, &request_id, &mut observation).await
        } else {
            Err(slow_down())
        };
        let mut response = match result {
            Ok(r) => r,
            Err(e) => error_response(&e, &resource, &request_id, is_head),
        };
        if let Some((bucket, method, origin)) = cross_origin {
            if let Ok(Some(config)) = gateway.cors.get(gateway.backend.as_ref(), &bucket).await {
                crate::cors::actual(&config, &method, &origin, response.headers_mut());
            }
        }
        let failed = response.status().is_client_error() || response.status().is_server_error();
        let headers = response.headers_mut();
        // A failed request may not have had its body read; hyper then closes
        // the connection, and the client must know not to reuse it.
        if sent_body && failed {
            headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.insert("x-amz-request-id", v.clone());
            headers.insert("x-amz-id-2", v);
        }
        headers.insert(http::header::SERVER, HeaderValue::from_static("blobgate"));
        // Logged and counted once the body has been sent.
        Ok(observation.respond(response))
    }
    .instrument(span)
    .await
}

/// For a request with an `Origin` header (not a preflight, not `/-/`): its
/// bucket, method and origin.
fn cross_origin_bucket(
    gateway: &Gateway,
    req: &Request<Incoming>,
) -> Option<(crate::storage::BucketName, Method, String)> {
    let origin = req.headers().get(http::header::ORIGIN)?.to_str().ok()?;
    if req.method() == Method::OPTIONS || req.uri().path().starts_with("/-/") {
        return None;
    }
    let bucket = request_bucket(gateway, req)?;
    Some((bucket, req.method().clone(), origin.to_owned()))
}

/// The host a request is addressed to: its Host header, else the URI's.
fn request_host<'r>(headers: &'r http::HeaderMap, uri: &'r http::Uri) -> Option<&'r str> {
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.host())
}

/// The bucket a request names (path or virtual host).
fn request_bucket<B>(gateway: &Gateway, req: &Request<B>) -> Option<crate::storage::BucketName> {
    let host = request_host(req.headers(), req.uri());
    let (bucket, _) =
        router::split_target(host, req.uri().path(), gateway.config.domain.as_deref()).ok()?;
    crate::storage::BucketName::parse(&bucket?).ok()
}

/// A CORS preflight (`OPTIONS`), answered from the bucket's rules without
/// authentication (browsers do not sign preflights).
async fn preflight(
    gateway: &Gateway,
    req: &Request<Incoming>,
) -> Result<Response<ResponseBody>, S3Error> {
    let Some(bucket) = request_bucket(gateway, req) else {
        return Err(S3Error::new(
            S3ErrorCode::MethodNotAllowed,
            "The specified method is not allowed against this resource.",
        ));
    };
    let config = gateway.cors.get(gateway.backend.as_ref(), &bucket).await?;
    let headers = crate::cors::preflight(config.as_deref(), req.headers())?;
    let mut response = Response::new(body::empty());
    *response.headers_mut() = headers;
    Ok(response)
}

/// Whether the client sends a request body.
fn has_body(req: &Request<Incoming>) -> bool {
    let headers = req.headers();
    headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// Render an error as the S3 XML document (no body for HEAD).
pub fn error_response(
    e: &S3Error,
    resource: &str,
    request_id: &str,
    is_head: bool,
) -> Response<ResponseBody> {
    match e.status() {
        s if s.is_server_error() => tracing::error!(error = %e, "request failed"),
        StatusCode::NOT_MODIFIED => {}
        _ => tracing::debug!(error = %e, "client error"),
    }
    let status = e.status();
    let body = if is_head || status == StatusCode::NOT_MODIFIED {
        body::empty()
    } else {
        body::full(e.to_xml(resource, request_id))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if !is_head && status != StatusCode::NOT_MODIFIED {
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
    }
    for (name, value) in &e.headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name.clone(), v);
        }
    }
    response
}

async fn serve_request(
    gateway: &Gateway,
    peer: SocketAddr,
    req: Request<Incoming>,
    request_id: &str,
    observation: &mut Observation,
) -> Result<Response<ResponseBody>, S3Error> {
    if let Some(path) = req.uri().path().strip_prefix("/-/") {
        if path == "console" || path.starts_with("console/") {
            observation.probe(crate::console::OPERATION);
            return crate::console::handle(
                &gateway.config.console,
                req.method(),
                path,
                req.headers(),
            );
        }
        observation.probe(ops::health::operation(path));
        return ops::health::handle(gateway, req.method(), path).await;
    }
    if req.method() == Method::OPTIONS {
        observation.named("PreflightRequest");
        return preflight(gateway, &req).await;
    }
    let (parts, body) = req.into_parts();
    let query = Query::parse(parts.uri.query());
    let host = request_host(&parts.headers, &parts.uri).map(str::to_owned);
    // STS shares the listener: its query API is addressed to the root.
    if ops::sts::is_sts_request(&parts.method, &query)
        && matches!(
            router::split_target(
                host.as_deref(),
                parts.uri.path(),
                gateway.config.domain.as_deref()
            ),
            Ok((None, None))
        )
    {
        return Ok(ops::sts::handle(gateway, peer, parts, body, request_id, observation).await);
    }
    // Routed before authentication only to name the operation in logs and
    // metrics: an authentication failure still comes first.
    let route = router::route(
        &parts.method,
        host.as_deref(),
        parts.uri.path(),
        &query,
        parts.headers.contains_key("x-amz-copy-source"),
        gateway.config.domain.as_deref(),
    );
    if let Ok(route) = &route {
        observation.routed(route);
    }
    let verified = match blobgate_auth::verify_request(
        &RequestParts {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            virtual_bucket: router::virtual_host_bucket(
                host.as_deref(),
                gateway.config.domain.as_deref(),
            ),
        },
        gateway.access.as_ref(),
        &gateway.config.region,
        SystemTime::now(),
    ) {
        Ok(v) => v,
        // No signature at all: anonymous, which only a bucket policy can allow.
        Err(AuthError::MissingAuthentication) => Verified::anonymous(),
        Err(e) => return Err(e.into()),
    };
    let route = route?;
    // Decided by their handlers once they have read what the decision
    // needs: PutObjectTagging the tags in its body (s3:RequestObjectTag),
    // a browser upload (PostObject) its key and signature in the form.
    if !matches!(
        route.endpoint,
        Endpoint::PutObjectTagging | Endpoint::PostObject
    ) {
        gateway
            .access
            .check(
                gateway.backend.as_ref(),
                &verified,
                &route,
                &query,
                &parts.headers,
                Some(peer.ip()),
            )
            .await?;
    }
    let reads_object = matches!(
        route.endpoint,
        Endpoint::GetObject
            | Endpoint::HeadObject
            | Endpoint::SelectObjectContent
            | Endpoint::GetObjectAttributes
    );
    // Kept to decide what a missing key looks like to a non-root reader.
    let caller = (reads_object && !gateway.access.is_root(&verified))
        .then(|| (verified.clone(), route.bucket.clone().unwrap_or_default()));
    let request = S3Request {
        parts,
        query,
        body,
        verified,
        peer: Some(peer.ip()),
        received: observation.body_counter(),
    };
    let mut result = ops::dispatch(gateway, route, request).await;
    if let (true, Ok(response)) = (reads_object && gateway.config.console.enabled, &mut result) {
        // A stored page must not run as this origin, where the console
        // keeps the signed-in user's credentials.
        crate::console::isolate_object(response.headers_mut());
    }
    match result {
        Err(e) if e.code == S3ErrorCode::NoSuchKey => match caller {
            Some((caller, bucket)) => Err(gateway
                .access
                .missing_key_error(gateway.backend.as_ref(), &caller, &bucket, Some(peer.ip()))
                .await?),
            None => Err(e),
        },
        other => other,
    }
}

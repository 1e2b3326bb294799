//! Unauthenticated operator endpoints under `/-/`: liveness, readiness and
//! the Prometheus metrics. No bucket name starts with `-`, so these never
//! shadow a bucket.

use http::{Method, Response, StatusCode};

use crate::body::{self, ResponseBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::request::Gateway;

fn text(status: StatusCode, message: &str) -> Response<ResponseBody> {
    let mut response = Response::new(body::full(format!("{message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The name of `/-/{path}` in logs and metrics.
pub fn operation(path: &str) -> &'static str {
    match path {
        "health/live" | "health/ready" => "HealthCheck",
        "metrics" => "GetMetrics",
        _ => "Unknown",
    }
}

/// Serve `/-/{path}`.
pub async fn handle(
    gateway: &Gateway,
    method: &Method,
    path: &str,
) -> Result<Response<ResponseBody>, S3Error> {
    if method != Method::GET && method != Method::HEAD {
        return Err(S3Error::new(
            S3ErrorCode::MethodNotAllowed,
            "The specified method is not allowed against this resource.",
        ));
    }
    match path {
        "health/live" => Ok(text(StatusCode::OK, "live")),
        "health/ready" if gateway.is_draining() => {
            Ok(text(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))
        }
        "health/ready" => match gateway.backend.ready().await {
            Ok(()) => Ok(text(StatusCode::OK, "ready")),
            Err(e) => {
                tracing::warn!(error = %e, backend = gateway.backend.kind(), "not ready");
                Ok(text(StatusCode::SERVICE_UNAVAILABLE, "backend unreachable"))
            }
        },
        "metrics" => {
            let mut response = Response::new(body::full(gateway.metrics.render()));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            Ok(response)
        }
        _ => Ok(text(StatusCode::NOT_FOUND, "not found")),
    }
}

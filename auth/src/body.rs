//! The request-body checks: a stream wrapper that decodes aws-chunked bodies
//! and verifies chunk and trailer signatures, x-amz-content-sha256,
//! Content-MD5, `x-amz-checksum-*` (header or trailer) and the declared length,
//! failing before end-of-stream if anything is wrong.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use futures_core::Stream;
use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::checksum::{ChecksumAlgorithm, Checksummer};
use crate::chunked::ChunkedDecoder;
use crate::error::AuthError;
use crate::sigv4::{PayloadMode, Verified};

/// What a cleanly completed body turned out to be.
#[derive(Debug, Clone)]
struct Outcome {
    checksum: Option<(ChecksumAlgorithm, String)>,
    decoded_len: u64,
}

/// Cheap clonable handle, filled in when the body completed cleanly.
#[derive(Clone, Default)]
pub struct BodyOutcome {
    inner: Arc<OnceLock<Outcome>>,
}

impl BodyOutcome {
    /// The verified client checksum (algorithm, base64 value) from header or
    /// trailer, if the client sent one.
    pub fn checksum(&self) -> Option<(ChecksumAlgorithm, String)> {
        self.inner.get().and_then(|o| o.checksum.clone())
    }

    /// Decoded payload length once complete.
    pub fn decoded_len(&self) -> Option<u64> {
        self.inner.get().map(|o| o.decoded_len)
    }

    /// True once the body has been read to a clean end.
    pub fn is_complete(&self) -> bool {
        self.inner.get().is_some()
    }

    /// Record the outcome of a body the server itself checksummed as it
    /// streamed (a copied part), once it ended cleanly. A second call
    /// changes nothing.
    pub fn complete_with(&self, checksum: (ChecksumAlgorithm, String), decoded_len: u64) {
        let _ = self.inner.set(Outcome {
            checksum: Some(checksum),
            decoded_len,
        });
    }
}

impl fmt::Debug for BodyOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyOutcome")
            .field("checksum", &self.checksum())
            .field("decoded_len", &self.decoded_len())
            .finish()
    }
}

/// The checks applied to the decoded payload bytes.
struct Checks {
    streaming: bool,
    len: u64,
    expected_len: Option<u64>,
    sha256: Option<(Sha256, [u8; 32])>,
    md5: Option<(Md5, [u8; 16])>,
    header_checksum: Option<(Checksummer, Vec<u8>)>,
    trailer_checksum: Option<Checksummer>,
}

impl Checks {
    fn update(&mut self, data: &[u8]) -> Result<(), AuthError> {
        self.len += data.len() as u64;
        if self.expected_len.is_some_and(|max| self.len > max) {
            return Err(AuthError::InvalidRequest(if self.streaming {
                "The decoded body is longer than x-amz-decoded-content-length.".to_owned()
            } else {
                "The request body is longer than Content-Length.".to_owned()
            }));
        }
        if let Some((h, _)) = &mut self.sha256 {
            h.update(data);
        }
        if let Some((h, _)) = &mut self.md5 {
            h.update(data);
        }
        if let Some((c, _)) = &mut self.header_checksum {
            c.update(data);
        }
        if let Some(c) = &mut self.trailer_checksum {
            c.update(data);
        }
        Ok(())
    }

    fn finish(&mut self, trailers: &[(String, String)]) -> Result<Outcome, AuthError> {
        if self.expected_len.is_some_and(|len| self.len < len) {
            return Err(AuthError::IncompleteBody);
        }
        if let Some((h, expected)) = self.sha256.take() {
            if h.finalize().as_slice() != expected {
                return Err(AuthError::XAmzContentSHA256Mismatch);
            }
        }
        if let Some((h, expected)) = self.md5.take() {
            if h.finalize().as_slice() != expected {
                return Err(AuthError::BadDigest(
                    "The Content-MD5 you specified did not match what we received.".to_owned(),
                ));
            }
        }
        let mut checksum = None;
        if let Some((c, expected)) = self.header_checksum.take() {
            checksum = Some(finish_checksum(c, &expected)?);
        }
        if let Some(c) = self.trailer_checksum.take() {
            let alg = c.algorithm();
            let value = trailers
                .iter()
                .find(|(name, _)| name == alg.header_name())
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    AuthError::InvalidRequest(format!(
                        "The trailing header {} declared in x-amz-trailer was not sent.",
                        alg.header_name()
                    ))
                })?;
            let expected = alg.decode_value(value)?;
            let verified = finish_checksum(c, &expected)?;
            checksum = checksum.or(Some(verified));
        }
        Ok(Outcome {
            checksum,
            decoded_len: self.len,
        })
    }
}

fn finish_checksum(
    c: Checksummer,
    expected: &[u8],
) -> Result<(ChecksumAlgorithm, String), AuthError> {
    let alg = c.algorithm();
    let computed = c.finish_bytes();
    if computed != expected {
        return Err(AuthError::BadDigest(format!(
            "The {} you specified did not match the calculated checksum.",
            alg.name()
        )));
    }
    Ok((
        alg,
        base64::engine::general_purpose::STANDARD.encode(computed),
    ))
}

enum BodyState {
    Running,
    Finished,
    Failed(AuthError),
}

/// `Stream<Item = Result<Bytes, AuthError>>` of the decoded payload.
///
/// Every check completes before end-of-stream: when one fails the stream
/// yields `Err` (and keeps yielding that error if polled again), never a clean
/// end. Errors of the underlying stream become [`AuthError::BodyRead`].
pub struct VerifyingBody<S> {
    inner: S,
    decoder: Option<ChunkedDecoder>,
    pending: Bytes,
    checks: Checks,
    outcome: BodyOutcome,
    state: BodyState,
}

impl<S> fmt::Debug for VerifyingBody<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingBody")
            .field("chunked", &self.decoder.is_some())
            .field("len", &self.checks.len)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

/// Build the content checks for a request body from the verified request
/// and its headers (see [`VerifyingBody`]).
///
/// Fails at once on an invalid Content-MD5 (InvalidDigest), an invalid or
/// repeated `x-amz-checksum-*` header (InvalidArgument / InvalidRequest) or
/// an unknown checksum in `x-amz-trailer`.
pub fn verify_body<S, E>(
    verified: &Verified,
    headers: &http::HeaderMap,
    body: S,
) -> Result<(VerifyingBody<S>, BodyOutcome), AuthError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: fmt::Display,
{
    let streaming = verified.payload.is_streaming();
    let decoder = match verified.payload {
        PayloadMode::StreamingSigned { trailer } => Some(ChunkedDecoder::signed(
            verified.signing().clone(),
            verified.seed_signature().to_owned(),
            trailer,
        )),
        PayloadMode::StreamingUnsignedTrailer => Some(ChunkedDecoder::unsigned()),
        PayloadMode::Unsigned | PayloadMode::Sha256(_) => None,
    };
    let has_trailer = matches!(
        verified.payload,
        PayloadMode::StreamingSigned { trailer: true } | PayloadMode::StreamingUnsignedTrailer
    );
    let length_header = if streaming {
        "x-amz-decoded-content-length"
    } else {
        "content-length"
    };
    let expected_len = match headers.get(length_header) {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    AuthError::InvalidArgument(format!("Invalid {length_header} header."))
                })?,
        ),
        None => None,
    };
    let checks = Checks {
        streaming,
        len: 0,
        expected_len,
        sha256: match verified.payload {
            PayloadMode::Sha256(expected) => Some((Sha256::new(), expected)),
            _ => None,
        },
        md5: content_md5(headers)?.map(|expected| (Md5::new(), expected)),
        header_checksum: header_checksum(headers)?
            .map(|(alg, expected)| (Checksummer::new(alg), expected)),
        trailer_checksum: if has_trailer {
            trailer_checksum(headers)?.map(Checksummer::new)
        } else {
            None
        },
    };
    let outcome = BodyOutcome::default();
    let body = VerifyingBody {
        inner: body,
        decoder,
        pending: Bytes::new(),
        checks,
        outcome: outcome.clone(),
        state: BodyState::Running,
    };
    Ok((body, outcome))
}

/// The Content-MD5 header: base64 of 16 bytes.
fn content_md5(headers: &http::HeaderMap) -> Result<Option<[u8; 16]>, AuthError> {
    let Some(value) = headers.get("content-md5") else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|_| AuthError::InvalidDigest)?;
    <[u8; 16]>::try_from(raw.as_slice())
        .map(Some)
        .map_err(|_| AuthError::InvalidDigest)
}

/// The single `x-amz-checksum-<alg>` header, decoded.
fn header_checksum(
    headers: &http::HeaderMap,
) -> Result<Option<(ChecksumAlgorithm, Vec<u8>)>, AuthError> {
    let mut found = None;
    for alg in ChecksumAlgorithm::ALL {
        let Some(value) = headers.get(alg.header_name()) else {
            continue;
        };
        if found.is_some() {
            return Err(AuthError::InvalidRequest(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                    .to_owned(),
            ));
        }
        let value = value.to_str().map_err(|_| {
            AuthError::InvalidRequest(format!(
                "Value for {} header is invalid.",
                alg.header_name()
            ))
        })?;
        found = Some((alg, alg.decode_value(value)?));
    }
    Ok(found)
}

/// The checksum named by `x-amz-trailer`, if any.
fn trailer_checksum(headers: &http::HeaderMap) -> Result<Option<ChecksumAlgorithm>, AuthError> {
    let mut found = None;
    for value in headers.get_all("x-amz-trailer") {
        let value = value
            .to_str()
            .map_err(|_| AuthError::InvalidArgument("Invalid x-amz-trailer header.".to_owned()))?;
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !name.to_ascii_lowercase().starts_with("x-amz-checksum-") {
                continue;
            }
            let alg = ChecksumAlgorithm::from_header_name(name).ok_or_else(|| {
                AuthError::InvalidArgument(format!("Unsupported trailing checksum {name}."))
            })?;
            if found.replace(alg).is_some_and(|prev| prev != alg) {
                return Err(AuthError::InvalidRequest(
                    "Expecting a single x-amz-checksum- trailer. Multiple checksum Types are not allowed."
                        .to_owned(),
                ));
            }
        }
    }
    Ok(found)
}

/// The Content-Encoding to store for an object: the request's, without
/// `aws-chunked` (which only describes the transfer); None if nothing is left.
pub fn stored_content_encoding(headers: &http::HeaderMap) -> Option<String> {
    let kept: Vec<&str> = headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

impl<S> VerifyingBody<S> {
    fn fail(&mut self, err: AuthError) -> Poll<Option<Result<Bytes, AuthError>>> {
        self.state = BodyState::Failed(err.clone());
        Poll::Ready(Some(Err(err)))
    }

    fn complete(&mut self) -> Result<(), AuthError> {
        let trailers = match &mut self.decoder {
            Some(decoder) => {
                decoder.finish()?;
                decoder.trailers()
            }
            None => &[],
        };
        let outcome = self.checks.finish(trailers)?;
        // Only this stream sets the outcome, once.
        let _ = self.outcome.inner.set(outcome);
        Ok(())
    }
}

impl<S, E> Stream for VerifyingBody<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: fmt::Display,
{
    type Item = Result<Bytes, AuthError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &this.state {
                BodyState::Running => {}
                BodyState::Finished => return Poll::Ready(None),
                BodyState::Failed(err) => return Poll::Ready(Some(Err(err.clone()))),
            }
            if let Some(decoder) = &mut this.decoder {
                match decoder.decode(&mut this.pending) {
                    Ok(Some(data)) => {
                        if let Err(e) = this.checks.update(&data) {
                            return this.fail(e);
                        }
                        return Poll::Ready(Some(Ok(data)));
                    }
                    Ok(None) => {}
                    Err(e) => return this.fail(e),
                }
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    if this.decoder.is_some() {
                        this.pending = frame;
                    } else if !frame.is_empty() {
                        if let Err(e) = this.checks.update(&frame) {
                            return this.fail(e);
                        }
                        return Poll::Ready(Some(Ok(frame)));
                    }
                }
                Poll::Ready(Some(Err(e))) => return this.fail(AuthError::BodyRead(e.to_string())),
                Poll::Ready(None) => {
                    if let Err(e) = this.complete() {
                        return this.fail(e);
                    }
                    this.state = BodyState::Finished;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

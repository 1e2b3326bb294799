//! A sans-IO decoder for the `aws-chunked` content encoding, signed
//! (a signature per chunk, chained from the request signature) or unsigned,
//! with or without trailing headers.
//!
//! Wire format (<https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html>):
//!
//! ```text
//! hex-size[;chunk-signature=SIG]\r\n DATA \r\n   (repeated)
//! 0[;chunk-signature=SIG]\r\n
//! [name:value\r\n ...] [x-amz-trailer-signature:SIG\r\n]
//! \r\n
//! ```
//!
//! Chunk data is handed out as slices of the input frames (no copy); only
//! header and trailer lines, bounded by [`MAX_LINE`], are buffered.

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use crate::canonical::sha256_hex;
use crate::error::AuthError;
use crate::sigv4::{signatures_match, SigningContext};

/// Longest accepted chunk header or trailer line.
pub(crate) const MAX_LINE: usize = 4096;
/// Most trailing headers accepted.
const MAX_TRAILERS: usize = 16;
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

/// Chains and checks chunk signatures (signed modes only).
struct ChunkSigner {
    ctx: SigningContext,
    previous: String,
    hasher: Sha256,
    /// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the trailer must be signed.
    signed_trailer: bool,
}

#[derive(Debug)]
enum State {
    /// Reading a `hex-size;ext` line.
    Header,
    /// Inside chunk data.
    Data {
        remaining: u64,
        signature: Option<String>,
    },
    /// After chunk data, expecting CRLF.
    DataEnd { seen_cr: bool },
    /// After the final chunk: trailer lines until an empty line.
    Trailer,
    /// Complete; only stray CR/LF may follow.
    Done,
}

/// Incremental aws-chunked decoder.
pub(crate) struct ChunkedDecoder {
    signer: Option<ChunkSigner>,
    state: State,
    line: Vec<u8>,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
}

fn malformed(msg: &str) -> AuthError {
    AuthError::MalformedChunk(msg.to_owned())
}

impl ChunkedDecoder {
    /// A decoder for unsigned chunks (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
    pub fn unsigned() -> Self {
        Self {
            signer: None,
            state: State::Header,
            line: Vec::new(),
            trailers: Vec::new(),
            trailer_signature: None,
        }
    }

    /// A decoder checking chunk signatures chained from `seed_signature`.
    pub fn signed(ctx: SigningContext, seed_signature: String, signed_trailer: bool) -> Self {
        Self {
            signer: Some(ChunkSigner {
                ctx,
                previous: seed_signature,
                hasher: Sha256::new(),
                signed_trailer,
            }),
            ..Self::unsigned()
        }
    }

    /// The trailing headers received (lower-case names), signature excluded.
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// Consume bytes from `input` until a slice of chunk data is ready (returned)
    /// or `input` is exhausted (`Ok(None)`).
    pub fn decode(&mut self, input: &mut Bytes) -> Result<Option<Bytes>, AuthError> {
        while !input.is_empty() {
            match &mut self.state {
                State::Header => {
                    if let Some(line) = take_line(&mut self.line, input)? {
                        self.on_chunk_header(&line)?;
                    }
                }
                State::Data {
                    remaining,
                    signature,
                } => {
                    let n = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                    let data = input.split_to(n);
                    *remaining -= n as u64;
                    if let Some(signer) = &mut self.signer {
                        signer.hasher.update(&data);
                    }
                    if *remaining == 0 {
                        let signature = signature.take();
                        self.state = State::DataEnd { seen_cr: false };
                        check_chunk(&mut self.signer, signature.as_deref())?;
                    }
                    return Ok(Some(data));
                }
                State::DataEnd { seen_cr } => {
                    let byte = input.split_to(1);
                    match (byte.first(), *seen_cr) {
                        (Some(b'\r'), false) => *seen_cr = true,
                        (Some(b'\n'), _) => self.state = State::Header,
                        _ => return Err(malformed("expected CRLF after chunk data")),
                    }
                }
                State::Trailer => {
                    if let Some(line) = take_line(&mut self.line, input)? {
                        self.on_trailer_line(&line)?;
                    }
                }
                State::Done => {
                    if input.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                        input.clear();
                    } else {
                        return Err(malformed("data after the final chunk"));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The input ended: succeed only if the final chunk (and any trailer) was
    /// read. A missing blank line after the final chunk or trailer is tolerated.
    pub fn finish(&mut self) -> Result<(), AuthError> {
        match self.state {
            State::Done => Ok(()),
            State::Trailer => {
                if !self.line.is_empty() {
                    let line = std::mem::take(&mut self.line);
                    self.on_trailer_line(strip_cr(&line))?;
                }
                if matches!(self.state, State::Trailer) {
                    self.finish_trailers()?;
                    self.state = State::Done;
                }
                Ok(())
            }
            _ => Err(AuthError::IncompleteBody),
        }
    }

    fn on_chunk_header(&mut self, line: &[u8]) -> Result<(), AuthError> {
        let line = std::str::from_utf8(line).map_err(|_| malformed("chunk header is not UTF-8"))?;
        let (size, extensions) = line.split_once(';').unwrap_or((line, ""));
        let size = size.trim();
        if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed("invalid chunk size"));
        }
        let size = u64::from_str_radix(size, 16).map_err(|_| malformed("invalid chunk size"))?;
        let signature = extensions
            .split(';')
            .find_map(|ext| ext.trim().strip_prefix("chunk-signature="))
            .map(str::to_owned);
        if self.signer.is_some() && signature.is_none() {
            return Err(malformed("missing chunk-signature"));
        }
        if size == 0 {
            self.state = State::Trailer;
            check_chunk(&mut self.signer, signature.as_deref())
        } else {
            self.state = State::Data {
                remaining: size,
                signature,
            };
            Ok(())
        }
    }

    fn on_trailer_line(&mut self, line: &[u8]) -> Result<(), AuthError> {
        if line.is_empty() {
            self.finish_trailers()?;
            self.state = State::Done;
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| malformed("trailer is not UTF-8"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("trailer line without ':'"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_owned();
        if name == TRAILER_SIGNATURE {
            if self.trailer_signature.replace(value).is_some() {
                return Err(malformed("repeated x-amz-trailer-signature"));
            }
        } else if self.trailers.len() >= MAX_TRAILERS {
            return Err(malformed("too many trailing headers"));
        } else {
            self.trailers.push((name, value));
        }
        Ok(())
    }

    fn finish_trailers(&mut self) -> Result<(), AuthError> {
        let Some(signer) = &self.signer else {
            return Ok(());
        };
        if !signer.signed_trailer {
            if self.trailers.is_empty() {
                return Ok(());
            }
            return Err(malformed("trailing headers sent without a signed trailer"));
        }
        let provided = self
            .trailer_signature
            .as_deref()
            .ok_or_else(|| malformed("missing x-amz-trailer-signature"))?;
        let mut sorted: Vec<&(String, String)> = self.trailers.iter().collect();
        sorted.sort();
        let mut canonical = String::new();
        for (name, value) in sorted {
            canonical.push_str(name);
            canonical.push(':');
            canonical.push_str(value);
            canonical.push('\n');
        }
        let expected = signer
            .ctx
            .trailer_signature(&signer.previous, &sha256_hex(canonical.as_bytes()));
        if signatures_match(&expected, provided) {
            Ok(())
        } else {
            Err(AuthError::SignatureDoesNotMatch)
        }
    }
}

/// Check the signature of the chunk whose data went through the signer's hasher.
fn check_chunk(signer: &mut Option<ChunkSigner>, provided: Option<&str>) -> Result<(), AuthError> {
    let Some(signer) = signer else {
        return Ok(());
    };
    let hash = hex::encode(signer.hasher.finalize_reset());
    let expected = signer.ctx.chunk_signature(&signer.previous, &hash);
    match provided {
        Some(provided) if signatures_match(&expected, provided) => {
            signer.previous = expected;
            Ok(())
        }
        _ => Err(AuthError::SignatureDoesNotMatch),
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Move bytes from `input` into `line` up to a LF; return the completed line
/// (without CR LF) once the LF is seen.
fn take_line(line: &mut Vec<u8>, input: &mut Bytes) -> Result<Option<Vec<u8>>, AuthError> {
    let newline = input.iter().position(|&b| b == b'\n');
    let take = newline.unwrap_or(input.len());
    if line.len() + take > MAX_LINE {
        return Err(malformed("chunk header or trailer line too long"));
    }
    line.extend_from_slice(&input.split_to(take));
    if newline.is_none() {
        return Ok(None);
    }
    drop(input.split_to(1));
    let mut done = std::mem::take(line);
    if done.last() == Some(&b'\r') {
        done.pop();
    }
    Ok(Some(done))
}

#[cfg(test)]
mod tests;

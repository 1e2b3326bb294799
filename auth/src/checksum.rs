//! The S3 additional checksums (CRC32, CRC32C, SHA1, SHA256, CRC64NVME):
//! algorithm names and an incremental [`Checksummer`].
//!
//! Values are base64 of the big-endian checksum bytes, as in the
//! `x-amz-checksum-*` headers and trailers
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>).

use base64::Engine as _;
use sha1::Digest as _;

use crate::error::AuthError;

mod combine;

pub use combine::{composite_of, CrcCombiner};

/// A checksum algorithm S3 supports for `x-amz-checksum-*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC, as zlib).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// CRC-64/NVME.
    Crc64Nvme,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in a fixed order.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        Self::Crc32,
        Self::Crc32c,
        Self::Sha1,
        Self::Sha256,
        Self::Crc64Nvme,
    ];

    /// The header carrying this checksum, e.g. `x-amz-checksum-crc32`.
    pub fn header_name(&self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
        }
    }

    /// The AWS name, e.g. `CRC32`, as in `x-amz-checksum-algorithm`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Crc64Nvme => "CRC64NVME",
        }
    }

    /// Parse an AWS name, case-insensitively.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(s))
    }

    /// The algorithm whose header is `name` (case-insensitive), if any.
    pub fn from_header_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.header_name().eq_ignore_ascii_case(name))
    }

    /// Length of the raw (not base64) checksum in bytes.
    pub fn digest_len(&self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Crc64Nvme => 8,
        }
    }

    /// Decode a base64 checksum value, checking its length for this algorithm.
    pub fn decode_value(&self, value: &str) -> Result<Vec<u8>, AuthError> {
        let invalid = || {
            AuthError::InvalidRequest(format!(
                "Value for {} header is invalid.",
                self.header_name()
            ))
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| invalid())?;
        if raw.len() == self.digest_len() {
            Ok(raw)
        } else {
            Err(invalid())
        }
    }
}

/// Computes a checksum incrementally.
#[derive(Clone)]
pub struct Checksummer {
    state: State,
}

#[derive(Clone)]
enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Crc64Nvme(crc64fast_nvme::Digest),
}

impl Checksummer {
    /// A checksummer for `alg` over no data yet.
    pub fn new(alg: ChecksumAlgorithm) -> Self {
        let state = match alg {
            ChecksumAlgorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => State::Crc32c(0),
            ChecksumAlgorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            ChecksumAlgorithm::Crc64Nvme => State::Crc64Nvme(crc64fast_nvme::Digest::new()),
        };
        Self { state }
    }

    /// The algorithm this checksummer computes.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self.state {
            State::Crc32(_) => ChecksumAlgorithm::Crc32,
            State::Crc32c(_) => ChecksumAlgorithm::Crc32c,
            State::Sha1(_) => ChecksumAlgorithm::Sha1,
            State::Sha256(_) => ChecksumAlgorithm::Sha256,
            State::Crc64Nvme(_) => ChecksumAlgorithm::Crc64Nvme,
        }
    }

    /// Feed more data.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(data),
            State::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
            State::Crc64Nvme(h) => h.write(data),
        }
    }

    /// The raw checksum bytes (big-endian for the CRCs).
    pub fn finish_bytes(self) -> Vec<u8> {
        match self.state {
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
            State::Crc64Nvme(h) => h.sum64().to_be_bytes().to_vec(),
        }
    }

    /// The checksum as base64, the form S3 headers carry.
    pub fn finish_base64(self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.finish_bytes())
    }
}

impl std::fmt::Debug for Checksummer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checksummer")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_of(alg: ChecksumAlgorithm, chunks: &[&[u8]]) -> String {
        let mut c = Checksummer::new(alg);
        for chunk in chunks {
            c.update(chunk);
        }
        hex::encode(c.finish_bytes())
    }

    #[test]
    fn check_values_of_123456789() {
        // The standard "check" values of each CRC catalogue entry and the
        // well-known digests of "123456789".
        let expected = [
            (ChecksumAlgorithm::Crc32, "cbf43926"),
            (ChecksumAlgorithm::Crc32c, "e3069283"),
            (ChecksumAlgorithm::Crc64Nvme, "ae8b14860a799888"),
            (
                ChecksumAlgorithm::Sha1,
                "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
            ),
            (
                ChecksumAlgorithm::Sha256,
                "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
            ),
        ];
        for (alg, hex) in expected {
            assert_eq!(hex_of(alg, &[b"123456789"]), hex, "{alg:?}");
            // Incremental updates give the same answer.
            assert_eq!(hex_of(alg, &[b"1", b"2345", b"", b"6789"]), hex, "{alg:?}");
        }
    }

    #[test]
    fn base64_values_of_empty_input() {
        let mut got = Vec::new();
        for alg in ChecksumAlgorithm::ALL {
            got.push(Checksummer::new(alg).finish_base64());
        }
        assert_eq!(
            got,
            [
                "AAAAAA==",
                "AAAAAA==",
                "2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
                "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
                "AAAAAAAAAAA=",
            ]
        );
    }

    #[test]
    fn names_round_trip() {
        for alg in ChecksumAlgorithm::ALL {
            assert_eq!(ChecksumAlgorithm::from_name(alg.name()), Some(alg));
            assert_eq!(
                ChecksumAlgorithm::from_name(&alg.name().to_lowercase()),
                Some(alg)
            );
            assert_eq!(
                ChecksumAlgorithm::from_header_name(&alg.header_name().to_uppercase()),
                Some(alg)
            );
            assert!(alg.header_name().ends_with(&alg.name().to_lowercase()));
        }
        assert_eq!(ChecksumAlgorithm::from_name("MD5"), None);
        assert_eq!(
            ChecksumAlgorithm::from_header_name("x-amz-checksum-type"),
            None
        );
    }

    #[test]
    fn decode_value_checks_length() {
        let alg = ChecksumAlgorithm::Crc32;
        assert_eq!(alg.decode_value("yZRlqg==").unwrap().len(), 4);
        assert!(matches!(
            alg.decode_value("AAAAAAAAAAA="),
            Err(AuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            alg.decode_value("not base64!"),
            Err(AuthError::InvalidRequest(_))
        ));
    }
}

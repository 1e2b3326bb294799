//! Multipart checksums from part checksums, without reading the data again:
//! the CRC of a concatenation from the parts' CRCs and lengths (full-object
//! checksums), and the checksum of the concatenated part checksums
//! (composite checksums, `VALUE-N`).
//!
//! The CRC combination is the one zlib's `crc32_combine` computes: all
//! three S3 CRCs (CRC-32, CRC-32C, CRC-64/NVME) are reflected, with an
//! all-ones initial value and final XOR, so
//! `crc(A || B) = crc(A) * x^(8 * len(B)) mod P  xor  crc(B)`, multiplying
//! in GF(2) modulo the CRC's polynomial. Rules for the multipart forms:
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>.

use super::{ChecksumAlgorithm, Checksummer};

/// A reflected CRC: its width in bits and its reflected polynomial.
#[derive(Clone, Copy)]
struct Crc {
    width: u32,
    poly: u64,
}

impl Crc {
    fn of(alg: ChecksumAlgorithm) -> Option<Crc> {
        match alg {
            ChecksumAlgorithm::Crc32 => Some(Crc {
                width: 32,
                poly: 0xEDB8_8320,
            }),
            ChecksumAlgorithm::Crc32c => Some(Crc {
                width: 32,
                poly: 0x82F6_3B78,
            }),
            ChecksumAlgorithm::Crc64Nvme => Some(Crc {
                width: 64,
                poly: 0x9A6C_9329_AC4B_C9B5,
            }),
            ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
        }
    }

    /// The polynomial 1 (x^0): the top bit in the reflected form.
    fn one(self) -> u64 {
        1 << (self.width - 1)
    }

    /// a * b mod P, both reflected.
    fn multiply(self, mut a: u64, mut b: u64) -> u64 {
        let top = self.one();
        let mut product = 0;
        while a != 0 {
            if a & top != 0 {
                product ^= b;
            }
            a = (a << 1) & self.mask();
            b = if b & 1 != 0 {
                (b >> 1) ^ self.poly
            } else {
                b >> 1
            };
        }
        product
    }

    fn mask(self) -> u64 {
        if self.width == 64 {
            u64::MAX
        } else {
            (1 << self.width) - 1
        }
    }

    /// x^(8 * bytes) mod P, by squaring.
    fn shift_of(self, mut bytes: u64) -> u64 {
        let mut result = self.one();
        let mut square = self.one() >> 8; // x^8
        while bytes != 0 {
            if bytes & 1 != 0 {
                result = self.multiply(result, square);
            }
            square = self.multiply(square, square);
            bytes >>= 1;
        }
        result
    }
}

fn to_u64(raw: &[u8]) -> Option<u64> {
    if raw.len() > 8 {
        return None;
    }
    Some(raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

/// Combines the CRCs of consecutive pieces of data into the CRC of their
/// concatenation.
#[derive(Clone)]
pub struct CrcCombiner {
    crc: Crc,
    value: u64,
}

impl CrcCombiner {
    /// A combiner for `alg` over no data yet; `None` for the SHAs, which
    /// cannot be combined.
    pub fn new(alg: ChecksumAlgorithm) -> Option<Self> {
        let crc = Crc::of(alg)?;
        Some(Self { crc, value: 0 })
    }

    /// Append a piece of `len` bytes whose CRC is `raw` (big-endian bytes,
    /// as the headers carry it). False when `raw` has the wrong length.
    pub fn push(&mut self, raw: &[u8], len: u64) -> bool {
        if raw.len() as u32 * 8 != self.crc.width {
            return false;
        }
        let Some(next) = to_u64(raw) else {
            return false;
        };
        self.value = self.crc.multiply(self.crc.shift_of(len), self.value) ^ next;
        true
    }

    /// The CRC of everything pushed, big-endian.
    pub fn finish_bytes(&self) -> Vec<u8> {
        let bytes = self.value.to_be_bytes();
        bytes[(8 - self.crc.width as usize / 8)..].to_vec()
    }
}

/// The composite checksum of parts: the checksum of their raw checksums
/// concatenated (without the `-N` suffix S3 appends).
pub fn composite_of<'a>(
    alg: ChecksumAlgorithm,
    parts: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let mut c = Checksummer::new(alg);
    for raw in parts {
        c.update(raw);
    }
    c.finish_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(alg: ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
        let mut c = Checksummer::new(alg);
        c.update(data);
        c.finish_bytes()
    }

    #[test]
    fn combined_crcs_equal_the_crc_of_the_whole() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let cuts: &[&[usize]] = &[
            &[],
            &[0],
            &[1],
            &[5, 5, 5],
            &[100, 8191, 8192, 40_000],
            &[69_999],
            &[70_000],
        ];
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            for points in cuts {
                let mut combiner = CrcCombiner::new(alg).unwrap();
                let mut start = 0;
                for &end in points.iter().chain(std::iter::once(&data.len())) {
                    let piece = &data[start..end];
                    assert!(combiner.push(&direct(alg, piece), piece.len() as u64));
                    start = end;
                }
                assert_eq!(
                    combiner.finish_bytes(),
                    direct(alg, &data),
                    "{alg:?} cut at {points:?}"
                );
            }
        }
    }

    #[test]
    fn agrees_with_crc32fast_combine() {
        let (a, b) = (b"hello, ".as_slice(), b"world".as_slice());
        let mut h = crc32fast::Hasher::new();
        h.update(a);
        let mut other = crc32fast::Hasher::new();
        other.update(b);
        h.combine(&other);
        let mut c = CrcCombiner::new(ChecksumAlgorithm::Crc32).unwrap();
        c.push(&direct(ChecksumAlgorithm::Crc32, a), a.len() as u64);
        c.push(&direct(ChecksumAlgorithm::Crc32, b), b.len() as u64);
        assert_eq!(c.finish_bytes(), h.finalize().to_be_bytes());
    }

    #[test]
    fn shas_do_not_combine_and_lengths_are_checked() {
        assert!(CrcCombiner::new(ChecksumAlgorithm::Sha256).is_none());
        let mut c = CrcCombiner::new(ChecksumAlgorithm::Crc32).unwrap();
        assert!(!c.push(&[0; 8], 1));
        let mut c = CrcCombiner::new(ChecksumAlgorithm::Crc64Nvme).unwrap();
        assert!(!c.push(&[0; 4], 1));
    }

    #[test]
    fn composite_is_the_checksum_of_the_part_checksums() {
        let alg = ChecksumAlgorithm::Sha256;
        let (p1, p2) = (direct(alg, b"one"), direct(alg, b"two"));
        let mut cat = p1.clone();
        cat.extend_from_slice(&p2);
        assert_eq!(composite_of(alg, [&p1[..], &p2[..]]), direct(alg, &cat));
    }
}

//! What a multipart object keeps of its parts, and the checksum rules of
//! multipart uploads that both backends share.
//!
//! A completed object keeps its part sizes (so GET and HEAD with
//! `partNumber=N` can serve one part, and GetObjectAttributes list them)
//! and, when the upload declared a checksum, the parts' checksums. Sizes
//! are run-length encoded (`SIZE` or `SIZExCOUNT`, comma separated): SDKs
//! cut objects into equal parts, so 10,000 parts usually take a few bytes,
//! which matters on Azure, where all of a blob's metadata must fit in 8 KiB.
//! Part N is the N-th part of the completed object, in completion order:
//! transfer managers read parts 1..=`x-amz-mp-parts-count`, and with
//! checksums S3 requires parts numbered 1..=N anyway; parts completed
//! with gaps in their numbers (allowed without checksums) are counted
//! without the gaps.
//!
//! Checksum rules (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>):
//! an upload that declared an algorithm takes only parts that carry a
//! checksum of that algorithm; Complete checks the part checksums the
//! request gives against the stored ones and computes the object's: for
//! COMPOSITE, the checksum of the concatenated raw part checksums with
//! `-N` appended; for FULL_OBJECT, the CRC of the whole object, combined
//! from the part CRCs and sizes.

use base64::Engine as _;
use blobgate_auth::{composite_of, ChecksumAlgorithm, CrcCombiner};
use serde::{Deserialize, Serialize};

use super::multipart::{CompletedPart, PartInfo, UploadChecksum};
use super::StoredChecksum;
use crate::error::{S3Error, S3ErrorCode};

/// The parts of a completed multipart object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectParts {
    /// Part sizes in order, run-length encoded (see the module doc).
    pub sizes: String,
    /// Part checksums (base64) in order, when the upload declared an
    /// algorithm and they were kept; else empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<String>,
}

impl ObjectParts {
    /// The layout of the assembled parts, with their checksums when every
    /// part has one and `keep_checksums`.
    pub fn of(parts: &[PartInfo], keep_checksums: bool) -> Self {
        let checksums = parts
            .iter()
            .map(|p| p.checksum.as_ref().map(|c| c.value.clone()))
            .collect::<Option<Vec<_>>>()
            .filter(|_| keep_checksums)
            .unwrap_or_default();
        Self {
            sizes: encode_sizes(parts.iter().map(|p| p.size)),
            checksums,
        }
    }

    /// The sizes, in order; `None` when the encoding is damaged.
    pub fn sizes(&self) -> Option<Vec<u64>> {
        decode_sizes(&self.sizes)
    }

    /// How many parts.
    pub fn count(&self) -> Option<u32> {
        self.sizes().map(|s| s.len() as u32)
    }

    /// Offset and size of part `n` (1-based), if there is one.
    pub fn part(&self, n: u32) -> Option<(u64, u64)> {
        let sizes = self.sizes()?;
        let index = usize::try_from(n).ok()?.checked_sub(1)?;
        let size = *sizes.get(index)?;
        Some((sizes[..index].iter().sum(), size))
    }

    /// The checksum of part `n` (1-based), when kept.
    pub fn checksum(&self, n: u32) -> Option<&str> {
        let index = usize::try_from(n).ok()?.checked_sub(1)?;
        self.checksums.get(index).map(String::as_str)
    }
}

/// Run-length encode part sizes.
pub fn encode_sizes(sizes: impl IntoIterator<Item = u64>) -> String {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for size in sizes {
        match runs.last_mut() {
            Some((s, n)) if *s == size => *n += 1,
            _ => runs.push((size, 1)),
        }
    }
    runs.iter()
        .map(|(s, n)| {
            if *n == 1 {
                s.to_string()
            } else {
                format!("{s}x{n}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Decode [`encode_sizes`]; at most 10,000 parts.
pub fn decode_sizes(enc: &str) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    if enc.is_empty() {
        return None;
    }
    for run in enc.split(',') {
        let (size, count) = match run.split_once('x') {
            Some((s, n)) => (s.parse::<u64>().ok()?, n.parse::<usize>().ok()?),
            None => (run.parse::<u64>().ok()?, 1),
        };
        if count == 0 || out.len() + count > super::multipart::MAX_PART_NUMBER as usize {
            return None;
        }
        out.extend(std::iter::repeat_n(size, count));
    }
    Some(out)
}

/// The algorithm of an AWS name, or the InvalidRequest S3 answers.
pub fn algorithm_of(name: &str) -> Result<ChecksumAlgorithm, S3Error> {
    ChecksumAlgorithm::from_name(name).ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::InvalidRequest,
            "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
        )
    })
}

/// What CreateMultipartUpload's `x-amz-checksum-algorithm` and
/// `x-amz-checksum-type` declare, checked as S3 checks them: CRC64NVME is
/// FULL_OBJECT only, the SHAs COMPOSITE only, CRC32 and CRC32C either
/// (COMPOSITE unless asked). A type without an algorithm is refused.
pub fn declared_checksum(
    algorithm: Option<&str>,
    checksum_type: Option<&str>,
) -> Result<Option<UploadChecksum>, S3Error> {
    let invalid = |m: String| S3Error::new(S3ErrorCode::InvalidRequest, m);
    let Some(name) = algorithm else {
        return match checksum_type {
            None => Ok(None),
            Some(_) => Err(invalid(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.".into(),
            )),
        };
    };
    let alg = algorithm_of(name.trim())?;
    let full_object = match checksum_type.map(str::trim) {
        None => alg == ChecksumAlgorithm::Crc64Nvme,
        Some(t) if t.eq_ignore_ascii_case("FULL_OBJECT") => true,
        Some(t) if t.eq_ignore_ascii_case("COMPOSITE") => false,
        Some(_) => {
            return Err(invalid(
                "Value for x-amz-checksum-type header is invalid.".into(),
            ))
        }
    };
    let combinable = CrcCombiner::new(alg).is_some();
    if full_object && !combinable {
        return Err(invalid(format!(
            "The FULL_OBJECT checksum type cannot be used with the {} checksum algorithm.",
            alg.name().to_ascii_lowercase()
        )));
    }
    if !full_object && alg == ChecksumAlgorithm::Crc64Nvme {
        return Err(invalid(
            "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."
                .into(),
        ));
    }
    Ok(Some(UploadChecksum {
        algorithm: alg.name().to_owned(),
        full_object,
    }))
}

/// An UploadPart's checksum against what its upload declared: a part of an
/// upload with an algorithm must carry a checksum of that algorithm.
pub fn check_part_checksum(
    upload: Option<&UploadChecksum>,
    part: Option<&StoredChecksum>,
) -> Result<(), S3Error> {
    let Some(want) = upload else {
        return Ok(());
    };
    match part {
        Some(c) if c.algorithm.eq_ignore_ascii_case(&want.algorithm) => Ok(()),
        other => Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            format!(
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                want.algorithm.to_ascii_lowercase(),
                other.map_or("null".to_owned(), |c| c.algorithm.to_ascii_lowercase())
            ),
        )),
    }
}

fn invalid_part_checksum(number: u32) -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidPart,
        format!(
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified checksum may not match the part's checksum (part {number})."
        ),
    )
}

/// Check the part checksums a Complete request gives against the stored
/// parts (`assembled`, in the request's order) and compute the object's
/// checksum under the upload's declaration.
pub fn completed_checksum(
    upload: Option<&UploadChecksum>,
    requested: &[CompletedPart],
    assembled: &[PartInfo],
) -> Result<Option<StoredChecksum>, S3Error> {
    for (want, part) in requested.iter().zip(assembled) {
        let Some(given) = &want.checksum else {
            if let Some(u) = upload.filter(|u| !u.full_object) {
                return Err(S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    format!(
                        "The upload was created using a {} checksum. The complete request must include the checksum for each part. It was missing for part {} in the request.",
                        u.algorithm.to_ascii_lowercase(),
                        want.part_number
                    ),
                ));
            }
            continue;
        };
        let matches = part.checksum.as_ref().is_some_and(|stored| {
            stored.algorithm.eq_ignore_ascii_case(&given.algorithm)
                && stored.value.trim() == given.value.trim()
        });
        // Parts of an upload without an algorithm may have none stored;
        // S3 then has nothing to compare with.
        if !matches && (upload.is_some() || part.checksum.is_some()) {
            return Err(invalid_part_checksum(want.part_number));
        }
    }
    let Some(u) = upload else {
        return Ok(None);
    };
    // With part checksums the parts must be numbered 1, 2, 3...
    if requested
        .iter()
        .zip(1u32..)
        .any(|(p, want)| p.part_number != want)
    {
        return Err(S3Error::new(
            S3ErrorCode::InvalidPartOrder,
            "The list of parts was not in ascending order. With checksums, part numbers must start at 1 and be consecutive.",
        ));
    }
    let alg = algorithm_of(&u.algorithm)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raws = Vec::with_capacity(assembled.len());
    for part in assembled {
        let raw = part
            .checksum
            .as_ref()
            .filter(|c| c.algorithm.eq_ignore_ascii_case(alg.name()))
            .and_then(|c| alg.decode_value(&c.value).ok())
            .ok_or_else(|| invalid_part_checksum(part.part_number))?;
        raws.push((raw, part.size));
    }
    let value = if u.full_object {
        let mut combiner = CrcCombiner::new(alg)
            .ok_or_else(|| S3Error::internal("a FULL_OBJECT upload with a SHA algorithm"))?;
        for (raw, size) in &raws {
            if !combiner.push(raw, *size) {
                return Err(S3Error::internal("a stored part CRC has the wrong length"));
            }
        }
        b64.encode(combiner.finish_bytes())
    } else {
        let composite = composite_of(alg, raws.iter().map(|(r, _)| r.as_slice()));
        format!("{}-{}", b64.encode(composite), raws.len())
    };
    Ok(Some(StoredChecksum {
        algorithm: alg.name().to_owned(),
        value,
    }))
}

/// COMPOSITE or FULL_OBJECT: a composite value ends with `-N`.
pub fn checksum_type(c: &StoredChecksum) -> &'static str {
    if c.value.contains('-') {
        "COMPOSITE"
    } else {
        "FULL_OBJECT"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blobgate_auth::Checksummer;

    fn sum(alg: ChecksumAlgorithm, data: &[u8]) -> StoredChecksum {
        let mut c = Checksummer::new(alg);
        c.update(data);
        StoredChecksum {
            algorithm: alg.name().to_owned(),
            value: c.finish_base64(),
        }
    }

    fn part(n: u32, data: &[u8], alg: Option<ChecksumAlgorithm>) -> PartInfo {
        PartInfo {
            part_number: n,
            etag: String::new(),
            size: data.len() as u64,
            last_modified_ms: 0,
            checksum: alg.map(|a| sum(a, data)),
        }
    }

    fn asked(p: &PartInfo, with_checksum: bool) -> CompletedPart {
        CompletedPart {
            part_number: p.part_number,
            etag: p.etag.clone(),
            checksum: p.checksum.clone().filter(|_| with_checksum),
        }
    }

    #[test]
    fn sizes_round_trip_compactly() {
        let sizes = [5u64, 5, 5, 7, 5, 1, 1];
        let enc = encode_sizes(sizes);
        assert_eq!(enc, "5x3,7,5,1x2");
        assert_eq!(decode_sizes(&enc).unwrap(), sizes);
        let many = encode_sizes(std::iter::repeat_n(8 << 20, 9999).chain([17]));
        assert_eq!(many, "8388608x9999,17");
        assert_eq!(decode_sizes(&many).unwrap().len(), 10_000);
        for bad in ["", "x", "5x0", "a", "5,", "1x10001"] {
            assert_eq!(decode_sizes(bad), None, "{bad}");
        }
        let layout = ObjectParts {
            sizes: enc,
            checksums: vec![],
        };
        assert_eq!(layout.count(), Some(7));
        assert_eq!(layout.part(1), Some((0, 5)));
        assert_eq!(layout.part(4), Some((15, 7)));
        assert_eq!(layout.part(7), Some((28, 1)));
        assert_eq!(layout.part(8), None);
        assert_eq!(layout.part(0), None);
    }

    #[test]
    fn declared_combinations_follow_s3() {
        let ok = |a, t| declared_checksum(Some(a), t).unwrap().unwrap();
        assert!(!ok("CRC32", None).full_object);
        assert!(ok("crc32c", Some("FULL_OBJECT")).full_object);
        assert!(ok("CRC64NVME", None).full_object);
        assert_eq!(ok("sha256", Some("COMPOSITE")).algorithm, "SHA256");
        let err = |a: Option<&str>, t| declared_checksum(a, t).unwrap_err().code;
        assert_eq!(
            err(Some("SHA1"), Some("FULL_OBJECT")),
            S3ErrorCode::InvalidRequest
        );
        assert_eq!(
            err(Some("CRC64NVME"), Some("COMPOSITE")),
            S3ErrorCode::InvalidRequest
        );
        assert_eq!(err(Some("MD5"), None), S3ErrorCode::InvalidRequest);
        assert_eq!(err(None, Some("COMPOSITE")), S3ErrorCode::InvalidRequest);
        assert_eq!(
            err(Some("CRC32"), Some("OTHER")),
            S3ErrorCode::InvalidRequest
        );
        assert_eq!(declared_checksum(None, None).unwrap(), None);
    }

    #[test]
    fn parts_must_carry_the_declared_algorithm() {
        let u = declared_checksum(Some("SHA256"), None).unwrap();
        let sha = sum(ChecksumAlgorithm::Sha256, b"x");
        let crc = sum(ChecksumAlgorithm::Crc32, b"x");
        assert!(check_part_checksum(u.as_ref(), Some(&sha)).is_ok());
        assert!(check_part_checksum(None, Some(&crc)).is_ok());
        assert!(check_part_checksum(None, None).is_ok());
        for bad in [Some(&crc), None] {
            let e = check_part_checksum(u.as_ref(), bad).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidRequest);
        }
    }

    #[test]
    fn composite_and_full_object_values() {
        let (a, b) = (b"first part".as_slice(), b"second".as_slice());
        // Composite SHA256: sha256(sha256(a) || sha256(b)), "-2".
        let alg = ChecksumAlgorithm::Sha256;
        let parts = [part(1, a, Some(alg)), part(2, b, Some(alg))];
        let asks: Vec<_> = parts.iter().map(|p| asked(p, true)).collect();
        let u = declared_checksum(Some("SHA256"), None).unwrap();
        let got = completed_checksum(u.as_ref(), &asks, &parts)
            .unwrap()
            .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let raw = |c: &StoredChecksum| b64.decode(&c.value).unwrap();
        let mut cat = raw(parts[0].checksum.as_ref().unwrap());
        cat.extend(raw(parts[1].checksum.as_ref().unwrap()));
        let mut expect = Checksummer::new(alg);
        expect.update(&cat);
        assert_eq!(got.value, format!("{}-2", expect.finish_base64()));
        assert_eq!(checksum_type(&got), "COMPOSITE");
        // Full-object CRC64NVME: the CRC of a || b.
        let alg = ChecksumAlgorithm::Crc64Nvme;
        let parts = [part(1, a, Some(alg)), part(2, b, Some(alg))];
        let asks: Vec<_> = parts.iter().map(|p| asked(p, false)).collect();
        let u = declared_checksum(Some("CRC64NVME"), None).unwrap();
        let got = completed_checksum(u.as_ref(), &asks, &parts)
            .unwrap()
            .unwrap();
        assert_eq!(got, sum(alg, b"first partsecond"));
        assert_eq!(checksum_type(&got), "FULL_OBJECT");
        // Declared checksums need parts numbered 1..=N.
        let gap = [part(1, a, Some(alg)), part(3, b, Some(alg))];
        let asks: Vec<_> = gap.iter().map(|p| asked(p, false)).collect();
        let e = completed_checksum(u.as_ref(), &asks, &gap).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidPartOrder);
        // No declaration: no object checksum.
        let asks: Vec<_> = parts.iter().map(|p| asked(p, true)).collect();
        assert_eq!(completed_checksum(None, &asks, &parts).unwrap(), None);
    }

    #[test]
    fn complete_checks_the_given_part_checksums() {
        let alg = ChecksumAlgorithm::Crc32;
        let parts = [part(1, b"aa", Some(alg)), part(2, b"bb", Some(alg))];
        let u = declared_checksum(Some("CRC32"), None).unwrap();
        let mut asks: Vec<_> = parts.iter().map(|p| asked(p, true)).collect();
        asks[1].checksum = Some(sum(alg, b"other"));
        let e = completed_checksum(u.as_ref(), &asks, &parts).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidPart);
        // Composite uploads need every part's checksum in the request.
        asks[1].checksum = None;
        let e = completed_checksum(u.as_ref(), &asks, &parts).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidRequest);
        assert!(e.message.contains("missing for part 2"), "{}", e.message);
        // Without a declaration, a wrong given checksum is still refused.
        asks[1].checksum = Some(sum(alg, b"other"));
        let e = completed_checksum(None, &asks, &parts).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidPart);
    }
}

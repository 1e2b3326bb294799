//! The `Range` header of GetObject: one byte range, first-last, open-ended
//! or a suffix (RFC 9110 section 14.1.2). S3 serves a single range only.

use crate::error::{S3Error, S3ErrorCode};

/// A requested byte range, before the object size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last` (inclusive) or `bytes=first-` (last = None).
    From { first: u64, last: Option<u64> },
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parse a Range header. Anything that is not a single well-formed byte
    /// range is ignored, as RFC 9110 allows (the whole object is served).
    pub fn parse(header: &str) -> Option<Self> {
        let spec = header.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let (first, last) = (first.trim(), last.trim());
        if first.is_empty() {
            return last.parse().ok().map(ByteRange::Suffix);
        }
        let first: u64 = first.parse().ok()?;
        if last.is_empty() {
            return Some(ByteRange::From { first, last: None });
        }
        let last: u64 = last.parse().ok()?;
        if last < first {
            return None;
        }
        Some(ByteRange::From {
            first,
            last: Some(last),
        })
    }

    /// The inclusive byte positions served from an object of `size` bytes,
    /// or InvalidRange (416) when the range cannot be satisfied.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), S3Error> {
        let unsatisfiable = || {
            S3Error::new(
                S3ErrorCode::InvalidRange,
                "The requested range is not satisfiable",
            )
            .with_header(http::header::CONTENT_RANGE, format!("bytes */{size}"))
        };
        match self {
            ByteRange::From { first, last } => {
                if first >= size {
                    return Err(unsatisfiable());
                }
                let last = last.map_or(size - 1, |l| l.min(size - 1));
                Ok((first, last))
            }
            ByteRange::Suffix(n) => {
                if n == 0 || size == 0 {
                    return Err(unsatisfiable());
                }
                Ok((size.saturating_sub(n), size - 1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        assert_eq!(
            ByteRange::parse("bytes=0-9"),
            Some(ByteRange::From {
                first: 0,
                last: Some(9)
            })
        );
        assert_eq!(
            ByteRange::parse("bytes=10-"),
            Some(ByteRange::From {
                first: 10,
                last: None
            })
        );
        assert_eq!(ByteRange::parse("bytes=-5"), Some(ByteRange::Suffix(5)));
        for ignored in [
            "bytes=5-1",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=a-b",
            "bytes=-",
            "0-1",
        ] {
            assert_eq!(ByteRange::parse(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn resolve_against_size() {
        let r = |s: &str, size| ByteRange::parse(s).unwrap().resolve(size);
        assert_eq!(r("bytes=0-9", 100).unwrap(), (0, 9));
        assert_eq!(r("bytes=90-200", 100).unwrap(), (90, 99));
        assert_eq!(r("bytes=10-", 100).unwrap(), (10, 99));
        assert_eq!(r("bytes=-5", 100).unwrap(), (95, 99));
        assert_eq!(r("bytes=-500", 100).unwrap(), (0, 99));
        let err = r("bytes=100-", 100).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::InvalidRange);
        assert_eq!(err.headers[0].1, "bytes */100");
        assert!(r("bytes=-0", 100).is_err());
        assert!(r("bytes=0-0", 0).is_err());
    }
}

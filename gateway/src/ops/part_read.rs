//! GetObject and HeadObject with `partNumber=N`: one part of a multipart
//! object, as the AWS SDK for Java's transfer manager (and others) download
//! in parallel.
//!
//! S3's rules (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>):
//! part N of a completed object is served as a 206 with the part's
//! Content-Range and `x-amz-mp-parts-count`; an object that was not
//! uploaded in parts is one part, so `partNumber=1` is all of it; a part
//! number beyond the count is 416 InvalidPartNumber; a Range with a part
//! number is refused; numbers outside 1..=10000 are InvalidArgument.

use http::header::HeaderMap;
use http::{HeaderName, HeaderValue};

use crate::conditions::{Conditions, EtagCondition};
use crate::error::{S3Error, S3ErrorCode};
use crate::range::ByteRange;
use crate::request::S3Request;
use crate::storage::multipart::MAX_PART_NUMBER;
use crate::storage::parts::checksum_type;
use crate::storage::ObjectMeta;

/// The part number a GET or HEAD asks for, if any.
pub fn requested_part(req: &S3Request) -> Result<Option<u32>, S3Error> {
    let Some(raw) = req.query.get("partNumber") else {
        return Ok(None);
    };
    let n = raw
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
    if req.parts.headers.contains_key(http::header::RANGE) {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter",
        ));
    }
    Ok(Some(n))
}

/// How many parts the object has: those it was completed from, else one.
pub fn parts_count(meta: &ObjectMeta) -> u32 {
    meta.parts
        .as_ref()
        .and_then(|p| p.count())
        .filter(|n| *n > 0)
        .unwrap_or(1)
}

/// The byte range of part `n` (`None` for an empty object's only part).
pub fn part_range(meta: &ObjectMeta, n: u32) -> Result<Option<ByteRange>, S3Error> {
    let (offset, size) = match meta.parts.as_ref().and_then(|p| p.count().map(|_| p)) {
        Some(p) => p.part(n),
        None => (n == 1).then_some((0, meta.size)),
    }
    .ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::InvalidPartNumber,
            "The requested partnumber is not satisfiable",
        )
    })?;
    Ok((size > 0).then(|| ByteRange::From {
        first: offset,
        last: Some(offset + size - 1),
    }))
}

/// The caller's conditions, bound to the object just looked at, so the
/// part read comes from the same object (a PUT in between is a 412).
pub fn same_object(mut conditions: Conditions, meta: &ObjectMeta) -> Conditions {
    if !matches!(conditions.if_match, Some(EtagCondition::Tags(_))) {
        conditions.if_match = Some(EtagCondition::Tags(vec![meta.etag.clone()]));
    }
    conditions
}

/// Headers of a part read: the parts count of a multipart object and,
/// with `x-amz-checksum-mode: ENABLED`, the part's checksum when it is
/// known (a composite object's part checksum, or the whole checksum of an
/// object that is one part).
pub fn part_headers(headers: &mut HeaderMap, meta: &ObjectMeta, n: u32, checksum_mode: bool) {
    if let Some(count) = meta.parts.as_ref().and_then(|p| p.count()) {
        headers.insert("x-amz-mp-parts-count", HeaderValue::from(count));
    }
    if !checksum_mode {
        return;
    }
    let Some(c) = &meta.checksum else {
        return;
    };
    let (value, kind) = match &meta.parts {
        None => (Some(c.value.as_str()), checksum_type(c)),
        Some(p) if checksum_type(c) == "COMPOSITE" => (p.checksum(n), "COMPOSITE"),
        Some(_) => (None, ""),
    };
    let name = HeaderName::from_bytes(
        format!("x-amz-checksum-{}", c.algorithm.to_ascii_lowercase()).as_bytes(),
    );
    if let (Some(value), Ok(name)) = (value, name) {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
            headers.insert("x-amz-checksum-type", HeaderValue::from_static(kind));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ObjectParts;

    fn meta(size: u64, parts: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            size,
            etag: "e".into(),
            last_modified_ms: 0,
            headers: Default::default(),
            user_metadata: vec![],
            checksum: None,
            tag_count: 0,
            parts: parts.map(|s| ObjectParts {
                sizes: s.into(),
                checksums: vec![],
            }),
        }
    }

    #[test]
    fn part_ranges() {
        let m = meta(12, Some("5x2,2"));
        assert_eq!(parts_count(&m), 3);
        assert_eq!(
            part_range(&m, 2).unwrap(),
            Some(ByteRange::From {
                first: 5,
                last: Some(9)
            })
        );
        assert_eq!(
            part_range(&m, 4).unwrap_err().code,
            S3ErrorCode::InvalidPartNumber
        );
        // A single PUT is one part.
        let single = meta(7, None);
        assert_eq!(parts_count(&single), 1);
        assert_eq!(
            part_range(&single, 1).unwrap(),
            Some(ByteRange::From {
                first: 0,
                last: Some(6)
            })
        );
        assert!(part_range(&single, 2).is_err());
        assert_eq!(part_range(&meta(0, None), 1).unwrap(), None);
    }

    #[test]
    fn bound_to_the_object_seen() {
        let m = meta(1, None);
        let c = same_object(Conditions::default(), &m);
        assert_eq!(c.if_match, Some(EtagCondition::Tags(vec!["e".into()])));
        let mine = Conditions {
            if_match: Some(EtagCondition::Tags(vec!["x".into()])),
            ..Default::default()
        };
        assert_eq!(same_object(mine.clone(), &m), mine);
    }
}

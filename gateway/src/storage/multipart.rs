//! Multipart uploads: the types of the backend contract and the rules both
//! backends share (what a valid completion is, the final ETag, how uploads
//! and parts are paged), so that each backend only stores and fetches.

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::{ContentHeaders, StoredChecksum};
use crate::conditions::normalize_etag;
use crate::error::{S3Error, S3ErrorCode};

/// Smallest size of every part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Part numbers run from 1 to this.
pub const MAX_PART_NUMBER: u32 = 10_000;
/// Longest upload id a backend may issue (and the router accepts).
pub const MAX_UPLOAD_ID: usize = 128;

/// What CreateMultipartUpload records for the final object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadOptions {
    #[serde(default)]
    pub headers: ContentHeaders,
    #[serde(default)]
    pub user_metadata: Vec<(String, String)>,
    /// `x-amz-tagging`: the completed object's tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// The checksum CreateMultipartUpload declared (`x-amz-checksum-algorithm`
    /// and `x-amz-checksum-type`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<UploadChecksum>,
}

/// The checksum an upload declared: every part must carry one of this
/// algorithm, and Complete computes the object's from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadChecksum {
    /// The AWS name: CRC32, CRC32C, SHA1, SHA256, CRC64NVME.
    pub algorithm: String,
    /// FULL_OBJECT (a CRC of the whole object) rather than COMPOSITE (the
    /// checksum of the part checksums, `VALUE-N`).
    pub full_object: bool,
}

impl UploadChecksum {
    /// `COMPOSITE` or `FULL_OBJECT`, as the x-amz-checksum-type header says.
    pub fn type_name(&self) -> &'static str {
        if self.full_object {
            "FULL_OBJECT"
        } else {
            "COMPOSITE"
        }
    }
}

/// An upload in progress, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    pub key: String,
    pub upload_id: String,
    /// Milliseconds since the Unix epoch.
    pub initiated_ms: u64,
    /// The checksum the upload declared.
    pub checksum: Option<UploadChecksum>,
}

/// One stored part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    pub part_number: u32,
    /// Hex MD5 of the part, without quotes.
    pub etag: String,
    pub size: u64,
    pub last_modified_ms: u64,
    /// The part's verified checksum, if the client sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
}

/// A page of ListParts.
#[derive(Debug, Clone, Default)]
pub struct PartsPage {
    pub parts: Vec<PartInfo>,
    /// When truncated: the marker for the next page.
    pub next_part_number_marker: Option<u32>,
    /// The checksum the upload declared.
    pub checksum: Option<UploadChecksum>,
}

/// A part named in CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    /// As the client sent it (quotes allowed).
    pub etag: String,
    /// The part's checksum, when the request gives one (`ChecksumCRC32`...).
    pub checksum: Option<StoredChecksum>,
}

/// A ListMultipartUploads request, already validated.
#[derive(Debug, Clone, Default)]
pub struct UploadsQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub upload_id_marker: Option<String>,
    /// 1..=1000.
    pub max_uploads: usize,
}

/// A page of ListMultipartUploads.
#[derive(Debug, Clone, Default)]
pub struct UploadsPage {
    pub uploads: Vec<UploadInfo>,
    pub common_prefixes: Vec<String>,
    /// When truncated: where the next page starts (key marker, upload id
    /// marker).
    pub next: Option<(String, String)>,
}

/// An unguessable upload id (URL-safe) that begins with its creation time
/// (milliseconds, 12 hex digits), so that ids of one key sort in the order
/// they were created and a page of uploads can resume after an id that no
/// longer exists.
pub fn new_upload_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let bytes: [u8; 18] = rand::random();
    format!("{ms:012x}{}", hex::encode(bytes))
}

/// Whether `id` can be an upload id at all (anything else is NoSuchUpload
/// before a backend sees it, so ids never reach paths unchecked).
pub fn plausible_upload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_UPLOAD_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn no_such_upload() -> S3Error {
    S3Error::new(
        S3ErrorCode::NoSuchUpload,
        "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.",
    )
}

/// The object a valid completion produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembly {
    /// The stored parts to concatenate, in order.
    pub parts: Vec<PartInfo>,
    pub size: u64,
    /// `hex(md5(md5(part 1) || ... || md5(part N)))-N`.
    pub etag: String,
}

/// Check a completion request against the stored parts, as S3 does:
/// every named part must exist with the given ETag (InvalidPart), and every
/// part but the last must be at least 5 MiB (EntityTooSmall). The request's
/// order has been checked by the caller.
pub fn assemble(requested: &[CompletedPart], stored: &[PartInfo]) -> Result<Assembly, S3Error> {
    if requested.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    let mut parts = Vec::with_capacity(requested.len());
    let mut md5 = Md5::new();
    let mut size = 0u64;
    for (i, want) in requested.iter().enumerate() {
        let found = stored
            .iter()
            .find(|p| p.part_number == want.part_number)
            .filter(|p| normalize_etag(&want.etag) == p.etag)
            .ok_or_else(|| invalid_part(want.part_number))?;
        if i + 1 < requested.len() && found.size < MIN_PART_SIZE {
            return Err(S3Error::new(
                S3ErrorCode::EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size.",
            ));
        }
        let digest = hex::decode(&found.etag).map_err(S3Error::internal)?;
        md5.update(&digest);
        size += found.size;
        parts.push(found.clone());
    }
    let etag = format!("{}-{}", hex::encode(md5.finalize()), parts.len());
    Ok(Assembly { parts, size, etag })
}

fn invalid_part(number: u32) -> S3Error {
    S3Error::new(
        S3ErrorCode::InvalidPart,
        format!(
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag (part {number})."
        ),
    )
}

/// Check that parts are named in strictly ascending order.
pub fn check_order(parts: &[CompletedPart]) -> Result<(), S3Error> {
    if parts
        .windows(2)
        .any(|w| w[0].part_number >= w[1].part_number)
    {
        return Err(S3Error::new(
            S3ErrorCode::InvalidPartOrder,
            "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        ));
    }
    Ok(())
}

/// One page of parts from all of an upload's parts (sorted by number).
pub fn page_parts(all: Vec<PartInfo>, marker: u32, max_parts: usize) -> PartsPage {
    let mut rest = all.into_iter().filter(|p| p.part_number > marker);
    let parts: Vec<PartInfo> = rest.by_ref().take(max_parts).collect();
    let truncated = rest.next().is_some();
    PartsPage {
        checksum: None,
        next_part_number_marker: if truncated {
            parts.last().map(|p| p.part_number)
        } else {
            None
        },
        parts,
    }
}

/// One page of ListMultipartUploads from all of a bucket's uploads: sorted
/// by key (UTF-8 order) then upload id (which begins with the initiation
/// time), filtered by prefix, rolled up at the delimiter, resumed after the
/// markers. The markers need not name an upload that still exists (a
/// client aborting the uploads it lists), as in S3: the uploads of the
/// marker key that follow are those with greater ids.
pub fn page_uploads(mut all: Vec<UploadInfo>, query: &UploadsQuery) -> UploadsPage {
    all.retain(|u| u.key.starts_with(&query.prefix));
    all.sort_by(|a, b| {
        (a.key.as_bytes(), a.upload_id.as_bytes()).cmp(&(b.key.as_bytes(), b.upload_id.as_bytes()))
    });
    let after_marker = |u: &UploadInfo| match (&query.key_marker, &query.upload_id_marker) {
        (None, _) => true,
        (Some(k), None) => u.key.as_str() > k.as_str(),
        (Some(k), Some(id)) => match u.key.as_str().cmp(k.as_str()) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            // Uploads of the marker key come after the marker upload.
            std::cmp::Ordering::Equal => u.upload_id.as_bytes() > id.as_bytes(),
        },
    };
    let roll_up = |key: &str| {
        query.delimiter.as_deref().and_then(|d| {
            key.get(query.prefix.len()..)?
                .find(d)
                .map(|i| key[..query.prefix.len() + i + d.len()].to_owned())
        })
    };
    // A key marker that is itself a common prefix (the NextKeyMarker of a
    // page that ended on one) skips every upload rolled into it.
    let skip = query
        .key_marker
        .as_deref()
        .filter(|k| k.starts_with(&query.prefix) && roll_up(k).as_deref() == Some(*k));
    let mut page = UploadsPage::default();
    let mut count = 0;
    let mut last: Option<(String, String)> = None;
    let mut iter = all
        .iter()
        .filter(|u| after_marker(u) && !skip.is_some_and(|s| u.key.starts_with(s)))
        .peekable();
    while let Some(u) = iter.next() {
        let rolled = roll_up(&u.key);
        if count == query.max_uploads {
            page.next = last;
            return page;
        }
        match rolled {
            Some(cp) => {
                // Skip every upload under this common prefix.
                while iter.peek().is_some_and(|n| n.key.starts_with(&cp)) {
                    iter.next();
                }
                last = Some((cp.clone(), String::new()));
                page.common_prefixes.push(cp);
            }
            None => {
                last = Some((u.key.clone(), u.upload_id.clone()));
                page.uploads.push(u.clone());
            }
        }
        count += 1;
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u32, data: &[u8], size: u64) -> PartInfo {
        PartInfo {
            part_number: n,
            etag: hex::encode(Md5::digest(data)),
            size,
            last_modified_ms: 0,
            checksum: None,
        }
    }

    fn wanted(p: &PartInfo) -> CompletedPart {
        CompletedPart {
            part_number: p.part_number,
            etag: format!("\"{}\"", p.etag),
            checksum: None,
        }
    }

    #[test]
    fn final_etag_is_md5_of_part_md5s() {
        let a = part(1, b"a", MIN_PART_SIZE);
        let b = part(2, b"b", 1);
        let got = assemble(&[wanted(&a), wanted(&b)], &[b.clone(), a.clone()]).unwrap();
        let mut cat = hex::decode(&a.etag).unwrap();
        cat.extend(hex::decode(&b.etag).unwrap());
        assert_eq!(got.etag, format!("{}-2", hex::encode(Md5::digest(&cat))));
        assert_eq!(got.size, MIN_PART_SIZE + 1);
        assert_eq!(got.parts, vec![a, b]);
    }

    #[test]
    fn completion_errors() {
        let a = part(1, b"a", 10);
        let b = part(2, b"b", 10);
        let err = |req: &[CompletedPart]| assemble(req, &[a.clone(), b.clone()]).unwrap_err().code;
        assert_eq!(err(&[wanted(&a), wanted(&b)]), S3ErrorCode::EntityTooSmall);
        let mut wrong = wanted(&b);
        wrong.etag = "\"00\"".into();
        assert_eq!(err(&[wrong]), S3ErrorCode::InvalidPart);
        let mut missing = wanted(&b);
        missing.part_number = 3;
        assert_eq!(err(&[missing]), S3ErrorCode::InvalidPart);
        // A single small part is fine: it is the last one.
        assert!(assemble(&[wanted(&b)], &[a.clone(), b.clone()]).is_ok());
        let order = check_order(&[wanted(&b), wanted(&a)]).unwrap_err();
        assert_eq!(order.code, S3ErrorCode::InvalidPartOrder);
        assert!(check_order(&[wanted(&a), wanted(&a)]).is_err());
    }

    #[test]
    fn parts_pages() {
        let all: Vec<PartInfo> = (1..=5).map(|n| part(n, b"x", 1)).collect();
        let p = page_parts(all.clone(), 0, 2);
        assert_eq!(p.parts.len(), 2);
        assert_eq!(p.next_part_number_marker, Some(2));
        let p = page_parts(all.clone(), 2, 3);
        assert_eq!(p.parts[0].part_number, 3);
        assert_eq!(p.next_part_number_marker, None);
    }

    fn up(key: &str, id: &str, t: u64) -> UploadInfo {
        UploadInfo {
            key: key.into(),
            upload_id: id.into(),
            initiated_ms: t,
            checksum: None,
        }
    }

    #[test]
    fn uploads_pages() {
        let all = vec![
            up("b", "2", 2),
            up("a/x", "3", 1),
            up("b", "1", 1),
            up("a/y", "4", 1),
            up("c", "5", 1),
        ];
        let q = |delim: Option<&str>, km: Option<&str>, im: Option<&str>, max| UploadsQuery {
            prefix: String::new(),
            delimiter: delim.map(str::to_owned),
            key_marker: km.map(str::to_owned),
            upload_id_marker: im.map(str::to_owned),
            max_uploads: max,
        };
        let p = page_uploads(all.clone(), &q(Some("/"), None, None, 2));
        assert_eq!(p.common_prefixes, vec!["a/"]);
        assert_eq!(p.uploads, vec![up("b", "1", 1)]);
        assert_eq!(p.next, Some(("b".into(), "1".into())));
        let p = page_uploads(all.clone(), &q(Some("/"), Some("b"), Some("1"), 10));
        assert_eq!(p.uploads, vec![up("b", "2", 2), up("c", "5", 1)]);
        assert_eq!(p.next, None);
        // A page that ends on a common prefix resumes after it.
        let p = page_uploads(all.clone(), &q(Some("/"), None, None, 1));
        assert_eq!(p.common_prefixes, vec!["a/"]);
        assert_eq!(p.next, Some(("a/".into(), String::new())));
        let p = page_uploads(all.clone(), &q(Some("/"), Some("a/"), None, 1));
        assert_eq!(p.common_prefixes, Vec::<String>::new());
        assert_eq!(p.uploads, vec![up("b", "1", 1)]);
        // The marker upload may be gone (aborted by the lister).
        let without: Vec<UploadInfo> = all.iter().filter(|u| u.upload_id != "1").cloned().collect();
        let p = page_uploads(without, &q(None, Some("b"), Some("1"), 10));
        assert_eq!(p.uploads, vec![up("b", "2", 2), up("c", "5", 1)]);
        let p = page_uploads(all.clone(), &q(None, Some("b"), None, 10));
        assert_eq!(p.uploads, vec![up("c", "5", 1)]);
        let mut pre = q(None, None, None, 10);
        pre.prefix = "a/".into();
        assert_eq!(page_uploads(all, &pre).uploads.len(), 2);
    }

    #[test]
    fn upload_ids() {
        let id = new_upload_id();
        assert!(plausible_upload_id(&id));
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(new_upload_id() > id, "ids sort in creation order");
        assert_ne!(id, new_upload_id());
        for bad in ["", "../x", "a/b", "a b", &"x".repeat(129)] {
            assert!(!plausible_upload_id(bad), "{bad}");
        }
    }
}

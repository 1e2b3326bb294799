//! What an S3 object's metadata looks like on a blob, and back.
//!
//! Azure metadata names must be C# identifiers and are case-insensitive;
//! values must be ASCII. S3 user metadata is neither, so each entry is
//! encoded one-to-one (AZURE-MAPPING.md, "Metadata"):
//!
//! - `bgm_<name>`: the value as-is (printable ASCII without edge spaces);
//! - `bgb_<name>`: the value base64-encoded (anything else);
//!
//! where `<name>` keeps `[a-z0-9]`, writes `_` as `__`, `-` as `_h` and any
//! other byte as `_xHH`. The gateway's own entries start with `bg_`/`bgc_`.
//! Metadata written by other Azure tools (any other name) is shown to S3
//! clients as it is.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use azure_core::http::headers::Headers;
use base64::Engine;

use crate::storage::{ContentHeaders, ObjectMeta, ObjectParts, StoredChecksum};

const USER_PLAIN: &str = "bgm_";
const USER_B64: &str = "bgb_";
const CHECKSUM: &str = "bgc_";
const EXPIRES: &str = "bg_expires";
/// The S3 ETag of an object whose ETag is not the MD5 of its bytes
/// (multipart objects).
pub const ETAG: &str = "bg_etag";
/// The multipart upload that produced the object (so that a retried
/// CompleteMultipartUpload recognises its own commit).
pub const UPLOAD: &str = "bg_upload";
/// A multipart object's part sizes (`parts::encode_sizes`).
pub const PARTS: &str = "bg_parts";
/// A multipart object's part checksums, comma separated, when they fit.
pub const PART_CHECKSUMS: &str = "bg_partsums";
/// Azure's limit on all of a blob's metadata (names and values).
const METADATA_LIMIT: usize = 8 * 1024;
/// ADLS Gen2 marks directories with this metadata entry.
const HDI_ISFOLDER: &str = "hdi_isfolder";

/// Encode an S3 metadata name into an Azure identifier tail.
pub fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for b in name.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => out.push(b as char),
            b'_' => out.push_str("__"),
            b'-' => out.push_str("_h"),
            _ => out.push_str(&format!("_x{b:02x}")),
        }
    }
    out
}

/// Decode [`encode_name`]; `None` when `enc` is not something it produced.
pub fn decode_name(enc: &str) -> Option<String> {
    let bytes = enc.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => match bytes.get(i + 1)? {
                b'_' => {
                    out.push(b'_');
                    i += 2;
                }
                b'h' => {
                    out.push(b'-');
                    i += 2;
                }
                b'x' => {
                    let hex = enc.get(i + 2..i + 4)?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 4;
                }
                _ => return None,
            },
            b => {
                out.push(b.to_ascii_lowercase());
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn plain_value(v: &str) -> bool {
    v.bytes().all(|b| (0x20..0x7f).contains(&b)) && v.trim() == v
}

/// The Azure metadata for an object written through the gateway.
pub fn to_azure(
    user: &[(String, String)],
    headers: &ContentHeaders,
    checksum: Option<&StoredChecksum>,
    etag: Option<&str>,
) -> HashMap<String, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = HashMap::new();
    for (name, value) in user {
        if plain_value(value) {
            out.insert(format!("{USER_PLAIN}{}", encode_name(name)), value.clone());
        } else {
            out.insert(
                format!("{USER_B64}{}", encode_name(name)),
                b64.encode(value.as_bytes()),
            );
        }
    }
    if let Some(expires) = &headers.expires {
        let value = if plain_value(expires) {
            expires.clone()
        } else {
            String::new()
        };
        out.insert(EXPIRES.to_owned(), value);
    }
    if let Some(c) = checksum {
        out.insert(
            format!("{CHECKSUM}{}", c.algorithm.to_ascii_lowercase()),
            c.value.clone(),
        );
    }
    if let Some(e) = etag {
        out.insert(ETAG.to_owned(), e.to_owned());
    }
    out
}

/// Add a multipart object's parts to its metadata, within Azure's 8 KiB
/// limit: the sizes when they fit (run-length encoded, so equal parts
/// take a few bytes, and up to several hundred runs fit beside 2 KiB of
/// user metadata), then the part checksums when they fit too. What does
/// not fit is left out: the object then reads as one part (partNumber=1
/// is the whole object), and GetObjectAttributes lists no part checksums.
pub fn add_parts(metadata: &mut HashMap<String, String>, parts: &ObjectParts) -> ObjectParts {
    // Each entry also costs its name; keep a margin for Azure's own count.
    let used = |m: &HashMap<String, String>| -> usize {
        m.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() + 256
    };
    let mut kept = ObjectParts {
        sizes: String::new(),
        checksums: Vec::new(),
    };
    if used(metadata) + PARTS.len() + parts.sizes.len() > METADATA_LIMIT {
        return kept;
    }
    metadata.insert(PARTS.to_owned(), parts.sizes.clone());
    kept.sizes = parts.sizes.clone();
    let sums = parts.checksums.join(",");
    if !sums.is_empty() && used(metadata) + PART_CHECKSUMS.len() + sums.len() <= METADATA_LIMIT {
        metadata.insert(PART_CHECKSUMS.to_owned(), sums);
        kept.checksums = parts.checksums.clone();
    }
    kept
}

/// What the gateway reads back from a blob's metadata.
#[derive(Debug, Default)]
pub struct Decoded {
    pub user: Vec<(String, String)>,
    pub expires: Option<String>,
    pub checksum: Option<StoredChecksum>,
    pub etag: Option<String>,
    pub upload: Option<String>,
    pub parts: Option<ObjectParts>,
    pub is_folder: bool,
}

/// Decode a blob's metadata (names in any case).
pub fn from_azure<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>) -> Decoded {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut d = Decoded::default();
    let mut part_sums = None;
    for (name, value) in entries {
        let lower = name.to_ascii_lowercase();
        let decoded_user = if let Some(enc) = lower.strip_prefix(USER_PLAIN) {
            decode_name(enc).map(|n| (n, value.to_owned()))
        } else if let Some(enc) = lower.strip_prefix(USER_B64) {
            decode_name(enc).and_then(|n| {
                let v = b64.decode(value).ok()?;
                Some((n, String::from_utf8(v).ok()?))
            })
        } else {
            None
        };
        if let Some(entry) = decoded_user {
            d.user.push(entry);
        } else if lower == EXPIRES {
            d.expires = Some(value.to_owned()).filter(|v| !v.is_empty());
        } else if lower == ETAG {
            d.etag = Some(value.to_owned());
        } else if lower == UPLOAD {
            d.upload = Some(value.to_owned());
        } else if lower == PARTS {
            d.parts = Some(ObjectParts {
                sizes: value.to_owned(),
                checksums: Vec::new(),
            });
        } else if lower == PART_CHECKSUMS {
            part_sums = Some(value.split(',').map(str::to_owned).collect());
        } else if let Some(alg) = lower.strip_prefix(CHECKSUM) {
            d.checksum = Some(StoredChecksum {
                algorithm: alg.to_ascii_uppercase(),
                value: value.to_owned(),
            });
        } else {
            if lower == HDI_ISFOLDER && value.eq_ignore_ascii_case("true") {
                d.is_folder = true;
            }
            // Metadata from other Azure tools, shown as it is.
            d.user.push((lower, value.to_owned()));
        }
    }
    if let (Some(parts), Some(sums)) = (d.parts.as_mut(), part_sums) {
        parts.checksums = sums;
    }
    d.user.sort();
    d
}

/// The S3 ETag of a blob: the gateway's recorded one, else the hex of its
/// Content-MD5, else the Azure ETag with `-1` appended (so SDKs do not take
/// it for an MD5 of the body).
pub fn s3_etag(
    recorded: Option<String>,
    content_md5_b64: Option<&str>,
    azure_etag: &str,
) -> String {
    if let Some(e) = recorded.filter(|e| !e.is_empty()) {
        return e;
    }
    if let Some(md5) = content_md5_b64
        .and_then(|m| {
            base64::engine::general_purpose::STANDARD
                .decode(m.trim())
                .ok()
        })
        .filter(|m| m.len() == 16)
    {
        return hex::encode(md5);
    }
    format!("{}-1", azure_etag.trim_matches('"'))
}

/// Milliseconds since the epoch of an HTTP date (0 if unparseable).
pub fn http_date_ms(value: Option<&str>) -> u64 {
    value
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A blob's properties: the S3 view and the Azure ETag conditions use.
#[derive(Debug, Clone)]
pub struct BlobProps {
    pub meta: ObjectMeta,
    /// With quotes, as Azure sends it.
    pub azure_etag: String,
    pub is_folder: bool,
    /// The multipart upload that committed this blob, if one did.
    pub upload: Option<String>,
}

/// Read properties from a Get Blob Properties or Get Blob response.
/// `size` is the blob's full size (Content-Length of a HEAD, the total of
/// Content-Range of a GET).
pub fn from_headers(headers: &Headers, size: u64) -> BlobProps {
    let get = |name: &'static str| {
        headers.get_optional_str(&azure_core::http::headers::HeaderName::from_static(name))
    };
    let decoded = from_azure(headers.iter().filter_map(|(k, v)| {
        k.as_str()
            .strip_prefix("x-ms-meta-")
            .map(|name| (name, v.as_str()))
    }));
    let azure_etag = get("etag").unwrap_or_default().to_owned();
    // A ranged GET returns the whole blob's MD5 as x-ms-blob-content-md5.
    let md5 = get("x-ms-blob-content-md5").or_else(|| get("content-md5"));
    let text = |name: &'static str| get(name).filter(|v| !v.is_empty()).map(str::to_owned);
    BlobProps {
        meta: ObjectMeta {
            size,
            etag: s3_etag(decoded.etag, md5, &azure_etag),
            last_modified_ms: http_date_ms(get("last-modified")),
            headers: ContentHeaders {
                content_type: text("content-type"),
                content_encoding: text("content-encoding"),
                content_disposition: text("content-disposition"),
                content_language: text("content-language"),
                cache_control: text("cache-control"),
                expires: decoded.expires,
            },
            user_metadata: decoded.user,
            checksum: decoded.checksum,
            tag_count: get("x-ms-tag-count")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            parts: decoded.parts,
        },
        azure_etag,
        is_folder: decoded.is_folder,
        upload: decoded.upload,
    }
}

/// The current time in milliseconds (for objects whose date is missing).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_one_to_one() {
        for name in [
            "color",
            "a-_b",
            "a_-b",
            "with-dash_and_underscore",
            "x.y",
            "ünï",
            "_h",
            "9lives",
        ] {
            let enc = encode_name(name);
            assert!(
                enc.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{enc}"
            );
            assert_eq!(decode_name(&enc).as_deref(), Some(name));
        }
        assert_ne!(encode_name("a-_b"), encode_name("a_-b"));
        assert_eq!(decode_name("bad_q"), None);
    }

    #[test]
    fn metadata_round_trips_through_azure_names() {
        let user = vec![
            ("color".to_owned(), "blue".to_owned()),
            ("note".to_owned(), "é ünïcode".to_owned()),
            ("padded".to_owned(), " x ".to_owned()),
        ];
        let headers = ContentHeaders {
            expires: Some("Wed, 21 Oct 2037 07:28:00 GMT".into()),
            ..ContentHeaders::default()
        };
        let checksum = StoredChecksum {
            algorithm: "CRC32".into(),
            value: "AAAAAA==".into(),
        };
        let azure = to_azure(&user, &headers, Some(&checksum), None);
        for (k, v) in &azure {
            assert!(
                k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{k}"
            );
            assert!(v.is_ascii(), "{v}");
        }
        // Azure may return the names in another case.
        let upper: Vec<(String, String)> = azure
            .iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
            .collect();
        let d = from_azure(upper.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(d.user, user);
        assert_eq!(d.expires, headers.expires);
        assert_eq!(d.checksum, Some(checksum));
        assert!(!d.is_folder);
    }

    #[test]
    fn parts_fit_the_metadata_limit() {
        let equal = ObjectParts {
            sizes: crate::storage::parts::encode_sizes(std::iter::repeat_n(5 << 20, 10_000)),
            checksums: vec!["AAAAAA==".to_owned(); 10_000],
        };
        let mut m = to_azure(
            &[("a".into(), "b".into())],
            &ContentHeaders::default(),
            None,
            None,
        );
        let kept = add_parts(&mut m, &equal);
        // The sizes fit; 10,000 checksums do not.
        assert_eq!(kept.sizes, equal.sizes);
        assert!(kept.checksums.is_empty());
        let d = from_azure(m.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(d.parts, Some(kept));
        assert_eq!(d.user, vec![("a".to_owned(), "b".to_owned())]);
        let few = ObjectParts {
            sizes: "5242880,7".into(),
            checksums: vec!["AAAAAA==".into(), "AQIDBA==".into()],
        };
        let mut m = HashMap::new();
        assert_eq!(add_parts(&mut m, &few), few);
        let d = from_azure(m.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(d.parts, Some(few));
        // Sizes that cannot fit are left out whole.
        let uneven = ObjectParts {
            sizes: crate::storage::parts::encode_sizes((0..10_000u64).map(|i| (5 << 20) + i)),
            checksums: vec![],
        };
        let mut m = HashMap::new();
        assert_eq!(add_parts(&mut m, &uneven).sizes, "");
        assert!(m.is_empty());
    }

    #[test]
    fn foreign_metadata_and_folders() {
        let d = from_azure([("Project", "x"), ("hdi_isfolder", "true")].into_iter());
        assert!(d.is_folder);
        assert_eq!(
            d.user,
            vec![
                ("hdi_isfolder".to_owned(), "true".to_owned()),
                ("project".to_owned(), "x".to_owned())
            ]
        );
    }

    #[test]
    fn etags() {
        assert_eq!(
            s3_etag(None, Some("XrY7u+Ae7tCTyyK7j1rNww=="), "\"0x1\""),
            "5eb63bbbe01eeed093cb22bb8f5acdc3"
        );
        assert_eq!(s3_etag(None, None, "\"0x8DCABC\""), "0x8DCABC-1");
        assert_eq!(
            s3_etag(
                Some("abc-2".into()),
                Some("XrY7u+Ae7tCTyyK7j1rNww=="),
                "\"0x1\""
            ),
            "abc-2"
        );
    }
}

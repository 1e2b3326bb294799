//! S3 object tags as the blob's index tags, so that Azure tools see them
//! and Find Blobs by Tags finds the objects.
//!
//! Azure's limits are S3's (10 tags, keys of 1 to 128 and values of up to
//! 256 characters), but its character set is narrower: ASCII letters and
//! digits, space and `+ - . / : = _`, where S3 also takes any Unicode
//! letter or digit and `@`. A tag outside Azure's set is refused with
//! InvalidTag rather than changed.
//! <https://learn.microsoft.com/azure/storage/blobs/storage-manage-find-blobs#setting-blob-index-tags>

use azure_storage_blob::models::{BlobTag, BlobTags};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::error::{S3Error, S3ErrorCode};
use crate::storage::TagSet;

fn azure_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | '+' | '-' | '.' | '/' | ':' | '=' | '_')
}

/// Refuse tags Azure cannot hold as they are.
pub fn check(tags: &TagSet) -> Result<(), S3Error> {
    for (key, value) in tags {
        if let Some(c) = key.chars().chain(value.chars()).find(|c| !azure_char(*c)) {
            return Err(S3Error::new(
                S3ErrorCode::Other {
                    code: "InvalidTag",
                    status: 400,
                },
                format!(
                    "The tag {key:?} cannot be stored: this gateway keeps tags as Azure blob index \
                     tags, which allow only ASCII letters, digits, space and + - . / : = _ (not {c:?})"
                ),
            ));
        }
    }
    Ok(())
}

/// The `x-ms-tags` header of a write: the tags query-string encoded, or
/// None for no tags.
pub fn header(tags: &TagSet) -> Result<Option<String>, S3Error> {
    check(tags)?;
    if tags.is_empty() {
        return Ok(None);
    }
    let pairs: Vec<String> = tags
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect();
    Ok(Some(pairs.join("&")))
}

/// The body of Set Blob Tags.
pub fn document(tags: &TagSet) -> Result<BlobTags, S3Error> {
    check(tags)?;
    Ok(BlobTags {
        blob_tag_set: Some(
            tags.iter()
                .map(|(k, v)| BlobTag {
                    key: Some(k.clone()),
                    value: Some(v.clone()),
                })
                .collect(),
        ),
    })
}

/// What Get Blob Tags answered, as a tag set.
pub fn from_document(doc: BlobTags) -> TagSet {
    doc.blob_tag_set
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(tags: &[(&str, &str)]) -> TagSet {
        tags.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn azure_characters_only() {
        assert_eq!(
            header(&set(&[("team", "stats & co")]))
                .unwrap_err()
                .code
                .as_str(),
            "InvalidTag"
        );
        assert!(header(&set(&[("é", "1")])).is_err());
        assert!(header(&set(&[("mail", "a@b")])).is_err());
        assert_eq!(header(&set(&[])).unwrap(), None);
        assert_eq!(
            header(&set(&[("Project", "a b+c"), ("path", "x/y:z=1_2.3-4")]))
                .unwrap()
                .unwrap(),
            "Project=a%20b%2Bc&path=x%2Fy%3Az%3D1%5F2%2E3%2D4"
        );
    }
}

//! Validated bucket names and object keys.
//!
//! Bucket names follow both the S3 rules
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html>)
//! and the Azure container rules (no dots, no `--`), so that a project can
//! move between backends without renaming.

use std::fmt;

use crate::error::{S3Error, S3ErrorCode};

/// Longest key S3 accepts, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// A bucket name valid for S3 and for an Azure container.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketName(String);

impl BucketName {
    pub fn parse(name: &str) -> Result<Self, S3Error> {
        match bucket_name_problem(name) {
            None => Ok(BucketName(name.to_owned())),
            Some(why) => Err(S3Error::new(
                S3ErrorCode::InvalidBucketName,
                format!("The specified bucket is not valid: {why}"),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bucket_name_problem(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if bytes.len() < 3 || bytes.len() > 63 {
        return Some("a bucket name must be 3 to 63 characters long");
    }
    if let Some(c) = bytes
        .iter()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || **c == b'-' || **c == b'.'))
    {
        return Some(if c.is_ascii_uppercase() {
            "a bucket name must not contain uppercase letters"
        } else {
            "a bucket name may contain only lowercase letters, digits and hyphens"
        });
    }
    if name.contains('.') {
        return Some("dots are not allowed (Azure container names cannot contain them)");
    }
    let first = bytes[0];
    let last = bytes[bytes.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Some("a bucket name must begin and end with a letter or digit");
    }
    if name.contains("--") {
        return Some("consecutive hyphens are not allowed (Azure container rule)");
    }
    if name.starts_with("xn--") || name.starts_with("sthree-") {
        return Some("the prefix is reserved");
    }
    if name.ends_with("-s3alias") || name.ends_with("--ol-s3") {
        return Some("the suffix is reserved");
    }
    None
}

/// An object key: 1 to 1024 bytes of UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn parse(key: &str) -> Result<Self, S3Error> {
        if key.is_empty() {
            return Err(S3Error::new(
                S3ErrorCode::InvalidArgument,
                "The object key must not be empty",
            ));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(S3Error::new(
                S3ErrorCode::KeyTooLongError,
                "Your key is too long",
            ));
        }
        Ok(ObjectKey(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket-1", "0123456789", &"a".repeat(63)] {
            assert!(BucketName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Abc",
            "a_b",
            "a.b",
            "-abc",
            "abc-",
            "a--b",
            "xn--abc",
            "abc-s3alias",
            "192.168.1.1",
            "a b",
        ] {
            let err = BucketName::parse(bad).unwrap_err();
            assert_eq!(err.code, S3ErrorCode::InvalidBucketName, "{bad}");
        }
    }

    #[test]
    fn keys() {
        assert!(ObjectKey::parse("a").is_ok());
        assert!(ObjectKey::parse(&"é".repeat(512)).is_ok());
        assert_eq!(
            ObjectKey::parse(&"a".repeat(1025)).unwrap_err().code,
            S3ErrorCode::KeyTooLongError
        );
        assert_eq!(
            ObjectKey::parse("").unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
    }
}

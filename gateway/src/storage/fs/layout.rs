//! Where keys live on disk. Every key segment (the text between `/`s) is a
//! directory; the object whose key ends at a directory is the file `@obj`
//! inside it. So `a`, `a/b` and `a/` can all exist at once, no key can name
//! a path outside its bucket directory, and a listing walks directories in
//! key order.
//!
//! Segment encoding: `[a-z0-9-_.~]` stay as they are, every other byte
//! (uppercase letters too, so that case-insensitive filesystems cannot merge
//! two keys) is `%XX`; the segments `""`, `.` and `..` become `%`, `%2E` and `%2E%2E`. A
//! segment whose encoding is longer than [`MAX_ENCODED`] becomes `#` + the hex
//! SHA-256 of the segment, with the real segment in a file `@name` inside.
//! Names starting with `@` are the gateway's files: `@` is always escaped in
//! segments, so they cannot collide.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The object file inside a key's directory.
pub const OBJECT_FILE: &str = "@obj";
/// The real segment of a hashed directory.
pub const NAME_FILE: &str = "@name";
/// Bucket metadata file in a bucket's directory.
pub const BUCKET_FILE: &str = "@bucket";
/// The longest encoded segment kept as a directory name (NAME_MAX is 255).
pub const MAX_ENCODED: usize = 200;

/// How one key segment is named on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentName {
    /// The directory name is the encoded segment.
    Plain(String),
    /// The directory name is a hash; `@name` inside holds the segment.
    Hashed(String),
}

impl SegmentName {
    pub fn dir_name(&self) -> &str {
        match self {
            SegmentName::Plain(n) | SegmentName::Hashed(n) => n,
        }
    }
}

fn is_plain_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// The directory name for one key segment.
pub fn encode_segment(segment: &str) -> SegmentName {
    match segment {
        "" => return SegmentName::Plain("%".into()),
        "." => return SegmentName::Plain("%2E".into()),
        ".." => return SegmentName::Plain("%2E%2E".into()),
        _ => {}
    }
    let mut out = String::with_capacity(segment.len());
    for &b in segment.as_bytes() {
        if is_plain_byte(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > MAX_ENCODED {
        let digest = Sha256::digest(segment.as_bytes());
        return SegmentName::Hashed(format!("#{}", hex::encode(digest)));
    }
    SegmentName::Plain(out)
}

/// What a directory entry in a key tree stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A segment directory with its decoded segment.
    Segment(String),
    /// A hashed segment directory: read `@name` inside to learn the segment.
    Hashed,
    /// Not part of the key tree (gateway files, foreign files).
    Other,
}

/// Decode a directory name back to its key segment.
pub fn decode_dir_name(name: &str) -> Decoded {
    if name == "%" {
        return Decoded::Segment(String::new());
    }
    if name.starts_with('#') {
        return Decoded::Hashed;
    }
    if name.starts_with('@') {
        return Decoded::Other;
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = name.get(i + 1..i + 3);
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => out.push(v),
                None => return Decoded::Other,
            }
            i += 3;
        } else if is_plain_byte(b) {
            out.push(b);
            i += 1;
        } else {
            return Decoded::Other;
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Decoded::Segment(s),
        Err(_) => Decoded::Other,
    }
}

/// The directory of a key (or of a run of complete segments) in a bucket.
pub fn key_dir(bucket_dir: &Path, segments: &[&str]) -> (PathBuf, Vec<(PathBuf, String)>) {
    let mut dir = bucket_dir.to_path_buf();
    let mut hashed = Vec::new();
    for seg in segments {
        let name = encode_segment(seg);
        dir.push(name.dir_name());
        if let SegmentName::Hashed(_) = name {
            hashed.push((dir.clone(), (*seg).to_owned()));
        }
    }
    (dir, hashed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        for seg in [
            "", ".", "..", "abc", "a b", "é", "@obj", "%", "#x", "a+b=c&d", "...",
        ] {
            let SegmentName::Plain(name) = encode_segment(seg) else {
                panic!("{seg} hashed")
            };
            assert!(!name.contains('/'), "{name}");
            assert!(!name.starts_with('@') && !name.starts_with('#'), "{name}");
            assert!(name != "." && name != "..");
            assert_eq!(decode_dir_name(&name), Decoded::Segment(seg.to_owned()));
        }
        assert_eq!(encode_segment("a b"), SegmentName::Plain("a%20b".into()));
        assert_eq!(encode_segment("Ab"), SegmentName::Plain("%41b".into()));
    }

    #[test]
    fn long_segments_are_hashed() {
        let long = "x".repeat(201);
        let name = encode_segment(&long);
        assert!(matches!(name, SegmentName::Hashed(ref n) if n.len() == 65));
        assert_eq!(decode_dir_name(name.dir_name()), Decoded::Hashed);
        // 67 non-ASCII chars encode to 201+ bytes.
        assert!(matches!(
            encode_segment(&"é".repeat(34)),
            SegmentName::Hashed(_)
        ));
    }

    #[test]
    fn foreign_names_are_ignored() {
        for name in ["@bucket", "%zz", "a b", "%C3", "Ab"] {
            assert_eq!(decode_dir_name(name), Decoded::Other, "{name}");
        }
    }

    #[test]
    fn key_dir_stays_inside() {
        let (dir, hashed) = key_dir(Path::new("/d/b"), &["..", "..", "etc", ""]);
        assert_eq!(dir, PathBuf::from("/d/b/%2E%2E/%2E%2E/etc/%"));
        assert!(hashed.is_empty());
    }
}

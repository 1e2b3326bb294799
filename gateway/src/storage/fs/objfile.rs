//! The object file: the object's bytes followed by its metadata, so data
//! and metadata are replaced together by one rename.
//!
//! Layout: `data | meta JSON | u32 LE length of the JSON | "BGOBJv1\n"`.
//!
//! The JSON is the [`ObjectMeta`] with two more fields: the tags the object
//! was written with and a random id of this write. PutObjectTagging does
//! not rewrite the object: it writes the key's `@tags` file, which names the
//! write it belongs to, so a later PUT (a new write id) makes it void
//! without having to remove it first (see `super::tags`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use serde::{Deserialize, Serialize};

use crate::storage::{ObjectMeta, TagSet};

/// What the trailer holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    #[serde(flatten)]
    pub meta: ObjectMeta,
    /// The tags given when the object was written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: TagSet,
    /// Random, per write; 0 for objects written before tags existed.
    #[serde(default)]
    pub write_id: u64,
}

impl Trailer {
    /// A new write's trailer, with a fresh write id.
    pub fn new(meta: ObjectMeta, tags: TagSet) -> Self {
        Trailer {
            meta,
            tags,
            write_id: rand::random::<u64>() | 1,
        }
    }
}

#[derive(Serialize)]
struct TrailerRef<'a> {
    #[serde(flatten)]
    meta: &'a ObjectMeta,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tags: &'a [(String, String)],
    write_id: u64,
}

const MAGIC: &[u8; 8] = b"BGOBJv1\n";
const TAIL: u64 = 12;
/// Metadata larger than this is refused (S3 allows 2 KiB of user metadata).
const MAX_META: u32 = 1024 * 1024;

/// The bytes appended after the data.
pub fn encode_trailer(t: &Trailer) -> io::Result<Vec<u8>> {
    let record = TrailerRef {
        meta: &t.meta,
        tags: &t.tags,
        write_id: t.write_id,
    };
    let mut out = serde_json::to_vec(&record).map_err(io::Error::other)?;
    let len = u32::try_from(out.len()).map_err(io::Error::other)?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(MAGIC);
    Ok(out)
}

/// Read the metadata of an open object file. The data is the first
/// `meta.size` bytes.
pub fn read_meta(file: &mut File) -> io::Result<ObjectMeta> {
    read_trailer(file).map(|t| t.meta)
}

/// Read the whole trailer of an open object file.
pub fn read_trailer(file: &mut File) -> io::Result<Trailer> {
    let len = file.metadata()?.len();
    if len < TAIL {
        return Err(corrupt("object file too short"));
    }
    let mut tail = [0u8; TAIL as usize];
    file.seek(SeekFrom::Start(len - TAIL))?;
    file.read_exact(&mut tail)?;
    if &tail[4..] != MAGIC {
        return Err(corrupt("bad object file trailer"));
    }
    let json_len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    if json_len > MAX_META || u64::from(json_len) + TAIL > len {
        return Err(corrupt("bad object metadata length"));
    }
    let mut json = vec![0u8; json_len as usize];
    file.seek(SeekFrom::Start(len - TAIL - u64::from(json_len)))?;
    file.read_exact(&mut json)?;
    let trailer: Trailer = serde_json::from_slice(&json).map_err(io::Error::other)?;
    if trailer.meta.size + u64::from(json_len) + TAIL != len {
        return Err(corrupt("object size does not match its file"));
    }
    Ok(trailer)
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o");
        let meta = ObjectMeta {
            size: 5,
            etag: "abc".into(),
            last_modified_ms: 42,
            headers: Default::default(),
            user_metadata: vec![("k".into(), "v".into())],
            checksum: None,
            tag_count: 0,
            parts: None,
        };
        let trailer = Trailer::new(meta.clone(), vec![("team".into(), "stats".into())]);
        let mut f = File::create(&path).unwrap();
        f.write_all(b"hello").unwrap();
        f.write_all(&encode_trailer(&trailer).unwrap()).unwrap();
        drop(f);
        let mut f = File::open(&path).unwrap();
        assert_eq!(read_trailer(&mut f).unwrap(), trailer);
        assert_eq!(read_meta(&mut f).unwrap(), meta);
    }

    #[test]
    fn reads_trailers_from_before_tags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o");
        let json = br#"{"size":2,"etag":"e","last_modified_ms":1,"user_metadata":[]}"#;
        let mut data = b"hi".to_vec();
        data.extend_from_slice(json);
        data.extend_from_slice(&(json.len() as u32).to_le_bytes());
        data.extend_from_slice(MAGIC);
        std::fs::write(&path, data).unwrap();
        let t = read_trailer(&mut File::open(&path).unwrap()).unwrap();
        assert_eq!((t.meta.size, t.tags.len(), t.write_id), (2, 0, 0));
    }

    #[test]
    fn rejects_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o");
        std::fs::write(&path, b"just some bytes that are not ours").unwrap();
        let mut f = File::open(&path).unwrap();
        assert!(read_meta(&mut f).is_err());
    }
}

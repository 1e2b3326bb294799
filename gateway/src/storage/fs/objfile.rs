//! The object file: the object's bytes followed by its metadata, so data
//! and metadata are replaced together by one rename.
//!
//! Layout: `data | meta JSON | u32 LE length of the JSON | "BGOBJv1\n"`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use crate::storage::ObjectMeta;

const MAGIC: &[u8; 8] = b"BGOBJv1\n";
const TAIL: u64 = 12;
/// Metadata larger than this is refused (S3 allows 2 KiB of user metadata).
const MAX_META: u32 = 1024 * 1024;

/// The bytes appended after the data.
pub fn encode_trailer(meta: &ObjectMeta) -> io::Result<Vec<u8>> {
    let mut out = serde_json::to_vec(meta).map_err(io::Error::other)?;
    let len = u32::try_from(out.len()).map_err(io::Error::other)?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(MAGIC);
    Ok(out)
}

/// Read the metadata of an open object file. The data is the first
/// `meta.size` bytes.
pub fn read_meta(file: &mut File) -> io::Result<ObjectMeta> {
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
    let meta: ObjectMeta = serde_json::from_slice(&json).map_err(io::Error::other)?;
    if meta.size + u64::from(json_len) + TAIL != len {
        return Err(corrupt("object size does not match its file"));
    }
    Ok(meta)
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
            parts: None,
        };
        let mut f = File::create(&path).unwrap();
        f.write_all(b"hello").unwrap();
        f.write_all(&encode_trailer(&meta).unwrap()).unwrap();
        drop(f);
        let mut f = File::open(&path).unwrap();
        assert_eq!(read_meta(&mut f).unwrap(), meta);
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

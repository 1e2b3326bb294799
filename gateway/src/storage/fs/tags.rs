//! Object tags on the fs backend.
//!
//! The tags a PUT (or a copy, or a multipart Complete) gives are in the
//! object's trailer with the write's id (see `objfile`). PutObjectTagging
//! and DeleteObjectTagging do not rewrite the object, which may be large:
//! they write the key's `@tags` file, `{"write_id": N, "tags": [...]}`,
//! replaced by a rename under the bucket lock. The file counts only while
//! it names the object's current write id, so a PUT that replaces the
//! object voids it at once (and removes it afterwards), and a crash
//! anywhere leaves either the old tags or the new ones.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::objfile::Trailer;
use crate::storage::TagSet;

/// The tags file inside a key's directory.
pub const TAGS_FILE: &str = "@tags";
/// A tag set is at most 10 tags of 128 + 256 characters; anything much
/// larger is not ours.
const MAX_TAGS_FILE: u64 = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct TagsRecord {
    write_id: u64,
    tags: TagSet,
}

/// The tags of the object whose trailer is `trailer`, in directory `dir`.
pub fn current(dir: &Path, trailer: &Trailer) -> io::Result<TagSet> {
    let file = match File::open(dir.join(TAGS_FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(trailer.tags.clone()),
        Err(e) => return Err(e),
    };
    let mut raw = Vec::new();
    file.take(MAX_TAGS_FILE).read_to_end(&mut raw)?;
    let record: TagsRecord = serde_json::from_slice(&raw).map_err(io::Error::other)?;
    Ok(if record.write_id == trailer.write_id {
        record.tags
    } else {
        trailer.tags.clone()
    })
}

/// Make `tags` the tags of write `write_id` in `dir`: written to `tmp`,
/// synced, renamed into place and the directory synced. The caller holds
/// the bucket lock and has just read `write_id` from the object.
pub fn replace(dir: &Path, tmp: &Path, write_id: u64, tags: TagSet) -> io::Result<()> {
    let record = serde_json::to_vec(&TagsRecord { write_id, tags }).map_err(io::Error::other)?;
    let result = (|| {
        let mut file = File::create(tmp)?;
        io::Write::write_all(&mut file, &record)?;
        file.sync_all()?;
        fs::rename(tmp, dir.join(TAGS_FILE))?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// Remove the tags file of a key whose object was replaced or deleted
/// (under the bucket lock). Best effort: a left-over file is void anyway.
pub fn forget(dir: &Path) {
    let _ = fs::remove_file(dir.join(TAGS_FILE));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ObjectMeta;

    fn trailer(tags: &[(&str, &str)]) -> Trailer {
        let meta = ObjectMeta {
            size: 0,
            etag: "e".into(),
            last_modified_ms: 0,
            headers: Default::default(),
            user_metadata: vec![],
            checksum: None,
            tag_count: 0,
            parts: None,
        };
        let tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Trailer::new(meta, tags)
    }

    #[test]
    fn a_tags_file_counts_for_its_own_write_only() {
        let dir = tempfile::tempdir().unwrap();
        let first = trailer(&[("a", "1")]);
        assert_eq!(current(dir.path(), &first).unwrap(), first.tags);
        let tmp = dir.path().join("tmp");
        replace(
            dir.path(),
            &tmp,
            first.write_id,
            vec![("b".into(), "2".into())],
        )
        .unwrap();
        assert!(!tmp.exists());
        assert_eq!(
            current(dir.path(), &first).unwrap(),
            [("b".to_string(), "2".to_string())]
        );
        // A new write of the key: the old file is void.
        let second = trailer(&[("c", "3")]);
        assert_eq!(current(dir.path(), &second).unwrap(), second.tags);
        replace(dir.path(), &tmp, second.write_id, vec![]).unwrap();
        assert!(current(dir.path(), &second).unwrap().is_empty());
        forget(dir.path());
        assert_eq!(current(dir.path(), &second).unwrap(), second.tags);
    }
}

//! Listing a bucket directory in UTF-8 binary key order, with prefix,
//! delimiter, a start-after bound and a page size. Blocking: run it on a
//! blocking thread.
//!
//! Each directory contributes, per child segment `n`, the object `base+n`
//! and the subtree `base+n/`. Sorting those strings byte-wise yields the
//! global key order, because an object key is never a prefix of a later
//! item's keys and a subtree's keys all start with its string.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use super::layout::{self, Decoded, NAME_FILE, OBJECT_FILE};
use super::objfile;
use crate::storage::{ListEntry, ListPage, ListQuery};

enum Item {
    Object { key: String, dir: PathBuf },
    Subtree { prefix: String, dir: PathBuf },
}

impl Item {
    fn sort_key(&self) -> &str {
        match self {
            Item::Object { key, .. } => key,
            Item::Subtree { prefix, .. } => prefix,
        }
    }
}

/// The items of one directory whose keys start with `base`, sorted.
fn expand(dir: &Path, base: &str) -> io::Result<Vec<Item>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut items = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let segment = match layout::decode_dir_name(&name) {
            Decoded::Segment(s) => s,
            Decoded::Hashed => match fs::read_to_string(entry.path().join(NAME_FILE)) {
                Ok(s) => s,
                Err(_) => continue,
            },
            Decoded::Other => continue,
        };
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let path = entry.path();
        let key = format!("{base}{segment}");
        items.push(Item::Subtree {
            prefix: format!("{key}/"),
            dir: path.clone(),
        });
        items.push(Item::Object { key, dir: path });
    }
    items.sort_by(|a, b| a.sort_key().as_bytes().cmp(b.sort_key().as_bytes()));
    Ok(items)
}

/// The common prefix `key` rolls up into, if any.
fn common_prefix<'a>(key: &'a str, prefix: &str, delimiter: Option<&str>) -> Option<&'a str> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    let at = rest.find(delimiter)?;
    key.get(..prefix.len() + at + delimiter.len())
}

/// List one page of the bucket at `bucket_dir`.
pub fn list(bucket_dir: &Path, query: &ListQuery) -> io::Result<ListPage> {
    let prefix = query.prefix.as_str();
    let delimiter = query.delimiter.as_deref();
    let bound = query.start_after.as_deref().unwrap_or("");
    // Start in the directory of the prefix's complete segments.
    let (complete, _partial) = match prefix.rfind('/') {
        Some(i) => (&prefix[..i], &prefix[i + 1..]),
        None => ("", prefix),
    };
    let (start_dir, base) = if prefix.contains('/') {
        let segments: Vec<&str> = complete.split('/').collect();
        (
            layout::key_dir(bucket_dir, &segments).0,
            format!("{complete}/"),
        )
    } else {
        (bucket_dir.to_path_buf(), String::new())
    };

    // A bound that is itself a common prefix skips everything rolled into it.
    let mut skip: Option<String> = common_prefix(bound, prefix, delimiter)
        .filter(|cp| *cp == bound)
        .map(str::to_owned);
    let mut page = ListPage::default();
    let mut emitted = 0usize;
    let mut stack: Vec<std::vec::IntoIter<Item>> = vec![expand(&start_dir, &base)?.into_iter()];

    while let Some(frame) = stack.last_mut() {
        let Some(item) = frame.next() else {
            stack.pop();
            continue;
        };
        let skipped = |s: &str| skip.as_deref().is_some_and(|c| s.starts_with(c));
        match item {
            Item::Subtree { prefix: sub, dir } => {
                if skipped(&sub) {
                    continue;
                }
                if !(sub.starts_with(prefix) || prefix.starts_with(sub.as_str())) {
                    continue;
                }
                if bound.as_bytes() >= sub.as_bytes() && !bound.starts_with(sub.as_str()) {
                    continue;
                }
                stack.push(expand(&dir, &sub)?.into_iter());
            }
            Item::Object { key, dir } => {
                if !key.starts_with(prefix) || key.as_bytes() <= bound.as_bytes() || skipped(&key) {
                    continue;
                }
                let meta = match File::open(dir.join(OBJECT_FILE)) {
                    Ok(mut f) => match objfile::read_meta(&mut f) {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::warn!(key = %key, error = %e, "skipping unreadable object file");
                            continue;
                        }
                    },
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                let rolled = common_prefix(&key, prefix, delimiter).map(str::to_owned);
                if emitted == query.max_keys {
                    page.next_after = Some(last_returned(&page));
                    return Ok(page);
                }
                emitted += 1;
                match rolled {
                    Some(cp) => {
                        page.common_prefixes.push(cp.clone());
                        skip = Some(cp);
                    }
                    None => page.objects.push(ListEntry { key, meta }),
                }
            }
        }
    }
    Ok(page)
}

/// The greatest key or common prefix in a page.
fn last_returned(page: &ListPage) -> String {
    let obj = page.objects.last().map(|o| o.key.as_str()).unwrap_or("");
    let cp = page
        .common_prefixes
        .last()
        .map(String::as_str)
        .unwrap_or("");
    if obj.as_bytes() > cp.as_bytes() {
        obj.to_owned()
    } else {
        cp.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefixes() {
        assert_eq!(common_prefix("a/b/c", "", Some("/")), Some("a/"));
        assert_eq!(common_prefix("a/b/c", "a/", Some("/")), Some("a/b/"));
        assert_eq!(common_prefix("a/b", "a/", Some("/")), None);
        assert_eq!(common_prefix("a-b-c", "a", Some("-")), Some("a-"));
        assert_eq!(common_prefix("abc", "", None), None);
        assert_eq!(common_prefix("a//b", "a/", Some("/")), Some("a//"));
    }
}

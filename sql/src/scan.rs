//! ScanRange over line-delimited input (uncompressed CSV, JSON LINES): the
//! records whose first byte lies inside the range, as S3 defines it.
//!
//! The reader is handed the object's bytes from the byte *before* the range
//! (`ScanWindow::read_from`). When the range does not start the object,
//! everything up to and including the first record delimiter is dropped:
//! the record holding that byte began before the range (and a record that
//! starts exactly at Start follows the delimiter at Start - 1). Reading
//! stops once the record holding the range's last byte is complete: the
//! object is read past End only to finish that record. MinIO instead cuts
//! records at the range bounds (minio#16649).
//!
//! A record delimiter inside quotes is ambiguous here, which is why a
//! ScanRange with AllowQuotedRecordDelimiter is refused (request.rs).

use std::io;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::engine::{ByteSource, MAX_RECORD};

/// The object bytes a ScanRange selects, resolved against the object size
/// (`ScanRange::bytes`): records starting in `start..end` are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanWindow {
    pub start: u64,
    /// Exclusive.
    pub end: u64,
}

impl ScanWindow {
    pub fn new(bytes: Range<u64>) -> Self {
        ScanWindow {
            start: bytes.start,
            end: bytes.end.max(bytes.start),
        }
    }

    /// No record can start inside: nothing needs to be read.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Where the source handed to [`records_in`] must begin in the object:
    /// one byte early, to see whether a record starts exactly at `start`.
    pub fn read_from(&self) -> u64 {
        self.start.saturating_sub(1)
    }
}

/// The records of `source` (the object from `window.read_from()`) that
/// begin inside `window`, each ended by `delimiter` (the last one of the
/// object may lack it). Stops pulling from `source` when done.
pub fn records_in(source: ByteSource, window: ScanWindow, delimiter: u8) -> ByteSource {
    struct State {
        source: ByteSource,
        /// Object offset of the next byte from `source`.
        pos: u64,
        /// Still dropping the record that began before the range.
        skipping: bool,
        done: bool,
        end: u64,
        delimiter: u8,
    }
    if window.is_empty() {
        return Box::pin(futures_util::stream::empty());
    }
    let state = State {
        source,
        pos: window.read_from(),
        skipping: window.start > 0,
        done: false,
        end: window.end,
        delimiter,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if s.done {
                return None;
            }
            let mut chunk = match s.source.next().await {
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
                None => return None,
            };
            if s.skipping {
                match chunk.iter().position(|&b| b == s.delimiter) {
                    None => {
                        s.pos += chunk.len() as u64;
                        continue;
                    }
                    Some(i) => {
                        s.skipping = false;
                        s.pos += i as u64 + 1;
                        chunk = chunk.slice(i + 1..);
                        // The first record of the range starts at `pos`:
                        // past the range, there is none.
                        if s.pos >= s.end {
                            return None;
                        }
                    }
                }
            }
            if chunk.is_empty() {
                continue;
            }
            // The record holding byte end - 1 ends at the first delimiter
            // at or after it.
            let last = (s.end - 1).saturating_sub(s.pos) as usize;
            if last < chunk.len() {
                if let Some(j) = chunk[last..].iter().position(|&b| b == s.delimiter) {
                    s.done = true;
                    return Some((Ok(chunk.slice(..last + j + 1)), s));
                }
            }
            s.pos += chunk.len() as u64;
            return Some((Ok(chunk), s));
        }
    }))
}

/// The first record of `source` (through its delimiter, or all of a
/// source without one): the CSV header when the range starts later.
pub async fn first_record(mut source: ByteSource, delimiter: u8) -> io::Result<Bytes> {
    let mut line = BytesMut::new();
    while let Some(chunk) = source.next().await {
        let chunk = chunk?;
        if let Some(i) = chunk.iter().position(|&b| b == delimiter) {
            line.extend_from_slice(&chunk[..=i]);
            return Ok(line.freeze());
        }
        line.extend_from_slice(&chunk);
        if line.len() > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the header record is longer than 1 MiB",
            ));
        }
    }
    Ok(line.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    /// The object as a stream of `chunk`-byte pieces from `from`.
    fn source(object: &[u8], from: u64, chunk: usize) -> ByteSource {
        let rest = object[(from as usize).min(object.len())..].to_vec();
        let pieces: Vec<io::Result<Bytes>> = rest
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Box::pin(futures_util::stream::iter(pieces))
    }

    /// What a ScanRange of `bytes` reads, for every chunking.
    fn scan(object: &[u8], bytes: Range<u64>) -> String {
        let window = ScanWindow::new(bytes.clone());
        let mut results = Vec::new();
        for chunk in [1, 2, 3, 5, 7, 64] {
            let stream = records_in(source(object, window.read_from(), chunk), window, b'\n');
            let out: Vec<Bytes> = block_on(stream.try_collect()).expect("in-memory source");
            results.push(out.concat());
        }
        for r in &results[1..] {
            assert_eq!(r, &results[0], "chunkings disagree for {bytes:?}");
        }
        String::from_utf8(results.remove(0)).expect("utf-8")
    }

    /// The reference: records whose first byte is in `bytes`.
    fn expected(object: &str, bytes: Range<u64>) -> String {
        let mut out = String::new();
        let mut start = 0u64;
        for record in object.split_inclusive('\n') {
            if bytes.contains(&start) {
                out.push_str(record);
            }
            start += record.len() as u64;
        }
        out
    }

    // Records start at 0, 4, 10, 13 and 20 (the last without a newline).
    const OBJECT: &str = "abc\ndefgh\nij\nklmnop\nqr";

    #[test]
    fn tricky_ranges() {
        let o = OBJECT.as_bytes();
        // Exactly at a record start: that record is in.
        assert_eq!(scan(o, 4..10), "defgh\n");
        assert_eq!(scan(o, 4..11), "defgh\nij\n");
        // In the middle of a record: it belongs to the previous range.
        assert_eq!(scan(o, 5..10), "");
        assert_eq!(scan(o, 5..11), "ij\n");
        // Starting at a delimiter: the next record is in.
        assert_eq!(scan(o, 3..4), "");
        assert_eq!(scan(o, 3..5), "defgh\n");
        assert_eq!(scan(o, 9..10), "");
        assert_eq!(scan(o, 9..14), "ij\nklmnop\n");
        // A record spanning the end is read to its end.
        assert_eq!(scan(o, 0..1), "abc\n");
        assert_eq!(scan(o, 0..5), "abc\ndefgh\n");
        // The last record has no delimiter.
        assert_eq!(scan(o, 15..22), "qr");
        assert_eq!(scan(o, 20..21), "qr");
        assert_eq!(scan(o, 21..22), "");
        // Whole object, beyond it, empty.
        assert_eq!(scan(o, 0..22), OBJECT);
        assert_eq!(scan(o, 22..22), "");
        assert_eq!(scan(o, 30..30), "");
        assert_eq!(scan(o, 7..7), "");
    }

    #[test]
    fn every_range_matches_the_reference() {
        for object in [
            OBJECT,
            "a\nb\n",
            "\n\n\n",
            "x",
            "",
            "abc\ndefgh\nij\nklmnop\nqr\n",
        ] {
            let len = object.len() as u64;
            for start in 0..=len + 1 {
                for end in start..=len + 2 {
                    let bytes = start.min(len)..end.min(len);
                    assert_eq!(
                        scan(object.as_bytes(), bytes.clone()),
                        expected(object, bytes.clone()),
                        "{object:?} {bytes:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn crlf_records() {
        let o = b"a,b\r\nc,d\r\ne,f\r\n";
        assert_eq!(scan(o, 5..6), "c,d\r\n");
        assert_eq!(scan(o, 4..5), "");
        assert_eq!(scan(o, 4..6), "c,d\r\n");
        assert_eq!(scan(o, 3..4), "");
        assert_eq!(scan(o, 1..10), "c,d\r\n");
        assert_eq!(scan(o, 1..11), "c,d\r\ne,f\r\n");
    }

    #[test]
    fn stops_reading_after_the_range() {
        let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = pulled.clone();
        let object = "r\n".repeat(1000);
        let stream = source(object.as_bytes(), 0, 2).inspect(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let out: Vec<Bytes> =
            block_on(records_in(Box::pin(stream), ScanWindow::new(0..10), b'\n').try_collect())
                .expect("in-memory source");
        assert_eq!(out.concat(), "r\n".repeat(5).as_bytes());
        assert_eq!(pulled.load(std::sync::atomic::Ordering::Relaxed), 5);
    }

    #[test]
    fn header_is_the_first_record() {
        let first = |o: &str, chunk| {
            block_on(first_record(source(o.as_bytes(), 0, chunk), b'\n')).expect("in-memory source")
        };
        for chunk in [1, 3, 100] {
            assert_eq!(first("name,age\nAl,3\n", chunk), "name,age\n");
            assert_eq!(first("name,age", chunk), "name,age");
            assert_eq!(first("", chunk), "");
        }
    }
}

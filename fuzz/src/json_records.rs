//! JSON records shaped for S3 Select: `sql/src/jsonrows.rs`.
//!
//! The input picks a query that needs shaping (a FROM path with `[*]`,
//! `.*`, `[n]` steps, an `IS MISSING` test) and gives the records, which
//! are shaped twice: as one chunk and split into chunks at arbitrary
//! points (as the network delivers them). Both must give the same lines,
//! or both fail with the same error code: a record's meaning never depends
//! on where the bytes were cut. Nothing panics.

use std::sync::Arc;

use arbitrary::Unstructured;
use blobgate_sql::engine::ByteSource;
use blobgate_sql::{jsonrows, translate, SelectError};
use bytes::Bytes;

use crate::support;

const QUERIES: &[&str] = &[
    "SELECT * FROM S3Object[*].items[*] s",
    "SELECT s.a FROM S3Object[*] s WHERE s.a IS MISSING",
    "SELECT s.* FROM S3Object[*].a.* s",
    "SELECT s FROM S3Object[*].a[1] s",
    "SELECT s.b FROM S3Object[*]['a'][*] s WHERE s.b IS NOT MISSING",
    "SELECT * FROM S3Object[*][*][*] s",
];

fn shaped(shape: &Arc<jsonrows::Shape>, chunks: Vec<Bytes>) -> Result<Vec<u8>, String> {
    let source: ByteSource = Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)));
    let (out, end) = support::drain(jsonrows::shape(source, shape.clone()));
    end.map(|()| out).map_err(|e| {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<SelectError>())
            .map_or_else(|| e.to_string(), |s| s.code.to_owned())
    })
}

pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(query) = u.choose(QUERIES) else {
        return;
    };
    let shape = match translate::plan_json(query) {
        Ok(Some(shape)) => Arc::new(shape),
        other => panic!("{query} needs shaping, plan_json said {other:?}"),
    };
    let Ok(records) = support::bytes_upto(&mut u, 4096) else {
        return;
    };
    let whole = shaped(&shape, vec![Bytes::from(records.clone())]);
    let pieces = shaped(&shape, support::split(&mut u, &records));
    assert_eq!(
        whole,
        pieces,
        "{query} over {:?}",
        String::from_utf8_lossy(&records)
    );
}

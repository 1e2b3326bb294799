//! S3 Select SQL: `sql/src/translate.rs`.
//!
//! The input is a query (the committed corpus holds the queries of the
//! Select test files, which libFuzzer mutates) over a CSV header, a
//! Parquet schema and JSON records. Whatever the translator accepts it
//! must turn into SQL that parses again (the rewrite never produces text
//! DataFusion cannot read); nothing panics, and a refusal carries one of
//! S3 Select's error codes.

use blobgate_sql::translate;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Longest query tried (S3 Select's limit is 256 KiB; the structure, not
/// the length, is what is being searched).
const MAX_QUERY: usize = 4096;

fn reparses(query: &str, sql: &str) {
    if let Err(e) = Parser::parse_sql(&GenericDialect {}, sql) {
        panic!("{query:?} became SQL that does not parse: {sql:?}: {e}");
    }
}

pub fn run(data: &[u8]) {
    if data.len() > MAX_QUERY {
        return;
    }
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let columns = ["_1", "name", "a b", "Count"].map(str::to_owned);
    for nested in [false, true] {
        match translate::translate_for(query, &columns, nested) {
            Ok(t) => reparses(query, &t.sql),
            Err(e) => assert!(!e.code.is_empty(), "an error without a code for {query:?}"),
        }
    }
    if let Ok(shape) = translate::plan_json(query) {
        let fields = ["a".to_owned(), "b".to_owned()];
        let columns: Vec<String> = match &shape {
            Some(s) => std::iter::once(blobgate_sql::jsonrows::ROW.to_owned())
                .chain((0..s.presence.len()).map(blobgate_sql::jsonrows::Shape::present_column))
                .collect(),
            None => columns.to_vec(),
        };
        if let Ok(t) = translate::translate_json(query, &columns, Some(&fields)) {
            reparses(query, &t.sql);
        }
    }
}

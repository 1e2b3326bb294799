//! JSON records turned into the rows of a FROM path, with the presence of
//! the fields a query tests: what S3 Select's MISSING needs and Arrow's JSON
//! reader cannot tell (an absent field and a JSON `null` both read as NULL
//! there).
//!
//! Rules (the S3 user guide, "SELECT command", FROM clause, and "Reserved
//! keywords"/MISSING): `FROM S3Object[*].path` makes the values at the path
//! the rows; the steps are `.name` (`['name']`), `[index]`, `.*` (every
//! member of an object) and `[*]` (every element of an array). A path
//! always emits at least one row per record: MISSING when nothing matches
//! (an absent name, an empty array, a step into a value of another kind).
//! `x IS MISSING` is true only when `x` is absent; a JSON `null` is NULL,
//! not MISSING.
//!
//! The shaper rewrites each record into one line per row, which the rest
//! of the engine reads as JSON LINES:
//! - with a FROM path: `{"__blobgate_row":<value>,"__blobgate_present_0":
//!   true,...}`, without the row member for a MISSING row;
//! - without one: the record itself with the presence members first.
//!
//! Records are found with a small scanner over the bytes (strings,
//! escapes, nesting), so values are copied as written: member order and
//! number spellings stay as in the object. The scanner bounds nesting at
//! [`MAX_DEPTH`] and a record at [`MAX_RECORD`]; Arrow's reader checks the
//! lines again when it decodes them.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::engine::{ByteSource, MAX_RECORD};
use crate::SelectError;

/// The column a FROM path's row is read from.
pub const ROW: &str = "__blobgate_row";
/// Presence columns: `__blobgate_present_<k>` is true when the k-th tested
/// path is there.
pub const PRESENT: &str = "__blobgate_present_";
/// Deepest nesting the scanner follows.
pub const MAX_DEPTH: usize = 512;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A member of an object; `exact` for a quoted name, otherwise matched
    /// as unquoted names are, ignoring ASCII case.
    Name { name: String, exact: bool },
    /// An element of an array, from 0.
    Index(usize),
    /// `.*`: every member of an object.
    Members,
    /// `[*]`: every element of an array.
    Elements,
}

/// How records become rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shape {
    /// The FROM path (`None`: each record is a row, as it is).
    pub path: Option<Vec<Step>>,
    /// The paths, from a row, whose presence the query needs.
    pub presence: Vec<Vec<Step>>,
}

impl Shape {
    /// The name of presence column `k`.
    pub fn present_column(k: usize) -> String {
        format!("{PRESENT}{k}")
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Scan {
    /// The bytes end inside the value.
    Incomplete,
    Invalid(&'static str),
}

type Span = (usize, usize);

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The span of the value at `i` (after any whitespace).
fn value(b: &[u8], i: usize, depth: usize) -> Result<Span, Scan> {
    let start = skip_ws(b, i);
    let Some(&c) = b.get(start) else {
        return Err(Scan::Incomplete);
    };
    let end = match c {
        b'{' | b'[' => container(b, start, depth + 1, &mut |_, _| {})?,
        b'"' => string_end(b, start)?,
        _ => scalar_end(b, start)?,
    };
    Ok((start, end))
}

fn string_end(b: &[u8], start: usize) -> Result<usize, Scan> {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'"' => return Ok(i + 1),
            b'\\' => i += 2,
            c if c < 0x20 => return Err(Scan::Invalid("a control character in a string")),
            _ => i += 1,
        }
    }
    Err(Scan::Incomplete)
}

fn scalar_end(b: &[u8], start: usize) -> Result<usize, Scan> {
    let mut i = start;
    while i < b.len()
        && matches!(b[i], b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'+' | b'-' | b'.')
    {
        i += 1;
    }
    if i == b.len() {
        // A number may go on in the next chunk.
        return Err(Scan::Incomplete);
    }
    let token = &b[start..i];
    let number = matches!(token.first(), Some(b'0'..=b'9' | b'-'));
    if number || matches!(token, b"true" | b"false" | b"null") {
        Ok(i)
    } else {
        Err(Scan::Invalid("not a JSON value"))
    }
}

/// The end of the object or array at `start`, calling `visit` with each
/// member's key span (None in an array) and value span.
fn container(
    b: &[u8],
    start: usize,
    depth: usize,
    visit: &mut dyn FnMut(Option<Span>, Span),
) -> Result<usize, Scan> {
    if depth > MAX_DEPTH {
        return Err(Scan::Invalid("values nested too deeply"));
    }
    let object = b[start] == b'{';
    let close = if object { b'}' } else { b']' };
    let mut i = start + 1;
    let mut first = true;
    loop {
        i = skip_ws(b, i);
        let Some(&c) = b.get(i) else {
            return Err(Scan::Incomplete);
        };
        if c == close && first {
            return Ok(i + 1);
        }
        if !first {
            match c {
                b',' => i = skip_ws(b, i + 1),
                _ if c == close => return Ok(i + 1),
                _ => return Err(Scan::Invalid("expected a comma")),
            }
        }
        first = false;
        let key = if object {
            match b.get(i) {
                None => return Err(Scan::Incomplete),
                Some(b'"') => {}
                Some(_) => return Err(Scan::Invalid("expected a member name")),
            }
            let end = string_end(b, i)?;
            let key = (i, end);
            i = skip_ws(b, end);
            match b.get(i) {
                None => return Err(Scan::Incomplete),
                Some(b':') => i += 1,
                Some(_) => return Err(Scan::Invalid("expected a colon")),
            }
            Some(key)
        } else {
            None
        };
        let v = value(b, i, depth)?;
        visit(key, v);
        i = v.1;
    }
}

/// The text of a member name (its span includes the quotes).
fn key_text(b: &[u8], (s, e): Span) -> Cow<'_, str> {
    let inner = &b[s + 1..e - 1];
    if !inner.contains(&b'\\') {
        if let Ok(t) = std::str::from_utf8(inner) {
            return Cow::Borrowed(t);
        }
    }
    match serde_json::from_slice::<String>(&b[s..e]) {
        Ok(t) => Cow::Owned(t),
        Err(_) => Cow::Owned(String::from_utf8_lossy(inner).into_owned()),
    }
}

/// The members (or elements) of the container at `span`.
fn children(b: &[u8], span: Span) -> Vec<(Option<Span>, Span)> {
    let mut out = Vec::new();
    if matches!(b.get(span.0), Some(b'{' | b'[')) {
        // Already scanned whole: cannot fail.
        let _ = container(b, span.0, 1, &mut |k, v| out.push((k, v)));
    }
    out
}

fn is_object(b: &[u8], span: Span) -> bool {
    b.get(span.0) == Some(&b'{')
}

fn is_array(b: &[u8], span: Span) -> bool {
    b.get(span.0) == Some(&b'[')
}

fn member(b: &[u8], span: Span, name: &str, exact: bool) -> Option<Span> {
    if !is_object(b, span) {
        return None;
    }
    // As s3_field finds a field: the exact name, else the one name that
    // matches ignoring case.
    let all = children(b, span);
    let keyed = || {
        all.iter()
            .filter_map(|(k, v)| Some((key_text(b, (*k)?), *v)))
    };
    if let Some((_, v)) = keyed().find(|(k, _)| k == name) {
        return Some(v);
    }
    if exact {
        return None;
    }
    let mut loose = keyed().filter(|(k, _)| k.eq_ignore_ascii_case(name));
    match (loose.next(), loose.next()) {
        (Some((_, v)), None) => Some(v),
        _ => None,
    }
}

/// The rows `steps` lead to from `at` (None: MISSING), at least one.
fn walk(b: &[u8], at: Option<Span>, steps: &[Step], out: &mut Vec<Option<Span>>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(at);
        return;
    };
    let Some(span) = at else {
        out.push(None);
        return;
    };
    match step {
        Step::Name { name, exact } => walk(b, member(b, span, name, *exact), rest, out),
        Step::Index(i) => {
            let element = is_array(b, span)
                .then(|| children(b, span).get(*i).map(|c| c.1))
                .flatten();
            walk(b, element, rest, out)
        }
        Step::Members | Step::Elements => {
            let fits = if *step == Step::Members {
                is_object(b, span)
            } else {
                is_array(b, span)
            };
            let all = if fits { children(b, span) } else { Vec::new() };
            if all.is_empty() {
                walk(b, None, rest, out);
            }
            for (_, v) in all {
                walk(b, Some(v), rest, out);
            }
        }
    }
}

/// Whether `steps` (names and indexes) lead to a value from `at`.
fn present(b: &[u8], at: Option<Span>, steps: &[Step]) -> bool {
    let mut rows = Vec::new();
    walk(b, at, steps, &mut rows);
    rows.iter().any(Option::is_some)
}

fn parse_error(what: &str) -> SelectError {
    SelectError::new(
        "JSONParsingError",
        format!("the object is not valid JSON: {what}"),
    )
}

/// Append the lines of the record at `span` to `out`.
fn shape_record(b: &[u8], span: Span, shape: &Shape, out: &mut Vec<u8>) {
    let presence = |row: Option<Span>, out: &mut Vec<u8>, mut first: bool| {
        for (k, steps) in shape.presence.iter().enumerate() {
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(Shape::present_column(k).as_bytes());
            out.extend_from_slice(b"\":");
            let there = present(b, row, steps);
            out.extend_from_slice(if there { b"true" } else { b"false" });
        }
    };
    match &shape.path {
        None => {
            if !is_object(b, span) {
                // Arrow's reader gives the error this deserves.
                out.extend_from_slice(&b[span.0..span.1]);
                out.push(b'\n');
                return;
            }
            out.push(b'{');
            presence(Some(span), out, true);
            let body = &b[span.0 + 1..span.1];
            let empty = body
                .iter()
                .all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'}'));
            if !shape.presence.is_empty() && !empty {
                out.push(b',');
            }
            out.extend_from_slice(body);
            out.push(b'\n');
        }
        Some(path) => {
            let mut rows = Vec::new();
            walk(b, Some(span), path, &mut rows);
            for row in rows {
                out.push(b'{');
                let first = match row {
                    Some((s, e)) => {
                        out.push(b'"');
                        out.extend_from_slice(ROW.as_bytes());
                        out.extend_from_slice(b"\":");
                        out.extend_from_slice(&b[s..e]);
                        false
                    }
                    None => true,
                };
                presence(row, out, first);
                out.extend_from_slice(b"}\n");
            }
        }
    }
}

/// Shape every whole record in `pending`, leaving an unfinished one there.
/// `end`: no more bytes will come.
fn shape_pending(pending: &mut BytesMut, shape: &Shape, end: bool) -> Result<Vec<u8>, SelectError> {
    if end {
        // A number at the very end is complete.
        pending.extend_from_slice(b"\n");
    }
    let b = &pending[..];
    let mut out = Vec::with_capacity(b.len() + b.len() / 4);
    let mut pos = 0;
    loop {
        let start = skip_ws(b, pos);
        if start == b.len() {
            pos = start;
            break;
        }
        match value(b, start, 0) {
            Ok(span) => {
                shape_record(b, span, shape, &mut out);
                pos = span.1;
            }
            Err(Scan::Incomplete) if !end => {
                pos = start;
                break;
            }
            Err(Scan::Incomplete) => return Err(parse_error("the last record is not complete")),
            Err(Scan::Invalid(what)) => return Err(parse_error(what)),
        }
    }
    let _ = pending.split_to(pos);
    if pending.len() > MAX_RECORD {
        return Err(SelectError::new(
            "OverMaxRecordSize",
            "The character number in one record is more than our max threshold, maxCharsPerRecord: 1,048,576",
        ));
    }
    Ok(out)
}

/// `source` (JSON records) as the lines of `shape`'s rows. A failure is an
/// `io::Error` carrying the [`SelectError`].
pub fn shape(source: ByteSource, shape: Arc<Shape>) -> ByteSource {
    struct State {
        source: ByteSource,
        shape: Arc<Shape>,
        pending: BytesMut,
        done: bool,
    }
    let state = State {
        source,
        shape,
        pending: BytesMut::new(),
        done: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if s.done {
                return None;
            }
            let end = match s.source.next().await {
                Some(Ok(chunk)) => {
                    s.pending.extend_from_slice(&chunk);
                    false
                }
                Some(Err(e)) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
                None => {
                    s.done = true;
                    true
                }
            };
            match shape_pending(&mut s.pending, &s.shape, end) {
                Ok(out) if out.is_empty() => continue,
                Ok(out) => return Some((Ok(Bytes::from(out)), s)),
                Err(e) => {
                    s.done = true;
                    return Some((Err(io::Error::other(e)), s));
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> Step {
        Step::Name {
            name: n.into(),
            exact: false,
        }
    }

    fn run(input: &str, shape: Shape) -> Result<String, SelectError> {
        let mut pending = BytesMut::from(input.as_bytes());
        let out = shape_pending(&mut pending, &shape, true)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn wildcard_rows_and_missing() {
        // The S3 user guide's first FROM-path example.
        let input = r#"{ "Rules": [ {"id": "1"}, {"expr": "y > x"}, {"id": "2", "expr": "z = DEST"} ]}
{ "created": "June 27", "modified": "July 6" }"#;
        let shape = Shape {
            path: Some(vec![name("rules"), Step::Elements, name("id")]),
            presence: vec![vec![]],
        };
        assert_eq!(
            run(input, shape).unwrap(),
            concat!(
                "{\"__blobgate_row\":\"1\",\"__blobgate_present_0\":true}\n",
                "{\"__blobgate_present_0\":false}\n",
                "{\"__blobgate_row\":\"2\",\"__blobgate_present_0\":true}\n",
                "{\"__blobgate_present_0\":false}\n",
            )
        );
    }

    #[test]
    fn null_is_present_absent_is_not() {
        let shape = Shape {
            path: None,
            presence: vec![vec![name("a")], vec![name("b"), Step::Index(1)]],
        };
        let out = run(
            "{\"a\":null,\"b\":[1]}\n{}\n{\"A\" : 2, \"b\":[0,{}]}",
            shape,
        )
        .unwrap();
        assert_eq!(
            out,
            concat!(
                "{\"__blobgate_present_0\":true,\"__blobgate_present_1\":false,\"a\":null,\"b\":[1]}\n",
                "{\"__blobgate_present_0\":false,\"__blobgate_present_1\":false}\n",
                "{\"__blobgate_present_0\":true,\"__blobgate_present_1\":true,\"A\" : 2, \"b\":[0,{}]}\n",
            )
        );
    }

    #[test]
    fn members_wildcard_and_exact_names() {
        let shape = Shape {
            path: Some(vec![
                Step::Name {
                    name: "M".into(),
                    exact: true,
                },
                Step::Members,
            ]),
            presence: vec![],
        };
        let out = run(r#"{"m":{"x":1},"M":{"x":2,"y":"\"}"}} {"M":{}}"#, shape).unwrap();
        assert_eq!(
            out,
            "{\"__blobgate_row\":2}\n{\"__blobgate_row\":\"\\\"}\"}\n{}\n"
        );
    }

    #[test]
    fn records_split_across_chunks() {
        let shape = Arc::new(Shape {
            path: Some(vec![name("a"), Step::Elements]),
            presence: vec![],
        });
        let text = "{\"a\":[1,\"x]\",{\"b\":[]}]}\n{\"a\":12345}";
        for cut in 1..text.len() {
            let mut pending = BytesMut::new();
            let mut out = Vec::new();
            pending.extend_from_slice(&text.as_bytes()[..cut]);
            out.extend(shape_pending(&mut pending, &shape, false).unwrap());
            pending.extend_from_slice(&text.as_bytes()[cut..]);
            out.extend(shape_pending(&mut pending, &shape, true).unwrap());
            assert_eq!(
                String::from_utf8(out).unwrap(),
                concat!(
                    "{\"__blobgate_row\":1}\n{\"__blobgate_row\":\"x]\"}\n",
                    "{\"__blobgate_row\":{\"b\":[]}}\n{}\n"
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn bad_input_is_a_parsing_error() {
        for bad in [
            "{\"a\":1,}",
            "{\"a\" 1}",
            "[1 2]",
            "{\"a\":tru}",
            "{\"a\":1",
            "{\"a\":\"x\ny\"}",
        ] {
            let e = run(bad, Shape::default()).unwrap_err();
            assert_eq!(e.code, "JSONParsingError", "{bad}");
        }
        let deep = "[".repeat(MAX_DEPTH + 2);
        assert_eq!(
            run(&deep, Shape::default()).unwrap_err().code,
            "JSONParsingError"
        );
    }

    #[test]
    fn an_unfinished_record_is_bounded() {
        let mut pending = BytesMut::from(&b"{\"a\":\""[..]);
        pending.extend_from_slice(&vec![b'x'; MAX_RECORD + 1]);
        let e = shape_pending(&mut pending, &Shape::default(), false).unwrap_err();
        assert_eq!(e.code, "OverMaxRecordSize");
    }
}

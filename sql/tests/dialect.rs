//! The S3 Select SQL dialect, pinned in readable case files:
//! `tests/select/*.slt` (files under `tests/select/pending/` are skipped;
//! they hold what S3 does and we do not yet; `SLT_PENDING=1` runs them
//! too and reports without failing).
//!
//! File format: records separated by blank lines; `#` starts a comment line.
//!
//! ```text
//! input csv header=USE          # the object for the queries that follow
//! name,age                      # its lines, up to the next blank line
//! Ann,30
//!
//! query                         # CSV output (default options)
//! SELECT s.name FROM S3Object s WHERE s.age > 20
//! ----                          # the expected output lines follow
//! Ann
//!
//! query json                    # JSON output: one record a line
//! SELECT s.name FROM S3Object s
//! ----
//! {"name":"Ann"}
//!
//! query error CastFailed        # an error code: raised before the stream
//! SELECT CAST(s.name AS INT) FROM S3Object s    # or in it, either way
//! ```
//!
//! - `input csv` options: `header=NONE|USE|IGNORE` (default NONE),
//!   `fd=` field delimiter, `rd=` record delimiter, `quote=`, `escape=`,
//!   `comments=` (empty: none); `\t`, `\n`, `\r`, `\s` (space) and `\\`
//!   are escapes in option values. `input json [lines|document]`.
//!   Input lines are joined with `\n` (or `rd`), and a final one added.
//! - `query csv` options: `fd=`, `rd=`, `quote=`, `always` (QuoteFields
//!   ALWAYS). The query may span lines, up to `----`.
//! - A line `<empty>` in an input or an output stands for an empty line
//!   (a blank line ends the record). An output section with no lines means
//!   no rows.
//! - The input is fed to the engine in chunks of 5 bytes, to exercise the
//!   streaming decoders.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt;

use blobgate_sql::engine::{execute, ByteSource};
use blobgate_sql::request::{
    Compression, CsvInput, CsvOutput, FileHeaderInfo, InputFormat, InputSerialization, JsonInput,
    JsonOutput, JsonType, OutputSerialization, QuoteFields, SelectRequest,
};

const CHUNK: usize = 5;

#[derive(Debug, Clone)]
struct Input {
    format: InputFormat,
    bytes: Vec<u8>,
}

#[derive(Debug)]
enum Expect {
    Rows(Vec<String>),
    Error(String),
}

#[derive(Debug)]
struct Case {
    line: usize,
    input: Input,
    query: String,
    output: OutputSerialization,
    expect: Expect,
}

fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('s') => out.push(' '),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

fn one_char(v: &str) -> char {
    let v = unescape(v);
    let mut c = v.chars();
    let first = c.next().expect("an option needs one character");
    assert!(c.next().is_none(), "one character expected: {v:?}");
    first
}

fn lines_of(block: &[&str]) -> Vec<String> {
    block
        .iter()
        .map(|l| {
            if *l == "<empty>" {
                String::new()
            } else {
                l.to_string()
            }
        })
        .collect()
}

fn parse_input(header: &str, body: &[&str]) -> Input {
    let mut words = header.split_whitespace().skip(1);
    let kind = words.next().expect("input csv|json");
    let mut rd = "\n".to_string();
    let format = match kind {
        "csv" => {
            let mut csv = CsvInput::default();
            for w in words {
                let (k, v) = w.split_once('=').unwrap_or((w, ""));
                match k {
                    "header" => {
                        csv.file_header_info = match v.to_ascii_uppercase().as_str() {
                            "USE" => FileHeaderInfo::Use,
                            "IGNORE" => FileHeaderInfo::Ignore,
                            _ => FileHeaderInfo::None,
                        }
                    }
                    "fd" => csv.field_delimiter = one_char(v),
                    "rd" => {
                        rd = unescape(v);
                        csv.record_delimiter = rd.clone();
                    }
                    "quote" => csv.quote_character = (!v.is_empty()).then(|| one_char(v)),
                    "escape" => csv.quote_escape_character = one_char(v),
                    "comments" => csv.comments = (!v.is_empty()).then(|| one_char(v)),
                    _ => panic!("unknown csv input option {w}"),
                }
            }
            InputFormat::Csv(csv)
        }
        "json" => InputFormat::Json(JsonInput {
            kind: match words.next() {
                Some("lines") => JsonType::Lines,
                _ => JsonType::Document,
            },
        }),
        other => panic!("unknown input kind {other}"),
    };
    let mut bytes = Vec::new();
    for l in lines_of(body) {
        bytes.extend_from_slice(l.as_bytes());
        bytes.extend_from_slice(rd.as_bytes());
    }
    Input { format, bytes }
}

fn parse_output(words: &[&str]) -> OutputSerialization {
    if words.first() == Some(&"json") {
        return OutputSerialization::Json(JsonOutput::default());
    }
    let mut csv = CsvOutput::default();
    for w in words.iter().filter(|w| **w != "csv") {
        let (k, v) = w.split_once('=').unwrap_or((w, ""));
        match k {
            "fd" => csv.field_delimiter = one_char(v),
            "rd" => csv.record_delimiter = unescape(v),
            "quote" => csv.quote_character = Some(one_char(v)),
            "always" => csv.quote_fields = QuoteFields::Always,
            _ => panic!("unknown csv output option {w}"),
        }
    }
    OutputSerialization::Csv(csv)
}

fn parse_file(text: &str) -> Vec<Case> {
    let lines: Vec<&str> = text.lines().collect();
    let mut records: Vec<(usize, Vec<&str>)> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with('#') {
            continue;
        }
        if l.trim().is_empty() {
            if !current.is_empty() {
                records.push((start, std::mem::take(&mut current)));
            }
            continue;
        }
        if current.is_empty() {
            start = i + 1;
        }
        current.push(l);
    }
    if !current.is_empty() {
        records.push((start, current));
    }
    let mut input: Option<Input> = None;
    let mut cases = Vec::new();
    for (line, rec) in records {
        let head = rec[0];
        if head.starts_with("input ") {
            input = Some(parse_input(head, &rec[1..]));
            continue;
        }
        let words: Vec<&str> = head.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"query"), "line {line}: {head}");
        let (output, error) = if words.get(1) == Some(&"error") {
            let code = words.get(2).expect("query error CODE");
            (
                OutputSerialization::Csv(CsvOutput::default()),
                Some(code.to_string()),
            )
        } else {
            (parse_output(&words[1..]), None)
        };
        let sep = rec.iter().position(|l| *l == "----");
        let query_end = sep.unwrap_or(rec.len());
        let query = rec[1..query_end].join("\n");
        let expect = match error {
            Some(code) => {
                assert!(sep.is_none(), "line {line}: an error case has no output");
                Expect::Error(code)
            }
            None => {
                let sep = sep.unwrap_or_else(|| panic!("line {line}: ---- expected"));
                Expect::Rows(lines_of(&rec[sep + 1..]))
            }
        };
        cases.push(Case {
            line,
            input: input
                .clone()
                .unwrap_or_else(|| panic!("line {line}: no input yet")),
            query,
            output,
            expect,
        });
    }
    cases
}

/// Runs a case: the output, or the error's code and message.
async fn run(case: &Case) -> Result<String, (String, String)> {
    let request = SelectRequest {
        expression: case.query.clone(),
        input: InputSerialization {
            compression: Compression::None,
            format: case.input.format.clone(),
        },
        output: case.output.clone(),
        request_progress: false,
        scan_range: None,
    };
    let chunks: Vec<std::io::Result<Bytes>> = case
        .input
        .bytes
        .chunks(CHUNK)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let source: ByteSource = Box::pin(futures_util::stream::iter(chunks));
    let execution = execute(&request, source)
        .await
        .map_err(|e| (e.code.to_string(), e.message.to_string()))?;
    let mut output = execution.output;
    let mut text = Vec::new();
    while let Some(item) = output.next().await {
        match item {
            Ok(b) => text.extend_from_slice(&b),
            Err(e) => return Err((e.code.to_string(), e.message.to_string())),
        }
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

fn expected_text(case: &Case, rows: &[String]) -> String {
    let rd = match &case.output {
        OutputSerialization::Csv(c) => c.record_delimiter.clone(),
        OutputSerialization::Json(j) => j.record_delimiter.clone(),
    };
    rows.iter().map(|r| format!("{r}{rd}")).collect()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "slt"));
    files.sort();
    files
}

async fn run_dir(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut summary = Vec::new();
    let mut failures = Vec::new();
    for file in files(dir) {
        let text = std::fs::read_to_string(&file).expect("readable case file");
        let cases = parse_file(&text);
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut passed = 0;
        for case in &cases {
            let got = run(case).await;
            let ok = match (&case.expect, &got) {
                (Expect::Rows(rows), Ok(text)) => *text == expected_text(case, rows),
                (Expect::Error(code), Err((got, _))) => code == got,
                _ => false,
            };
            if ok {
                passed += 1;
            } else {
                let expected = match &case.expect {
                    Expect::Rows(rows) => format!("{:?}", expected_text(case, rows)),
                    Expect::Error(code) => format!("error {code}"),
                };
                let got = match got {
                    Ok(text) => format!("{text:?}"),
                    Err((code, message)) => format!("error {code}: {message}"),
                };
                failures.push(format!(
                    "{name}:{}: {}\n  expected {expected}\n  got      {got}",
                    case.line, case.query
                ));
            }
        }
        summary.push(format!("{name}: {passed}/{} passed", cases.len()));
    }
    (summary, failures)
}

#[tokio::test(flavor = "current_thread")]
async fn dialect() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/select");
    let (summary, failures) = run_dir(&dir).await;
    for s in &summary {
        println!("{s}");
    }
    if std::env::var_os("SLT_PENDING").is_some() {
        let (summary, pending) = run_dir(&dir.join("pending")).await;
        for s in &summary {
            println!("pending/{s}");
        }
        for f in &pending {
            println!("pending/{f}");
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

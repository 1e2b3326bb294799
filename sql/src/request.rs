//! The SelectObjectContent request document: the XML body of
//! `POST /{bucket}/{key}?select&select-type=2`, parsed and validated into a
//! [`SelectRequest`] before anything is read from storage.
//!
//! Reference: the AWS S3 API reference,
//! [SelectObjectContent](https://docs.aws.amazon.com/AmazonS3/latest/API/API_SelectObjectContent.html),
//! its data types (InputSerialization, CSVInput, JSONInput, OutputSerialization,
//! CSVOutput, JSONOutput, RequestProgress, ScanRange) and the "List of SELECT
//! Object Content Error Codes" of its error responses page.
//!
//! Where AWS documents nothing, behaviour follows what clients send and what
//! MinIO (`internal/s3select`) accepts, so that every client that works
//! against AWS or MinIO works here:
//!
//! - The root element is `SelectObjectContentRequest` (current SDKs) or
//!   `SelectRequest` (older ones); namespaces and prefixes are ignored, child
//!   order is free, unknown elements are ignored at every level (the .NET SDK
//!   once sent ScanRange inside RequestProgress; AWS ignored it, so do we).
//!   A known element that appears twice is MalformedXML.
//! - Keyword values (ExpressionType, CompressionType, FileHeaderInfo, JSON
//!   Type, QuoteFields) are matched ignoring ASCII case and surrounding
//!   whitespace: minio-go sends QuoteFields `Always` / `AsNeeded`, the AWS
//!   JSONInput page spells the types `Document` / `Lines`, and MinIO folds
//!   case. An empty optional keyword means its default (minio-go always sends
//!   `<CompressionType>`, empty when unset; older minio-py sent it empty,
//!   minio/minio-py#1091).
//! - Character and delimiter values are never trimmed: a space or a tab is a
//!   valid delimiter. An empty RecordDelimiter or FieldDelimiter is
//!   MissingRequiredParameter (AWS answers "RecordDelimiter is required" to
//!   an empty one, paws-r/paws#296); an empty QuoteCharacter means "no
//!   quoting", an empty Comments "no comment lines", an empty
//!   QuoteEscapeCharacter the default `"` (as MinIO).
//! - Booleans are `true` / `false` in any case, or `1` / `0` (XML Schema);
//!   empty means the default (false).
//!
//! Line breaks: the document is read as XML 1.0 requires (section 2.11):
//! every raw CRLF and every lone raw CR becomes LF before parsing, as every
//! conforming parser does (Go's `encoding/xml` in MinIO, the JDK's) and as
//! S3-SELECT.md records for AWS. So a RecordDelimiter of `"\r\n"` sent raw
//! (boto3: botocore's ElementTree serializer escapes neither CR nor LF)
//! arrives as `"\n"`, and a raw `"\r"` also as `"\n"`. Sent as character
//! references, `&#13;&#10;` or `&#xD;&#xA;` (Go's `encoding/xml`, hence
//! minio-go and `mc sql`, escapes CR and LF so), it stays `"\r\n"`.

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::SelectError;

/// Largest request body accepted. Every parameter but the expression is a
/// few bytes, and the expression is at most [`MAX_EXPRESSION_BYTES`].
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// Largest SQL expression, in UTF-8 bytes after XML unescaping: "The maximum
/// byte-length for an SQL expression is 256 KB" (AWS).
pub const MAX_EXPRESSION_BYTES: usize = 256 * 1024;

/// Longest RecordDelimiter, in characters. AWS documents "a single
/// character", but CRLF is the common need; MinIO accepts one or two bytes
/// for JSON output, and `mc sql --json-output "rd=\n\n"` is its own example.
pub const MAX_RECORD_DELIMITER_CHARS: usize = 2;

/// Nesting and element-count limits of the document: a real request has
/// fewer than 40 elements, 4 levels deep.
const MAX_DEPTH: usize = 16;
const MAX_ELEMENTS: usize = 1024;

/// A parsed and validated SelectObjectContent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectRequest {
    /// The SQL expression, exactly as sent (after XML unescaping); never
    /// blank, at most [`MAX_EXPRESSION_BYTES`] bytes.
    pub expression: String,
    pub input: InputSerialization,
    pub output: OutputSerialization,
    /// `RequestProgress/Enabled`: send Progress events while scanning.
    pub request_progress: bool,
    /// Only records whose first byte lies in this range are processed.
    /// Present only for uncompressed CSV (without AllowQuotedRecordDelimiter),
    /// JSON LINES and Parquet input.
    pub scan_range: Option<ScanRange>,
}

/// How the object is stored and what it contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSerialization {
    /// Whole-object compression (CompressionType); always `None` for Parquet.
    pub compression: Compression,
    pub format: InputFormat,
}

/// Whole-object compression of CSV and JSON input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Bzip2,
}

/// The input format: exactly one of CSV, JSON, Parquet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputFormat {
    Csv(CsvInput),
    Json(JsonInput),
    /// Parquet has no options (`<Parquet/>`).
    Parquet,
}

/// How a CSV object is read (CSVInput).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvInput {
    pub file_header_info: FileHeaderInfo,
    /// A line starting with this character is skipped. AWS's default is `#`;
    /// an empty `<Comments/>` turns comment lines off.
    pub comments: Option<char>,
    /// Escapes the quote character inside a quoted value. Default `"`.
    pub quote_escape_character: char,
    /// Separates records: one or two characters. Default `"\n"`.
    pub record_delimiter: String,
    /// Separates fields. Default `,`.
    pub field_delimiter: char,
    /// Quotes a value containing delimiters. Default `"`; `None` (from an
    /// empty element) means values are never quoted.
    pub quote_character: Option<char>,
    /// Record delimiters may appear inside quoted values.
    pub allow_quoted_record_delimiter: bool,
}

impl Default for CsvInput {
    fn default() -> Self {
        CsvInput {
            file_header_info: FileHeaderInfo::None,
            comments: Some('#'),
            quote_escape_character: '"',
            record_delimiter: "\n".to_owned(),
            field_delimiter: ',',
            quote_character: Some('"'),
            allow_quoted_record_delimiter: false,
        }
    }
}

/// What the first line of a CSV object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileHeaderInfo {
    /// The first line is a record; columns are only `_1`, `_2`, ...
    #[default]
    None,
    /// The first line names the columns; names and positions both work.
    Use,
    /// The first line is skipped; columns are only positional.
    Ignore,
}

/// How a JSON object is read (JSONInput).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JsonInput {
    pub kind: JsonType,
}

/// The JSON layout of the object. AWS documents no default; an absent or
/// empty Type is taken as `Document` (which also reads concatenated values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonType {
    /// One or more JSON values, possibly spanning lines.
    #[default]
    Document,
    /// One JSON value per line.
    Lines,
}

/// How the answer's records are written: exactly one of CSV, JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSerialization {
    Csv(CsvOutput),
    Json(JsonOutput),
}

/// How CSV output is written (CSVOutput).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOutput {
    pub quote_fields: QuoteFields,
    /// Escapes the quote character inside a quoted value. Default `"`.
    pub quote_escape_character: char,
    /// Ends each record: one or two characters. Default `"\n"`.
    pub record_delimiter: String,
    /// Separates fields. Default `,`.
    pub field_delimiter: char,
    /// Default `"`; `None` (from an empty element) means never quote.
    pub quote_character: Option<char>,
}

impl Default for CsvOutput {
    fn default() -> Self {
        CsvOutput {
            quote_fields: QuoteFields::AsNeeded,
            quote_escape_character: '"',
            record_delimiter: "\n".to_owned(),
            field_delimiter: ',',
            quote_character: Some('"'),
        }
    }
}

/// When CSV output values are quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuoteFields {
    Always,
    /// Only values that contain a delimiter or a quote character.
    #[default]
    AsNeeded,
}

/// How JSON output is written (JSONOutput).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonOutput {
    /// Ends each record: one or two characters. Default `"\n"`.
    pub record_delimiter: String,
}

impl Default for JsonOutput {
    fn default() -> Self {
        JsonOutput {
            record_delimiter: "\n".to_owned(),
        }
    }
}

/// ScanRange: which bytes of the object to take records from; both bounds
/// are inclusive byte offsets. A record is processed when its first byte
/// lies in the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanRange {
    /// `<Start>` only: from this offset to the end of the object.
    From(u64),
    /// `<End>` only: the last N bytes of the object.
    Last(u64),
    /// `<Start>` and `<End>`: from the first offset to the second, inclusive
    /// (the first is never greater than the second).
    Between(u64, u64),
}

impl ScanRange {
    /// The byte offsets of an object of `object_size` bytes the range
    /// covers, as a half-open range clamped to the object (empty when the
    /// range lies past its end).
    pub fn bytes(&self, object_size: u64) -> Range<u64> {
        match *self {
            ScanRange::From(start) => start.min(object_size)..object_size,
            ScanRange::Last(n) => object_size.saturating_sub(n)..object_size,
            ScanRange::Between(start, end) => {
                start.min(object_size)..end.saturating_add(1).min(object_size)
            }
        }
    }
}

/// A Range header is not accepted on SelectObjectContent (ScanRange is the
/// way to select bytes): UnsupportedRangeHeader when `present`.
pub fn check_range_header(present: bool) -> Result<(), SelectError> {
    if present {
        return Err(SelectError::new(
            "UnsupportedRangeHeader",
            "A range header is not supported for this operation.",
        ));
    }
    Ok(())
}

/// Parse and validate a SelectObjectContent request body.
///
/// Errors, checked in this order: EmptyRequestBody (nothing but
/// whitespace); a body over [`MAX_REQUEST_BODY`] is ExpressionTooLong when
/// it mentions an Expression (nothing else in a request can be large), else
/// MalformedXML; MalformedXML for a document that is not well-formed XML
/// (including a DOCTYPE or an undefined entity) or has another root; then
/// the parameters in the order of the API reference: Expression,
/// ExpressionType, InputSerialization, OutputSerialization,
/// RequestProgress, ScanRange.
pub fn parse_request(body: &[u8]) -> Result<SelectRequest, SelectError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(SelectError::new(
            "EmptyRequestBody",
            "The request body cannot be empty.",
        ));
    }
    if body.len() > MAX_REQUEST_BODY {
        if body
            .windows(b"Expression".len())
            .any(|w| w == b"Expression")
        {
            return Err(expression_too_long());
        }
        return Err(malformed("the request body is larger than 1 MiB"));
    }
    let root = parse_document(body)?;
    if root.name != "SelectObjectContentRequest" && root.name != "SelectRequest" {
        return Err(malformed(
            "the root element must be SelectObjectContentRequest",
        ));
    }

    let expression = match root.value("Expression")? {
        Some(e) if !e.trim().is_empty() => e.to_owned(),
        _ => return Err(missing("Expression")),
    };
    if expression.len() > MAX_EXPRESSION_BYTES {
        return Err(expression_too_long());
    }
    match root.value("ExpressionType")?.map(str::trim) {
        None | Some("") => return Err(missing("ExpressionType")),
        Some(t) if t.eq_ignore_ascii_case("SQL") => {}
        Some(_) => {
            return Err(SelectError::new(
                "InvalidExpressionType",
                "The ExpressionType value is not valid. Only SQL expressions are supported.",
            ));
        }
    }
    let input = root
        .child("InputSerialization")?
        .ok_or_else(|| missing("InputSerialization"))?;
    let input = parse_input(input)?;
    let output = root
        .child("OutputSerialization")?
        .ok_or_else(|| missing("OutputSerialization"))?;
    let output = parse_output(output)?;
    let request_progress = match root.child("RequestProgress")? {
        Some(progress) => boolean("RequestProgress Enabled", progress.value("Enabled")?)?,
        None => false,
    };
    let scan_range = match root.child("ScanRange")? {
        Some(range) => {
            let range = parse_scan_range(range)?;
            check_scan_range_input(&input)?;
            Some(range)
        }
        None => None,
    };
    Ok(SelectRequest {
        expression,
        input,
        output,
        request_progress,
        scan_range,
    })
}

fn parse_input(el: &Element) -> Result<InputSerialization, SelectError> {
    let compression = match el.value("CompressionType")?.map(str::trim) {
        None | Some("") => Compression::None,
        Some(value) => keyword(
            value,
            &[
                ("NONE", Compression::None),
                ("GZIP", Compression::Gzip),
                ("BZIP2", Compression::Bzip2),
            ],
        )
        .ok_or_else(|| {
            SelectError::new(
                "InvalidCompressionFormat",
                "The file is not in a supported compression format. Only GZIP and BZIP2 are supported.",
            )
        })?,
    };
    let format = match (el.child("CSV")?, el.child("JSON")?, el.child("Parquet")?) {
        (None, None, None) => {
            return Err(SelectError::new(
                "InvalidDataSource",
                "The data source type is not valid. Only CSV, JSON, and Parquet are supported.",
            ));
        }
        (Some(csv), None, None) => InputFormat::Csv(parse_csv_input(csv)?),
        (None, Some(json), None) => InputFormat::Json(parse_json_input(json)?),
        (None, None, Some(_)) => {
            if compression != Compression::None {
                return Err(SelectError::new(
                    "InvalidCompressionFormat",
                    "S3 Select does not support whole-object compression for Parquet objects; \
                     CompressionType must be NONE.",
                ));
            }
            InputFormat::Parquet
        }
        _ => return Err(serialization_conflict()),
    };
    Ok(InputSerialization {
        compression,
        format,
    })
}

fn parse_csv_input(el: &Element) -> Result<CsvInput, SelectError> {
    let mut csv = CsvInput::default();
    if let Some(value) = el.value("FileHeaderInfo")?.map(str::trim) {
        if !value.is_empty() {
            csv.file_header_info = keyword(
                value,
                &[
                    ("NONE", FileHeaderInfo::None),
                    ("USE", FileHeaderInfo::Use),
                    ("IGNORE", FileHeaderInfo::Ignore),
                ],
            )
            .ok_or_else(|| {
                SelectError::new(
                    "InvalidFileHeaderInfo",
                    "The FileHeaderInfo value is not valid. Only NONE, USE, and IGNORE are supported.",
                )
            })?;
        }
    }
    if let Some(value) = el.value("Comments")? {
        csv.comments = single_char("Comments", value)?;
    }
    if let Some(value) = el.value("QuoteEscapeCharacter")? {
        csv.quote_escape_character = single_char("QuoteEscapeCharacter", value)?.unwrap_or('"');
    }
    if let Some(value) = el.value("RecordDelimiter")? {
        csv.record_delimiter = record_delimiter(value)?;
    }
    if let Some(value) = el.value("FieldDelimiter")? {
        csv.field_delimiter = field_delimiter(value)?;
    }
    if let Some(value) = el.value("QuoteCharacter")? {
        csv.quote_character = single_char("QuoteCharacter", value)?;
    }
    csv.allow_quoted_record_delimiter = boolean(
        "AllowQuotedRecordDelimiter",
        el.value("AllowQuotedRecordDelimiter")?,
    )?;
    Ok(csv)
}

fn parse_json_input(el: &Element) -> Result<JsonInput, SelectError> {
    let kind = match el.value("Type")?.map(str::trim) {
        None | Some("") => JsonType::Document,
        Some(value) => keyword(
            value,
            &[("DOCUMENT", JsonType::Document), ("LINES", JsonType::Lines)],
        )
        .ok_or_else(|| {
            SelectError::new(
                "InvalidJsonType",
                "The JsonType value is not valid. Only DOCUMENT and LINES are supported.",
            )
        })?,
    };
    Ok(JsonInput { kind })
}

fn parse_output(el: &Element) -> Result<OutputSerialization, SelectError> {
    match (el.child("CSV")?, el.child("JSON")?) {
        (Some(csv), None) => Ok(OutputSerialization::Csv(parse_csv_output(csv)?)),
        (None, Some(json)) => {
            let mut out = JsonOutput::default();
            if let Some(value) = json.value("RecordDelimiter")? {
                out.record_delimiter = record_delimiter(value)?;
            }
            Ok(OutputSerialization::Json(out))
        }
        (None, None) => Err(SelectError::new(
            "ObjectSerializationConflict",
            "OutputSerialization must specify one format: CSV or JSON.",
        )),
        (Some(_), Some(_)) => Err(serialization_conflict()),
    }
}

fn parse_csv_output(el: &Element) -> Result<CsvOutput, SelectError> {
    let mut csv = CsvOutput::default();
    if let Some(value) = el.value("QuoteFields")?.map(str::trim) {
        if !value.is_empty() {
            csv.quote_fields = keyword(
                value,
                &[
                    ("ALWAYS", QuoteFields::Always),
                    ("ASNEEDED", QuoteFields::AsNeeded),
                ],
            )
            .ok_or_else(|| {
                SelectError::new(
                    "InvalidQuoteFields",
                    "The QuoteFields value is not valid. Only ALWAYS and ASNEEDED are supported.",
                )
            })?;
        }
    }
    if let Some(value) = el.value("QuoteEscapeCharacter")? {
        csv.quote_escape_character = single_char("QuoteEscapeCharacter", value)?.unwrap_or('"');
    }
    if let Some(value) = el.value("RecordDelimiter")? {
        csv.record_delimiter = record_delimiter(value)?;
    }
    if let Some(value) = el.value("FieldDelimiter")? {
        csv.field_delimiter = field_delimiter(value)?;
    }
    if let Some(value) = el.value("QuoteCharacter")? {
        csv.quote_character = single_char("QuoteCharacter", value)?;
    }
    Ok(csv)
}

fn parse_scan_range(el: &Element) -> Result<ScanRange, SelectError> {
    let start = offset("Start", el.value("Start")?)?;
    let end = offset("End", el.value("End")?)?;
    match (start, end) {
        (None, None) => Err(invalid_scan_range("ScanRange must have a Start or an End")),
        (Some(start), None) => Ok(ScanRange::From(start)),
        (None, Some(end)) => Ok(ScanRange::Last(end)),
        (Some(start), Some(end)) if start > end => {
            Err(invalid_scan_range("Start is greater than End"))
        }
        (Some(start), Some(end)) => Ok(ScanRange::Between(start, end)),
    }
}

/// ScanRange is only for uncompressed CSV (without quoted record
/// delimiters), JSON LINES, and Parquet (S3 user guide, "Scan range").
fn check_scan_range_input(input: &InputSerialization) -> Result<(), SelectError> {
    let refusal = if input.compression != Compression::None {
        Some("the object is compressed")
    } else {
        match &input.format {
            InputFormat::Csv(csv) if csv.allow_quoted_record_delimiter => {
                Some("CSV with AllowQuotedRecordDelimiter")
            }
            InputFormat::Json(json) if json.kind == JsonType::Document => {
                Some("JSON DOCUMENT (only JSON LINES)")
            }
            _ => None,
        }
    };
    match refusal {
        Some(why) => Err(SelectError::new(
            "UnsupportedScanRangeInput",
            format!("Scan range queries are not supported on this type of object: {why}."),
        )),
        None => Ok(()),
    }
}

// --- values ---

/// A keyword value, ignoring ASCII case.
fn keyword<T: Copy>(value: &str, table: &[(&str, T)]) -> Option<T> {
    table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|&(_, v)| v)
}

/// A single character, or `None` for an empty element.
fn single_char(name: &str, value: &str) -> Result<Option<char>, SelectError> {
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (None, _) => Ok(None),
        (Some(c), None) => Ok(Some(c)),
        _ => Err(invalid_parameter(format!(
            "{name} must be a single character"
        ))),
    }
}

fn field_delimiter(value: &str) -> Result<char, SelectError> {
    single_char("FieldDelimiter", value)?.ok_or_else(|| missing("FieldDelimiter"))
}

fn record_delimiter(value: &str) -> Result<String, SelectError> {
    match value.chars().count() {
        0 => Err(missing("RecordDelimiter")),
        n if n <= MAX_RECORD_DELIMITER_CHARS => Ok(value.to_owned()),
        _ => Err(invalid_parameter(
            "RecordDelimiter must be one or two characters",
        )),
    }
}

/// An optional boolean: absent or empty is false.
fn boolean(name: &str, value: Option<&str>) -> Result<bool, SelectError> {
    match value.map(str::trim) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(_) => Err(invalid_parameter(format!("{name} must be true or false"))),
    }
}

/// A ScanRange bound: a non-negative integer that fits an AWS Long.
fn offset(name: &str, value: Option<&str>) -> Result<Option<u64>, SelectError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if i64::try_from(n).is_ok() => Ok(Some(n)),
            _ => Err(invalid_scan_range(format!(
                "{name} must be a non-negative integer"
            ))),
        },
    }
}

// --- errors ---

fn malformed(detail: impl std::fmt::Display) -> SelectError {
    SelectError::new(
        "MalformedXML",
        format!(
            "The XML provided was not well formed or did not validate against our published \
             schema ({detail}). Check the service documentation and try again."
        ),
    )
}

fn missing(name: &str) -> SelectError {
    SelectError::new(
        "MissingRequiredParameter",
        format!("{name} is required. Please check the service documentation and try again."),
    )
}

fn invalid_parameter(detail: impl std::fmt::Display) -> SelectError {
    SelectError::new(
        "InvalidRequestParameter",
        format!(
            "The value of a parameter in the SelectRequest element is not valid: {detail}. \
             Check the service API documentation and try again."
        ),
    )
}

fn invalid_scan_range(detail: impl std::fmt::Display) -> SelectError {
    SelectError::new(
        "InvalidScanRange",
        format!("The provided scan range is not valid: {detail}."),
    )
}

fn expression_too_long() -> SelectError {
    SelectError::new(
        "ExpressionTooLong",
        "The SQL expression is too long. The maximum byte-length for an SQL expression is 256 KB.",
    )
}

fn serialization_conflict() -> SelectError {
    SelectError::new(
        "ObjectSerializationConflict",
        "InputSerialization specifies more than one format (CSV, JSON, or Parquet), or \
         OutputSerialization specifies more than one format (CSV or JSON). For \
         InputSerialization and OutputSerialization, you can specify only one format for each.",
    )
}

// --- the XML document ---

/// An element of the request document: its local name, its text (all text
/// and CDATA directly inside it, unescaped) and its child elements.
#[derive(Debug, Default)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

impl Element {
    /// The child with this local name; MalformedXML if there are several.
    fn child(&self, name: &str) -> Result<Option<&Element>, SelectError> {
        let mut found = self.children.iter().filter(|c| c.name == name);
        let first = found.next();
        if found.next().is_some() {
            return Err(malformed(format_args!("{name} appears more than once")));
        }
        Ok(first)
    }

    /// The text of the child with this local name, which must not have
    /// children of its own.
    fn value(&self, name: &str) -> Result<Option<&str>, SelectError> {
        match self.child(name)? {
            Some(el) if !el.children.is_empty() => {
                Err(malformed(format_args!("{name} must be a value")))
            }
            Some(el) => Ok(Some(&el.text)),
            None => Ok(None),
        }
    }
}

/// Parse a whole document into its root element. Line breaks are
/// normalized first (XML 1.0 section 2.11), a UTF-8 byte order mark is
/// skipped; a DOCTYPE, an undefined entity, text outside the root or a
/// second root is MalformedXML.
fn parse_document(body: &[u8]) -> Result<Element, SelectError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let doc = normalize_line_breaks(body);
    let mut reader = Reader::from_reader(doc.as_ref());
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0;
    loop {
        match reader.read_event().map_err(malformed)? {
            Event::Start(start) => {
                let el = open_element(&start, &stack, &root, &mut elements)?;
                stack.push(el);
            }
            Event::Empty(start) => {
                let el = open_element(&start, &stack, &root, &mut elements)?;
                close_element(el, &mut stack, &mut root);
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| malformed("unexpected end tag"))?;
                close_element(el, &mut stack, &mut root);
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(malformed)?;
                push_text(&mut stack, &text)?;
            }
            Event::CData(data) => {
                let data = data.into_inner();
                let text = std::str::from_utf8(&data).map_err(malformed)?;
                push_text(&mut stack, text)?;
            }
            Event::DocType(_) => return Err(malformed("a DOCTYPE is not allowed")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed("unclosed element"));
    }
    root.ok_or_else(|| malformed("no root element"))
}

fn open_element(
    start: &BytesStart<'_>,
    stack: &[Element],
    root: &Option<Element>,
    elements: &mut usize,
) -> Result<Element, SelectError> {
    if root.is_some() {
        return Err(malformed("content after the root element"));
    }
    *elements += 1;
    if stack.len() >= MAX_DEPTH || *elements > MAX_ELEMENTS {
        return Err(malformed("too many or too deeply nested elements"));
    }
    for attribute in start.attributes() {
        attribute.map_err(malformed)?;
    }
    let name = std::str::from_utf8(start.local_name().as_ref())
        .map_err(malformed)?
        .to_owned();
    Ok(Element {
        name,
        ..Element::default()
    })
}

fn close_element(el: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), SelectError> {
    match stack.last_mut() {
        Some(el) => el.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => return Err(malformed("text outside the root element")),
    }
    Ok(())
}

/// XML 1.0 end-of-line handling: CRLF and lone CR become LF. Character
/// references (`&#13;`) are not line breaks and are untouched.
fn normalize_line_breaks(doc: &[u8]) -> Cow<'_, [u8]> {
    if !doc.contains(&b'\r') {
        return Cow::Borrowed(doc);
    }
    let mut out = Vec::with_capacity(doc.len());
    let mut bytes = doc.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if b == b'\r' {
            out.push(b'\n');
            bytes.next_if_eq(&b'\n');
        } else {
            out.push(b);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = r#"xmlns="http://s3.amazonaws.com/doc/2006-03-01/""#;

    /// A request with the given InputSerialization and OutputSerialization
    /// contents and extra root children.
    fn doc(input: &str, output: &str, extra: &str) -> String {
        format!(
            "<SelectObjectContentRequest {NS}><Expression>SELECT * FROM S3Object</Expression>\
             <ExpressionType>SQL</ExpressionType>\
             <InputSerialization>{input}</InputSerialization>\
             <OutputSerialization>{output}</OutputSerialization>{extra}\
             </SelectObjectContentRequest>"
        )
    }

    fn csv_in(options: &str) -> String {
        doc(&format!("<CSV>{options}</CSV>"), "<CSV/>", "")
    }

    fn csv_out(options: &str) -> String {
        doc("<CSV/>", &format!("<CSV>{options}</CSV>"), "")
    }

    fn ok(body: impl AsRef<[u8]>) -> SelectRequest {
        match parse_request(body.as_ref()) {
            Ok(request) => request,
            Err(e) => panic!("{e} for {}", String::from_utf8_lossy(body.as_ref())),
        }
    }

    fn csv_input(request: &SelectRequest) -> &CsvInput {
        match &request.input.format {
            InputFormat::Csv(csv) => csv,
            other => panic!("not CSV input: {other:?}"),
        }
    }

    fn csv_output(request: &SelectRequest) -> &CsvOutput {
        match &request.output {
            OutputSerialization::Csv(csv) => csv,
            other => panic!("not CSV output: {other:?}"),
        }
    }

    #[test]
    fn boto3_csv_with_raw_crlf() {
        let r = ok(include_bytes!("../tests/request/boto3_csv_crlf.xml"));
        assert_eq!(
            r.expression,
            r#"SELECT s."Name" FROM S3Object s WHERE s._2 > '1' AND s._3 <> 'a&b'"#
        );
        assert_eq!(r.input.compression, Compression::Gzip);
        // boto3 sends "\r\n" raw: XML line-break normalization makes it "\n".
        let expected = CsvInput {
            file_header_info: FileHeaderInfo::Use,
            comments: Some('%'),
            quote_escape_character: '\\',
            record_delimiter: "\n".into(),
            field_delimiter: '\t',
            quote_character: Some('\''),
            allow_quoted_record_delimiter: true,
        };
        assert_eq!(csv_input(&r), &expected);
        let expected = CsvOutput {
            quote_fields: QuoteFields::Always,
            record_delimiter: "\n".into(),
            field_delimiter: ';',
            ..CsvOutput::default()
        };
        assert_eq!(csv_output(&r), &expected);
        assert!(r.request_progress);
        assert_eq!(r.scan_range, None);
    }

    #[test]
    fn boto3_json_lines_and_parquet() {
        let r = ok(include_bytes!(
            "../tests/request/boto3_json_lines_scan_range.xml"
        ));
        assert_eq!(r.expression, "select * from s3object[*].a s");
        let expected = InputSerialization {
            compression: Compression::None,
            format: InputFormat::Json(JsonInput {
                kind: JsonType::Lines,
            }),
        };
        assert_eq!(r.input, expected);
        assert_eq!(r.output, OutputSerialization::Json(JsonOutput::default()));
        assert!(!r.request_progress);
        assert_eq!(r.scan_range, Some(ScanRange::Between(0, 1_048_575)));

        let r = ok(include_bytes!("../tests/request/boto3_parquet.xml"));
        assert_eq!(r.input.format, InputFormat::Parquet);
        let expected = OutputSerialization::Json(JsonOutput {
            record_delimiter: ",".into(),
        });
        assert_eq!(r.output, expected);
    }

    #[test]
    fn minio_py_requests() {
        let r = ok(include_bytes!("../tests/request/minio_py_csv.xml"));
        let expected = CsvInput {
            file_header_info: FileHeaderInfo::Use,
            ..CsvInput::default()
        };
        assert_eq!(csv_input(&r), &expected);
        assert_eq!(csv_output(&r), &CsvOutput::default());
        assert!(r.request_progress);
        assert_eq!(r.scan_range, Some(ScanRange::Between(100, 200)));

        let r = ok(include_bytes!(
            "../tests/request/minio_py_json_document.xml"
        ));
        assert_eq!(r.input.compression, Compression::Bzip2);
        let expected = InputFormat::Json(JsonInput {
            kind: JsonType::Document,
        });
        assert_eq!(r.input.format, expected);

        let r = ok(include_bytes!("../tests/request/minio_py_parquet.xml"));
        assert_eq!(r.input.format, InputFormat::Parquet);
        assert_eq!(r.output, OutputSerialization::Csv(CsvOutput::default()));
    }

    #[test]
    fn mc_sql_and_minio_go_requests() {
        let r = ok(include_bytes!("../tests/request/mc_sql_csv.xml"));
        assert_eq!(
            r.expression,
            "select * from s3object s where s.x < 3 and s.y = 'a'"
        );
        let expected = CsvInput {
            file_header_info: FileHeaderInfo::Use,
            ..CsvInput::default()
        };
        assert_eq!(csv_input(&r), &expected);
        assert_eq!(csv_output(&r), &CsvOutput::default());
        assert!(!r.request_progress);

        let r = ok(include_bytes!("../tests/request/mc_sql_json_gz.xml"));
        assert_eq!(r.input.compression, Compression::Gzip);
        let expected = OutputSerialization::Json(JsonOutput {
            record_delimiter: "\n\n".into(),
        });
        assert_eq!(r.output, expected);

        let r = ok(include_bytes!("../tests/request/mc_sql_parquet.xml"));
        assert_eq!(r.input.format, InputFormat::Parquet);

        // Empty CompressionType, escaped CRLF, QuoteFields "AsNeeded".
        let r = ok(include_bytes!("../tests/request/minio_go_csv_crlf.xml"));
        assert_eq!(r.input.compression, Compression::None);
        let expected = CsvInput {
            record_delimiter: "\r\n".into(),
            field_delimiter: '|',
            ..CsvInput::default()
        };
        assert_eq!(csv_input(&r), &expected);
        let expected = CsvOutput {
            record_delimiter: "\r\n".into(),
            field_delimiter: '|',
            ..CsvOutput::default()
        };
        assert_eq!(csv_output(&r), &expected);
        assert!(r.request_progress);
    }

    #[test]
    fn old_root_any_order_pretty_printed() {
        let body = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
            <!-- sent by hand -->\r\n\
            <SelectRequest>\r\n\
              <OutputSerialization>\r\n    <JSON>\r\n    </JSON>\r\n  </OutputSerialization>\r\n\
              <ScanRange><End> 50 </End></ScanRange>\r\n\
              <InputSerialization>\r\n\
                <JSON><Type>lines</Type></JSON>\r\n\
                <CompressionType>none</CompressionType>\r\n\
              </InputSerialization>\r\n\
              <ExpressionType>sql</ExpressionType>\r\n\
              <Expression><![CDATA[SELECT * FROM S3Object s WHERE s.a < 1]]></Expression>\r\n\
              <RequestProgress><Enabled> TRUE </Enabled></RequestProgress>\r\n\
            </SelectRequest>\r\n";
        let r = ok(body);
        assert_eq!(r.expression, "SELECT * FROM S3Object s WHERE s.a < 1");
        let expected = InputFormat::Json(JsonInput {
            kind: JsonType::Lines,
        });
        assert_eq!(r.input.format, expected);
        assert_eq!(r.output, OutputSerialization::Json(JsonOutput::default()));
        assert!(r.request_progress);
        assert_eq!(r.scan_range, Some(ScanRange::Last(50)));
    }

    #[test]
    fn prefixes_comments_and_unknown_elements() {
        let body = r#"<s3:SelectObjectContentRequest xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/">
            <s3:Expression>SELECT <!-- hidden -->1 FROM S3Object</s3:Expression>
            <s3:ExpressionType>SQL</s3:ExpressionType>
            <s3:FutureOption><Nested>x</Nested></s3:FutureOption>
            <s3:InputSerialization><s3:CSV><Unknown>y</Unknown></s3:CSV><ORC/></s3:InputSerialization>
            <s3:OutputSerialization><s3:CSV/></s3:OutputSerialization>
            <s3:RequestProgress><Enabled>false</Enabled><ScanRange><Start>5</Start></ScanRange></s3:RequestProgress>
        </s3:SelectObjectContentRequest>"#;
        let r = ok(body);
        assert_eq!(r.expression, "SELECT 1 FROM S3Object");
        assert_eq!(csv_input(&r), &CsvInput::default());
        // The .NET SDK's ScanRange inside RequestProgress is ignored, as AWS does.
        assert_eq!(r.scan_range, None);
    }

    #[test]
    fn character_references_and_line_breaks() {
        let delimiter = |raw: &str| {
            csv_input(&ok(csv_in(&format!(
                "<RecordDelimiter>{raw}</RecordDelimiter>"
            ))))
            .record_delimiter
            .clone()
        };
        assert_eq!(delimiter("&#13;&#10;"), "\r\n");
        assert_eq!(delimiter("&#xD;&#xA;"), "\r\n");
        assert_eq!(delimiter("&#xd;"), "\r");
        assert_eq!(delimiter("\r\n"), "\n");
        assert_eq!(delimiter("\r"), "\n");
        assert_eq!(delimiter("\n"), "\n");
        assert_eq!(delimiter("&#10;\r\n"), "\n\n");
        assert_eq!(delimiter("<![CDATA[\r\n]]>"), "\n");
        assert_eq!(delimiter("&#x2551;"), "\u{2551}");
        assert_eq!(delimiter("&amp;&amp;"), "&&");
    }

    #[test]
    fn csv_defaults_and_empty_values() {
        let r = ok(doc("<CSV/>", "<CSV></CSV>", ""));
        assert_eq!(csv_input(&r), &CsvInput::default());
        assert_eq!(csv_output(&r), &CsvOutput::default());

        let r = ok(csv_in(
            "<Comments/><QuoteCharacter></QuoteCharacter><QuoteEscapeCharacter/>\
             <FileHeaderInfo/><AllowQuotedRecordDelimiter/>",
        ));
        let expected = CsvInput {
            comments: None,
            quote_character: None,
            ..CsvInput::default()
        };
        assert_eq!(csv_input(&r), &expected);

        let r = ok(csv_out(
            "<QuoteCharacter/><QuoteEscapeCharacter/><QuoteFields> always </QuoteFields>",
        ));
        let expected = CsvOutput {
            quote_character: None,
            quote_fields: QuoteFields::Always,
            ..CsvOutput::default()
        };
        assert_eq!(csv_output(&r), &expected);

        // Whitespace is a value for characters, never trimmed.
        let r = ok(csv_in(
            "<FieldDelimiter> </FieldDelimiter><RecordDelimiter>\t</RecordDelimiter>\
             <FileHeaderInfo>ignore</FileHeaderInfo><Comments>\u{2551}</Comments>",
        ));
        let expected = CsvInput {
            field_delimiter: ' ',
            record_delimiter: "\t".into(),
            file_header_info: FileHeaderInfo::Ignore,
            comments: Some('\u{2551}'),
            ..CsvInput::default()
        };
        assert_eq!(csv_input(&r), &expected);
    }

    #[test]
    fn json_type_defaults_to_document() {
        for json in ["<JSON/>", "<JSON></JSON>", "<JSON><Type/></JSON>"] {
            let r = ok(doc(json, "<JSON/>", ""));
            let expected = InputFormat::Json(JsonInput {
                kind: JsonType::Document,
            });
            assert_eq!(r.input.format, expected, "{json}");
        }
    }

    #[test]
    fn booleans() {
        for (value, expected) in [
            ("true", true),
            ("TRUE", true),
            ("True", true),
            ("1", true),
            ("false", false),
            ("FALSE", false),
            ("0", false),
            ("", false),
        ] {
            let progress = format!("<RequestProgress><Enabled>{value}</Enabled></RequestProgress>");
            assert_eq!(
                ok(doc("<CSV/>", "<CSV/>", &progress)).request_progress,
                expected
            );
            let option =
                format!("<AllowQuotedRecordDelimiter>{value}</AllowQuotedRecordDelimiter>");
            assert_eq!(
                csv_input(&ok(csv_in(&option))).allow_quoted_record_delimiter,
                expected
            );
        }
        let r = ok(doc("<CSV/>", "<CSV/>", "<RequestProgress/>"));
        assert!(!r.request_progress);
    }

    #[test]
    fn scan_ranges() {
        for (range, expected) in [
            ("<Start>50</Start>", ScanRange::From(50)),
            ("<End>50</End>", ScanRange::Last(50)),
            (
                "<Start>50</Start><End>100</End>",
                ScanRange::Between(50, 100),
            ),
            (
                "<End>100</End><Start>100</Start>",
                ScanRange::Between(100, 100),
            ),
            ("<Start>0</Start><End>0</End>", ScanRange::Between(0, 0)),
            ("<Start/><End>7</End>", ScanRange::Last(7)),
        ] {
            let extra = format!("<ScanRange>{range}</ScanRange>");
            assert_eq!(
                ok(doc("<CSV/>", "<CSV/>", &extra)).scan_range,
                Some(expected)
            );
        }
        // Allowed inputs: uncompressed CSV, JSON LINES, Parquet.
        let range = "<ScanRange><Start>1</Start></ScanRange>";
        ok(doc(
            "<CompressionType>NONE</CompressionType><CSV/>",
            "<CSV/>",
            range,
        ));
        ok(doc("<JSON><Type>LINES</Type></JSON>", "<JSON/>", range));
        ok(doc("<Parquet/>", "<JSON/>", range));
    }

    #[test]
    fn scan_range_bytes() {
        assert_eq!(ScanRange::From(50).bytes(200), 50..200);
        assert_eq!(ScanRange::From(500).bytes(200), 200..200);
        assert_eq!(ScanRange::Last(50).bytes(200), 150..200);
        assert_eq!(ScanRange::Last(500).bytes(200), 0..200);
        assert_eq!(ScanRange::Between(50, 100).bytes(200), 50..101);
        assert_eq!(ScanRange::Between(150, 300).bytes(200), 150..200);
        assert_eq!(ScanRange::Between(0, u64::MAX).bytes(200), 0..200);
        assert_eq!(ScanRange::Between(300, 400).bytes(200), 200..200);
    }

    #[test]
    fn expression_limits() {
        let expression = |text: &str| {
            format!(
                "<SelectRequest><Expression>{text}</Expression><ExpressionType>SQL</ExpressionType>\
                 <InputSerialization><CSV/></InputSerialization>\
                 <OutputSerialization><CSV/></OutputSerialization></SelectRequest>"
            )
        };
        let at_limit = format!(
            "SELECT * FROM S3Object{}",
            " ".repeat(MAX_EXPRESSION_BYTES - 22)
        );
        assert_eq!(
            ok(expression(&at_limit)).expression.len(),
            MAX_EXPRESSION_BYTES
        );
        // The limit is on the unescaped text: 256 KiB of "&lt;" is 64 KiB.
        let escaped = format!("SELECT {} FROM S3Object", "&lt;".repeat(60_000));
        assert_eq!(ok(expression(&escaped)).expression.len(), 60_000 + 21);
        // Over 1 MiB in all: ExpressionTooLong when it has an Expression.
        let huge = expression(&"&lt;".repeat(MAX_REQUEST_BODY / 4));
        assert_eq!(
            parse_request(huge.as_bytes()).unwrap_err().code,
            "ExpressionTooLong"
        );
        let garbage = vec![b'<'; MAX_REQUEST_BODY + 1];
        assert_eq!(parse_request(&garbage).unwrap_err().code, "MalformedXML");
    }

    #[test]
    fn range_header() {
        assert_eq!(check_range_header(false), Ok(()));
        let e = check_range_header(true).unwrap_err();
        assert_eq!(e.code, "UnsupportedRangeHeader");
        assert_eq!(e.status(), 400);
    }

    /// One invalid document (or more) for every error code a request can
    /// get, each with why it fails.
    #[rustfmt::skip]
    fn invalid_documents() -> Vec<(&'static str, &'static str, String)> {
        let range = |input: &str, range: &str| {
            doc(input, "<CSV/>", &format!("<ScanRange>{range}</ScanRange>"))
        };
        let long = "x".repeat(MAX_EXPRESSION_BYTES - 22);
        vec![
            ("EmptyRequestBody", "empty body", String::new()),
            ("EmptyRequestBody", "only whitespace", " \r\n\t".into()),
            ("MalformedXML", "not XML", "SELECT * FROM S3Object".into()),
            ("MalformedXML", "wrong root", doc("<CSV/>", "<CSV/>", "").replace("SelectObjectContentRequest", "GetObjectRequest")),
            ("MalformedXML", "unclosed", doc("<CSV/>", "<CSV/>", "").replace("</SelectObjectContentRequest>", "")),
            ("MalformedXML", "mismatched end", doc("<CSV>", "<CSV/>", "")),
            ("MalformedXML", "second root", doc("<CSV/>", "<CSV/>", "") + "<SelectRequest/>"),
            ("MalformedXML", "text after the root", doc("<CSV/>", "<CSV/>", "") + "x"),
            ("MalformedXML", "unknown entity", csv_in("<FieldDelimiter>&semi;</FieldDelimiter>")),
            ("MalformedXML", "bad character reference", csv_in("<FieldDelimiter>&#0;</FieldDelimiter>")),
            ("MalformedXML", "DOCTYPE", format!("<!DOCTYPE x [<!ENTITY e \"a\">]>{}", doc("<CSV/>", "<CSV/>", ""))),
            ("MalformedXML", "bad attribute", doc("<CSV/>", "<CSV/>", "").replacen("<Expression>", "<Expression a=>", 1)),
            ("MalformedXML", "duplicate Expression", doc("<CSV/>", "<CSV/>", "<Expression>SELECT 1</Expression>")),
            ("MalformedXML", "value with children", csv_in("<FieldDelimiter><a/></FieldDelimiter>")),
            ("MalformedXML", "too deep", doc("<CSV/>", "<CSV/>", &"<a>".repeat(20).to_string()).replace("</SelectObjectContentRequest>", &("</a>".repeat(20) + "</SelectObjectContentRequest>"))),
            ("MissingRequiredParameter", "no Expression", doc("<CSV/>", "<CSV/>", "").replace("<Expression>SELECT * FROM S3Object</Expression>", "")),
            ("MissingRequiredParameter", "blank Expression", doc("<CSV/>", "<CSV/>", "").replace("SELECT * FROM S3Object", " ")),
            ("MissingRequiredParameter", "no ExpressionType", doc("<CSV/>", "<CSV/>", "").replace("<ExpressionType>SQL</ExpressionType>", "")),
            ("MissingRequiredParameter", "empty ExpressionType", doc("<CSV/>", "<CSV/>", "").replace("<ExpressionType>SQL</ExpressionType>", "<ExpressionType/>")),
            ("MissingRequiredParameter", "no InputSerialization", doc("<CSV/>", "<CSV/>", "").replace("<InputSerialization><CSV/></InputSerialization>", "")),
            ("MissingRequiredParameter", "no OutputSerialization", doc("<CSV/>", "<CSV/>", "").replace("<OutputSerialization><CSV/></OutputSerialization>", "")),
            ("MissingRequiredParameter", "empty RecordDelimiter", csv_in("<RecordDelimiter></RecordDelimiter>")),
            ("MissingRequiredParameter", "empty FieldDelimiter", csv_out("<FieldDelimiter/>")),
            ("MissingRequiredParameter", "empty JSON RecordDelimiter", doc("<CSV/>", "<JSON><RecordDelimiter/></JSON>", "")),
            ("InvalidExpressionType", "not SQL", doc("<CSV/>", "<CSV/>", "").replace(">SQL<", ">XPATH<")),
            ("ExpressionTooLong", "256 KiB + 1 byte", doc("<CSV/>", "<CSV/>", "").replace("SELECT * FROM S3Object", &format!("SELECT * FROM S3Object{long}x"))),
            ("InvalidCompressionFormat", "ZSTD (a MinIO extension)", doc("<CompressionType>ZSTD</CompressionType><CSV/>", "<CSV/>", "")),
            ("InvalidCompressionFormat", "ZIP", doc("<CompressionType>ZIP</CompressionType><JSON/>", "<CSV/>", "")),
            ("InvalidCompressionFormat", "compressed Parquet", doc("<CompressionType>GZIP</CompressionType><Parquet/>", "<CSV/>", "")),
            ("InvalidDataSource", "no input format", doc("<CompressionType>NONE</CompressionType>", "<CSV/>", "")),
            ("InvalidDataSource", "unknown input format", doc("<ORC/>", "<CSV/>", "")),
            ("ObjectSerializationConflict", "CSV and JSON input", doc("<CSV/><JSON/>", "<CSV/>", "")),
            ("ObjectSerializationConflict", "JSON and Parquet input", doc("<Parquet/><JSON/>", "<CSV/>", "")),
            ("ObjectSerializationConflict", "CSV and JSON output", doc("<CSV/>", "<CSV/><JSON/>", "")),
            ("ObjectSerializationConflict", "no output format", doc("<CSV/>", "", "")),
            ("InvalidFileHeaderInfo", "YES", csv_in("<FileHeaderInfo>YES</FileHeaderInfo>")),
            ("InvalidJsonType", "old minio-go Stream", doc("<JSON><Type>Stream</Type></JSON>", "<JSON/>", "")),
            ("InvalidQuoteFields", "NEVER", csv_out("<QuoteFields>NEVER</QuoteFields>")),
            ("InvalidRequestParameter", "two-character FieldDelimiter", csv_in("<FieldDelimiter>,,</FieldDelimiter>")),
            ("InvalidRequestParameter", "three-character RecordDelimiter", csv_in("<RecordDelimiter>\n\n\n</RecordDelimiter>")),
            ("InvalidRequestParameter", "two-character QuoteCharacter", csv_in("<QuoteCharacter>''</QuoteCharacter>")),
            ("InvalidRequestParameter", "two-character QuoteEscapeCharacter", csv_out("<QuoteEscapeCharacter>\\\\</QuoteEscapeCharacter>")),
            ("InvalidRequestParameter", "two-character Comments", csv_in("<Comments>//</Comments>")),
            ("InvalidRequestParameter", "three-character JSON RecordDelimiter", doc("<CSV/>", "<JSON><RecordDelimiter>abc</RecordDelimiter></JSON>", "")),
            ("InvalidRequestParameter", "AllowQuotedRecordDelimiter yes", csv_in("<AllowQuotedRecordDelimiter>yes</AllowQuotedRecordDelimiter>")),
            ("InvalidRequestParameter", "Enabled on", doc("<CSV/>", "<CSV/>", "<RequestProgress><Enabled>on</Enabled></RequestProgress>")),
            ("InvalidScanRange", "Start after End", range("<CSV/>", "<Start>10</Start><End>9</End>")),
            ("InvalidScanRange", "empty ScanRange", range("<CSV/>", "")),
            ("InvalidScanRange", "negative Start", range("<CSV/>", "<Start>-1</Start>")),
            ("InvalidScanRange", "End not a number", range("<CSV/>", "<End>ten</End>")),
            ("InvalidScanRange", "End over a Long", range("<CSV/>", "<End>9223372036854775808</End>")),
            ("UnsupportedScanRangeInput", "GZIP CSV", range("<CompressionType>GZIP</CompressionType><CSV/>", "<Start>1</Start>")),
            ("UnsupportedScanRangeInput", "BZIP2 JSON LINES", range("<CompressionType>BZIP2</CompressionType><JSON><Type>LINES</Type></JSON>", "<End>1</End>")),
            ("UnsupportedScanRangeInput", "JSON DOCUMENT", range("<JSON><Type>DOCUMENT</Type></JSON>", "<Start>1</Start>")),
            ("UnsupportedScanRangeInput", "quoted record delimiters", range("<CSV><AllowQuotedRecordDelimiter>TRUE</AllowQuotedRecordDelimiter></CSV>", "<Start>1</Start>")),
        ]
    }

    #[test]
    fn invalid_utf8_is_malformed() {
        let body = csv_in("<FieldDelimiter>X</FieldDelimiter>").replace('X', "\u{e9}");
        let body = body
            .as_bytes()
            .iter()
            .map(|&b| if b == 0xc3 { 0xff } else { b });
        let e = parse_request(&body.collect::<Vec<u8>>()).unwrap_err();
        assert_eq!(e.code, "MalformedXML");
    }

    #[test]
    fn invalid_documents_get_their_error_code() {
        for (code, why, body) in invalid_documents() {
            match parse_request(body.as_bytes()) {
                Err(e) => {
                    assert_eq!(e.code, code, "{why}: {e}");
                    assert_eq!(e.status(), 400, "{why}");
                }
                Ok(r) => panic!("{why}: accepted as {r:?}"),
            }
        }
    }

    /// Every request error code of S3-SELECT.md, and ExpressionTooLong, has
    /// a document above (UnsupportedRangeHeader: `range_header`).
    #[test]
    fn every_request_error_code_is_tested() {
        let tested: std::collections::BTreeSet<&str> = invalid_documents()
            .iter()
            .map(|(code, _, _)| *code)
            .collect();
        for code in [
            "MalformedXML",
            "MissingRequiredParameter",
            "EmptyRequestBody",
            "InvalidExpressionType",
            "InvalidCompressionFormat",
            "InvalidDataSource",
            "ObjectSerializationConflict",
            "InvalidFileHeaderInfo",
            "InvalidJsonType",
            "InvalidQuoteFields",
            "InvalidRequestParameter",
            "InvalidScanRange",
            "UnsupportedScanRangeInput",
            "ExpressionTooLong",
        ] {
            assert!(tested.contains(code), "{code} has no test document");
        }
    }

    #[test]
    fn normalizes_line_breaks_like_xml() {
        assert_eq!(
            normalize_line_breaks(b"a\r\nb\rc\n\r\r\nd").as_ref(),
            b"a\nb\nc\n\n\nd"
        );
        assert!(matches!(normalize_line_breaks(b"a\nb"), Cow::Borrowed(_)));
    }
}

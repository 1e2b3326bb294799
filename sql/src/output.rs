//! Result rows serialized as S3 Select's OutputSerialization asks: CSV or
//! JSON, values printed the way S3 prints them.
//!
//! Value formats (sources: the S3 user guide's "SQL reference for Amazon S3
//! Select" pages on data types, date functions and aggregates, and the
//! SelectObjectContent API's CSVOutput/JSONOutput pages):
//! - integers plain; booleans `true` / `false`;
//! - FLOAT as Java's `Double.toString` (S3 Select runs on the JVM): `1.5`,
//!   `2.0`, `1.0E7`, `1.0E-4`, `NaN`, `Infinity`; the digits are the
//!   shortest that read back as the same double;
//! - DECIMAL with no trailing fractional zeros (`CAST('1.50' AS
//!   DECIMAL(10,4))` prints `1.5`, not Decimal128's `1.5000`; S3 ignores a
//!   declared precision and scale);
//! - TIMESTAMP in the Ion/W3C form S3 uses, with the offset: `Z` for UTC,
//!   `+hh:mm` otherwise, `-00:00` for an unknown offset; seconds always, and
//!   milli-, micro- or nanoseconds when they are not zero. Reduced precision
//!   (`2007T`, `2007-02T`, `2007-02-23`, `2007-02-23T12:14Z`) is printed
//!   when the column's field carries [`TIMESTAMP_PRECISION_KEY`] metadata;
//! - strings as they are; NULL as an empty CSV field or JSON `null`;
//! - lists, structs and maps as JSON (S3 only outputs nested values as
//!   JSON; in CSV they are the JSON text, quoted as needed).

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::timezone::Tz;
use arrow_array::types::{
    ArrowPrimitiveType, Date32Type, Date64Type, Decimal128Type, Decimal256Type, Decimal32Type,
    Decimal64Type, Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, PrimitiveArray, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, TimeUnit};
use chrono::{Offset as _, TimeZone as _};

use crate::SelectError;

/// Field metadata key giving the precision a TIMESTAMP column prints with:
/// `year`, `month`, `day`, `minute` or `second` (the default: seconds, with
/// a fraction when there is one). S3 keeps each timestamp's own precision
/// (`CAST('2007T' AS TIMESTAMP)` prints `2007T`); an Arrow timestamp has
/// none, so the engine can state it per column here.
pub const TIMESTAMP_PRECISION_KEY: &str = "blobgate.timestamp_precision";

/// A column named `__blobgate_present_of_<i>` (boolean) is not printed: it
/// says whether output column `i` is there (true) or MISSING (false), as
/// S3 Select tells a JSON `null` from an absent value.
pub const PRESENT_OF: &str = "__blobgate_present_of_";

/// CSVOutput's QuoteFields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuoteFields {
    /// Every non-NULL field is quoted.
    Always,
    /// A field is quoted when it contains the field delimiter, the record
    /// delimiter, the quote character, CR or LF.
    #[default]
    AsNeeded,
}

/// CSVOutput's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOutput {
    pub field_delimiter: String,
    pub record_delimiter: String,
    pub quote_character: char,
    /// Written before each quote character inside a quoted field; when it
    /// differs from the quote character it is also written before itself.
    pub quote_escape_character: char,
    pub quote_fields: QuoteFields,
}

impl Default for CsvOutput {
    fn default() -> Self {
        CsvOutput {
            field_delimiter: ",".into(),
            record_delimiter: "\n".into(),
            quote_character: '"',
            quote_escape_character: '"',
            quote_fields: QuoteFields::AsNeeded,
        }
    }
}

/// JSONOutput's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonOutput {
    pub record_delimiter: String,
}

impl Default for JsonOutput {
    fn default() -> Self {
        JsonOutput {
            record_delimiter: "\n".into(),
        }
    }
}

/// OutputSerialization: exactly one of CSV or JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputFormat {
    Csv(CsvOutput),
    Json(JsonOutput),
}

/// Writes result batches in the requested output format.
#[derive(Debug)]
pub struct OutputWriter {
    format: Format,
    scratch: Vec<u8>,
}

#[derive(Debug)]
enum Format {
    Csv {
        field_delimiter: Vec<u8>,
        record_delimiter: Vec<u8>,
        quote: Vec<u8>,
        escape: Vec<u8>,
        always: bool,
    },
    Json {
        record_delimiter: Vec<u8>,
    },
}

fn char_bytes(c: char) -> Vec<u8> {
    c.to_string().into_bytes()
}

impl OutputWriter {
    pub fn new(format: OutputFormat) -> Self {
        let format = match format {
            OutputFormat::Csv(csv) => Format::Csv {
                field_delimiter: csv.field_delimiter.into_bytes(),
                record_delimiter: csv.record_delimiter.into_bytes(),
                quote: char_bytes(csv.quote_character),
                escape: char_bytes(csv.quote_escape_character),
                always: csv.quote_fields == QuoteFields::Always,
            },
            OutputFormat::Json(json) => Format::Json {
                record_delimiter: json.record_delimiter.into_bytes(),
            },
        };
        OutputWriter {
            format,
            scratch: Vec::new(),
        }
    }

    pub fn csv(options: CsvOutput) -> Self {
        Self::new(OutputFormat::Csv(options))
    }

    pub fn json(options: JsonOutput) -> Self {
        Self::new(OutputFormat::Json(options))
    }

    /// Appends the batch's rows to `out`, each followed by the record
    /// delimiter. Fails, writing nothing, on a column type S3 Select has no
    /// output form for (durations, intervals, unions...).
    pub fn write_batch(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<u8>,
    ) -> Result<(), SelectError> {
        let schema = batch.schema();
        // Presence columns (see [`PRESENT_OF`]) are not printed: a value
        // whose presence column is false is MISSING, left out of a JSON
        // record and empty in CSV.
        let mut gates: Vec<Option<&arrow_array::BooleanArray>> = vec![None; batch.num_columns()];
        let mut shown: Vec<usize> = Vec::with_capacity(batch.num_columns());
        for (i, field) in schema.fields().iter().enumerate() {
            match field.name().strip_prefix(PRESENT_OF) {
                Some(of) => {
                    let of = of.parse::<usize>().ok().filter(|&o| o < gates.len());
                    if let (Some(of), Some(b)) = (of, batch.column(i).as_boolean_opt()) {
                        gates[of] = Some(b);
                    }
                }
                None => shown.push(i),
            }
        }
        let missing =
            |i: usize, row: usize| gates[i].is_some_and(|g| !g.is_valid(row) || !g.value(row));
        let columns = shown
            .iter()
            .map(|&i| Column::new(batch.column(i).as_ref(), schema.field(i).metadata()))
            .collect::<Result<Vec<_>, _>>()?;
        let scratch = &mut self.scratch;
        match &self.format {
            Format::Csv {
                field_delimiter,
                record_delimiter,
                quote,
                escape,
                always,
            } => {
                let csv = CsvQuoting {
                    field_delimiter,
                    record_delimiter,
                    quote,
                    escape,
                    always: *always,
                };
                for row in 0..batch.num_rows() {
                    for (n, (column, &i)) in columns.iter().zip(&shown).enumerate() {
                        if n > 0 {
                            out.extend_from_slice(field_delimiter);
                        }
                        if column.is_null(row) || missing(i, row) {
                            continue;
                        }
                        scratch.clear();
                        (column.write)(row, scratch);
                        csv.write_field(scratch, out);
                    }
                    out.extend_from_slice(record_delimiter);
                }
            }
            Format::Json { record_delimiter } => {
                let keys: Vec<Vec<u8>> = shown
                    .iter()
                    .map(|&i| {
                        let name = schema.field(i).name();
                        let mut key = Vec::with_capacity(name.len() + 3);
                        write_json_string(name.as_bytes(), &mut key);
                        key.push(b':');
                        key
                    })
                    .collect();
                for row in 0..batch.num_rows() {
                    out.push(b'{');
                    let mut first = true;
                    for ((key, column), &i) in keys.iter().zip(&columns).zip(&shown) {
                        if missing(i, row) {
                            continue;
                        }
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        out.extend_from_slice(key);
                        column.write_json(row, scratch, out);
                    }
                    out.push(b'}');
                    out.extend_from_slice(record_delimiter);
                }
            }
        }
        Ok(())
    }
}

struct CsvQuoting<'a> {
    field_delimiter: &'a [u8],
    record_delimiter: &'a [u8],
    quote: &'a [u8],
    escape: &'a [u8],
    always: bool,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    match needle {
        [] => false,
        [b] => haystack.contains(b),
        _ => haystack.windows(needle.len()).any(|w| w == needle),
    }
}

impl CsvQuoting<'_> {
    fn needs_quotes(&self, value: &[u8]) -> bool {
        self.always
            || value.iter().any(|&b| b == b'\n' || b == b'\r')
            || contains(value, self.field_delimiter)
            || contains(value, self.record_delimiter)
            || contains(value, self.quote)
    }

    fn write_field(&self, value: &[u8], out: &mut Vec<u8>) {
        if !self.needs_quotes(value) {
            out.extend_from_slice(value);
            return;
        }
        out.extend_from_slice(self.quote);
        let escape_escape = self.escape != self.quote;
        let mut i = 0;
        while i < value.len() {
            let rest = &value[i..];
            if rest.starts_with(self.quote) {
                out.extend_from_slice(self.escape);
                out.extend_from_slice(self.quote);
                i += self.quote.len();
            } else if escape_escape && rest.starts_with(self.escape) {
                out.extend_from_slice(self.escape);
                out.extend_from_slice(self.escape);
                i += self.escape.len();
            } else {
                out.push(value[i]);
                i += 1;
            }
        }
        out.extend_from_slice(self.quote);
    }
}

/// How a value's text goes into JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A JSON literal as it is: numbers, booleans, nested JSON.
    Raw,
    /// A string, to quote and escape.
    Text,
}

/// Writes the text of the non-null value at a row.
type WriteFn<'a> = Box<dyn Fn(usize, &mut Vec<u8>) -> Kind + 'a>;

/// Writes the value at a row as JSON, `null` included.
type JsonFn<'a> = Box<dyn Fn(usize, &mut Vec<u8>) + 'a>;

type Metadata = HashMap<String, String>;

/// One output column: its nulls and the writer of its values.
struct Column<'a> {
    nulls: Option<NullBuffer>,
    write: WriteFn<'a>,
}

impl<'a> Column<'a> {
    fn new(array: &'a dyn Array, metadata: &Metadata) -> Result<Self, SelectError> {
        Ok(Column {
            // Logical nulls: those of a dictionary's values count too.
            nulls: array.logical_nulls(),
            write: writer(array, metadata)?,
        })
    }

    fn is_null(&self, row: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(row))
    }

    fn write_json(&self, row: usize, scratch: &mut Vec<u8>, out: &mut Vec<u8>) {
        if self.is_null(row) {
            out.extend_from_slice(b"null");
            return;
        }
        scratch.clear();
        match (self.write)(row, scratch) {
            Kind::Raw => out.extend_from_slice(scratch),
            Kind::Text => write_json_string(scratch, out),
        }
    }
}

fn unsupported(data_type: &DataType) -> SelectError {
    SelectError::new(
        "InternalError",
        format!("S3 Select has no output form for values of type {data_type}"),
    )
}

/// The writer of a column's non-null values.
fn writer<'a>(array: &'a dyn Array, metadata: &Metadata) -> Result<WriteFn<'a>, SelectError> {
    macro_rules! signed {
        ($t:ty) => {{
            let a = array.as_primitive::<$t>();
            Box::new(move |i, out: &mut Vec<u8>| {
                write_i64(i64::from(a.value(i)), out);
                Kind::Raw
            })
        }};
    }
    macro_rules! unsigned {
        ($t:ty) => {{
            let a = array.as_primitive::<$t>();
            Box::new(move |i, out: &mut Vec<u8>| {
                write_u64(u64::from(a.value(i)), out);
                Kind::Raw
            })
        }};
    }
    macro_rules! decimal {
        ($t:ty, $scale:expr) => {{
            let a = array.as_primitive::<$t>();
            let scale = $scale;
            Box::new(move |i, out: &mut Vec<u8>| {
                let mut digits = StackBuf::new();
                // A decimal's digits always fit StackBuf (at most 77 and a sign).
                let _ = std::fmt::Write::write_fmt(&mut digits, format_args!("{}", a.value(i)));
                write_decimal(digits.as_bytes(), scale, out);
                Kind::Raw
            })
        }};
    }
    macro_rules! text {
        ($a:expr) => {{
            let a = $a;
            Box::new(move |i, out: &mut Vec<u8>| {
                out.extend_from_slice(a.value(i).as_ref());
                Kind::Text
            })
        }};
    }
    macro_rules! binary {
        ($a:expr) => {{
            let a = $a;
            Box::new(move |i, out: &mut Vec<u8>| {
                let bytes: &[u8] = a.value(i).as_ref();
                out.extend_from_slice(String::from_utf8_lossy(bytes).as_bytes());
                Kind::Text
            })
        }};
    }

    let data_type = array.data_type();
    Ok(match data_type {
        DataType::Null => Box::new(|_, _| Kind::Raw),
        DataType::Boolean => {
            let a = array.as_boolean();
            Box::new(move |i, out| {
                out.extend_from_slice(if a.value(i) { b"true" } else { b"false" });
                Kind::Raw
            })
        }
        DataType::Int8 => signed!(Int8Type),
        DataType::Int16 => signed!(Int16Type),
        DataType::Int32 => signed!(Int32Type),
        DataType::Int64 => signed!(Int64Type),
        DataType::UInt8 => unsigned!(UInt8Type),
        DataType::UInt16 => unsigned!(UInt16Type),
        DataType::UInt32 => unsigned!(UInt32Type),
        DataType::UInt64 => unsigned!(UInt64Type),
        DataType::Float16 => {
            let a = array.as_primitive::<Float16Type>();
            Box::new(move |i, out| write_f32(a.value(i).to_f32(), out))
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            Box::new(move |i, out| write_f32(a.value(i), out))
        }
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            Box::new(move |i, out| write_f64(a.value(i), out))
        }
        DataType::Decimal32(_, scale) => decimal!(Decimal32Type, *scale),
        DataType::Decimal64(_, scale) => decimal!(Decimal64Type, *scale),
        DataType::Decimal128(_, scale) => decimal!(Decimal128Type, *scale),
        DataType::Decimal256(_, scale) => decimal!(Decimal256Type, *scale),
        DataType::Utf8 => text!(array.as_string::<i32>()),
        DataType::LargeUtf8 => text!(array.as_string::<i64>()),
        DataType::Utf8View => text!(array.as_string_view()),
        DataType::Binary => binary!(array.as_binary::<i32>()),
        DataType::LargeBinary => binary!(array.as_binary::<i64>()),
        DataType::BinaryView => binary!(array.as_binary_view()),
        DataType::FixedSizeBinary(_) => binary!(array.as_fixed_size_binary()),
        DataType::Timestamp(unit, tz) => {
            let tz = TzSpec::parse(tz.as_deref())?;
            let precision = precision_of(metadata);
            match unit {
                TimeUnit::Second => {
                    timestamp_writer::<TimestampSecondType>(array, 1, tz, precision)
                }
                TimeUnit::Millisecond => {
                    timestamp_writer::<TimestampMillisecondType>(array, 1_000, tz, precision)
                }
                TimeUnit::Microsecond => {
                    timestamp_writer::<TimestampMicrosecondType>(array, 1_000_000, tz, precision)
                }
                TimeUnit::Nanosecond => {
                    timestamp_writer::<TimestampNanosecondType>(array, 1_000_000_000, tz, precision)
                }
            }
        }
        DataType::Date32 => {
            let a = array.as_primitive::<Date32Type>();
            let precision = precision_of(metadata).at_most_day();
            Box::new(move |i, out| {
                let secs = i64::from(a.value(i)) * 86_400;
                write_timestamp(out, secs, 0, TimestampOffset::Unknown, precision);
                Kind::Text
            })
        }
        DataType::Date64 => {
            let a = array.as_primitive::<Date64Type>();
            let precision = precision_of(metadata).at_most_day();
            Box::new(move |i, out| {
                let secs = a.value(i).div_euclid(86_400_000) * 86_400;
                write_timestamp(out, secs, 0, TimestampOffset::Unknown, precision);
                Kind::Text
            })
        }
        DataType::Time32(TimeUnit::Second) => time_writer::<Time32SecondType>(array, 1),
        DataType::Time32(TimeUnit::Millisecond) => {
            time_writer::<Time32MillisecondType>(array, 1_000)
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            time_writer::<Time64MicrosecondType>(array, 1_000_000)
        }
        DataType::Time64(TimeUnit::Nanosecond) => {
            time_writer::<Time64NanosecondType>(array, 1_000_000_000)
        }
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary();
            let values = writer(dict.values().as_ref(), metadata)?;
            if dict.values().is_empty() {
                // Every key is null: the writer is never called.
                Box::new(|_, _| Kind::Raw)
            } else {
                let keys = dict.normalized_keys();
                Box::new(move |i, out| values(keys[i], out))
            }
        }
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(_, _)
        | DataType::Struct(_)
        | DataType::Map(_, _) => {
            let json = json_writer(array, metadata)?;
            Box::new(move |i, out| {
                json(i, out);
                Kind::Raw
            })
        }
        _ => return Err(unsupported(data_type)),
    })
}

/// The writer of any value as JSON: nested values as arrays and objects,
/// nulls as `null`.
fn json_writer<'a>(array: &'a dyn Array, metadata: &Metadata) -> Result<JsonFn<'a>, SelectError> {
    let nulls = array.logical_nulls();
    let inner: JsonFn<'a> = match array.data_type() {
        DataType::List(field) => {
            let a = array.as_list::<i32>();
            let child = json_writer(a.values().as_ref(), field.metadata())?;
            let offsets = a.value_offsets();
            Box::new(move |i, out| {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                write_json_array(start..end, &child, out);
            })
        }
        DataType::LargeList(field) => {
            let a = array.as_list::<i64>();
            let child = json_writer(a.values().as_ref(), field.metadata())?;
            let offsets = a.value_offsets();
            Box::new(move |i, out| {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                write_json_array(start..end, &child, out);
            })
        }
        DataType::FixedSizeList(field, _) => {
            let a = array.as_fixed_size_list();
            let child = json_writer(a.values().as_ref(), field.metadata())?;
            Box::new(move |i, out| {
                let start = a.value_offset(i) as usize;
                let end = start + a.value_length() as usize;
                write_json_array(start..end, &child, out);
            })
        }
        DataType::Struct(fields) => {
            let a = array.as_struct();
            let children = fields
                .iter()
                .zip(a.columns())
                .enumerate()
                .map(|(n, (field, column))| {
                    let mut key = Vec::with_capacity(field.name().len() + 4);
                    if n > 0 {
                        key.push(b',');
                    }
                    write_json_string(field.name().as_bytes(), &mut key);
                    key.push(b':');
                    Ok((key, json_writer(column.as_ref(), field.metadata())?))
                })
                .collect::<Result<Vec<_>, SelectError>>()?;
            Box::new(move |i, out| {
                out.push(b'{');
                for (key, child) in &children {
                    out.extend_from_slice(key);
                    child(i, out);
                }
                out.push(b'}');
            })
        }
        DataType::Map(_, _) => {
            let a = array.as_map();
            let keys = writer(a.keys().as_ref(), &Metadata::new())?;
            let values = json_writer(a.values().as_ref(), &Metadata::new())?;
            let offsets = a.value_offsets();
            Box::new(move |i, out| {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                out.push(b'{');
                let mut key = Vec::new();
                for j in start..end {
                    if j > start {
                        out.push(b',');
                    }
                    key.clear();
                    keys(j, &mut key);
                    write_json_string(&key, out);
                    out.push(b':');
                    values(j, out);
                }
                out.push(b'}');
            })
        }
        _ => {
            let scalar = writer(array, metadata)?;
            Box::new(move |i, out| {
                let mut text = Vec::new();
                match scalar(i, &mut text) {
                    Kind::Raw => out.extend_from_slice(&text),
                    Kind::Text => write_json_string(&text, out),
                }
            })
        }
    };
    Ok(Box::new(move |i, out| {
        if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
            out.extend_from_slice(b"null");
        } else {
            inner(i, out);
        }
    }))
}

fn write_json_array(rows: std::ops::Range<usize>, child: &JsonFn<'_>, out: &mut Vec<u8>) {
    out.push(b'[');
    for (n, j) in rows.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        child(j, out);
    }
    out.push(b']');
}

/// Writes `s` (UTF-8) as a JSON string: quotes, backslashes and control
/// characters escaped, everything else as it is.
fn write_json_string(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut run = 0;
    for (i, &b) in s.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ],
            _ => continue,
        };
        out.extend_from_slice(&s[run..i]);
        out.extend_from_slice(escaped);
        run = i + 1;
    }
    out.extend_from_slice(&s[run..]);
    out.push(b'"');
}

fn write_u64(mut v: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn write_i64(v: i64, out: &mut Vec<u8>) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(v.unsigned_abs(), out);
}

/// A small formatting buffer on the stack.
struct StackBuf {
    buf: [u8; 96],
    len: usize,
}

impl StackBuf {
    fn new() -> Self {
        StackBuf {
            buf: [0; 96],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn write_f64(v: f64, out: &mut Vec<u8>) -> Kind {
    write_float(v, v.is_nan(), v.is_infinite(), out)
}

fn write_f32(v: f32, out: &mut Vec<u8>) -> Kind {
    write_float(v, v.is_nan(), v.is_infinite(), out)
}

/// Writes a float as Java's `Double.toString` / `Float.toString` does:
/// plain decimal with at least one fractional digit for magnitudes in
/// [1e-3, 1e7), `d.dddE±n` otherwise, with the shortest digits that read
/// back as the same value. NaN and the infinities are not JSON numbers:
/// they come back as [`Kind::Text`].
fn write_float<F: std::fmt::LowerExp + Copy>(
    v: F,
    nan: bool,
    infinite: bool,
    out: &mut Vec<u8>,
) -> Kind {
    let mut sci = StackBuf::new();
    // `{:e}` prints the shortest round-tripping digits, e.g. "-1.2345e-7".
    let _ = std::fmt::Write::write_fmt(&mut sci, format_args!("{v:e}"));
    let text = sci.as_bytes();
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if nan {
        out.extend_from_slice(b"NaN");
        return Kind::Text;
    }
    if negative {
        out.push(b'-');
    }
    if infinite {
        out.extend_from_slice(b"Infinity");
        return Kind::Text;
    }
    let e_at = text.iter().position(|&b| b == b'e').unwrap_or(text.len());
    let mantissa = &text[..e_at];
    let exp: i32 = std::str::from_utf8(&text[(e_at + 1).min(text.len())..])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 40];
    let mut n = 0;
    for &b in mantissa
        .iter()
        .filter(|b| b.is_ascii_digit())
        .take(digits.len())
    {
        digits[n] = b;
        n += 1;
    }
    let digits = &digits[..n.max(1)];
    if digits == b"0" {
        out.extend_from_slice(b"0.0");
    } else if (-3..7).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            for k in 0..int_len {
                out.push(digits.get(k).copied().unwrap_or(b'0'));
            }
            out.push(b'.');
            match digits.get(int_len..) {
                Some(frac) if !frac.is_empty() => out.extend_from_slice(frac),
                _ => out.push(b'0'),
            }
        } else {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
            out.extend_from_slice(digits);
        }
    } else {
        out.push(digits[0]);
        out.push(b'.');
        if digits.len() > 1 {
            out.extend_from_slice(&digits[1..]);
        } else {
            out.push(b'0');
        }
        out.push(b'E');
        write_i64(i64::from(exp), out);
    }
    Kind::Raw
}

/// Writes a decimal from its unscaled digits (`-?[0-9]+`) and scale, with
/// no trailing fractional zeros and no lone point: 150 at scale 2 is
/// `1.5`, 300 at scale 2 is `3`, 5 at scale -2 is `500`.
fn write_decimal(unscaled: &[u8], scale: i8, out: &mut Vec<u8>) {
    let (negative, digits) = match unscaled.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, unscaled),
    };
    let digits = match digits.iter().position(|&b| b != b'0') {
        Some(first) => &digits[first..],
        None => {
            out.push(b'0');
            return;
        }
    };
    if negative {
        out.push(b'-');
    }
    if scale <= 0 {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', scale.unsigned_abs() as usize));
        return;
    }
    let scale = scale as usize;
    let (int_part, leading_zeros, frac) = if digits.len() > scale {
        let (int_part, frac) = digits.split_at(digits.len() - scale);
        (int_part, 0, frac)
    } else {
        (&b"0"[..], scale - digits.len(), digits)
    };
    out.extend_from_slice(int_part);
    let frac_len = frac.iter().rposition(|&b| b != b'0').map_or(0, |p| p + 1);
    if frac_len > 0 {
        out.push(b'.');
        out.extend(std::iter::repeat_n(b'0', leading_zeros));
        out.extend_from_slice(&frac[..frac_len]);
    }
}

/// The precision a timestamp prints with, as S3 keeps it per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum TimestampPrecision {
    /// `2007T`
    Year,
    /// `2007-02T`
    Month,
    /// `2007-02-23`
    Day,
    /// `2007-02-23T12:14Z`
    Minute,
    /// `2007-02-23T12:14:33Z`, with `.fff`, `.ffffff` or `.fffffffff` when
    /// the fraction is not zero.
    #[default]
    Second,
}

impl TimestampPrecision {
    /// Parses a [`TIMESTAMP_PRECISION_KEY`] value (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            ("year", Self::Year),
            ("month", Self::Month),
            ("day", Self::Day),
            ("minute", Self::Minute),
            ("second", Self::Second),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, p)| p)
    }

    /// The name [`from_name`](Self::from_name) reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Year => "year",
            Self::Month => "month",
            Self::Day => "day",
            Self::Minute => "minute",
            Self::Second => "second",
        }
    }

    fn at_most_day(self) -> Self {
        self.min(Self::Day)
    }
}

fn precision_of(metadata: &Metadata) -> TimestampPrecision {
    metadata
        .get(TIMESTAMP_PRECISION_KEY)
        .and_then(|name| TimestampPrecision::from_name(name))
        .unwrap_or_default()
}

/// A timestamp's local offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampOffset {
    /// Seconds east of UTC; 0 prints as `Z`.
    Known(i32),
    /// An unknown offset, printed `-00:00` (Ion's and S3's notation, e.g.
    /// `DATE_ADD(hour, 1, `2017T`)` is `2017-01-01T01:00-00:00`).
    Unknown,
}

/// Writes a timestamp given as seconds and nanoseconds since the Unix epoch
/// (UTC) in S3's form, in its local time at `offset`. Day precision and
/// coarser print the local date and no offset.
pub fn write_timestamp(
    out: &mut Vec<u8>,
    secs: i64,
    nanos: u32,
    offset: TimestampOffset,
    precision: TimestampPrecision,
) {
    let offset_secs = match offset {
        TimestampOffset::Known(s) => i64::from(s),
        TimestampOffset::Unknown => 0,
    };
    let local = secs.saturating_add(offset_secs);
    let (year, month, day) = civil_from_days(local.div_euclid(86_400));
    let second_of_day = local.rem_euclid(86_400);
    write_padded(year, 4, out);
    if precision == TimestampPrecision::Year {
        out.push(b'T');
        return;
    }
    out.push(b'-');
    write_padded(i64::from(month), 2, out);
    if precision == TimestampPrecision::Month {
        out.push(b'T');
        return;
    }
    out.push(b'-');
    write_padded(i64::from(day), 2, out);
    if precision == TimestampPrecision::Day {
        return;
    }
    out.push(b'T');
    write_padded(second_of_day / 3600, 2, out);
    out.push(b':');
    write_padded(second_of_day / 60 % 60, 2, out);
    if precision == TimestampPrecision::Second {
        out.push(b':');
        write_padded(second_of_day % 60, 2, out);
        write_fraction(nanos, out);
    }
    match offset {
        TimestampOffset::Known(0) => out.push(b'Z'),
        TimestampOffset::Known(s) => {
            out.push(if s < 0 { b'-' } else { b'+' });
            let minutes = i64::from(s.unsigned_abs() / 60);
            write_padded(minutes / 60, 2, out);
            out.push(b':');
            write_padded(minutes % 60, 2, out);
        }
        TimestampOffset::Unknown => out.extend_from_slice(b"-00:00"),
    }
}

/// `.fff`, `.ffffff` or `.fffffffff`: the fewest groups of three digits
/// that hold the nanoseconds exactly; nothing for zero.
fn write_fraction(nanos: u32, out: &mut Vec<u8>) {
    let (value, width) = if nanos == 0 {
        return;
    } else if nanos.is_multiple_of(1_000_000) {
        (nanos / 1_000_000, 3)
    } else if nanos.is_multiple_of(1_000) {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    out.push(b'.');
    write_padded(i64::from(value), width, out);
}

/// Writes `v` with at least `width` digits (a minus sign before them).
fn write_padded(v: i64, width: usize, out: &mut Vec<u8>) {
    if v < 0 {
        out.push(b'-');
    }
    let mut digits = Vec::with_capacity(20);
    write_u64(v.unsigned_abs(), &mut digits);
    out.extend(std::iter::repeat_n(
        b'0',
        width.saturating_sub(digits.len()),
    ));
    out.extend_from_slice(&digits);
}

/// The proleptic Gregorian (year, month, day) of a day number counted from
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A timestamp column's time zone.
#[derive(Debug, Clone, Copy)]
enum TzSpec {
    /// A fixed offset, UTC (and no time zone at all: DataFusion's
    /// timestamps without one are UTC) included.
    Fixed(i32),
    /// `-00:00`: the offset is unknown.
    Unknown,
    /// A named zone (needs arrow's `chrono-tz` feature, which DataFusion
    /// enables): the offset varies with the date.
    Named(Tz),
}

impl TzSpec {
    fn parse(tz: Option<&str>) -> Result<Self, SelectError> {
        let Some(tz) = tz else {
            return Ok(TzSpec::Fixed(0));
        };
        if tz == "-00:00" {
            return Ok(TzSpec::Unknown);
        }
        if tz.eq_ignore_ascii_case("utc") || tz.eq_ignore_ascii_case("z") {
            return Ok(TzSpec::Fixed(0));
        }
        if let Some(secs) = parse_fixed_offset(tz) {
            return Ok(TzSpec::Fixed(secs));
        }
        tz.parse::<Tz>().map(TzSpec::Named).map_err(|err| {
            SelectError::new(
                "InternalError",
                format!("cannot print timestamps in time zone {tz:?}: {err}"),
            )
        })
    }

    fn offset_at(&self, secs: i64) -> TimestampOffset {
        match self {
            TzSpec::Fixed(s) => TimestampOffset::Known(*s),
            TzSpec::Unknown => TimestampOffset::Unknown,
            TzSpec::Named(tz) => chrono::DateTime::from_timestamp(secs, 0)
                .map(|utc| {
                    let offset = tz.offset_from_utc_datetime(&utc.naive_utc());
                    TimestampOffset::Known(offset.fix().local_minus_utc())
                })
                .unwrap_or(TimestampOffset::Known(0)),
        }
    }
}

/// `+hh:mm`, `+hhmm` or `+hh` (or with `-`), in seconds east of UTC.
fn parse_fixed_offset(tz: &str) -> Option<i32> {
    let b = tz.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: &[u8] = match b.len() {
        6 if b[3] == b':' => &[b[1], b[2], b[4], b[5]],
        5 => &b[1..5],
        3 => &[b[1], b[2], b'0', b'0'],
        _ => return None,
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let d = |k: usize| i32::from(digits[k] - b'0');
    let (hours, minutes) = (d(0) * 10 + d(1), d(2) * 10 + d(3));
    (hours < 24 && minutes < 60).then_some(sign * (hours * 3600 + minutes * 60))
}

fn timestamp_writer<'a, T: ArrowPrimitiveType<Native = i64>>(
    array: &'a dyn Array,
    per_second: i64,
    tz: TzSpec,
    precision: TimestampPrecision,
) -> WriteFn<'a> {
    let a: &'a PrimitiveArray<T> = array.as_primitive::<T>();
    let nanos_per_unit = 1_000_000_000 / per_second;
    Box::new(move |i, out| {
        let v = a.value(i);
        let secs = v.div_euclid(per_second);
        let nanos = (v.rem_euclid(per_second) * nanos_per_unit) as u32;
        write_timestamp(out, secs, nanos, tz.offset_at(secs), precision);
        Kind::Text
    })
}

/// Times of day (S3 has no TIME type; Parquet can hold one): `hh:mm:ss`
/// and the fraction as for timestamps.
fn time_writer<'a, T: ArrowPrimitiveType>(array: &'a dyn Array, per_second: i64) -> WriteFn<'a>
where
    T::Native: Into<i64>,
{
    let a: &'a PrimitiveArray<T> = array.as_primitive::<T>();
    let nanos_per_unit = 1_000_000_000 / per_second;
    Box::new(move |i, out| {
        let v: i64 = a.value(i).into();
        let secs = v.div_euclid(per_second);
        write_padded(secs / 3600, 2, out);
        out.push(b':');
        write_padded(secs / 60 % 60, 2, out);
        out.push(b':');
        write_padded(secs % 60, 2, out);
        write_fraction((v.rem_euclid(per_second) * nanos_per_unit) as u32, out);
        Kind::Text
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{Int64Builder, ListBuilder, StringDictionaryBuilder};
    use arrow_array::types::Int32Type as DictKey;
    use arrow_array::{
        ArrayRef, BooleanArray, Date32Array, Decimal128Array, Decimal256Array, DurationSecondArray,
        Float32Array, Float64Array, Int32Array, Int64Array, Int8Array, LargeStringArray, NullArray,
        StringArray, StringViewArray, StructArray, Time64NanosecondArray,
        TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt64Array,
    };
    use arrow_schema::{Field, Schema};
    use std::sync::Arc;

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).expect("batch")
    }

    fn with_precision(array: ArrayRef, precision: &str) -> RecordBatch {
        let field = Field::new("t", array.data_type().clone(), true)
            .with_metadata([(TIMESTAMP_PRECISION_KEY.to_string(), precision.to_string())].into());
        RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![array]).expect("batch")
    }

    fn run(writer: &mut OutputWriter, batch: &RecordBatch) -> String {
        let mut out = Vec::new();
        writer.write_batch(batch, &mut out).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    fn csv(batch: &RecordBatch, options: CsvOutput) -> String {
        run(&mut OutputWriter::csv(options), batch)
    }

    fn json(batch: &RecordBatch) -> String {
        run(&mut OutputWriter::json(JsonOutput::default()), batch)
    }

    fn ts_ms(values: Vec<Option<i64>>, tz: Option<&str>) -> ArrayRef {
        let a = TimestampMillisecondArray::from(values);
        Arc::new(match tz {
            Some(tz) => a.with_timezone(tz),
            None => a,
        })
    }

    /// (column, its values as CSV fields, as JSON values), one row each.
    fn value_cases() -> Vec<(&'static str, ArrayRef, Vec<&'static str>, Vec<&'static str>)> {
        vec![
            (
                "int64",
                Arc::new(Int64Array::from(vec![
                    Some(1),
                    Some(-2),
                    None,
                    Some(i64::MIN),
                ])),
                vec!["1", "-2", "", "-9223372036854775808"],
                vec!["1", "-2", "null", "-9223372036854775808"],
            ),
            (
                "int8 and uint64",
                Arc::new(UInt64Array::from(vec![u64::MAX, 0])),
                vec!["18446744073709551615", "0"],
                vec!["18446744073709551615", "0"],
            ),
            (
                "int8",
                Arc::new(Int8Array::from(vec![-128, 127])),
                vec!["-128", "127"],
                vec!["-128", "127"],
            ),
            (
                "float64",
                Arc::new(Float64Array::from(vec![
                    1.5,
                    2.0,
                    0.1,
                    0.456,
                    1e7,
                    9_999_999.0,
                    1e-4,
                    0.001,
                    123_456.789,
                    -0.0,
                    0.0,
                    -2.5e-10,
                    1.7976931348623157e308,
                    80.5,
                ])),
                vec![
                    "1.5",
                    "2.0",
                    "0.1",
                    "0.456",
                    "1.0E7",
                    "9999999.0",
                    "1.0E-4",
                    "0.001",
                    "123456.789",
                    "-0.0",
                    "0.0",
                    "-2.5E-10",
                    "1.7976931348623157E308",
                    "80.5",
                ],
                vec![
                    "1.5",
                    "2.0",
                    "0.1",
                    "0.456",
                    "1.0E7",
                    "9999999.0",
                    "1.0E-4",
                    "0.001",
                    "123456.789",
                    "-0.0",
                    "0.0",
                    "-2.5E-10",
                    "1.7976931348623157E308",
                    "80.5",
                ],
            ),
            (
                "float64 specials",
                Arc::new(Float64Array::from(vec![
                    f64::NAN,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                ])),
                vec!["NaN", "Infinity", "-Infinity"],
                vec!["\"NaN\"", "\"Infinity\"", "\"-Infinity\""],
            ),
            (
                "float32",
                Arc::new(Float32Array::from(vec![0.1f32, 1e10, 3.0])),
                vec!["0.1", "1.0E10", "3.0"],
                vec!["0.1", "1.0E10", "3.0"],
            ),
            (
                "bool",
                Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
                vec!["true", "false", ""],
                vec!["true", "false", "null"],
            ),
            (
                "decimal(10,4)",
                Arc::new(
                    Decimal128Array::from(vec![
                        Some(15_000),
                        Some(30_000),
                        Some(-5),
                        Some(0),
                        Some(1_234_567),
                        Some(-1_000_100),
                        None,
                    ])
                    .with_precision_and_scale(10, 4)
                    .expect("decimal"),
                ),
                vec!["1.5", "3", "-0.0005", "0", "123.4567", "-100.01", ""],
                vec!["1.5", "3", "-0.0005", "0", "123.4567", "-100.01", "null"],
            ),
            (
                "decimal negative scale",
                Arc::new(
                    Decimal128Array::from(vec![5, -12])
                        .with_precision_and_scale(5, -2)
                        .expect("decimal"),
                ),
                vec!["500", "-1200"],
                vec!["500", "-1200"],
            ),
            (
                "decimal256",
                Arc::new(
                    Decimal256Array::from(vec![arrow_buffer::i256::from_i128(
                        123_456_789_012_345_678_901_234_567_890_000,
                    )])
                    .with_precision_and_scale(50, 5)
                    .expect("decimal"),
                ),
                vec!["1234567890123456789012345678.9"],
                vec!["1234567890123456789012345678.9"],
            ),
            (
                "utf8",
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some(""),
                    Some("héllo ✓ 日本"),
                    None,
                ])),
                vec!["a", "", "héllo ✓ 日本", ""],
                vec!["\"a\"", "\"\"", "\"héllo ✓ 日本\"", "null"],
            ),
            (
                "large utf8",
                Arc::new(LargeStringArray::from(vec!["x"])),
                vec!["x"],
                vec!["\"x\""],
            ),
            (
                "utf8 view",
                Arc::new(StringViewArray::from(vec![
                    "a string longer than twelve bytes",
                    "b",
                ])),
                vec!["a string longer than twelve bytes", "b"],
                vec!["\"a string longer than twelve bytes\"", "\"b\""],
            ),
            (
                "timestamp with offset",
                ts_ms(vec![Some(1_172_261_673_079)], Some("-08:00")),
                vec!["2007-02-23T12:14:33.079-08:00"],
                vec!["\"2007-02-23T12:14:33.079-08:00\""],
            ),
            (
                "timestamp utc and none",
                ts_ms(vec![Some(1_483_326_245_000), None], Some("UTC")),
                vec!["2017-01-02T03:04:05Z", ""],
                vec!["\"2017-01-02T03:04:05Z\"", "null"],
            ),
            (
                "timestamp without zone",
                ts_ms(vec![Some(1_483_326_245_006)], None),
                vec!["2017-01-02T03:04:05.006Z"],
                vec!["\"2017-01-02T03:04:05.006Z\""],
            ),
            (
                "timestamp +05:30, +0100",
                ts_ms(vec![Some(1_719_835_200_000)], Some("+0530")),
                vec!["2024-07-01T17:30:00+05:30"],
                vec!["\"2024-07-01T17:30:00+05:30\""],
            ),
            (
                "timestamp unknown offset",
                ts_ms(vec![Some(1_483_326_245_000)], Some("-00:00")),
                vec!["2017-01-02T03:04:05-00:00"],
                vec!["\"2017-01-02T03:04:05-00:00\""],
            ),
            (
                "timestamp fractions",
                Arc::new(TimestampNanosecondArray::from(vec![
                    1_483_326_245_100_000_000,
                    1_483_326_245_000_001_000,
                    1_483_326_245_000_000_001,
                    -500_000_000,
                ])),
                vec![
                    "2017-01-02T03:04:05.100Z",
                    "2017-01-02T03:04:05.000001Z",
                    "2017-01-02T03:04:05.000000001Z",
                    "1969-12-31T23:59:59.500Z",
                ],
                vec![
                    "\"2017-01-02T03:04:05.100Z\"",
                    "\"2017-01-02T03:04:05.000001Z\"",
                    "\"2017-01-02T03:04:05.000000001Z\"",
                    "\"1969-12-31T23:59:59.500Z\"",
                ],
            ),
            (
                "timestamp seconds, leap day 1600",
                Arc::new(TimestampSecondArray::from(vec![-11_670_998_400])),
                vec!["1600-02-29T00:00:00Z"],
                vec!["\"1600-02-29T00:00:00Z\""],
            ),
            (
                "date32",
                Arc::new(Date32Array::from(vec![13_567, 0, -1])),
                vec!["2007-02-23", "1970-01-01", "1969-12-31"],
                vec!["\"2007-02-23\"", "\"1970-01-01\"", "\"1969-12-31\""],
            ),
            (
                "time64",
                Arc::new(Time64NanosecondArray::from(vec![
                    (12 * 3600 + 14 * 60 + 33) * 1_000_000_000 + 79_000_000,
                ])),
                vec!["12:14:33.079"],
                vec!["\"12:14:33.079\""],
            ),
            (
                "null type",
                Arc::new(NullArray::new(2)),
                vec!["", ""],
                vec!["null", "null"],
            ),
        ]
    }

    #[test]
    fn values_print_as_s3_does() {
        for (name, array, csv_expected, json_expected) in value_cases() {
            let b = batch(vec![("c", array)]);
            let want_csv: String = csv_expected.iter().map(|v| format!("{v}\n")).collect();
            assert_eq!(csv(&b, CsvOutput::default()), want_csv, "CSV of {name}");
            let want_json: String = json_expected
                .iter()
                .map(|v| format!("{{\"c\":{v}}}\n"))
                .collect();
            assert_eq!(json(&b), want_json, "JSON of {name}");
        }
    }

    #[test]
    fn named_time_zone_or_error() {
        // With arrow's chrono-tz (DataFusion enables it) named zones follow
        // their rules; without it they are refused, not misprinted.
        let b = batch(vec![(
            "t",
            ts_ms(vec![Some(1_172_261_673_079)], Some("America/Los_Angeles")),
        )]);
        let mut out = Vec::new();
        match OutputWriter::csv(CsvOutput::default()).write_batch(&b, &mut out) {
            Ok(()) => assert_eq!(out, b"2007-02-23T12:14:33.079-08:00\n"),
            Err(err) => assert_eq!(err.code, "InternalError"),
        }
    }

    #[test]
    fn timestamp_precision_from_metadata() {
        let cases = [
            ("year", "2017T"),
            ("month", "2017-01T"),
            ("day", "2017-01-02"),
            ("minute", "2017-01-02T03:04Z"),
            ("second", "2017-01-02T03:04:05Z"),
            ("MINUTE", "2017-01-02T03:04Z"),
            ("bogus", "2017-01-02T03:04:05Z"),
        ];
        for (precision, want) in cases {
            let b = with_precision(ts_ms(vec![Some(1_483_326_245_000)], None), precision);
            assert_eq!(
                csv(&b, CsvOutput::default()),
                format!("{want}\n"),
                "{precision}"
            );
        }
        // Minute precision keeps the offset; year precision prints the
        // local year.
        let b = with_precision(
            ts_ms(vec![Some(1_483_326_245_000)], Some("-08:00")),
            "minute",
        );
        assert_eq!(json(&b), "{\"t\":\"2017-01-01T19:04-08:00\"}\n");
        let b = with_precision(ts_ms(vec![Some(1_483_239_600_000)], Some("-08:00")), "year");
        assert_eq!(json(&b), "{\"t\":\"2016T\"}\n");
        // Dates never print finer than a day.
        let b = with_precision(Arc::new(Date32Array::from(vec![13_567])), "minute");
        assert_eq!(csv(&b, CsvOutput::default()), "2007-02-23\n");
        let b = with_precision(Arc::new(Date32Array::from(vec![13_567])), "month");
        assert_eq!(csv(&b, CsvOutput::default()), "2007-02T\n");
    }

    #[test]
    fn write_timestamp_forms() {
        let cases: [(i64, u32, TimestampOffset, TimestampPrecision, &str); 5] = [
            (
                1_483_228_800 + 3600,
                0,
                TimestampOffset::Unknown,
                TimestampPrecision::Minute,
                "2017-01-01T01:00-00:00",
            ),
            (
                1_483_228_800,
                0,
                TimestampOffset::Known(0),
                TimestampPrecision::Day,
                "2017-01-01",
            ),
            (
                1_483_228_800,
                0,
                TimestampOffset::Known(-(9 * 3600 + 30 * 60)),
                TimestampPrecision::Second,
                "2016-12-31T14:30:00-09:30",
            ),
            (
                1_483_228_800,
                123_456_789,
                TimestampOffset::Known(3600),
                TimestampPrecision::Second,
                "2017-01-01T01:00:00.123456789+01:00",
            ),
            (
                253_402_300_799,
                0,
                TimestampOffset::Known(0),
                TimestampPrecision::Second,
                "9999-12-31T23:59:59Z",
            ),
        ];
        for (secs, nanos, offset, precision, want) in cases {
            let mut out = Vec::new();
            write_timestamp(&mut out, secs, nanos, offset, precision);
            assert_eq!(String::from_utf8(out).expect("utf-8"), want);
        }
    }

    fn two_columns(values: Vec<Option<&str>>) -> RecordBatch {
        let n = values.len() as i32;
        batch(vec![
            ("s", Arc::new(StringArray::from(values)) as ArrayRef),
            ("n", Arc::new(Int32Array::from((1..=n).collect::<Vec<_>>()))),
        ])
    }

    #[test]
    fn csv_quoting() {
        let values = vec![
            Some("plain"),
            Some("a,b"),
            Some("say \"hi\""),
            Some("line\nbreak"),
            Some("cr\rhere"),
            Some(""),
            None,
            Some("back\\slash"),
            Some("x;y"),
            Some("ünï ✓"),
        ];
        let b = two_columns(values);
        type Case = (&'static str, CsvOutput, &'static str);
        let cases: Vec<Case> = vec![
            (
                "defaults (ASNEEDED)",
                CsvOutput::default(),
                "plain,1\n\"a,b\",2\n\"say \"\"hi\"\"\",3\n\"line\nbreak\",4\n\"cr\rhere\",5\n,6\n,7\n\
                 back\\slash,8\nx;y,9\nünï ✓,10\n",
            ),
            (
                "ALWAYS",
                CsvOutput {
                    quote_fields: QuoteFields::Always,
                    ..CsvOutput::default()
                },
                "\"plain\",\"1\"\n\"a,b\",\"2\"\n\"say \"\"hi\"\"\",\"3\"\n\"line\nbreak\",\"4\"\n\
                 \"cr\rhere\",\"5\"\n\"\",\"6\"\n,\"7\"\n\"back\\slash\",\"8\"\n\"x;y\",\"9\"\n\
                 \"ünï ✓\",\"10\"\n",
            ),
            (
                "semicolon and CRLF",
                CsvOutput {
                    field_delimiter: ";".into(),
                    record_delimiter: "\r\n".into(),
                    ..CsvOutput::default()
                },
                "plain;1\r\na,b;2\r\n\"say \"\"hi\"\"\";3\r\n\"line\nbreak\";4\r\n\"cr\rhere\";5\r\n;6\r\n\
                 ;7\r\nback\\slash;8\r\n\"x;y\";9\r\nünï ✓;10\r\n",
            ),
            (
                "backslash escape, single quote",
                CsvOutput {
                    quote_character: '\'',
                    quote_escape_character: '\\',
                    quote_fields: QuoteFields::Always,
                    ..CsvOutput::default()
                },
                "'plain','1'\n'a,b','2'\n'say \"hi\"','3'\n'line\nbreak','4'\n'cr\rhere','5'\n'','6'\n\
                 ,'7'\n'back\\\\slash','8'\n'x;y','9'\n'ünï ✓','10'\n",
            ),
        ];
        for (name, options, want) in cases {
            assert_eq!(csv(&b, options), want, "{name}");
        }
    }

    #[test]
    fn csv_custom_delimiters_in_values() {
        let b = two_columns(vec![Some("a||b"), Some("a|b"), Some("x#y"), Some("it's")]);
        let options = CsvOutput {
            field_delimiter: "||".into(),
            record_delimiter: "#".into(),
            quote_character: '\'',
            quote_escape_character: '\'',
            quote_fields: QuoteFields::AsNeeded,
        };
        assert_eq!(csv(&b, options), "'a||b'||1#a|b||2#'x#y'||3#'it''s'||4#");
        // A multi-byte quote character.
        let b = two_columns(vec![Some("«q»"), Some("a,b")]);
        let options = CsvOutput {
            quote_character: '»',
            quote_escape_character: '»',
            ..CsvOutput::default()
        };
        assert_eq!(csv(&b, options), "»«q»»»,1\n»a,b»,2\n");
    }

    #[test]
    fn csv_numbers_quoted_when_delimiter_is_in_them() {
        let b = batch(vec![
            ("f", Arc::new(Float64Array::from(vec![1.5])) as ArrayRef),
            ("i", Arc::new(Int64Array::from(vec![-3]))),
        ]);
        let options = CsvOutput {
            field_delimiter: ".".into(),
            ..CsvOutput::default()
        };
        assert_eq!(csv(&b, options), "\"1.5\".-3\n");
    }

    #[test]
    fn json_records() {
        let b = batch(vec![
            (
                "_1",
                Arc::new(StringArray::from(vec![Some("a\"b\\c\n\t\u{1}"), None])) as ArrayRef,
            ),
            (
                "name with \"quote\"",
                Arc::new(Int64Array::from(vec![Some(7), Some(8)])),
            ),
            ("ünï", Arc::new(BooleanArray::from(vec![None, Some(true)]))),
        ]);
        assert_eq!(
            json(&b),
            "{\"_1\":\"a\\\"b\\\\c\\n\\t\\u0001\",\"name with \\\"quote\\\"\":7,\"ünï\":null}\n\
             {\"_1\":null,\"name with \\\"quote\\\"\":8,\"ünï\":true}\n"
        );
        let mut writer = OutputWriter::json(JsonOutput {
            record_delimiter: ",".into(),
        });
        let b = batch(vec![(
            "x",
            Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
        )]);
        assert_eq!(run(&mut writer, &b), "{\"x\":1},{\"x\":2},");
    }

    fn list_column() -> ArrayRef {
        let mut list = ListBuilder::new(Int64Builder::new());
        list.values().append_value(1);
        list.values().append_value(2);
        list.values().append_null();
        list.append(true);
        list.append(false);
        list.append(true);
        list.values().append_value(3);
        list.append(true);
        Arc::new(list.finish())
    }

    #[test]
    fn nested_values_print_as_json() {
        let strukt = StructArray::from(vec![
            (
                Arc::new(Field::new("a", DataType::Int64, true)),
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3), Some(4)])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("b", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec!["x,y", "z", "\"q\"", "w"])) as ArrayRef,
            ),
        ]);
        let b = batch(vec![("l", list_column()), ("s", Arc::new(strukt))]);
        assert_eq!(
            json(&b),
            "{\"l\":[1,2,null],\"s\":{\"a\":1,\"b\":\"x,y\"}}\n\
             {\"l\":null,\"s\":{\"a\":null,\"b\":\"z\"}}\n\
             {\"l\":[],\"s\":{\"a\":3,\"b\":\"\\\"q\\\"\"}}\n\
             {\"l\":[3],\"s\":{\"a\":4,\"b\":\"w\"}}\n"
        );
        assert_eq!(
            csv(&b, CsvOutput::default()),
            "\"[1,2,null]\",\"{\"\"a\"\":1,\"\"b\"\":\"\"x,y\"\"}\"\n\
             ,\"{\"\"a\"\":null,\"\"b\"\":\"\"z\"\"}\"\n\
             [],\"{\"\"a\"\":3,\"\"b\"\":\"\"\\\"\"q\\\"\"\"\"}\"\n\
             [3],\"{\"\"a\"\":4,\"\"b\"\":\"\"w\"\"}\"\n"
        );
        // A slice starts inside the list offsets.
        let sliced = b.slice(2, 2);
        assert_eq!(
            json(&sliced),
            "{\"l\":[],\"s\":{\"a\":3,\"b\":\"\\\"q\\\"\"}}\n{\"l\":[3],\"s\":{\"a\":4,\"b\":\"w\"}}\n"
        );
    }

    #[test]
    fn dictionary_columns() {
        let mut builder = StringDictionaryBuilder::<DictKey>::new();
        builder.append_value("red");
        builder.append_null();
        builder.append_value("a,b");
        builder.append_value("red");
        let b = batch(vec![("d", Arc::new(builder.finish()) as ArrayRef)]);
        assert_eq!(csv(&b, CsvOutput::default()), "red\n\n\"a,b\"\nred\n");
        assert_eq!(
            json(&b),
            "{\"d\":\"red\"}\n{\"d\":null}\n{\"d\":\"a,b\"}\n{\"d\":\"red\"}\n"
        );
    }

    #[test]
    fn sliced_batches_and_empty_batches() {
        let b = two_columns(vec![Some("a"), Some("b"), Some("c")]);
        assert_eq!(csv(&b.slice(1, 2), CsvOutput::default()), "b,2\nc,3\n");
        assert_eq!(csv(&b.slice(0, 0), CsvOutput::default()), "");
        assert_eq!(json(&b.slice(3, 0)), "");
    }

    #[test]
    fn writes_append_to_out() {
        let b = two_columns(vec![Some("a")]);
        let mut writer = OutputWriter::new(OutputFormat::Csv(CsvOutput::default()));
        let mut out = b"previous|".to_vec();
        writer.write_batch(&b, &mut out).expect("write");
        writer.write_batch(&b, &mut out).expect("write");
        assert_eq!(out, b"previous|a,1\na,1\n");
    }

    #[test]
    fn unsupported_types_fail_before_writing() {
        let b = batch(vec![
            ("n", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("d", Arc::new(DurationSecondArray::from(vec![5]))),
        ]);
        let mut out = Vec::new();
        let err = OutputWriter::csv(CsvOutput::default())
            .write_batch(&b, &mut out)
            .expect_err("durations have no S3 form");
        assert_eq!(err.code, "InternalError");
        assert!(out.is_empty());
    }

    #[test]
    fn decimal_digits() {
        let cases = [
            ("0", 3, "0"),
            ("-0", 2, "0"),
            ("1", 0, "1"),
            ("1", 3, "0.001"),
            ("1000", 3, "1"),
            ("1010", 3, "1.01"),
            ("-1010", 1, "-101"),
            ("7", -3, "7000"),
            (
                "12345678901234567890123456789012345678",
                38,
                "0.12345678901234567890123456789012345678",
            ),
        ];
        for (digits, scale, want) in cases {
            let mut out = Vec::new();
            write_decimal(digits.as_bytes(), scale, &mut out);
            assert_eq!(
                String::from_utf8(out).expect("utf-8"),
                want,
                "{digits} scale {scale}"
            );
        }
    }

    #[test]
    fn precision_names_round_trip() {
        for p in [
            TimestampPrecision::Year,
            TimestampPrecision::Month,
            TimestampPrecision::Day,
            TimestampPrecision::Minute,
            TimestampPrecision::Second,
        ] {
            assert_eq!(TimestampPrecision::from_name(p.name()), Some(p));
        }
        assert_eq!(TimestampPrecision::from_name("hour"), None);
    }
}

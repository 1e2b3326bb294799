//! Running a Select: the object's bytes are decompressed and decoded into
//! Arrow record batches as they arrive, DataFusion runs the translated
//! query over them as a stream, and the rows come out serialized.
//!
//! Nothing is buffered beyond a batch (and the first record, to learn the
//! columns): memory does not grow with the object, and a LIMIT stops
//! reading it, since DataFusion stops pulling from the source.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio_util::io::{ReaderStream, StreamReader};

use crate::output::{self, OutputWriter};
use crate::request::{Compression, FileHeaderInfo, InputFormat, SelectRequest};
use crate::scan::{self, ScanWindow};
use crate::translate::{translate_for, translate_json, TABLE};
use crate::SelectError;

/// The object's bytes, as stored.
pub type ByteSource = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Serialized output, in order.
pub type OutputStream = Pin<Box<dyn Stream<Item = Result<Bytes, SelectError>> + Send>>;

/// Rows per Arrow batch.
const BATCH_ROWS: usize = 8192;
/// The longest record S3 Select accepts.
pub const MAX_RECORD: usize = 1 << 20;

/// Byte counts for Progress and Stats events.
#[derive(Debug, Default)]
pub struct Counters {
    /// Bytes read from storage (compressed, as stored).
    pub scanned: AtomicU64,
    /// Bytes after decompression.
    pub processed: AtomicU64,
    /// Bytes of output produced.
    pub returned: AtomicU64,
}

/// A running Select.
pub struct Execution {
    pub output: OutputStream,
    pub counters: Arc<Counters>,
}

fn counted(source: ByteSource, counter: Arc<Counters>, scanned: bool) -> ByteSource {
    Box::pin(source.inspect(move |chunk| {
        if let Ok(c) = chunk {
            let n = c.len() as u64;
            if scanned {
                counter.scanned.fetch_add(n, Ordering::Relaxed);
            } else {
                counter.processed.fetch_add(n, Ordering::Relaxed);
            }
        }
    }))
}

fn decompressed(source: ByteSource, compression: Compression) -> ByteSource {
    match compression {
        Compression::None => source,
        Compression::Gzip => {
            let mut decoder =
                async_compression::tokio::bufread::GzipDecoder::new(StreamReader::new(source));
            decoder.multiple_members(true);
            Box::pin(ReaderStream::new(decoder))
        }
        Compression::Bzip2 => {
            let mut decoder =
                async_compression::tokio::bufread::BzDecoder::new(StreamReader::new(source));
            decoder.multiple_members(true);
            Box::pin(ReaderStream::new(decoder))
        }
    }
}

/// An input error while reading the object: a compressed object that does
/// not decompress is the client's; anything else is ours.
fn read_error(e: io::Error, compression: Compression) -> SelectError {
    if let Some(select) = e.get_ref().and_then(|x| x.downcast_ref::<SelectError>()) {
        return select.clone();
    }
    if compression != Compression::None && e.kind() != io::ErrorKind::Other {
        return SelectError::new(
            "InvalidCompressionFormat",
            format!("the object could not be decompressed: {e}"),
        );
    }
    SelectError::new("InternalError", format!("reading the object failed: {e}"))
}

/// Read from `source` until `prefix` holds at least one whole line (or
/// the source ends). Returns whether the source ended.
async fn fill_first_record(
    source: &mut ByteSource,
    prefix: &mut BytesMut,
    terminator: u8,
    compression: Compression,
) -> Result<bool, SelectError> {
    while !prefix.contains(&terminator) {
        if prefix.len() > MAX_RECORD {
            return Err(SelectError::new(
                "OverMaxRecordSize",
                "The character number in one record is more than our max threshold, maxCharsPerRecord: 1,048,576",
            ));
        }
        match source.next().await {
            Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(read_error(e, compression)),
            None => return Ok(true),
        }
    }
    Ok(false)
}

/// Start a Select over `source`, the whole object.
pub async fn execute(
    request: &SelectRequest,
    source: ByteSource,
) -> Result<Execution, SelectError> {
    let counters = Arc::new(Counters::default());
    let source = counted(source, counters.clone(), true);
    execute_stream(request, source, true, counters).await
}

/// The object's bytes for a Select with a ScanRange (uncompressed CSV or
/// JSON LINES).
pub struct RangedInput {
    pub window: ScanWindow,
    /// The object from `window.read_from()` on (nothing when the window is
    /// empty); read only until the last record of the window is complete.
    pub source: ByteSource,
    /// The object from its first byte, for the CSV header when the window
    /// starts after it (FileHeaderInfo USE): only its first record is read.
    pub header: Option<ByteSource>,
}

impl RangedInput {
    /// Whether the request needs `header` for this window.
    pub fn needs_header(request: &SelectRequest, window: &ScanWindow) -> bool {
        window.start > 0
            && matches!(&request.input.format,
                InputFormat::Csv(c) if c.file_header_info == FileHeaderInfo::Use)
    }
}

/// Start a Select over the records that begin inside a ScanRange.
pub async fn execute_range(
    request: &SelectRequest,
    input: RangedInput,
) -> Result<Execution, SelectError> {
    let counters = Arc::new(Counters::default());
    let delimiter = match &request.input.format {
        InputFormat::Csv(csv) => CsvOptions::from_request(csv)?.terminator.unwrap_or(b'\n'),
        _ => b'\n',
    };
    let window = input.window;
    let data = scan::records_in(
        counted(input.source, counters.clone(), true),
        window,
        delimiter,
    );
    let mut header_in_source = window.start == 0;
    let source = match input.header {
        Some(header) if RangedInput::needs_header(request, &window) => {
            let header = counted(header, counters.clone(), true);
            let line = scan::first_record(header, delimiter)
                .await
                .map_err(|e| read_error(e, Compression::None))?;
            header_in_source = true;
            Box::pin(futures_util::stream::once(async { Ok(line) }).chain(data))
        }
        _ => data,
    };
    if !header_in_source && RangedInput::needs_header(request, &window) {
        return Err(SelectError::new(
            "InternalError",
            "the CSV header was not read for the ScanRange",
        ));
    }
    execute_stream(request, source, header_in_source, counters).await
}

/// A session for one Select.
pub(crate) fn session() -> SessionContext {
    let config = SessionConfig::new()
        .with_target_partitions(1)
        .with_batch_size(BATCH_ROWS);
    let ctx = SessionContext::new_with_config(config);
    crate::functions::register(&ctx);
    ctx
}

/// `source` (already counted as scanned) decoded and queried. Without
/// `header_in_source` a CSV FileHeaderInfo IGNORE has no line to skip.
async fn execute_stream(
    request: &SelectRequest,
    source: ByteSource,
    header_in_source: bool,
    counters: Arc<Counters>,
) -> Result<Execution, SelectError> {
    let compression = request.input.compression;
    let mut source = counted(decompressed(source, compression), counters.clone(), false);
    let mut prefix = BytesMut::new();
    let prefix_was_empty;
    let (schema, batches): (SchemaRef, BatchSource) = match &request.input.format {
        InputFormat::Csv(csv) => {
            let mut options = CsvOptions::from_request(csv)?;
            if !header_in_source {
                options.header = FileHeaderInfo::None;
            }
            fill_first_record(
                &mut source,
                &mut prefix,
                options.terminator.unwrap_or(b'\n'),
                compression,
            )
            .await?;
            prefix_was_empty = prefix.is_empty();
            let schema = csv_schema(&prefix, &options)?;
            let batches = csv_batches(
                schema.clone(),
                options,
                prefix.freeze(),
                source,
                compression,
            );
            (schema, batches)
        }
        InputFormat::Json(_) => {
            // A FROM path or IS MISSING: records reshaped into rows first.
            if let Some(shape) = crate::translate::plan_json(&request.expression)? {
                source = crate::jsonrows::shape(source, Arc::new(shape));
            }
            fill_first_record(&mut source, &mut prefix, b'\n', compression).await?;
            prefix_was_empty = prefix.is_empty();
            let schema = json_schema(&prefix)?;
            let batches = json_batches(schema.clone(), prefix.freeze(), source, compression);
            (schema, batches)
        }
        InputFormat::Parquet => {
            return Err(SelectError::new(
                "InternalError",
                "Parquet input is read by ranges (parquet::execute), not as a stream",
            ))
        }
    };
    let partition = Arc::new(OneShot {
        schema: schema.clone(),
        batches: Mutex::new(Some(batches)),
    });
    let table = StreamingTable::try_new(schema.clone(), vec![partition]).map_err(plan_error)?;
    let no_records = prefix_was_empty;
    match run_query(
        session(),
        request,
        Arc::new(table),
        &schema,
        counters.clone(),
    )
    .await
    {
        // Without a single record (an empty object or ScanRange) the
        // columns are unknown: no column can be checked, no row comes out.
        Err(e) if no_records && UNBOUND.contains(&e.code) => Ok(Execution {
            output: Box::pin(futures_util::stream::empty()),
            counters,
        }),
        other => other,
    }
}

/// The codes of a column the input does not have.
const UNBOUND: [&str; 2] = ["EvaluatorBindingDoesNotExist", "InvalidColumnIndex"];

/// Translate the request's SQL against `schema`'s columns and run it over
/// `table`, registered as the S3 object in `ctx`.
pub(crate) async fn run_query(
    ctx: SessionContext,
    request: &SelectRequest,
    table: Arc<dyn TableProvider>,
    schema: &SchemaRef,
    counters: Arc<Counters>,
) -> Result<Execution, SelectError> {
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let translated = match &request.input.format {
        InputFormat::Csv(_) => translate_for(&request.expression, &columns, false)?,
        InputFormat::Parquet => translate_for(&request.expression, &columns, true)?,
        InputFormat::Json(_) => {
            let row_fields: Option<Vec<String>> = schema
                .field_with_name(crate::jsonrows::ROW)
                .ok()
                .and_then(|f| match f.data_type() {
                    DataType::Struct(fields) => {
                        Some(fields.iter().map(|f| f.name().clone()).collect())
                    }
                    _ => None,
                });
            translate_json(&request.expression, &columns, row_fields.as_deref())?
        }
    };
    ctx.register_table(TABLE, table).map_err(plan_error)?;
    let frame = ctx.sql(&translated.sql).await.map_err(plan_error)?;
    let stream = frame.execute_stream().await.map_err(plan_error)?;
    let mut writer = output_writer(&request.output);
    let returned = counters.clone();
    let output = stream.map(move |batch| {
        let batch = batch.map_err(run_error)?;
        let mut out = Vec::new();
        writer.write_batch(&batch, &mut out)?;
        returned
            .returned
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        Ok(Bytes::from(out))
    });
    Ok(Execution {
        output: Box::pin(output.try_filter(|b| std::future::ready(!b.is_empty()))),
        counters,
    })
}

fn output_writer(output: &crate::request::OutputSerialization) -> OutputWriter {
    use crate::request::{OutputSerialization, QuoteFields as Q};
    match output {
        OutputSerialization::Csv(c) => OutputWriter::csv(output::CsvOutput {
            field_delimiter: c.field_delimiter.to_string(),
            record_delimiter: c.record_delimiter.clone(),
            quote_character: c.quote_character.unwrap_or('"'),
            quote_escape_character: c.quote_escape_character,
            quote_fields: match c.quote_fields {
                Q::Always => output::QuoteFields::Always,
                Q::AsNeeded => output::QuoteFields::AsNeeded,
            },
        }),
        OutputSerialization::Json(j) => OutputWriter::json(output::JsonOutput {
            record_delimiter: j.record_delimiter.clone(),
        }),
    }
}

type BatchSource = Pin<Box<dyn Stream<Item = Result<RecordBatch, DataFusionError>> + Send>>;

/// The object as a table DataFusion reads once.
struct OneShot {
    schema: SchemaRef,
    batches: Mutex<Option<BatchSource>>,
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneShot")
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batches = self.batches.lock().ok().and_then(|mut b| b.take());
        let stream: BatchSource = match batches {
            Some(b) => b,
            None => Box::pin(futures_util::stream::once(async {
                Err(DataFusionError::Internal(
                    "the object was already read".into(),
                ))
            })),
        };
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// A failure planning the query (before any output).
fn plan_error(e: DataFusionError) -> SelectError {
    if let Some(s) = find_select_error(&e).or_else(|| crate::functions::classify(&e)) {
        return s;
    }
    let text = e.to_string();
    let code = if text.contains("Invalid function")
        || text.contains("not found") && text.contains("function")
    {
        "UnsupportedFunction"
    } else if text.contains("No function matches")
        || text.contains("does not support")
        || text.contains("Coercion")
    {
        "IncorrectSqlFunctionArgumentType"
    } else if text.contains("Unsupported") {
        "UnsupportedSyntax"
    } else {
        "ParseUnexpectedToken"
    };
    SelectError::new(code, text)
}

/// A failure while running (after output may have started).
fn run_error(e: DataFusionError) -> SelectError {
    if let Some(s) = find_select_error(&e).or_else(|| crate::functions::classify(&e)) {
        return s;
    }
    let text = e.to_string();
    let code = if text.contains("Cast error") || text.contains("Cannot cast") {
        "CastFailed"
    } else if text.contains("Parquet error") {
        "ParquetParsingError"
    } else if text.contains("overflow") {
        "IntegerOverflow"
    } else if text.contains("Divide by zero") {
        "InvalidRequestParameter"
    } else {
        "InternalError"
    };
    SelectError::new(code, text)
}

fn find_select_error(e: &DataFusionError) -> Option<SelectError> {
    match e {
        DataFusionError::External(inner) => inner.downcast_ref::<SelectError>().cloned(),
        DataFusionError::Context(_, inner) => find_select_error(inner),
        DataFusionError::Shared(inner) => find_select_error(inner),
        DataFusionError::ArrowError(inner, _) => match inner.as_ref() {
            ArrowError::ExternalError(x) => x.downcast_ref::<SelectError>().cloned(),
            _ => None,
        },
        _ => None,
    }
}

fn external(e: SelectError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

// ---------------------------------------------------------------- CSV

struct CsvOptions {
    header: FileHeaderInfo,
    delimiter: u8,
    quote: u8,
    escape: Option<u8>,
    comment: Option<u8>,
    /// None: LF or CRLF.
    terminator: Option<u8>,
}

fn one_byte(value: &str, what: &str) -> Result<u8, SelectError> {
    match value.as_bytes() {
        [b] => Ok(*b),
        _ => Err(SelectError::new(
            "InvalidRequestParameter",
            format!("{what} must be one ASCII character here, not {value:?}"),
        )),
    }
}

impl CsvOptions {
    fn from_request(csv: &crate::request::CsvInput) -> Result<Self, SelectError> {
        let terminator = match csv.record_delimiter.as_str() {
            "\n" | "\r\n" => None,
            other => Some(one_byte(other, "RecordDelimiter")?),
        };
        let byte = |c: char, what: &str| one_byte(c.encode_utf8(&mut [0; 4]), what);
        // Without a quote character nothing is quoted: use a byte that
        // cannot appear in text.
        let quote = match csv.quote_character {
            Some(q) => byte(q, "QuoteCharacter")?,
            None => 0,
        };
        let escape = byte(csv.quote_escape_character, "QuoteEscapeCharacter")?;
        Ok(CsvOptions {
            header: csv.file_header_info,
            delimiter: byte(csv.field_delimiter, "FieldDelimiter")?,
            quote,
            // A doubled quote is the default escape; arrow reads it as such.
            escape: (escape != quote).then_some(escape),
            comment: match csv.comments {
                Some(c) => Some(byte(c, "Comments")?),
                None => None,
            },
            terminator,
        })
    }

    fn format(&self, header: bool) -> datafusion::arrow::csv::reader::Format {
        let mut f = datafusion::arrow::csv::reader::Format::default()
            .with_header(header)
            .with_delimiter(self.delimiter)
            .with_quote(self.quote)
            .with_truncated_rows(true);
        if let Some(e) = self.escape {
            f = f.with_escape(e);
        }
        if let Some(c) = self.comment {
            f = f.with_comment(c);
        }
        if let Some(t) = self.terminator {
            f = f.with_terminator(t);
        }
        f
    }
}

fn csv_error(e: ArrowError) -> SelectError {
    let text = e.to_string();
    let code = if text.contains("quote") {
        "CSVUnescapedQuote"
    } else {
        "CSVParsingError"
    };
    SelectError::new(code, text)
}

/// Columns: the header's names (USE), or `_1`, `_2` ... by position; all
/// values are strings, as S3 reads CSV.
fn csv_schema(prefix: &[u8], options: &CsvOptions) -> Result<SchemaRef, SelectError> {
    let use_header = options.header == FileHeaderInfo::Use;
    let format = options.format(use_header);
    let (inferred, _) = format
        .infer_schema(io::Cursor::new(prefix), Some(1))
        .map_err(csv_error)?;
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = if use_header {
                f.name().clone()
            } else {
                format!("_{}", i + 1)
            };
            Field::new(name, DataType::Utf8, true)
        })
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

fn csv_batches(
    schema: SchemaRef,
    options: CsvOptions,
    prefix: Bytes,
    source: ByteSource,
    compression: Compression,
) -> BatchSource {
    let skip_header = options.header != FileHeaderInfo::None;
    let mut builder = datafusion::arrow::csv::ReaderBuilder::new(schema)
        .with_format(options.format(skip_header))
        .with_batch_size(BATCH_ROWS);
    builder = builder.with_header(skip_header);
    let decoder = builder.build_decoder();
    decode_stream(Decoder::Csv(Box::new(decoder)), prefix, source, compression)
}

// ---------------------------------------------------------------- JSON

fn json_schema(prefix: &[u8]) -> Result<SchemaRef, SelectError> {
    // Whole lines only: the prefix may end inside the next record.
    let prefix = &prefix[..prefix
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(prefix.len(), |p| p + 1)];
    let (schema, _) =
        datafusion::arrow::json::reader::infer_json_schema(io::Cursor::new(prefix), Some(1000))
            .map_err(|e| SelectError::new("JSONParsingError", e.to_string()))?;
    Ok(Arc::new(schema))
}

fn json_batches(
    schema: SchemaRef,
    prefix: Bytes,
    source: ByteSource,
    compression: Compression,
) -> BatchSource {
    let decoder = datafusion::arrow::json::ReaderBuilder::new(schema)
        .with_batch_size(BATCH_ROWS)
        .build_decoder();
    match decoder {
        Ok(d) => decode_stream(Decoder::Json(Box::new(d)), prefix, source, compression),
        Err(e) => Box::pin(futures_util::stream::once(async move {
            Err(external(SelectError::new(
                "JSONParsingError",
                e.to_string(),
            )))
        })),
    }
}

// ---------------------------------------------------------------- decoding

enum Decoder {
    Csv(Box<datafusion::arrow::csv::reader::Decoder>),
    Json(Box<datafusion::arrow::json::reader::Decoder>),
}

impl Decoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, SelectError> {
        match self {
            Decoder::Csv(d) => d.decode(buf).map_err(csv_error),
            Decoder::Json(d) => d
                .decode(buf)
                .map_err(|e| SelectError::new("JSONParsingError", e.to_string())),
        }
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, SelectError> {
        match self {
            Decoder::Csv(d) => match d.flush().map_err(csv_error)? {
                Some(batch) => empty_fields_as_strings(batch).map(Some),
                None => Ok(None),
            },
            Decoder::Json(d) => d
                .flush()
                .map_err(|e| SelectError::new("JSONParsingError", e.to_string())),
        }
    }

    fn full(&self) -> bool {
        match self {
            Decoder::Csv(d) => d.capacity() == 0,
            Decoder::Json(d) => d.len() >= BATCH_ROWS,
        }
    }
}

/// S3 reads an empty CSV field as an empty string, where arrow reads NULL.
/// Arrow stores those NULLs as empty values, so dropping the columns' null
/// masks is the whole conversion. (A never-matching null pattern does the
/// same per field, through the regex engine: measured at about 45% of the
/// CPU time of a CSV scan.)
fn empty_fields_as_strings(batch: RecordBatch) -> Result<RecordBatch, SelectError> {
    use datafusion::arrow::array::{Array, ArrayRef, StringArray};
    if batch.columns().iter().all(|c| c.null_count() == 0) {
        return Ok(batch);
    }
    let schema = batch.schema();
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| match c.as_any().downcast_ref::<StringArray>() {
            Some(strings) if strings.null_count() > 0 => {
                let (offsets, values, _) = strings.clone().into_parts();
                Arc::new(StringArray::new(offsets, values, None)) as ArrayRef
            }
            _ => c.clone(),
        })
        .collect();
    RecordBatch::try_new(schema, columns)
        .map_err(|e| SelectError::new("InternalError", e.to_string()))
}

/// Feed the prefix and then the source through `decoder`, yielding a batch
/// whenever one is full and the rest at the end.
fn decode_stream(
    decoder: Decoder,
    prefix: Bytes,
    source: ByteSource,
    compression: Compression,
) -> BatchSource {
    struct State {
        decoder: Decoder,
        pending: Bytes,
        source: ByteSource,
        ended: bool,
        done: bool,
        compression: Compression,
    }
    let state = State {
        decoder,
        pending: prefix,
        source,
        ended: false,
        done: false,
        compression,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            while !s.pending.is_empty() {
                let n = match s.decoder.decode(&s.pending) {
                    Ok(n) => n,
                    Err(e) => {
                        s.done = true;
                        return Some((Err(external(e)), s));
                    }
                };
                let _ = s.pending.split_to(n);
                if s.decoder.full() {
                    let batch = s.decoder.flush().map_err(external);
                    return match batch {
                        Ok(Some(b)) => Some((Ok(b), s)),
                        Ok(None) => continue,
                        Err(e) => {
                            s.done = true;
                            Some((Err(e), s))
                        }
                    };
                }
                if n == 0 {
                    break;
                }
            }
            if s.ended {
                s.done = true;
                // An empty buffer marks the end of the input.
                if let Err(e) = s.decoder.decode(&[]) {
                    return Some((Err(external(e)), s));
                }
                return match s.decoder.flush() {
                    Ok(Some(b)) => Some((Ok(b), s)),
                    Ok(None) => None,
                    Err(e) => Some((Err(external(e)), s)),
                };
            }
            match s.source.next().await {
                Some(Ok(chunk)) => s.pending = chunk,
                Some(Err(e)) => {
                    s.done = true;
                    let err = read_error(e, s.compression);
                    return Some((Err(external(err)), s));
                }
                None => s.ended = true,
            }
        }
    }))
}

//! Parquet input: DataFusion reads the object through an `object_store`
//! adapter over a [`RangeReader`], with range requests, so a query touching
//! one column of one row group reads only the footer and those column
//! chunks. BytesScanned is the sum of the ranges fetched.
//!
//! The crate knows nothing of the gateway's storage: the gateway implements
//! [`RangeReader`] for one object of its backend.

use std::fmt;
use std::io;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::FileScanConfigBuilder;
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    self, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use datafusion::physical_plan::ExecutionPlan;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use crate::engine::{self, Counters, Execution};
use crate::request::SelectRequest;
use crate::scan::ScanWindow;
use crate::SelectError;

/// One object, read by byte ranges.
#[async_trait]
pub trait RangeReader: Send + Sync + 'static {
    /// The object's size in bytes.
    async fn size(&self) -> io::Result<u64>;
    /// The bytes of `range` (within the object).
    async fn read(&self, range: Range<u64>) -> io::Result<Bytes>;
}

/// Where DataFusion finds the object.
const STORE_URL: &str = "blobgate://object/";
const FILE: &str = "data.parquet";
/// Footer bytes fetched with the first request: the Parquet metadata of a
/// file of ordinary width fits (DataFusion's default of 512 KiB would read
/// all of a small file for a one-column query).
const METADATA_SIZE_HINT: usize = 64 * 1024;

/// The object as an `ObjectStore` holding one file, `data.parquet`: reads
/// only (`get_opts` with or without a range, `head`, `get_ranges`), all
/// counted as scanned; everything else is NotSupported.
pub struct ObjectAdapter {
    reader: Arc<dyn RangeReader>,
    location: Path,
    counters: Arc<Counters>,
}

impl ObjectAdapter {
    pub fn new(reader: Arc<dyn RangeReader>, counters: Arc<Counters>) -> Self {
        ObjectAdapter {
            reader,
            location: Path::from(FILE),
            counters,
        }
    }

    fn meta(&self, size: u64) -> ObjectMeta {
        ObjectMeta {
            location: self.location.clone(),
            last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            size,
            e_tag: None,
            version: None,
        }
    }

    fn check(&self, location: &Path) -> object_store::Result<()> {
        if *location == self.location {
            Ok(())
        } else {
            Err(object_store::Error::NotFound {
                path: location.to_string(),
                source: "the Select object store holds one object".into(),
            })
        }
    }

    async fn size(&self) -> object_store::Result<u64> {
        self.reader.size().await.map_err(generic)
    }

    async fn read(&self, range: Range<u64>) -> object_store::Result<Bytes> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let bytes = self.reader.read(range.clone()).await.map_err(generic)?;
        let n = bytes.len() as u64;
        self.counters.scanned.fetch_add(n, Ordering::Relaxed);
        self.counters.processed.fetch_add(n, Ordering::Relaxed);
        if n != range.end - range.start {
            return Err(generic(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("asked for bytes {range:?}, got {n}"),
            )));
        }
        Ok(bytes)
    }
}

fn generic(e: io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "blobgate",
        source: Box::new(e),
    }
}

fn not_supported(what: &str) -> object_store::Error {
    object_store::Error::NotSupported {
        source: format!("{what} on the S3 Select object store").into(),
    }
}

impl fmt::Display for ObjectAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{STORE_URL}{FILE}")
    }
}

impl fmt::Debug for ObjectAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectAdapter({STORE_URL}{FILE})")
    }
}

#[async_trait]
impl ObjectStore for ObjectAdapter {
    async fn put_opts(
        &self,
        _location: &Path,
        _payload: PutPayload,
        _opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        Err(not_supported("put"))
    }

    async fn put_multipart_opts(
        &self,
        _location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(not_supported("multipart put"))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.check(location)?;
        let size = self.size().await?;
        let meta = self.meta(size);
        if options.head {
            return Ok(GetResult {
                payload: GetResultPayload::Stream(futures_util::stream::empty().boxed()),
                meta,
                range: 0..0,
                attributes: Default::default(),
            });
        }
        let range = match &options.range {
            None => 0..size,
            Some(r) => r.as_range(size).map_err(|e| object_store::Error::Generic {
                store: "blobgate",
                source: Box::new(e),
            })?,
        };
        let bytes = self.read(range.clone()).await?;
        Ok(GetResult {
            payload: GetResultPayload::Stream(
                futures_util::stream::once(async { Ok(bytes) }).boxed(),
            ),
            meta,
            range,
            attributes: Default::default(),
        })
    }

    /// Each range on its own (only overlapping or touching ones merged):
    /// the default merges ranges up to 1 MiB apart, reading the columns
    /// between them.
    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.check(location)?;
        let mut sorted: Vec<Range<u64>> = ranges.to_vec();
        sorted.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<u64>> = Vec::new();
        for r in sorted {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        let mut fetched = Vec::with_capacity(merged.len());
        for r in &merged {
            fetched.push((r.clone(), self.read(r.clone()).await?));
        }
        Ok(ranges
            .iter()
            .map(|r| {
                let (whole, bytes) = fetched
                    .iter()
                    .find(|(m, _)| m.start <= r.start && r.end <= m.end)
                    .expect("every range is inside a merged one");
                bytes.slice((r.start - whole.start) as usize..(r.end - whole.start) as usize)
            })
            .collect())
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        locations.map(|_| Err(not_supported("delete"))).boxed()
    }

    fn list(&self, _prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        futures_util::stream::once(async { Err(not_supported("list")) }).boxed()
    }

    async fn list_with_delimiter(
        &self,
        _prefix: Option<&Path>,
    ) -> object_store::Result<ListResult> {
        Err(not_supported("list"))
    }

    async fn copy_opts(
        &self,
        _from: &Path,
        _to: &Path,
        _options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        Err(not_supported("copy"))
    }
}

/// The Parquet object as a table: one file, its row groups limited to a
/// ScanRange (those whose first byte lies in it, as S3 does).
#[derive(Debug)]
struct ParquetObject {
    schema: SchemaRef,
    meta: ObjectMeta,
    window: Option<ScanWindow>,
    format: ParquetFormat,
}

#[async_trait]
impl TableProvider for ParquetObject {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let mut file = PartitionedFile::from(self.meta.clone());
        if let Some(w) = self.window {
            file = file.with_range(as_i64(w.start), as_i64(w.end));
        }
        let url = ObjectStoreUrl::parse(STORE_URL)?;
        let source = self.format.file_source(self.schema.clone().into());
        let config = FileScanConfigBuilder::new(url, source)
            .with_file(file)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        self.format.create_physical_plan(state, config).await
    }

    /// Row groups are pruned by their statistics; the filter still runs.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn parquet_error(e: DataFusionError) -> SelectError {
    SelectError::new(
        "ParquetParsingError",
        format!("the object is not readable as Parquet: {e}"),
    )
}

/// Start a Select over the Parquet object `reader` reads, limited to the
/// row groups starting in `window` when there is a ScanRange.
pub async fn execute(
    request: &SelectRequest,
    reader: Arc<dyn RangeReader>,
    window: Option<ScanWindow>,
) -> Result<Execution, SelectError> {
    let counters = Arc::new(Counters::default());
    let adapter = ObjectAdapter::new(reader, counters.clone());
    let size = adapter
        .size()
        .await
        .map_err(|e| SelectError::new("InternalError", e.to_string()))?;
    let meta = adapter.meta(size);
    let store: Arc<dyn ObjectStore> = Arc::new(adapter);
    let ctx = engine::session();
    let url = ObjectStoreUrl::parse(STORE_URL).map_err(parquet_error)?;
    ctx.register_object_store(url.as_ref(), store.clone());
    let state = ctx.state();
    let mut options = state.table_options().parquet.clone();
    options.global.metadata_size_hint = Some(METADATA_SIZE_HINT);
    options.global.schema_force_view_types = false;
    let format = ParquetFormat::default().with_options(options);
    let schema = format
        .infer_schema(&state, &store, std::slice::from_ref(&meta))
        .await
        .map_err(parquet_error)?;
    let table = ParquetObject {
        schema: schema.clone(),
        meta,
        window,
        format,
    };
    engine::run_query(ctx, request, Arc::new(table), &schema, counters).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::object_store::{GetRange, ObjectStoreExt};
    use std::sync::Mutex;

    /// An in-memory object that logs the ranges read.
    struct Memory {
        data: Bytes,
        reads: Mutex<Vec<Range<u64>>>,
    }

    #[async_trait]
    impl RangeReader for Memory {
        async fn size(&self) -> io::Result<u64> {
            Ok(self.data.len() as u64)
        }
        async fn read(&self, range: Range<u64>) -> io::Result<Bytes> {
            self.reads.lock().unwrap().push(range.clone());
            Ok(self.data.slice(range.start as usize..range.end as usize))
        }
    }

    fn adapter(data: &'static [u8]) -> (Arc<Memory>, Arc<Counters>, ObjectAdapter) {
        let memory = Arc::new(Memory {
            data: Bytes::from_static(data),
            reads: Mutex::new(Vec::new()),
        });
        let counters = Arc::new(Counters::default());
        let store = ObjectAdapter::new(memory.clone(), counters.clone());
        (memory, counters, store)
    }

    #[tokio::test]
    async fn reads_ranges_heads_and_counts() {
        let (memory, counters, store) = adapter(b"0123456789");
        let path = Path::from(FILE);
        let head = store.head(&path).await.unwrap();
        assert_eq!(head.size, 10);
        assert!(memory.reads.lock().unwrap().is_empty());
        assert_eq!(store.get_range(&path, 2..5).await.unwrap(), "234");
        let suffix = GetOptions {
            range: Some(GetRange::Suffix(3)),
            ..Default::default()
        };
        let got = store.get_opts(&path, suffix).await.unwrap();
        assert_eq!(got.range, 7..10);
        assert_eq!(got.bytes().await.unwrap(), "789");
        let offset = GetOptions {
            range: Some(GetRange::Offset(8)),
            ..Default::default()
        };
        let got = store.get_opts(&path, offset).await.unwrap();
        assert_eq!(got.bytes().await.unwrap(), "89");
        assert_eq!(
            store.get(&path).await.unwrap().bytes().await.unwrap(),
            "0123456789"
        );
        // Past the end: an error, nothing read.
        assert!(store.get_range(&path, 10..12).await.is_err());
        assert_eq!(counters.scanned.load(Ordering::Relaxed), 3 + 3 + 2 + 10);
        // Only the one object exists.
        assert!(matches!(
            store.head(&Path::from("other")).await,
            Err(object_store::Error::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn get_ranges_fetches_only_what_is_asked() {
        let (memory, counters, store) = adapter(b"0123456789abcdefghij");
        let path = Path::from(FILE);
        let got = store
            .get_ranges(&path, &[10..12, 0..2, 1..4, 4..5, 15..20])
            .await
            .unwrap();
        assert_eq!(got, vec!["ab", "01", "123", "4", "fghij"]);
        // 0..4 and 4..5 touch: one read; gaps are not read.
        assert_eq!(*memory.reads.lock().unwrap(), vec![0..5, 10..12, 15..20]);
        assert_eq!(counters.scanned.load(Ordering::Relaxed), 5 + 2 + 5);
    }

    #[tokio::test]
    async fn writes_and_listings_are_not_supported() {
        let (_, _, store) = adapter(b"x");
        let path = Path::from(FILE);
        assert!(matches!(
            store.put(&path, PutPayload::from_static(b"y")).await,
            Err(object_store::Error::NotSupported { .. })
        ));
        assert!(matches!(
            store.delete(&path).await,
            Err(object_store::Error::NotSupported { .. })
        ));
        assert!(store.list_with_delimiter(None).await.is_err());
        assert!(store.copy(&path, &Path::from("z")).await.is_err());
    }

    /// A Parquet file of `rows` rows: id (int64), name (string), and a wide
    /// padding column, `group` rows per row group.
    fn parquet_file(
        rows: i64,
        group: usize,
        codec: datafusion::parquet::basic::Compression,
    ) -> Bytes {
        use datafusion::arrow::array::{Int64Array, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::arrow::record_batch::RecordBatch;
        use datafusion::parquet::arrow::ArrowWriter;
        use datafusion::parquet::file::properties::WriterProperties;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("padding", DataType::Utf8, false),
        ]));
        let ids: Vec<i64> = (0..rows).collect();
        let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
        let padding: Vec<String> = ids.iter().map(|i| format!("{i:0>200}")).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
                Arc::new(StringArray::from(padding)),
            ],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_compression(codec)
            .set_max_row_group_row_count(Some(group))
            .build();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, schema, Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        Bytes::from(out)
    }

    async fn select(
        data: Bytes,
        sql: &str,
        window: Option<ScanWindow>,
    ) -> Result<(String, u64), SelectError> {
        let body = format!(
            "<SelectObjectContentRequest><Expression>{sql}</Expression>\
             <ExpressionType>SQL</ExpressionType>\
             <InputSerialization><Parquet/></InputSerialization>\
             <OutputSerialization><CSV/></OutputSerialization></SelectObjectContentRequest>"
        );
        let request = crate::request::parse_request(body.as_bytes())?;
        let memory = Arc::new(Memory {
            data,
            reads: Mutex::new(Vec::new()),
        });
        let execution = execute(&request, memory, window).await?;
        let out: Vec<Bytes> = futures_util::TryStreamExt::try_collect(execution.output).await?;
        let text = String::from_utf8(out.concat()).unwrap();
        Ok((text, execution.counters.scanned.load(Ordering::Relaxed)))
    }

    #[tokio::test]
    async fn queries_parquet_with_common_codecs() {
        use datafusion::parquet::basic::{Compression, GzipLevel, ZstdLevel};
        for codec in [
            Compression::UNCOMPRESSED,
            Compression::SNAPPY,
            Compression::ZSTD(ZstdLevel::default()),
            Compression::GZIP(GzipLevel::default()),
        ] {
            let file = parquet_file(100, 30, codec);
            let (out, _) = select(
                file.clone(),
                "SELECT s.id, s.name FROM S3Object s WHERE s.id &gt;= 97",
                None,
            )
            .await
            .unwrap();
            assert_eq!(out, "97,n97\n98,n98\n99,n99\n", "{codec:?}");
            let (out, _) = select(file, "SELECT COUNT(*) FROM S3Object", None)
                .await
                .unwrap();
            assert_eq!(out, "100\n", "{codec:?}");
        }
    }

    #[tokio::test]
    async fn one_column_reads_fewer_bytes() {
        let file = parquet_file(
            20_000,
            5_000,
            datafusion::parquet::basic::Compression::UNCOMPRESSED,
        );
        let size = file.len() as u64;
        let (out, scanned) = select(file.clone(), "SELECT SUM(id) FROM S3Object", None)
            .await
            .unwrap();
        assert_eq!(out, format!("{}\n", 19_999 * 20_000 / 2));
        assert!(scanned * 10 < size, "{scanned} of {size} bytes");
        let (_, all) = select(file, "SELECT * FROM S3Object", None).await.unwrap();
        assert!(all >= size * 9 / 10, "{all} of {size} bytes");
    }

    #[tokio::test]
    async fn scan_range_takes_the_row_groups_starting_in_it() {
        let file = parquet_file(100, 25, datafusion::parquet::basic::Compression::SNAPPY);
        let size = file.len() as u64;
        let count = |w: ScanWindow| {
            let file = file.clone();
            async move {
                select(file, "SELECT COUNT(*) FROM S3Object", Some(w))
                    .await
                    .unwrap()
                    .0
            }
        };
        assert_eq!(count(ScanWindow::new(0..size)).await, "100\n");
        // The first row group starts at byte 4 (after "PAR1").
        assert_eq!(count(ScanWindow::new(0..5)).await, "25\n");
        assert_eq!(count(ScanWindow::new(5..size)).await, "75\n");
        assert_eq!(count(ScanWindow::new(size..size)).await, "0\n");
    }

    #[tokio::test]
    async fn not_parquet_is_a_parsing_error() {
        let e = select(
            Bytes::from_static(b"a,b\n1,2\n"),
            "SELECT * FROM S3Object",
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, "ParquetParsingError");
    }
}

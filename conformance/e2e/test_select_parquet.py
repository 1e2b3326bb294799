"""S3 Select over Parquet (read by range GETs: a one-column query reads
only that column's chunks and the footer) and ScanRange over CSV, JSON
LINES and Parquet, through boto3's select_object_content.

ScanRange: a record belongs to the range when its first byte is inside it
(Start and End inclusive); the CSV header (FileHeaderInfo USE) names the
columns whatever the range."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from e2e_util import client_error, run_select as select


def parquet_bytes(table, **options):
    out = io.BytesIO()
    pq.write_table(table, out, **options)
    return out.getvalue()


PEOPLE = pa.table(
    {
        "name": ["Alice", "bob", "Carol"],
        "age": pa.array([34, 27, 45], type=pa.int64()),
        "city": ["Paris", "Oslo", "Paris"],
        "score": [1.5, 2.25, 3.0],
    }
)

PARQUET = {"Parquet": {}}


@pytest.mark.parametrize("codec", ["NONE", "SNAPPY", "GZIP", "ZSTD"])
def test_parquet_projection_where_count(s3, bucket, codec):
    s3.put_object(Bucket=bucket, Key="people.parquet", Body=parquet_bytes(PEOPLE, compression=codec))
    records, stats, end = select(
        s3,
        bucket,
        "people.parquet",
        "SELECT s.name, s.age FROM S3Object s WHERE s.city = 'Paris'",
        PARQUET,
    )
    assert records == b"Alice,34\nCarol,45\n"
    assert end
    assert stats["BytesReturned"] == len(records)
    records, _, _ = select(s3, bucket, "people.parquet", "SELECT COUNT(*) FROM S3Object WHERE age > 30", PARQUET)
    assert records == b"2\n"
    records, _, _ = select(
        s3,
        bucket,
        "people.parquet",
        "SELECT * FROM S3Object LIMIT 1",
        PARQUET,
        output_ser={"JSON": {}},
    )
    assert records == b'{"name":"Alice","age":34,"city":"Paris","score":1.5}\n'


def test_parquet_one_column_reads_only_that_column(s3, bucket):
    rows = 50_000
    table = pa.table(
        {
            "id": pa.array(range(rows), type=pa.int64()),
            "text": ["row %d %s" % (i, "x" * 100) for i in range(rows)],
            "other": ["%0200d" % i for i in range(rows)],
        }
    )
    body = parquet_bytes(table, compression="NONE", row_group_size=10_000)
    s3.put_object(Bucket=bucket, Key="wide.parquet", Body=body)
    records, stats, end = select(s3, bucket, "wide.parquet", "SELECT SUM(id) FROM S3Object", PARQUET)
    assert records == b"%d\n" % (rows * (rows - 1) // 2)
    assert end
    print("one-column query: BytesScanned %d of %d bytes" % (stats["BytesScanned"], len(body)))
    assert stats["BytesScanned"] < len(body) // 10
    _, stats, _ = select(s3, bucket, "wide.parquet", "SELECT * FROM S3Object", PARQUET)
    assert stats["BytesScanned"] > len(body) * 9 // 10


def test_parquet_scan_range_takes_row_groups_starting_in_it(s3, bucket):
    table = pa.table({"n": pa.array(range(100), type=pa.int64())})
    body = parquet_bytes(table, compression="NONE", row_group_size=25)
    s3.put_object(Bucket=bucket, Key="groups.parquet", Body=body)
    sql = "SELECT COUNT(*) FROM S3Object"
    whole, _, _ = select(s3, bucket, "groups.parquet", sql, PARQUET, ScanRange={"Start": 0})
    assert whole == b"100\n"
    # The first row group starts right after the 4-byte magic.
    first, _, _ = select(s3, bucket, "groups.parquet", sql, PARQUET, ScanRange={"Start": 0, "End": 4})
    assert first == b"25\n"
    rest, _, _ = select(s3, bucket, "groups.parquet", sql, PARQUET, ScanRange={"Start": 5})
    assert rest == b"75\n"


def test_not_parquet_is_an_error(s3, bucket):
    s3.put_object(Bucket=bucket, Key="fake.parquet", Body=b"name,age\nAlice,34\n")
    with pytest.raises(ClientError) as e:
        select(s3, bucket, "fake.parquet", "SELECT * FROM S3Object", PARQUET)
    assert client_error(e.value) == (400, "ParquetParsingError")


# Records start at 0 (header), 14, 29, 41 and 56; 68 bytes in all.
CSV = b"name,age,city\nAlice,34,Paris\nbob,27,Oslo\nCarol,45,Paris\nDan,52,Rome\n"
USE = {"CSV": {"FileHeaderInfo": "USE"}, "CompressionType": "NONE"}


def csv_range(s3, bucket, scan_range, sql="SELECT name FROM S3Object", input_ser=USE):
    records, stats, end = select(s3, bucket, "people.csv", sql, input_ser, ScanRange=scan_range)
    assert end
    return records, stats


def test_csv_scan_range_realigns_to_records(s3, bucket):
    s3.put_object(Bucket=bucket, Key="people.csv", Body=CSV)
    assert CSV.index(b"Alice") == 14 and CSV.index(b"bob") == 29
    bob = CSV.index(b"bob")
    carol = CSV.index(b"Carol")
    # A range starting exactly at a record takes it; the header still names the columns.
    assert csv_range(s3, bucket, {"Start": bob, "End": bob})[0] == b"bob\n"
    # Starting inside a record: it belongs to the previous range.
    assert csv_range(s3, bucket, {"Start": bob + 1, "End": carol})[0] == b"Carol\n"
    assert csv_range(s3, bucket, {"Start": bob + 1, "End": carol - 1})[0] == b""
    # Starting at the delimiter before a record.
    assert csv_range(s3, bucket, {"Start": bob - 1, "End": bob})[0] == b"bob\n"
    # A record spanning End is read to its end.
    assert csv_range(s3, bucket, {"Start": 0, "End": 15})[0] == b"Alice\n"
    # Start alone: to the end; End alone: the last N bytes.
    assert csv_range(s3, bucket, {"Start": carol})[0] == b"Carol\nDan\n"
    assert csv_range(s3, bucket, {"End": len(CSV) - carol})[0] == b"Carol\nDan\n"
    assert csv_range(s3, bucket, {"End": 1000})[0] == b"Alice\nbob\nCarol\nDan\n"
    # Beyond the object: no records, still a complete answer.
    assert csv_range(s3, bucket, {"Start": 1000})[0] == b""
    assert csv_range(s3, bucket, {"Start": 500, "End": 600}, "SELECT COUNT(*) FROM S3Object")[0] == b"0\n"
    # The ranges of a split cover every record exactly once.
    parts = [csv_range(s3, bucket, {"Start": s, "End": s + 9})[0] for s in range(0, len(CSV), 10)]
    assert b"".join(parts) == b"Alice\nbob\nCarol\nDan\n"


def test_csv_scan_range_reads_only_about_the_range(s3, bucket):
    rows = 200_000
    body = b"n,text\n" + b"".join(b"%d,row %d\n" % (i, i) for i in range(rows))
    s3.put_object(Bucket=bucket, Key="big.csv", Body=body)
    records, stats, end = select(
        s3, bucket, "big.csv", "SELECT n FROM S3Object", USE, ScanRange={"Start": 100_000, "End": 100_100}
    )
    assert end
    first = body.index(b"\n", 99_999) + 1
    assert records.split(b"\n")[0] == body[first:].split(b",")[0]
    print("ScanRange of 101 bytes: BytesScanned %d of %d bytes" % (stats["BytesScanned"], len(body)))
    assert stats["BytesScanned"] < len(body) // 4


def test_csv_scan_range_without_header(s3, bucket):
    s3.put_object(Bucket=bucket, Key="people.csv", Body=CSV)
    bob = CSV.index(b"bob")
    none = {"CSV": {"FileHeaderInfo": "NONE"}}
    ignore = {"CSV": {"FileHeaderInfo": "IGNORE"}}
    assert csv_range(s3, bucket, {"End": 12}, "SELECT _1 FROM S3Object", none)[0] == b"Dan\n"
    assert csv_range(s3, bucket, {"End": 11}, "SELECT _1 FROM S3Object", none)[0] == b""
    assert csv_range(s3, bucket, {"Start": 0, "End": 0}, "SELECT _1 FROM S3Object", none)[0] == b"name\n"
    # IGNORE skips the header only where it is: at the object's start.
    assert csv_range(s3, bucket, {"Start": 0, "End": 20}, "SELECT _1 FROM S3Object", ignore)[0] == b"Alice\n"
    assert csv_range(s3, bucket, {"Start": bob, "End": bob}, "SELECT _1 FROM S3Object", ignore)[0] == b"bob\n"


def test_json_lines_scan_range(s3, bucket):
    lines = [b'{"n":%d,"pad":"%s"}\n' % (i, b"x" * i) for i in range(10)]
    body = b"".join(lines)
    s3.put_object(Bucket=bucket, Key="rows.json", Body=body)
    starts = [sum(len(l) for l in lines[:i]) for i in range(10)]
    json_lines = {"JSON": {"Type": "LINES"}}

    def ns(scan_range):
        records, _, end = select(
            s3, bucket, "rows.json", "SELECT s.n FROM S3Object s", json_lines, ScanRange=scan_range
        )
        assert end
        return [int(x) for x in records.split()]

    assert ns({"Start": starts[3], "End": starts[3]}) == [3]
    assert ns({"Start": starts[3] + 1, "End": starts[5]}) == [4, 5]
    assert ns({"Start": starts[3] - 1, "End": starts[4] - 1}) == [3]
    assert ns({"Start": starts[8]}) == [8, 9]
    assert ns({"End": len(body) - starts[9]}) == [9]
    assert ns({"Start": len(body) + 10}) == []
    split = []
    for s in range(0, len(body), 37):
        split += ns({"Start": s, "End": s + 36})
    assert split == list(range(10))


def test_scan_range_on_compressed_input_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="people.csv", Body=CSV)
    with pytest.raises(ClientError) as e:
        select(
            s3,
            bucket,
            "people.csv",
            "SELECT * FROM S3Object",
            {"CSV": {"FileHeaderInfo": "USE"}, "CompressionType": "GZIP"},
            ScanRange={"Start": 1},
        )
    assert client_error(e.value) == (400, "UnsupportedScanRangeInput")

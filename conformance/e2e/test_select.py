"""S3 Select (SelectObjectContent) through real clients: boto3's
select_object_content and minio-py's select_object_content, over CSV and
JSON objects, plain and compressed; the event stream (Records, Stats, End)
and the S3 errors for bad requests.

What is not built yet (Parquet, ScanRange, JSON paths, the S3-only
functions) is listed in the issue; this file grows with it."""

import bz2
import gzip
import json

import pytest
from botocore.exceptions import ClientError, EventStreamError

from e2e_util import client_error, run_select

PEOPLE = b"name,age,city\nAlice,34,Paris\nbob,27,Oslo\nCarol,45,Paris\n"


def select(s3, bucket, key, sql, input_ser=None, output_ser=None, **extra):
    """Run a query (CSV with a header by default); return (records bytes,
    stats dict or None, saw End)."""
    return run_select(
        s3, bucket, key, sql, input_ser or {"CSV": {"FileHeaderInfo": "USE"}}, output_ser, **extra
    )


def test_csv_with_header(s3, bucket):
    s3.put_object(Bucket=bucket, Key="people.csv", Body=PEOPLE)
    records, stats, end = select(
        s3, bucket, "people.csv", "SELECT s.name, s.city FROM S3Object s WHERE s.city = 'Paris'"
    )
    assert records == b"Alice,Paris\nCarol,Paris\n"
    assert end
    assert stats["BytesScanned"] == len(PEOPLE)
    assert stats["BytesProcessed"] == len(PEOPLE)
    assert stats["BytesReturned"] == len(records)


def test_csv_positional_and_case_insensitive_names(s3, bucket):
    s3.put_object(Bucket=bucket, Key="people.csv", Body=PEOPLE)
    records, _, _ = select(s3, bucket, "people.csv", "SELECT _1, NAME FROM S3Object LIMIT 1")
    assert records == b"Alice,Alice\n"
    records, _, _ = select(
        s3,
        bucket,
        "people.csv",
        "SELECT _1 FROM S3Object",
        input_ser={"CSV": {"FileHeaderInfo": "NONE"}},
    )
    assert records == b"name\nAlice\nbob\nCarol\n"
    records, _, _ = select(
        s3,
        bucket,
        "people.csv",
        "SELECT _3 FROM S3Object",
        input_ser={"CSV": {"FileHeaderInfo": "IGNORE"}},
    )
    assert records == b"Paris\nOslo\nParis\n"


def test_csv_aggregates_and_casts(s3, bucket):
    s3.put_object(Bucket=bucket, Key="people.csv", Body=PEOPLE)
    records, _, _ = select(
        s3,
        bucket,
        "people.csv",
        "SELECT COUNT(*), SUM(CAST(age AS INT)), MAX(CAST(s.age AS INT)) FROM S3Object s",
    )
    assert records == b"3,106,45\n"


def test_json_output_names(s3, bucket):
    s3.put_object(Bucket=bucket, Key="people.csv", Body=PEOPLE)
    records, _, _ = select(
        s3,
        bucket,
        "people.csv",
        "SELECT s.name, UPPER(s.city) FROM S3Object s WHERE CAST(s.age AS INT) < 30",
        output_ser={"JSON": {}},
    )
    assert [json.loads(line) for line in records.splitlines()] == [{"name": "bob", "_2": "OSLO"}]


def test_quoted_fields_and_delimiters(s3, bucket):
    body = b'id;text\n1;"semi;colon"\n2;"a ""quote"""\n'
    s3.put_object(Bucket=bucket, Key="q.csv", Body=body)
    records, _, _ = select(
        s3,
        bucket,
        "q.csv",
        "SELECT text FROM S3Object",
        input_ser={"CSV": {"FileHeaderInfo": "USE", "FieldDelimiter": ";"}},
        output_ser={"CSV": {"QuoteFields": "ALWAYS"}},
    )
    assert records == b'"semi;colon"\n"a ""quote"""\n'


def test_json_lines(s3, bucket):
    lines = b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n{"a": 3, "b": "z"}\n'
    s3.put_object(Bucket=bucket, Key="d.json", Body=lines)
    records, _, end = select(
        s3,
        bucket,
        "d.json",
        "SELECT s.b FROM S3Object s WHERE s.a >= 2",
        input_ser={"JSON": {"Type": "LINES"}},
        output_ser={"JSON": {}},
    )
    assert [json.loads(line) for line in records.splitlines()] == [{"b": "y"}, {"b": "z"}]
    assert end


@pytest.mark.parametrize("compression", ["GZIP", "BZIP2"])
def test_compressed_input(s3, bucket, compression):
    packed = gzip.compress(PEOPLE) if compression == "GZIP" else bz2.compress(PEOPLE)
    s3.put_object(Bucket=bucket, Key="people.csv.z", Body=packed)
    records, stats, _ = select(
        s3,
        bucket,
        "people.csv.z",
        "SELECT name FROM S3Object WHERE city = 'Oslo'",
        input_ser={"CSV": {"FileHeaderInfo": "USE"}, "CompressionType": compression},
    )
    assert records == b"bob\n"
    assert stats["BytesScanned"] == len(packed)
    assert stats["BytesProcessed"] == len(PEOPLE)


def test_large_object_streams_and_limit_stops_early(s3, bucket):
    rows = 200_000
    body = b"n,sq\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(rows))
    s3.put_object(Bucket=bucket, Key="big.csv", Body=body)
    records, _, _ = select(s3, bucket, "big.csv", "SELECT COUNT(*) FROM S3Object")
    assert records == b"%d\n" % rows
    records, stats, _ = select(s3, bucket, "big.csv", "SELECT n FROM S3Object LIMIT 3")
    assert records == b"0\n1\n2\n"
    assert stats["BytesScanned"] < len(body)


def test_bad_requests_get_s3_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="people.csv", Body=PEOPLE)
    cases = [
        ("SELEC name FROM S3Object", "ParseUnexpectedToken"),
        ("SELECT name FROM S3Object GROUP BY name", "UnsupportedSyntax"),
        ("SELECT name FROM S3Object ORDER BY name", "UnsupportedSyntax"),
        ("SELECT name FROM other", "InvalidDataSource"),
        ("SELECT nope FROM S3Object", "EvaluatorBindingDoesNotExist"),
        ("SELECT name FROM S3Object LIMIT -1", "EvaluatorNegativeLimit"),
    ]
    for sql, code in cases:
        with pytest.raises(ClientError) as e:
            select(s3, bucket, "people.csv", sql)
        assert client_error(e.value) == (400, code), sql
    with pytest.raises(ClientError) as e:
        select(s3, bucket, "missing.csv", "SELECT * FROM S3Object")
    assert client_error(e.value) == (404, "NoSuchKey")


def test_data_error_after_start_is_an_error_event(s3, bucket):
    s3.put_object(Bucket=bucket, Key="bad.csv.gz", Body=gzip.compress(PEOPLE)[:-20] + b"garbage-garbage-garb")
    with pytest.raises((ClientError, EventStreamError)):
        select(
            s3,
            bucket,
            "bad.csv.gz",
            "SELECT * FROM S3Object",
            input_ser={"CSV": {"FileHeaderInfo": "USE"}, "CompressionType": "GZIP"},
        )


def test_minio_select(minio_client, s3, bucket):
    from minio.select import CSVInputSerialization, CSVOutputSerialization, SelectRequest

    s3.put_object(Bucket=bucket, Key="people.csv", Body=PEOPLE)
    with minio_client.select_object_content(
        bucket,
        "people.csv",
        SelectRequest(
            "SELECT name FROM S3Object WHERE city = 'Paris'",
            CSVInputSerialization(file_header_info="USE"),
            CSVOutputSerialization(),
            request_progress=True,
        ),
    ) as result:
        got = b"".join(result.stream())
        stats = result.stats()
    assert got == b"Alice\nCarol\n"
    assert int(stats.bytes_scanned) == len(PEOPLE)


@pytest.mark.slow
def test_100_mb_object(s3, bucket, tmp_path):
    """A 100 MB CSV streams through: the filter finds the rows spread over
    the whole object, and the counters cover every byte."""
    path = tmp_path / "big.csv"
    rows = 2_400_000
    with path.open("wb") as f:
        f.write(b"id,group,payload\n")
        for start in range(0, rows, 100_000):
            f.write(
                b"".join(
                    b"%d,g%d,%s\n" % (i, i % 1000, b"x" * 30) for i in range(start, start + 100_000)
                )
            )
    size = path.stat().st_size
    assert size > 100_000_000
    with path.open("rb") as body:
        s3.put_object(Bucket=bucket, Key="big.csv", Body=body)
    records, stats, end = select(
        s3, bucket, "big.csv", "SELECT s.id FROM S3Object s WHERE s.\"group\" = 'g999'"
    )
    ids = [int(x) for x in records.split()]
    assert ids == list(range(999, rows, 1000))
    assert end
    assert stats["BytesScanned"] == size
    assert stats["BytesReturned"] == len(records)

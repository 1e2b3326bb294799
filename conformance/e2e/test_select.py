"""S3 Select (SelectObjectContent) through real clients: boto3's
select_object_content and minio-py's select_object_content, over CSV and
JSON objects, plain and compressed; the event stream (Records, Stats, End)
and the S3 errors for bad requests.

JSON's MISSING (an absent field) against NULL, and FROM paths with
wildcards (AWS's own FROM-clause examples), through boto3 and minio-py."""

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


def json_select(s3, bucket, key, sql, kind="LINES"):
    records, _, end = select(
        s3,
        bucket,
        key,
        sql,
        input_ser={"JSON": {"Type": kind}},
        output_ser={"JSON": {}},
    )
    assert end
    return [json.loads(line) for line in records.splitlines()]


def test_json_missing_is_not_null(s3, bucket):
    s3.put_object(
        Bucket=bucket, Key="m.json", Body=b'{"id":1,"a":null}\n{"id":2}\n{"id":3,"a":5}\n'
    )

    def ids(where):
        return [r["id"] for r in json_select(s3, bucket, "m.json", f"SELECT s.id FROM S3Object s WHERE {where}")]

    assert ids("s.a IS MISSING") == [2]
    assert ids("s.a IS NOT MISSING") == [1, 3]
    assert ids("s.a IS NULL") == [1, 2]
    assert ids("s.a IS NULL AND s.a IS NOT MISSING") == [1]
    with pytest.raises(ClientError) as e:
        json_select(s3, bucket, "m.json", "SELECT s.id FROM S3Object s WHERE s.a IS UNKNOWN")
    assert client_error(e.value) == (400, "UnsupportedSyntax")


RULES = (
    b'{ "Rules": [ {"id": "1"}, {"expr": "y > x"}, {"id": "2", "expr": "z = DEST"} ]}\n'
    b'{ "created": "June 27", "modified": "July 6" }\n'
)


def test_json_document_from_path_wildcards(s3, bucket):
    # The S3 user guide's FROM-clause example: a wildcard emits MISSING
    # (an empty record) where nothing matches.
    s3.put_object(Bucket=bucket, Key="rules.json", Body=RULES)
    sql = "SELECT id FROM S3Object[*].Rules[*].id"
    assert json_select(s3, bucket, "rules.json", sql, "DOCUMENT") == [{"id": "1"}, {}, {"id": "2"}, {}]
    assert json_select(s3, bucket, "rules.json", sql + " WHERE id IS NOT MISSING", "DOCUMENT") == [
        {"id": "1"},
        {"id": "2"},
    ]
    got = json_select(
        s3, bucket, "rules.json", "SELECT r.expr FROM S3Object[*].Rules[*] r WHERE r.id IS MISSING", "DOCUMENT"
    )
    assert got == [{"expr": "y > x"}, {}]


def test_minio_select_from_path(minio_client, s3, bucket):
    from minio.select import JSONInputSerialization, JSONOutputSerialization, SelectRequest

    s3.put_object(Bucket=bucket, Key="rules.json", Body=RULES)
    with minio_client.select_object_content(
        bucket,
        "rules.json",
        SelectRequest(
            "SELECT r.id FROM S3Object[*].Rules[*] r WHERE r.id IS NOT MISSING",
            JSONInputSerialization(json_type="DOCUMENT"),
            JSONOutputSerialization(),
        ),
    ) as result:
        got = b"".join(result.stream())
    assert [json.loads(line) for line in got.splitlines()] == [{"id": "1"}, {"id": "2"}]


def test_from_path_over_a_large_object(s3, bucket):
    # Records cross the storage reads' chunk boundaries; every element of
    # every record's array is a row, counted and summed.
    lines = []
    count = total = 0
    for i in range(60_000):
        items = [{"n": i % 7 + j, "pad": "x" * (i % 50)} for j in range(i % 4)]
        count += len(items)
        total += sum(it["n"] for it in items)
        lines.append(json.dumps({"i": i, "items": items}))
    body = ("\n".join(lines) + "\n").encode()
    assert len(body) > 4 << 20
    s3.put_object(Bucket=bucket, Key="big.json", Body=body)
    got = json_select(
        s3, bucket, "big.json", "SELECT COUNT(x.n) AS c, SUM(x.n) AS t FROM S3Object[*].items[*] x"
    )
    assert got == [{"c": count, "t": total}]


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

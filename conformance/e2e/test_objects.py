"""Object basics: PutObject / GetObject / HeadObject / DeleteObject, ETags,
user metadata, standard headers and response-* overrides."""

import concurrent.futures
import datetime as dt
import email.header
import gzip
import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from e2e_util import client_error, etag_of, md5_b64


def test_put_get_head_delete(s3, bucket):
    body = os.urandom(1000) + b"end"
    put = s3.put_object(Bucket=bucket, Key="obj", Body=body)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert put["ETag"] == etag_of(body)

    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == body
    assert got["ETag"] == etag_of(body)
    assert got["ContentLength"] == len(body)
    assert got["ResponseMetadata"]["HTTPHeaders"].get("accept-ranges") == "bytes"
    now = dt.datetime.now(dt.timezone.utc)
    assert abs(got["LastModified"] - now) < dt.timedelta(minutes=5)
    assert got["LastModified"].microsecond == 0  # HTTP date, second precision

    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == etag_of(body)
    assert head["LastModified"] == got["LastModified"]

    resp = s3.delete_object(Bucket=bucket, Key="obj")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="obj")
    assert client_error(e.value) == (404, "NoSuchKey")


def test_head_has_no_body_but_length(gateway, s3, bucket):
    import requests

    s3.put_object(Bucket=bucket, Key="h", Body=b"x" * 321)
    url = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "h"})
    r = requests.head(url, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == "321"
    assert r.content == b""


def test_empty_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["ContentLength"] == 0
    assert got["Body"].read() == b""
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0


def test_overwrite_replaces_data_and_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version", Metadata={"v": "1"},
                  ContentType="text/plain")  # fmt: skip
    s3.put_object(Bucket=bucket, Key="k", Body=b"2nd", Metadata={"other": "2"})
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"2nd"
    assert got["ETag"] == etag_of(b"2nd")
    assert got["Metadata"] == {"other": "2"}
    assert got["ContentType"] != "text/plain"


def test_delete_missing_key_is_204(s3, bucket):
    resp = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    s3.put_object(Bucket=bucket, Key="twice", Body=b"1")
    assert s3.delete_object(Bucket=bucket, Key="twice")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="twice")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_default_content_type(s3, bucket):
    s3.put_object(Bucket=bucket, Key="noct", Body=b"1")
    ct = s3.head_object(Bucket=bucket, Key="noct")["ContentType"]
    assert ct in ("binary/octet-stream", "application/octet-stream")


def test_user_metadata_round_trip(s3, bucket):
    meta = {
        "Mixed-Case-Name": "Value With Spaces",
        "dash-name": "a-b-c",
        "under_score": "x_y",
        "digits123": "0123456789",
        "punct": "!#$%&'*+-.^_`|~ ()<>@,;:\\\"/[]?={}",
        "empty": "",
    }
    s3.put_object(Bucket=bucket, Key="meta", Body=b"m", Metadata=meta)
    expected = {k.lower(): v for k, v in meta.items()}
    assert s3.head_object(Bucket=bucket, Key="meta")["Metadata"] == expected
    assert s3.get_object(Bucket=bucket, Key="meta")["Metadata"] == expected


def test_user_metadata_non_ascii_rfc2047(s3, bucket):
    """REST metadata is US-ASCII; non-ASCII values travel RFC 2047-encoded and
    must come back decodable to the same text."""
    text = "héllo wörld ✓ 日本"
    encoded = email.header.Header(text, "utf-8").encode()
    assert encoded.startswith("=?utf-8?")
    s3.put_object(Bucket=bucket, Key="intl", Body=b"m", Metadata={"title": encoded})
    got = s3.head_object(Bucket=bucket, Key="intl")["Metadata"]["title"]
    decoded = str(email.header.make_header(email.header.decode_header(got)))
    assert decoded == text


def test_standard_headers_round_trip(s3, bucket):
    body = gzip.compress(b"hello " * 100)
    expires = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    s3.put_object(
        Bucket=bucket,
        Key="report.txt",
        Body=body,
        ContentType="text/plain; charset=utf-8",
        ContentEncoding="gzip",
        ContentDisposition='attachment; filename="report.txt"',
        ContentLanguage="de-CH",
        CacheControl="max-age=60, private",
        Expires=expires,
    )
    for resp in (
        s3.head_object(Bucket=bucket, Key="report.txt"),
        s3.get_object(Bucket=bucket, Key="report.txt"),
    ):
        assert resp["ContentType"] == "text/plain; charset=utf-8"
        assert resp["ContentEncoding"] == "gzip"
        assert resp["ContentDisposition"] == 'attachment; filename="report.txt"'
        assert resp["ContentLanguage"] == "de-CH"
        assert resp["CacheControl"] == "max-age=60, private"
        assert resp["ExpiresString"] == "Thu, 02 Jan 2031 03:04:05 GMT"
        assert resp["ContentLength"] == len(body)
    got = s3.get_object(Bucket=bucket, Key="report.txt")["Body"].read()
    assert got == body, "Content-Encoding must not make the gateway transform the body"


RESPONSE_OVERRIDES = [
    ("ResponseContentType", "application/x-override", "content-type"),
    ("ResponseContentDisposition", 'inline; filename="o.bin"', "content-disposition"),
    ("ResponseCacheControl", "no-store", "cache-control"),
    ("ResponseContentEncoding", "identity", "content-encoding"),
    ("ResponseContentLanguage", "fr", "content-language"),
    (
        "ResponseExpires",
        dt.datetime(2030, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc),
        "expires",
    ),
]


@pytest.mark.parametrize("param,value,header", RESPONSE_OVERRIDES, ids=[p for p, _, _ in RESPONSE_OVERRIDES])
def test_get_response_header_overrides(s3, bucket, param, value, header):
    s3.put_object(
        Bucket=bucket,
        Key="o",
        Body=b"override me",
        ContentType="text/plain",
        ContentDisposition="attachment",
        CacheControl="max-age=1",
        ContentEncoding="x-stored",
        ContentLanguage="en",
    )
    got = s3.get_object(Bucket=bucket, Key="o", **{param: value})
    expected = value
    if isinstance(value, dt.datetime):
        expected = "Mon, 06 May 2030 07:08:09 GMT"
    assert got["ResponseMetadata"]["HTTPHeaders"][header] == expected
    assert got["Body"].read() == b"override me"
    # overrides do not change what is stored
    head = s3.head_object(Bucket=bucket, Key="o")
    assert head["ContentType"] == "text/plain"
    assert head["CacheControl"] == "max-age=1"


def test_put_with_correct_content_md5(s3, bucket):
    body = b"digest me"
    put = s3.put_object(Bucket=bucket, Key="md5", Body=body, ContentMD5=md5_b64(body))
    assert put["ETag"] == etag_of(body)


def test_concurrent_overwrites_never_expose_partial_objects(s3, bucket):
    """Readers racing writers see a whole old or whole new object with its ETag."""
    a = b"A" * (1 << 20)
    b = b"B" * (1 << 20)
    bodies = {etag_of(a): a, etag_of(b): b}
    s3.put_object(Bucket=bucket, Key="race", Body=a)

    def write(i):
        s3.put_object(Bucket=bucket, Key="race", Body=(a, b)[i % 2])

    def read(_):
        got = s3.get_object(Bucket=bucket, Key="race")
        data = got["Body"].read()
        assert got["ETag"] in bodies, got["ETag"]
        assert data == bodies[got["ETag"]], "body does not belong to its ETag"

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(write, i) for i in range(12)] + [pool.submit(read, i) for i in range(24)]
        for f in futures:
            f.result()
    final = s3.get_object(Bucket=bucket, Key="race")
    assert hashlib.md5(final["Body"].read()).hexdigest() == final["ETag"].strip('"')


def test_version_ids_never_reach_the_current_object(s3, bucket):
    """Buckets are unversioned: only the `null` version exists. Deleting or
    reading another version id must not touch the live object."""
    s3.put_object(Bucket=bucket, Key="v", Body=b"keep me")
    s3.delete_object(Bucket=bucket, Key="v", VersionId="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == b"keep me"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="v", VersionId="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
    assert client_error(e.value) == (404, "NoSuchVersion")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="v", VersionId="other")
    assert client_error(e.value)[0] == 404
    assert s3.get_object(Bucket=bucket, Key="v", VersionId="null")["Body"].read() == b"keep me"
    s3.delete_object(Bucket=bucket, Key="v", VersionId="null")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="v")
    assert client_error(e.value)[0] == 404

"""Range GETs and conditional GET/HEAD (RFC 7232 / RFC 7233 as S3 applies them)."""

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from e2e_util import client_error, etag_of

SIZE = 100
BODY = bytes((i * 7 + 3) % 256 for i in range(SIZE))
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def obj(s3, module_bucket):
    s3.put_object(Bucket=module_bucket, Key="r", Body=BODY)
    head = s3.head_object(Bucket=module_bucket, Key="r")
    return {"Bucket": module_bucket, "Key": "r", "etag": head["ETag"], "lm": head["LastModified"]}


def _call(s3, op, obj, **kw):
    fn = s3.get_object if op == "GET" else s3.head_object
    return fn(Bucket=obj["Bucket"], Key=obj["Key"], **kw)


# --------------------------------------------------------------------------
# ranges


@pytest.mark.parametrize(
    "rng,first,last",
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, 99),
        ("bytes=-5", 95, 99),
        ("bytes=90-200", 90, 99),  # end clipped to the object
        ("bytes=0-0", 0, 0),
        ("bytes=99-99", 99, 99),
        ("bytes=-200", 0, 99),  # suffix longer than the object
        ("bytes=0-", 0, 99),
    ],
)
def test_range_get(s3, obj, rng, first, last):
    got = _call(s3, "GET", obj, Range=rng)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {first}-{last}/{SIZE}"
    assert got["ContentLength"] == last - first + 1
    assert got["Body"].read() == BODY[first : last + 1]
    assert got["ETag"] == obj["etag"]


@pytest.mark.parametrize("rng", ["bytes=100-", "bytes=200-300", "bytes=100-100"])
def test_range_not_satisfiable(s3, obj, rng):
    with pytest.raises(ClientError) as e:
        _call(s3, "GET", obj, Range=rng)
    assert client_error(e.value) == (416, "InvalidRange")
    headers = e.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("content-range") == f"bytes */{SIZE}"


@pytest.mark.parametrize("rng", ["bytes=abc", "items=0-1", "bytes=5-2", "bytes"])
def test_malformed_range_is_ignored(s3, obj, rng):
    """RFC 7233: a syntactically invalid Range is ignored -> 200 with the whole object."""
    got = _call(s3, "GET", obj, Range=rng)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == BODY
    assert "ContentRange" not in got


def test_range_head(s3, obj):
    head = _call(s3, "HEAD", obj, Range="bytes=10-19")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentLength"] == 10
    assert head["ContentRange"] == f"bytes 10-19/{SIZE}"


# --------------------------------------------------------------------------
# conditionals

OPS = ["GET", "HEAD"]


def _status(s3, op, obj, **kw):
    try:
        resp = _call(s3, op, obj, **kw)
    except ClientError as e:
        return client_error(e)[0], e.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp


@pytest.mark.parametrize("op", OPS)
def test_if_match(s3, obj, op):
    assert _status(s3, op, obj, IfMatch=obj["etag"])[0] == 200
    assert _status(s3, op, obj, IfMatch="*")[0] == 200
    status, resp = _status(s3, op, obj, IfMatch='"0123456789abcdef0123456789abcdef"')
    assert status == 412
    if op == "GET":
        assert resp["Error"]["Code"] == "PreconditionFailed"


@pytest.mark.parametrize("op", OPS)
def test_if_none_match(s3, obj, op):
    status, resp = _status(s3, op, obj, IfNoneMatch=obj["etag"])
    assert status == 304
    assert resp["ResponseMetadata"]["HTTPHeaders"].get("etag") == obj["etag"]
    assert _status(s3, op, obj, IfNoneMatch="*")[0] == 304
    assert _status(s3, op, obj, IfNoneMatch='"0123456789abcdef0123456789abcdef"')[0] == 200


@pytest.mark.parametrize("op", OPS)
def test_if_modified_since(s3, obj, op):
    assert _status(s3, op, obj, IfModifiedSince=obj["lm"])[0] == 304
    assert _status(s3, op, obj, IfModifiedSince=obj["lm"] - DAY)[0] == 200


@pytest.mark.parametrize("op", OPS)
def test_if_unmodified_since(s3, obj, op):
    assert _status(s3, op, obj, IfUnmodifiedSince=obj["lm"])[0] == 200
    assert _status(s3, op, obj, IfUnmodifiedSince=obj["lm"] + DAY)[0] == 200
    status, resp = _status(s3, op, obj, IfUnmodifiedSince=obj["lm"] - DAY)
    assert status == 412
    if op == "GET":
        assert resp["Error"]["Code"] == "PreconditionFailed"


def _precedence_cases():
    # (name, kwargs builder, expected status); see RFC 7232 section 6 and the
    # GetObject documentation ("If both of the If-Match and If-Unmodified-Since ...").
    good = lambda o: o["etag"]  # noqa: E731
    bad = lambda o: '"0123456789abcdef0123456789abcdef"'  # noqa: E731
    old = lambda o: o["lm"] - DAY  # noqa: E731
    return [
        ("if-match-true+ius-false->200", lambda o: dict(IfMatch=good(o), IfUnmodifiedSince=old(o)), 200),
        ("if-match-false+ius-true->412", lambda o: dict(IfMatch=bad(o), IfUnmodifiedSince=o["lm"] + DAY), 412),
        ("inm-false+ims-true->304", lambda o: dict(IfNoneMatch=good(o), IfModifiedSince=old(o)), 304),
        ("inm-true+ims-false->200", lambda o: dict(IfNoneMatch=bad(o), IfModifiedSince=o["lm"]), 200),
        ("if-match-false+inm-false->412", lambda o: dict(IfMatch=bad(o), IfNoneMatch=good(o)), 412),
        ("ius-false+inm-false->412", lambda o: dict(IfUnmodifiedSince=old(o), IfNoneMatch=good(o)), 412),
        ("if-match-true+inm-false->304", lambda o: dict(IfMatch=good(o), IfNoneMatch=good(o)), 304),
        ("range+if-match-false->412", lambda o: dict(Range="bytes=0-1", IfMatch=bad(o)), 412),
        ("range+inm-false->304", lambda o: dict(Range="bytes=0-1", IfNoneMatch=good(o)), 304),
        ("range+if-match-true->206", lambda o: dict(Range="bytes=0-1", IfMatch=good(o)), 206),
    ]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name,build,expected", _precedence_cases(), ids=[c[0] for c in _precedence_cases()])
def test_condition_precedence(s3, obj, op, name, build, expected):
    assert _status(s3, op, obj, **build(obj))[0] == expected


def test_not_modified_has_no_body(gateway, s3, obj):
    import requests

    url = s3.generate_presigned_url("get_object", Params={"Bucket": obj["Bucket"], "Key": obj["Key"]})
    r = requests.get(url, headers={"If-None-Match": obj["etag"]}, timeout=10)
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers.get("ETag") == obj["etag"]  # RFC 7232 4.1


def test_conditions_follow_a_new_version(s3, bucket):
    s3.put_object(Bucket=bucket, Key="v", Body=b"one")
    old = s3.head_object(Bucket=bucket, Key="v")["ETag"]
    s3.put_object(Bucket=bucket, Key="v", Body=b"two")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="v", IfMatch=old)
    assert client_error(e.value) == (412, "PreconditionFailed")
    got = s3.get_object(Bucket=bucket, Key="v", IfNoneMatch=old)
    assert got["Body"].read() == b"two"
    assert got["ETag"] == etag_of(b"two")


def test_not_modified_carries_caching_headers(s3, bucket):
    """RFC 9110 15.4.5: a 304 has the Cache-Control and Expires a 200 would have."""
    import requests

    s3.put_object(
        Bucket=bucket, Key="c", Body=b"cached", CacheControl="max-age=60",
        Expires=dt.datetime(2037, 10, 21, 7, 28, tzinfo=dt.timezone.utc),
    )  # fmt: skip
    etag = s3.head_object(Bucket=bucket, Key="c")["ETag"]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "c"})
    r = requests.get(url, headers={"If-None-Match": etag}, timeout=10)
    assert r.status_code == 304
    assert r.headers.get("Cache-Control") == "max-age=60"
    assert r.headers.get("Expires") == "Wed, 21 Oct 2037 07:28:00 GMT"
    assert r.headers.get("Last-Modified")

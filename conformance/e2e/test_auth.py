"""Authentication: SigV4 header and presigned URLs, clock skew, anonymous
access, health endpoints, request ids."""

import dataclasses
import datetime as dt
import time
import urllib.parse

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import make_s3_client
from e2e_util import client_error, parse_error, send_raw, signed_request

UTCNOW = lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)  # noqa: E731


@pytest.fixture
def obj(s3, bucket):
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"top secret")
    return bucket, "secret.txt"


def _assert_s3_error(resp: requests.Response, status: int, code: str):
    assert resp.status_code == status, (resp.status_code, resp.content[:300])
    err = parse_error(resp.content)
    assert err.get("Code") == code, resp.content[:500]
    assert err.get("Message")
    assert err.get("RequestId") == resp.headers.get("x-amz-request-id")


# --------------------------------------------------------------------------
# anonymous


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/"),
        ("GET", "/{b}"),
        ("GET", "/{b}?list-type=2"),
        ("GET", "/{b}/secret.txt"),
        ("PUT", "/{b}/new.txt"),
        ("DELETE", "/{b}/secret.txt"),
        ("PUT", "/anon-new-bucket-xyz"),
    ],
)
def test_anonymous_requests_are_denied(gateway, s3, obj, method, path):
    bucket, key = obj
    url = gateway.endpoint + path.format(b=bucket)
    resp = requests.request(method, url, data=b"x" if method == "PUT" else None, timeout=10)
    _assert_s3_error(resp, 403, "AccessDenied")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"top secret"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="new.txt")


def test_anonymous_head_is_403_without_body(gateway, obj):
    bucket, key = obj
    resp = requests.head(f"{gateway.endpoint}/{bucket}/{key}", timeout=10)
    assert resp.status_code == 403
    assert resp.content == b""


# --------------------------------------------------------------------------
# bad credentials


def test_wrong_secret(gateway, obj):
    bucket, key = obj
    bad = make_s3_client(gateway, secret_key=gateway.secret_key[:-4] + "XXXX")
    with pytest.raises(ClientError) as e:
        bad.get_object(Bucket=bucket, Key=key)
    assert client_error(e.value) == (403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError) as e:
        bad.put_object(Bucket=bucket, Key=key, Body=b"overwritten")
    assert client_error(e.value) == (403, "SignatureDoesNotMatch")


def test_unknown_access_key(gateway, obj):
    bucket, key = obj
    bad = make_s3_client(gateway, access_key="AKIDOESNOTEXIST00000")
    with pytest.raises(ClientError) as e:
        bad.get_object(Bucket=bucket, Key=key)
    assert client_error(e.value) == (403, "InvalidAccessKeyId")
    with pytest.raises(ClientError) as e:
        bad.list_buckets()
    assert client_error(e.value) == (403, "InvalidAccessKeyId")


def test_wrong_region_in_credential_scope(gateway, obj):
    bucket, key = obj
    gw = dataclasses.replace(gateway, region="eu-central-1")
    resp = signed_request(gw, "GET", f"/{bucket}/{key}")
    # AWS: AuthorizationHeaderMalformed (400) naming the expected region.
    assert (resp.status, resp.code) == (400, "AuthorizationHeaderMalformed"), resp


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 garbage",
        "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=00",
        "Bearer abc",
    ],
)
def test_malformed_authorization_header(gateway, obj, authorization):
    bucket, key = obj
    resp = send_raw(
        gateway,
        "GET",
        f"/{bucket}/{key}",
        {"Host": gateway.netloc, "Authorization": authorization, "X-Amz-Date": UTCNOW().strftime("%Y%m%dT%H%M%SZ")},
    )
    assert resp.status in (400, 403), resp
    assert resp.code, resp
    assert b"top secret" not in resp.body


@pytest.mark.parametrize("minutes", [-20, 20, -24 * 60])
def test_clock_skew_rejected(gateway, obj, minutes):
    bucket, key = obj
    resp = signed_request(gateway, "GET", f"/{bucket}/{key}", when=UTCNOW() + dt.timedelta(minutes=minutes))
    assert (resp.status, resp.code) == (403, "RequestTimeTooSkewed"), resp
    assert b"top secret" not in resp.body


@pytest.mark.parametrize("minutes", [-10, 10])
def test_clock_skew_within_15_minutes_accepted(gateway, obj, minutes):
    bucket, key = obj
    resp = signed_request(gateway, "GET", f"/{bucket}/{key}", when=UTCNOW() + dt.timedelta(minutes=minutes))
    assert resp.status == 200, resp
    assert resp.body == b"top secret"


def test_unsigned_payload_accepted(gateway, s3, bucket):
    resp = signed_request(gateway, "PUT", f"/{bucket}/u", body=b"unsigned body", payload_hash="UNSIGNED-PAYLOAD")
    assert resp.status == 200, resp
    assert s3.get_object(Bucket=bucket, Key="u")["Body"].read() == b"unsigned body"


def test_signed_header_tampered(gateway, obj):
    """A header covered by SignedHeaders changed after signing -> SignatureDoesNotMatch."""
    bucket, key = obj
    from e2e_util import sign

    headers = sign(gateway, "GET", f"/{bucket}/{key}", {"Range": "bytes=0-2"})
    headers["Range"] = "bytes=0-9"
    resp = send_raw(gateway, "GET", f"/{bucket}/{key}", headers)
    assert (resp.status, resp.code) == (403, "SignatureDoesNotMatch"), resp


# --------------------------------------------------------------------------
# presigned URLs


def test_presigned_get(s3, obj):
    bucket, key = obj
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    assert "X-Amz-Signature=" in url
    r = requests.get(url, timeout=10)
    assert r.status_code == 200
    assert r.content == b"top secret"
    assert r.headers.get("ETag")


def test_presigned_get_with_response_override(s3, obj):
    bucket, key = obj
    url = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": key, "ResponseContentDisposition": 'attachment; filename="s.txt"'},
    )
    r = requests.get(url, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Disposition"] == 'attachment; filename="s.txt"'


@pytest.mark.parametrize("key", ["plain.txt", "dir/sub dir/ünï cödé+plus&amp=eq.bin"])
def test_presigned_put(s3, bucket, key):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    r = requests.put(url, data=b"uploaded via presigned", timeout=10)
    assert r.status_code == 200, r.content
    assert r.headers.get("ETag")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"uploaded via presigned"


def test_presigned_head_and_delete(s3, obj):
    bucket, key = obj
    head = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": key})
    assert requests.head(head, timeout=10).status_code == 200
    delete = s3.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": key})
    assert requests.delete(delete, timeout=10).status_code == 204
    assert requests.head(head, timeout=10).status_code == 404


def test_presigned_expired(s3, obj):
    bucket, key = obj
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=1)
    time.sleep(2.1)
    r = requests.get(url, timeout=10)
    _assert_s3_error(r, 403, "AccessDenied")
    assert b"top secret" not in r.content


def test_presigned_expires_over_a_week_rejected(s3, obj):
    bucket, key = obj
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=604801)
    r = requests.get(url, timeout=10)
    _assert_s3_error(r, 400, "AuthorizationQueryParametersError")


@pytest.mark.parametrize("age_minutes", [30, 24 * 60])
def test_presigned_signed_long_ago_still_valid(s3, obj, age_minutes):
    """The 15-minute skew window applies to header signatures, not to presigned
    URLs: one signed a while ago is valid until X-Amz-Date + X-Amz-Expires."""
    from unittest import mock

    bucket, key = obj
    signed_at = UTCNOW() - dt.timedelta(minutes=age_minutes)
    with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=2 * 24 * 3600)
    assert signed_at.strftime("%Y%m%dT%H%M") in url
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, r.content
    assert r.content == b"top secret"


def test_presigned_signed_in_the_future_rejected(s3, obj):
    from unittest import mock

    bucket, key = obj
    with mock.patch("botocore.auth.get_current_datetime", return_value=UTCNOW() + dt.timedelta(hours=2)):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600)
    r = requests.get(url, timeout=10)
    assert r.status_code == 403, r.content
    assert b"top secret" not in r.content


def test_presigned_virtual_host(vhost_s3, s3, obj):
    bucket, key = obj
    url = vhost_s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    assert f"//{bucket}." in url
    r = requests.get(url, timeout=10)  # *.s3.localhost resolves through the fixture's resolver
    assert r.status_code == 200, r.content
    assert r.content == b"top secret"


def test_presigned_expires_exactly_a_week_accepted(s3, obj):
    bucket, key = obj
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=604800)
    assert requests.get(url, timeout=10).status_code == 200


def _tamper(url: str, how: str) -> str:
    parts = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    path = parts.path
    if how == "signature":
        q = [(k, (("0" if v[0] != "0" else "1") + v[1:]) if k == "X-Amz-Signature" else v) for k, v in q]
    elif how == "expires":
        q = [(k, "3599" if k == "X-Amz-Expires" else v) for k, v in q]
    elif how == "extra-param":
        q.append(("response-content-type", "text/html"))
    elif how == "key":
        path = path.rsplit("/", 1)[0] + "/other.txt"
    elif how == "date":
        fmt = "%Y%m%dT%H%M%SZ"
        earlier = lambda v: (dt.datetime.strptime(v, fmt) - dt.timedelta(seconds=1)).strftime(fmt)  # noqa: E731
        q = [(k, earlier(v) if k == "X-Amz-Date" else v) for k, v in q]
    return urllib.parse.urlunsplit(parts._replace(path=path, query=urllib.parse.urlencode(q)))


@pytest.mark.parametrize("how", ["signature", "expires", "extra-param", "key", "date"])
def test_presigned_tampered(s3, obj, how):
    bucket, key = obj
    s3.put_object(Bucket=bucket, Key="other.txt", Body=b"other secret")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600)
    r = requests.get(_tamper(url, how), timeout=10)
    _assert_s3_error(r, 403, "SignatureDoesNotMatch")


def test_presigned_put_cannot_be_used_for_get(s3, obj):
    bucket, key = obj
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key})
    r = requests.get(url, timeout=10)
    _assert_s3_error(r, 403, "SignatureDoesNotMatch")


# --------------------------------------------------------------------------
# health and request ids


@pytest.mark.parametrize("path", ["/-/health/live", "/-/health/ready"])
def test_health_needs_no_auth(gateway, path):
    r = requests.get(gateway.endpoint + path, timeout=10)
    assert r.status_code == 200


@pytest.mark.parametrize(
    "method,path,signed,expected",
    [
        ("GET", "/", True, 200),
        ("GET", "/{b}/secret.txt", True, 200),
        ("HEAD", "/{b}/secret.txt", True, 200),
        ("GET", "/{b}/missing", True, 404),
        ("HEAD", "/{b}/missing", True, 404),
        ("GET", "/{b}?list-type=2", True, 200),
        ("GET", "/{b}/secret.txt", False, 403),
        ("PUT", "/{b}/rid", True, 200),
        ("DELETE", "/{b}/rid", True, 204),
    ],
)
def test_every_response_has_request_id(gateway, obj, method, path, signed, expected):
    bucket, _ = obj
    target = path.format(b=bucket)
    if signed:
        resp = signed_request(gateway, method, target, body=b"x" if method == "PUT" else b"")
    else:
        resp = send_raw(gateway, method, target, {"Host": gateway.netloc})
    assert resp.status == expected, resp
    rid = resp.header("x-amz-request-id")
    assert rid and rid.strip(), f"no x-amz-request-id on {method} {target}"
    if resp.body and resp.status >= 400:
        assert resp.error.get("RequestId") == rid


def test_request_ids_are_unique(gateway, obj):
    ids = {signed_request(gateway, "GET", "/").header("x-amz-request-id") for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize(
    "header,value",
    [("x-amz-meta-evil", "1"), ("x-amz-copy-source", "/other/secret"), ("x-amz-acl", "public-read")],
)
def test_presigned_put_refuses_unsigned_amz_headers(s3, bucket, header, value):
    """Whoever holds a presigned URL cannot add x-amz-* instructions to it."""
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300)
    r = requests.put(url, data=b"data", headers={header: value}, timeout=10)
    _assert_s3_error(r, 403, "AccessDenied")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="p")
    assert client_error(e.value)[0] == 404
    # Ordinary headers are fine, as in S3.
    r = requests.put(url, data=b"data", headers={"Content-Type": "text/csv"}, timeout=10)
    assert r.status_code == 200, r.content


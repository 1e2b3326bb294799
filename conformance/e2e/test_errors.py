"""Error responses: codes, statuses and the S3 XML error document."""

import socket

import pytest
from botocore.exceptions import ClientError

from e2e_util import (
    client_error,
    parse_error,
    read_response_head,
    request_head,
    send_raw,
    sign,
    signed_request,
    unique_bucket_name,
)


@pytest.fixture
def missing_bucket():
    return unique_bucket_name("missing")


@pytest.mark.parametrize(
    "op",
    [
        lambda s3, b: s3.get_object(Bucket=b, Key="k"),
        lambda s3, b: s3.put_object(Bucket=b, Key="k", Body=b"x"),
        lambda s3, b: s3.delete_object(Bucket=b, Key="k"),
        lambda s3, b: s3.list_objects_v2(Bucket=b),
        lambda s3, b: s3.list_objects(Bucket=b),
        lambda s3, b: s3.delete_bucket(Bucket=b),
    ],
    ids=["get", "put", "delete-object", "list-v2", "list-v1", "delete-bucket"],
)
def test_no_such_bucket(s3, missing_bucket, op):
    with pytest.raises(ClientError) as e:
        op(s3, missing_bucket)
    assert client_error(e.value) == (404, "NoSuchBucket")
    assert e.value.response["Error"].get("BucketName") in (None, missing_bucket)


@pytest.mark.parametrize("size", [2 * 1024 * 1024])
def test_early_errors_with_a_large_body(gateway, s3, missing_bucket, bucket, size):
    """Errors decided from the headers alone come back without hanging on the body
    (boto3 sends Expect: 100-continue above 1 MB)."""
    from conftest import make_s3_client

    body = b"z" * size
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=missing_bucket, Key="k", Body=body)
    assert client_error(e.value) == (404, "NoSuchBucket")
    bad = make_s3_client(gateway, secret_key="wrong" + gateway.secret_key[5:])
    with pytest.raises(ClientError) as e:
        bad.put_object(Bucket=bucket, Key="k", Body=body)
    assert client_error(e.value) == (403, "SignatureDoesNotMatch")
    s3.put_object(Bucket=bucket, Key="k", Body=body)  # the connection pool is still healthy
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == size


def test_no_such_key(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope/missing.txt")
    assert client_error(e.value) == (404, "NoSuchKey")
    assert e.value.response["Error"].get("Key") in (None, "nope/missing.txt")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="nope/missing.txt")
    assert client_error(e.value)[0] == 404


def test_get_on_prefix_of_existing_key_is_no_such_key(s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/file", Body=b"1")
    for key in ("dir", "dir/", "di"):
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key=key)
        assert client_error(e.value) == (404, "NoSuchKey"), key


def test_error_document_shape(gateway, bucket):
    resp = signed_request(gateway, "GET", f"/{bucket}/missing-key")
    assert resp.status == 404
    assert (resp.header("Content-Type") or "").startswith("application/xml")
    assert resp.body.lstrip().startswith(b"<?xml") or resp.body.lstrip().startswith(b"<Error")
    err = parse_error(resp.body)
    assert err.get("Code") == "NoSuchKey"
    assert err.get("Message")
    assert err.get("RequestId") == resp.header("x-amz-request-id")
    assert b"Traceback" not in resp.body and b"panicked" not in resp.body


def test_head_error_has_no_body(gateway, bucket):
    resp = signed_request(gateway, "HEAD", f"/{bucket}/missing-key")
    assert resp.status == 404
    assert resp.body == b""


@pytest.mark.parametrize("key", ["k" * 1025, "€" * 342, "d/" * 512 + "x"], ids=["1025-ascii", "1026-bytes-utf8", "1025-slashes"])
def test_key_too_long(s3, bucket, key):
    assert len(key.encode()) > 1024
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert client_error(e.value) == (400, "KeyTooLongError")


def test_metadata_too_large(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="m", Body=b"x", Metadata={"big": "v" * 2100})
    assert client_error(e.value) == (400, "MetadataTooLarge")


def test_missing_content_length(gateway, s3, bucket):
    """A signed PUT with neither Content-Length nor Transfer-Encoding."""
    headers = sign(gateway, "PUT", f"/{bucket}/nolen", {}, b"")
    assert "Content-Length" not in headers
    resp = send_raw(gateway, "PUT", f"/{bucket}/nolen", headers, None)
    assert (resp.status, resp.code) == (411, "MissingContentLength"), resp
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="nolen")


def test_entity_too_large_rejected_before_body(gateway, bucket):
    """Content-Length above 5 GiB is refused from the headers alone: no body is sent."""
    target = f"/{bucket}/huge"
    headers = sign(
        gateway, "PUT", target, {"Content-Length": str(5 * 1024**3 + 1)}, b"", payload_hash="UNSIGNED-PAYLOAD"
    )
    with socket.create_connection((gateway.host, gateway.port), timeout=15) as sock:
        sock.sendall(request_head("PUT", target, headers))
        status, head, body = read_response_head(sock)
        length = int(head.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    assert status == 400, body[:500]
    assert parse_error(body).get("Code") == "EntityTooLarge", body[:500]


@pytest.mark.parametrize("method", ["PATCH", "TRACE", "FOO"])
def test_method_not_allowed(gateway, s3, bucket, method):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"x")
    resp = signed_request(gateway, method, f"/{bucket}/obj")
    assert (resp.status, resp.code) == (405, "MethodNotAllowed"), resp


@pytest.mark.parametrize(
    "method,query,body",
    [
        ("GET", "website", b""),
        ("PUT", "website", b"<WebsiteConfiguration><IndexDocument><Suffix>i.html</Suffix></IndexDocument></WebsiteConfiguration>"),
        ("GET", "replication", b""),
        ("PUT", "replication", b"<ReplicationConfiguration/>"),
    ],
)
def test_unsupported_subresource_not_implemented(gateway, bucket, method, query, body):
    resp = signed_request(gateway, method, f"/{bucket}?{query}", body=body)
    assert (resp.status, resp.code) == (501, "NotImplemented"), resp


def test_malformed_create_bucket_configuration(gateway, s3):
    name = unique_bucket_name("malformed")
    resp = signed_request(gateway, "PUT", f"/{name}", body=b"<CreateBucketConfiguration><garbage")
    assert (resp.status, resp.code) == (400, "MalformedXML"), resp
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert client_error(e.value)[0] == 404


def test_unknown_query_parameters_are_ignored(gateway, s3, bucket):
    """Plain query parameters that are not sub-resources do not change the operation."""
    s3.put_object(Bucket=bucket, Key="q", Body=b"data")
    resp = signed_request(gateway, "GET", f"/{bucket}/q?foo=bar&x-id=GetObject")
    assert resp.status == 200, resp
    assert resp.body == b"data"


def test_server_stays_healthy_after_errors(gateway, s3, bucket):
    import requests

    assert requests.get(gateway.endpoint + "/-/health/live", timeout=5).status_code == 200
    s3.put_object(Bucket=bucket, Key="after", Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"ok"


def test_failed_upload_tells_the_client_to_reconnect(gateway, s3, missing_bucket):
    """A request refused before its body was read leaves unread bytes on the
    connection; the response says `Connection: close` so a pooled client does
    not send its next request down a connection the gateway is closing."""
    r = signed_request(gateway, "PUT", f"/{missing_bucket}/k", body=b"x" * 1000)
    assert (r.status, r.code) == (404, "NoSuchBucket")
    assert r.header("Connection") == "close"
    # Clients that keep reusing connections see no failures either.
    for _ in range(50):
        with pytest.raises(ClientError):
            s3.put_object(Bucket=missing_bucket, Key="k", Body=b"x")
        with pytest.raises(ClientError) as e:
            s3.delete_object(Bucket=missing_bucket, Key="k")
        assert client_error(e.value) == (404, "NoSuchBucket")

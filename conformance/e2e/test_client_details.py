"""HTTP details clients rely on: ListBuckets pages (max-buckets,
continuation-token, prefix), `x-amz-expected-bucket-owner`, and
`Expect: 100-continue` answered only once the request is authenticated and
authorized, so a refused large upload is refused before its body is sent.
"""

from __future__ import annotations

import socket

import pytest
from botocore.exceptions import ClientError

from conftest import delete_bucket_fully
from e2e_util import read_response_head, request_head, sign, signed_request, unique_bucket_name

ACCOUNT = "000000000000"


def test_list_buckets_in_pages(s3, gateway):
    prefix = unique_bucket_name("pages")[:-2]
    names = sorted(f"{prefix}{i:02d}" for i in range(5))
    for n in names:
        s3.create_bucket(Bucket=n)
    try:
        seen, token, pages = [], None, 0
        while True:
            kwargs = {"MaxBuckets": 2, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            page = s3.list_buckets(**kwargs)
            pages += 1
            assert page["Prefix"] == prefix
            seen += [b["Name"] for b in page["Buckets"]]
            token = page.get("ContinuationToken")
            if not token:
                break
        assert seen == names and pages == 3
        # boto3's paginator walks the same pages.
        walked = [b["Name"] for p in s3.get_paginator("list_buckets").paginate(Prefix=prefix, PaginationConfig={"PageSize": 2})
                  for b in p["Buckets"]]  # fmt: skip
        assert walked == names
        for bad in ("0", "10001", "many"):
            r = signed_request(gateway, "GET", f"/?max-buckets={bad}")
            assert (r.status, r.code) == (400, "InvalidArgument"), bad
        r = signed_request(gateway, "GET", "/?max-buckets=1&continuation-token=%25%25")
        assert (r.status, r.code) == (400, "InvalidArgument")
    finally:
        for n in names:
            delete_bucket_fully(s3, n)


def test_expected_bucket_owner(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner=ACCOUNT)
    assert s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=ACCOUNT)["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner="111122223333")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="k2", CopySource={"Bucket": bucket, "Key": "k"},
                       ExpectedSourceBucketOwner="111122223333")  # fmt: skip
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def _expect_continue(gw, bucket, key, headers):
    sock = socket.create_connection((gw.host, gw.port), timeout=10)
    sock.sendall(request_head("PUT", f"/{bucket}/{key}", headers))
    return sock


def test_expect_continue_only_after_authorization(gateway, bucket):
    size = 64 * 1024 * 1024
    target = f"/{bucket}/big"
    good = sign(gateway, "PUT", target, {"Content-Length": str(size), "Expect": "100-continue"},
                payload_hash="UNSIGNED-PAYLOAD")  # fmt: skip
    bad = dict(good)
    bad["Authorization"] = bad["Authorization"][:-4] + "0000"
    # Refused: the final answer comes at once, no 100 Continue, no body sent.
    sock = _expect_continue(gateway, bucket, "big", bad)
    status, _, _ = read_response_head(sock)
    sock.close()
    assert status == 403
    # Accepted: 100 Continue, then the body, then 200.
    sock = _expect_continue(gateway, bucket, "small", sign(
        gateway, "PUT", f"/{bucket}/small", {"Content-Length": "5", "Expect": "100-continue"},
        payload_hash="UNSIGNED-PAYLOAD"))  # fmt: skip
    status, _, _ = read_response_head(sock)
    assert status == 100
    sock.sendall(b"hello")
    status, _, _ = read_response_head(sock)
    sock.close()
    assert status == 200


def test_put_with_chunked_transfer_encoding_and_no_length(gateway, bucket, s3):
    """A streamed upload whose length nobody knew in advance (curl -T -,
    a pipe): HTTP chunked, no Content-Length."""
    target = f"/{bucket}/piped.bin"
    headers = sign(gateway, "PUT", target, {"Transfer-Encoding": "chunked"}, payload_hash="UNSIGNED-PAYLOAD")
    pieces = [b"first piece\n", b"x" * 100_000, b"last\n"]
    sock = socket.create_connection((gateway.host, gateway.port), timeout=10)
    sock.sendall(request_head("PUT", target, headers))
    for p in pieces:
        sock.sendall(f"{len(p):x}\r\n".encode() + p + b"\r\n")
    sock.sendall(b"0\r\n\r\n")
    status, _, _ = read_response_head(sock)
    sock.close()
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="piped.bin")["Body"].read() == b"".join(pieces)


def test_non_ascii_metadata_as_s3_encodes_it(gateway, s3, bucket):
    """S3 stores non-ASCII metadata decoded and returns it as one RFC 2047
    word (`=?UTF-8?B?...?=`); ASCII stays as it is. boto3 sends the encoded
    word itself (it refuses raw non-ASCII); curl-like clients send UTF-8."""
    import base64

    want = "=?UTF-8?B?" + base64.b64encode("Montréal".encode()).decode() + "?="
    s3.put_object(Bucket=bucket, Key="encoded", Body=b"x", Metadata={"city": want, "plain": "ok"})
    # Raw UTF-8 bytes in the header (signed over the other headers).
    target = f"/{bucket}/raw"
    headers = sign(gateway, "PUT", target, {"Content-Length": "1"}, payload_hash="UNSIGNED-PAYLOAD")
    headers["x-amz-meta-city"] = "Montréal"
    sock = socket.create_connection((gateway.host, gateway.port), timeout=10)
    sock.sendall(request_head("PUT", target, headers) + b"x")
    status, _, _ = read_response_head(sock)
    sock.close()
    assert status == 200
    for key in ("raw", "encoded"):
        meta = s3.head_object(Bucket=bucket, Key=key)["Metadata"]
        assert meta["city"] == want, (key, meta)
    assert s3.head_object(Bucket=bucket, Key="encoded")["Metadata"]["plain"] == "ok"
    # A copy keeps the value.
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "raw"})
    assert s3.head_object(Bucket=bucket, Key="copied")["Metadata"]["city"] == want

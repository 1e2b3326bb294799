"""Multipart uploads with boto3, on one gateway and across two replicas that
share the storage: explicit calls, the transfer manager, validation errors,
abort, listing, and what concurrent uploads of one key see."""

import concurrent.futures
import hashlib
import os

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from conftest import make_s3_client
from conftest import suite_backend
from e2e_util import client_error, error_of, etag_of, signed_request

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def s3b(replica):
    return make_s3_client(replica)


def multipart_etag(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def upload(s3, bucket, key, parts: list[bytes], **create):
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    done = []
    for i, data in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=i, Body=data)
        assert r["ETag"] == etag_of(data)
        done.append({"PartNumber": i, "ETag": r["ETag"]})
    return up, done


def complete(s3, bucket, key, up, parts, **kw):
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=up, MultipartUpload={"Parts": parts}, **kw
    )


def test_round_trip_with_metadata(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB + 17), b"tail"]
    up, done = upload(
        s3, bucket, "dir/obj.bin", parts,
        ContentType="application/x-test", Metadata={"origin": "mpu", "n": "3"},
        CacheControl="max-age=60", ContentDisposition="attachment",
    )
    # Nothing is visible before Complete.
    assert error_of(s3.head_object, Bucket=bucket, Key="dir/obj.bin")[0] == 404
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    r = complete(s3, bucket, "dir/obj.bin", up, done)
    assert r["ETag"] == multipart_etag(parts)
    assert r["Key"] == "dir/obj.bin" and r["Bucket"] == bucket
    got = s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert got["Body"].read() == b"".join(parts)
    assert got["ETag"] == multipart_etag(parts)
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"origin": "mpu", "n": "3"}
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == "attachment"
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["ETag"], o["Size"]) for o in listed] == [
        ("dir/obj.bin", multipart_etag(parts), sum(map(len, parts)))
    ]
    # The upload is gone from the listings.
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # A range across the part boundary.
    r = s3.get_object(Bucket=bucket, Key="dir/obj.bin", Range=f"bytes={5 * MiB - 3}-{5 * MiB + 2}")
    assert r["Body"].read() == (parts[0] + parts[1])[5 * MiB - 3 : 5 * MiB + 3]


def test_retried_complete_succeeds(s3, bucket):
    parts = [os.urandom(5 * MiB), b"end"]
    up, done = upload(s3, bucket, "k", parts)
    first = complete(s3, bucket, "k", up, done)
    again = complete(s3, bucket, "k", up, done)
    assert again["ETag"] == first["ETag"] == multipart_etag(parts)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"".join(parts)
    # After Complete the upload no longer takes parts or aborts.
    assert error_of(s3.upload_part, Bucket=bucket, Key="k", UploadId=up, PartNumber=3, Body=b"x") == (
        404, "NoSuchUpload")
    assert error_of(s3.abort_multipart_upload, Bucket=bucket, Key="k", UploadId=up) == (404, "NoSuchUpload")


def test_complete_validation_keeps_upload(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"previous")
    small = [b"a" * 1024, b"b" * 1024]
    up, done = upload(s3, bucket, "k", small)
    # Every part but the last must be 5 MiB.
    assert error_of(complete, s3=s3, bucket=bucket, key="k", up=up, parts=done) == (400, "EntityTooSmall")
    # Wrong ETag, unknown part, order.
    bad_etag = [{"PartNumber": 1, "ETag": etag_of(b"other")}]
    assert error_of(complete, s3=s3, bucket=bucket, key="k", up=up, parts=bad_etag) == (400, "InvalidPart")
    unknown = [{"PartNumber": 7, "ETag": done[0]["ETag"]}]
    assert error_of(complete, s3=s3, bucket=bucket, key="k", up=up, parts=unknown) == (400, "InvalidPart")
    assert error_of(complete, s3=s3, bucket=bucket, key="k", up=up, parts=done[::-1]) == (400, "InvalidPartOrder")
    # Nothing changed: the old object is intact and the upload can be fixed.
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"previous"
    big = os.urandom(5 * MiB)
    r = s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=big)  # replaces part 1
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
        (1, etag_of(big), len(big)), (2, etag_of(small[1]), 1024)]
    fixed = [{"PartNumber": 1, "ETag": r["ETag"]}, done[1]]
    assert complete(s3, bucket, "k", up, fixed)["ETag"] == multipart_etag([big, small[1]])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == big + small[1]


def test_unknown_upload_and_bad_part_numbers(s3, bucket):
    for up in ["nonexistent", "../../etc", "x" * 300]:
        assert error_of(s3.upload_part, Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=b"x") == (
            404, "NoSuchUpload")
        assert error_of(s3.list_parts, Bucket=bucket, Key="k", UploadId=up) == (404, "NoSuchUpload")
        assert error_of(complete, s3=s3, bucket=bucket, key="k", up=up,
                        parts=[{"PartNumber": 1, "ETag": etag_of(b"x")}]) == (404, "NoSuchUpload")  # fmt: skip
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for n in [0, 10001]:
        assert error_of(s3.upload_part, Bucket=bucket, Key="k", UploadId=up, PartNumber=n, Body=b"x") == (
            400, "InvalidArgument")
    # An upload belongs to its key.
    assert error_of(s3.upload_part, Bucket=bucket, Key="other", UploadId=up, PartNumber=1, Body=b"x") == (
        404, "NoSuchUpload")
    assert error_of(s3.create_multipart_upload, Bucket="no-such-bucket-mpu", Key="k") == (404, "NoSuchBucket")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=up)


def test_malformed_complete_bodies(s3, bucket, gateway):
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=b"x")
    for body in [b"<CompleteMultipartUpload>", b"not xml", b"<CompleteMultipartUpload/>",
                 b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>",
                 b"<x>" + b"a" * (3 * MiB) + b"</x>"]:  # fmt: skip
        r = signed_request(gateway, "POST", f"/{bucket}/k?uploadId={up}", body=body)
        assert (r.status, r.code) == (400, "MalformedXML"), body[:80]
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=up)


def test_abort_keeps_existing_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"keep me")
    up, _ = upload(s3, bucket, "k", [os.urandom(1024), b"x"])
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=up)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"keep me"
    assert error_of(s3.list_parts, Bucket=bucket, Key="k", UploadId=up) == (404, "NoSuchUpload")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]


def test_list_parts_pages(s3, bucket):
    up, done = upload(s3, bucket, "k", [bytes([i]) * 100 for i in range(1, 8)])
    seen, marker = [], 0
    for _ in range(10):
        r = s3.list_parts(Bucket=bucket, Key="k", UploadId=up, MaxParts=3, PartNumberMarker=marker)
        assert r["MaxParts"] == 3
        seen += [p["PartNumber"] for p in r.get("Parts", [])]
        if not r["IsTruncated"]:
            break
        marker = r["NextPartNumberMarker"]
    assert seen == list(range(1, 8))
    paginated = [p["PartNumber"] for page in s3.get_paginator("list_parts").paginate(
        Bucket=bucket, Key="k", UploadId=up, PaginationConfig={"PageSize": 2}) for p in page.get("Parts", [])]  # fmt: skip
    assert paginated == list(range(1, 8))
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=up)


def test_list_uploads_prefix_delimiter_markers(s3, bucket):
    keys = ["a/1", "a/2", "b", "b", "c/d/e", "z"]
    ids = {}
    for k in keys:
        ids.setdefault(k, []).append(s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"])
    r = s3.list_multipart_uploads(Bucket=bucket)
    assert sorted((u["Key"], u["UploadId"]) for u in r["Uploads"]) == sorted(
        (k, i) for k, v in ids.items() for i in v)
    assert [u["Key"] for u in r["Uploads"]] == sorted(keys)
    r = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in r["Uploads"]] == ["b", "b", "z"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "c/"]
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix="c/", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["c/d/"]
    # Pages of two, by key and upload id markers, see everything once.
    got, kw = [], {}
    for _ in range(10):
        r = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, **kw)
        got += [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"], "UploadIdMarker": r["NextUploadIdMarker"]}
    assert sorted(got) == sorted((k, i) for k, v in ids.items() for i in v)
    assert len(got) == len(keys)
    r = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b")
    assert [u["Key"] for u in r["Uploads"]] == ["c/d/e", "z"]
    # Pages of one with a delimiter: a page ending on a common prefix
    # resumes after it (boto3's paginator fails on a repeated marker).
    pages = [(sorted(u["Key"] for u in page.get("Uploads", [])),
              [p["Prefix"] for p in page.get("CommonPrefixes", [])])
             for page in s3.get_paginator("list_multipart_uploads").paginate(
                 Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1})]  # fmt: skip
    assert [k for ks, _ in pages for k in ks] == ["b", "b", "z"]
    assert [p for _, ps in pages for p in ps] == ["a/", "c/"]
    for k, v in ids.items():
        for i in v:
            s3.abort_multipart_upload(Bucket=bucket, Key=k, UploadId=i)


def test_list_uploads_while_aborting_them(s3, bucket):
    """A cleanup that aborts each page's uploads before asking for the next:
    the markers then name an upload that is gone, and S3 resumes after it."""
    for k in ["a", "b", "b", "b", "c"]:
        s3.create_multipart_upload(Bucket=bucket, Key=k)
    aborted, kw = [], {}
    for _ in range(20):
        r = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=1, **kw)
        for u in r.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
            aborted.append(u["Key"])
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"], "UploadIdMarker": r["NextUploadIdMarker"]}
    assert aborted == ["a", "b", "b", "b", "c"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_transfer_manager_round_trip(s3, bucket, tmp_path):
    src = tmp_path / "src.bin"
    data = os.urandom(23 * MiB + 5)
    src.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
    s3.upload_file(str(src), bucket, "tm.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="tm.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "tm.bin", str(dst), Config=cfg)
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_parts_alternate_between_replicas(s3, s3b, bucket):
    parts = [os.urandom(5 * MiB) for _ in range(3)] + [b"last"]
    up = s3.create_multipart_upload(Bucket=bucket, Key="shared.bin", Metadata={"m": "1"})["UploadId"]
    order = [3, 1, 4, 2]  # out of order, alternating gateways
    etags = {}
    for i, n in enumerate(order):
        client = s3 if i % 2 == 0 else s3b
        etags[n] = client.upload_part(Bucket=bucket, Key="shared.bin", UploadId=up, PartNumber=n,
                                      Body=parts[n - 1])["ETag"]  # fmt: skip
    for client in (s3, s3b):
        assert [u["UploadId"] for u in client.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [up]
        assert [p["PartNumber"] for p in client.list_parts(Bucket=bucket, Key="shared.bin", UploadId=up)["Parts"]] == [
            1, 2, 3, 4]
    done = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
    assert complete(s3b, bucket, "shared.bin", up, done)["ETag"] == multipart_etag(parts)
    got = s3.get_object(Bucket=bucket, Key="shared.bin")
    assert got["Body"].read() == b"".join(parts)
    assert got["Metadata"] == {"m": "1"}
    # The retry on the other replica succeeds as well.
    assert complete(s3, bucket, "shared.bin", up, done)["ETag"] == multipart_etag(parts)


def test_parallel_parts(s3, bucket):
    parts = [os.urandom(5 * MiB + i) for i in range(6)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="p")["UploadId"]

    def send(n):
        return s3.upload_part(Bucket=bucket, Key="p", UploadId=up, PartNumber=n, Body=parts[n - 1])["ETag"]

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        etags = list(pool.map(send, range(1, 7)))
    done = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]
    complete(s3, bucket, "p", up, done)
    assert s3.get_object(Bucket=bucket, Key="p")["Body"].read() == b"".join(parts)


def test_complete_conditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    up, done = upload(s3, bucket, "k", [b"new"])
    assert error_of(complete, s3=s3, bucket=bucket, key="k", up=up, parts=done, IfNoneMatch="*") == (
        412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"
    complete(s3, bucket, "k", up, done, IfMatch=etag_of(b"old"))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new"


def test_two_uploads_of_one_key(s3, bucket):
    """Two uploads of one key, both with all parts uploaded: the first Complete
    wins. On fs the second then completes too (last writer wins, as for
    PUTs); on Azure its staged blocks were discarded by the first commit, so
    it fails with InvalidPart. Either way the object is one whole upload."""
    a_parts, b_parts = [os.urandom(5 * MiB), b"A"], [os.urandom(5 * MiB), b"B"]
    a, a_done = upload(s3, bucket, "race", a_parts)
    b, b_done = upload(s3, bucket, "race", b_parts)
    complete(s3, bucket, "race", a, a_done)
    assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == b"".join(a_parts)
    try:
        complete(s3, bucket, "race", b, b_done)
        want = b"".join(b_parts)
        assert suite_backend() == "fs"
    except ClientError as e:
        assert client_error(e) == (400, "InvalidPart")
        assert suite_backend() == "azure"
        want = b"".join(a_parts)
        s3.abort_multipart_upload(Bucket=bucket, Key="race", UploadId=b)
    assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == want

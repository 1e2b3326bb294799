"""CopyObject, UploadPartCopy and DeleteObjects with boto3 and the aws CLI's
own calls: metadata directives, copy-source conditions, ranges, and batch
delete results."""

import datetime as dt
import os

import pytest

from e2e_util import error_of, etag_of, signed_request

MiB = 1024 * 1024


@pytest.fixture
def src(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src/a b+é.txt", Body=b"source body", ContentType="text/plain",
                  Metadata={"colour": "blue"}, CacheControl="no-cache")  # fmt: skip
    return {"Bucket": bucket, "Key": "src/a b+é.txt"}


def test_copy_keeps_metadata(s3, bucket, src):
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource=src)
    assert r["CopyObjectResult"]["ETag"] == etag_of(b"source body")
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"source body"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"colour": "blue"}
    assert got["CacheControl"] == "no-cache"


def test_copy_replace_metadata(s3, bucket, src):
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, MetadataDirective="REPLACE",
                   Metadata={"shape": "round"}, ContentType="application/json")  # fmt: skip
    got = s3.head_object(Bucket=bucket, Key="dst")
    assert got["Metadata"] == {"shape": "round"}
    assert got["ContentType"] == "application/json"
    assert "CacheControl" not in got


def test_copy_onto_itself(s3, bucket, src):
    # Without changes: refused.
    assert error_of(s3.copy_object, Bucket=bucket, Key=src["Key"], CopySource=src) == (400, "InvalidRequest")
    # With REPLACE: the usual way to change metadata in place.
    s3.copy_object(Bucket=bucket, Key=src["Key"], CopySource=src, MetadataDirective="REPLACE",
                   Metadata={"colour": "red"}, ContentType="text/plain")  # fmt: skip
    got = s3.get_object(Bucket=bucket, Key=src["Key"])
    assert got["Body"].read() == b"source body"
    assert got["Metadata"] == {"colour": "red"}


def test_copy_large_object_across_buckets(s3, bucket, request):
    from e2e_util import unique_bucket_name

    other = unique_bucket_name("copydst")
    s3.create_bucket(Bucket=other)
    try:
        data = os.urandom(20 * MiB + 3)
        s3.put_object(Bucket=bucket, Key="big", Body=data)
        s3.copy_object(Bucket=other, Key="big", CopySource={"Bucket": bucket, "Key": "big"})
        assert s3.get_object(Bucket=other, Key="big")["Body"].read() == data
    finally:
        s3.delete_object(Bucket=other, Key="big")
        s3.delete_bucket(Bucket=other)


def test_copy_source_conditions(s3, bucket, src):
    etag = etag_of(b"source body")
    past = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    ok = [dict(CopySourceIfMatch=etag), dict(CopySourceIfNoneMatch='"other"'),
          dict(CopySourceIfModifiedSince=past), dict(CopySourceIfUnmodifiedSince=future)]  # fmt: skip
    for kw in ok:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, **kw)
    failing = [dict(CopySourceIfMatch='"other"'), dict(CopySourceIfNoneMatch=etag),
               dict(CopySourceIfModifiedSince=future), dict(CopySourceIfUnmodifiedSince=past)]  # fmt: skip
    for kw in failing:
        assert error_of(s3.copy_object, Bucket=bucket, Key="dst2", CopySource=src, **kw) == (
            412, "PreconditionFailed"), kw
    assert error_of(s3.head_object, Bucket=bucket, Key="dst2")[0] == 404


def test_copy_errors(s3, bucket, gateway):
    assert error_of(s3.copy_object, Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "missing"}) == (
        404, "NoSuchKey")
    assert error_of(s3.copy_object, Bucket=bucket, Key="d",
                    CopySource={"Bucket": "no-such-bucket-cp", "Key": "k"}) == (404, "NoSuchBucket")  # fmt: skip
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert error_of(s3.copy_object, Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "k"},
                    MetadataDirective="MOVE") == (400, "InvalidArgument")  # fmt: skip
    r = signed_request(gateway, "PUT", f"/{bucket}/d", {"x-amz-copy-source": "justabucket"})
    assert (r.status, r.code) == (400, "InvalidArgument")
    r = signed_request(gateway, "PUT", f"/{bucket}/d", {"x-amz-copy-source": f"/{bucket}/k?versionId=abc"})
    assert (r.status, r.code) == (404, "NoSuchVersion")
    r = signed_request(gateway, "PUT", f"/{bucket}/d", {"x-amz-copy-source": f"/{bucket}/k?versionId=null"})
    assert r.status == 200


def test_upload_part_copy_ranges(s3, bucket):
    data = os.urandom(12 * MiB)
    s3.put_object(Bucket=bucket, Key="whole", Body=data)
    src = {"Bucket": bucket, "Key": "whole"}
    up = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=1, CopySource=src,
                             CopySourceRange=f"bytes=0-{6 * MiB - 1}")  # fmt: skip
    assert p1["CopyPartResult"]["ETag"] == etag_of(data[: 6 * MiB])
    p2 = s3.upload_part(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=2, Body=b"middle")
    p3 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=3, CopySource=src,
                             CopySourceRange=f"bytes={10 * MiB}-{12 * MiB - 1}")  # fmt: skip
    for bad in [f"bytes=0-{12 * MiB}", "bytes=5-1", "bits=0-1", "bytes=-5"]:
        assert error_of(s3.upload_part_copy, Bucket=bucket, Key="assembled", UploadId=up, PartNumber=4,
                        CopySource=src, CopySourceRange=bad) == (400, "InvalidArgument"), bad  # fmt: skip
    assert error_of(s3.upload_part_copy, Bucket=bucket, Key="assembled", UploadId=up, PartNumber=4, CopySource=src,
                    CopySourceIfMatch='"nope"') == (412, "PreconditionFailed")  # fmt: skip
    # Part 2 is small, so it must be last: complete with parts 1 and 3 first fails...
    parts = [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
             {"PartNumber": 2, "ETag": p2["ETag"]},
             {"PartNumber": 3, "ETag": p3["CopyPartResult"]["ETag"]}]  # fmt: skip
    assert error_of(s3.complete_multipart_upload, Bucket=bucket, Key="assembled", UploadId=up,
                    MultipartUpload={"Parts": parts}) == (400, "EntityTooSmall")  # fmt: skip
    # ...and a whole-object copy as part 2 fixes it.
    p2 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=2, CopySource=src)
    parts[1]["ETag"] = p2["CopyPartResult"]["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=up, MultipartUpload={"Parts": parts})
    want = data[: 6 * MiB] + data + data[10 * MiB :]
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == want


def test_delete_objects(s3, bucket):
    keys = [f"k{i}" for i in range(30)] + ["a b/é"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys + ["missing"]]})
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(keys + ["missing"])
    assert "Errors" not in r
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.put_object(Bucket=bucket, Key="q", Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "q"}], "Quiet": True})
    assert "Deleted" not in r and "Errors" not in r
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_keeps_spaces_in_keys(s3, bucket):
    """Keys are taken as sent: " lead" is not "lead" (which must survive)."""
    keys = [" lead", "trail ", " both "]
    for k in keys + ["lead", "trail", "both"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"1")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(keys)
    assert "Errors" not in r
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["both", "lead", "trail"]


def test_delete_objects_limits_and_errors(s3, bucket, gateway):
    too_many = {"Objects": [{"Key": f"k{i}"} for i in range(1001)]}
    assert error_of(s3.delete_objects, Bucket=bucket, Delete=too_many) == (400, "MalformedXML")
    assert error_of(s3.delete_objects, Bucket="no-such-bucket-del", Delete={"Objects": [{"Key": "a"}]}) == (
        404, "NoSuchBucket")
    import base64
    import hashlib

    for body in [b"<Delete>", b"<Delete></Delete>", b"garbage"]:
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        r = signed_request(gateway, "POST", f"/{bucket}?delete", {"Content-MD5": md5}, body=body)
        assert (r.status, r.code) == (400, "MalformedXML"), body
    # A key S3 cannot have is an error for that key only.
    s3.put_object(Bucket=bucket, Key="fine", Body=b"x")
    body = b"<Delete><Object><Key>fine</Key></Object><Object><Key></Key></Object></Delete>"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    r = signed_request(gateway, "POST", f"/{bucket}?delete", {"Content-MD5": md5}, body=body)
    assert r.status == 200
    assert b"<Deleted><Key>fine</Key></Deleted>" in r.body
    assert b"<Error><Key></Key><Code>" in r.body


def test_aws_cli_multipart_copy_and_batch_rm(s3, bucket, aws, tmp_path):
    """`aws s3 cp` uploads 20 MiB in 8 MiB parts, copies server-side (CopyObject),
    and `rm --recursive` deletes with DeleteObjects."""
    src = tmp_path / "f.bin"
    data = os.urandom(20 * MiB)
    src.write_bytes(data)
    aws("s3", "cp", str(src), f"s3://{bucket}/cli/f.bin", config="default")
    assert s3.head_object(Bucket=bucket, Key="cli/f.bin")["ETag"].endswith('-3"')
    aws("s3", "cp", f"s3://{bucket}/cli/f.bin", f"s3://{bucket}/cli/g.bin", config="default")
    assert s3.get_object(Bucket=bucket, Key="cli/g.bin")["Body"].read() == data
    dst = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{bucket}/cli/g.bin", str(dst), config="default")
    assert dst.read_bytes() == data
    aws("s3", "rm", "--recursive", f"s3://{bucket}/cli/", config="default")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


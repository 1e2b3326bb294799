"""GetObjectAttributes with boto3 and the aws CLI: each attribute, ObjectParts
paging, errors, and its access rule (s3:GetObjectAttributes and s3:GetObject,
as AWS documents)."""

import base64
import json
import os

import pytest
from botocore.exceptions import ClientError

from conftest import delete_bucket_fully, make_s3_client, start_gateway, stop_gateway
from e2e_util import checksum_b64, client_error, etag_of, random_credentials, signed_request, unique_bucket_name

MiB = 1024 * 1024
PARTS = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"end"]
ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def composite_value(algorithm: str, parts: list[bytes]) -> str:
    """The checksum of the parts' raw checksums (GetObjectAttributes has no -N)."""
    joined = b"".join(base64.b64decode(checksum_b64(algorithm, p)) for p in parts)
    return checksum_b64(algorithm, joined)


@pytest.fixture
def multipart_object(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")["UploadId"]
    done = []
    for n, data in enumerate(PARTS, start=1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=n, Body=data, ChecksumAlgorithm="SHA256")
        done.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": done})
    return "mp"


def test_every_attribute_of_a_multipart_object(s3, bucket, multipart_object):
    got = s3.get_object_attributes(Bucket=bucket, Key=multipart_object, ObjectAttributes=ALL)
    head = s3.head_object(Bucket=bucket, Key=multipart_object)
    assert got["ETag"] == head["ETag"].strip('"')
    assert got["ETag"].endswith("-3")
    assert got["Checksum"] == {
        "ChecksumSHA256": composite_value("SHA256", PARTS),
        "ChecksumType": "COMPOSITE",
    }
    assert got["StorageClass"] == "STANDARD"
    assert got["ObjectSize"] == sum(len(p) for p in PARTS)
    assert got["LastModified"] == head["LastModified"]
    parts = got["ObjectParts"]
    assert (parts["TotalPartsCount"], parts["IsTruncated"]) == (3, False)
    assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in parts["Parts"]] == [
        (n, len(d), checksum_b64("SHA256", d)) for n, d in enumerate(PARTS, start=1)
    ]


def test_object_parts_pages(s3, bucket, multipart_object):
    first = s3.get_object_attributes(Bucket=bucket, Key=multipart_object, ObjectAttributes=["ObjectParts"], MaxParts=2)
    parts = first["ObjectParts"]
    assert [p["PartNumber"] for p in parts["Parts"]] == [1, 2]
    assert (parts["IsTruncated"], parts["NextPartNumberMarker"], parts["MaxParts"]) == (True, 2, 2)
    rest = s3.get_object_attributes(
        Bucket=bucket, Key=multipart_object, ObjectAttributes=["ObjectParts"], PartNumberMarker=2
    )["ObjectParts"]
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    assert rest["IsTruncated"] is False
    assert "ETag" not in first and "ObjectSize" not in first


def test_single_put(s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"hello", ChecksumAlgorithm="CRC32")
    got = s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=ALL)
    assert got["ETag"] == etag_of(b"hello").strip('"')
    assert got["Checksum"] == {"ChecksumCRC32": checksum_b64("CRC32", b"hello"), "ChecksumType": "FULL_OBJECT"}
    assert got["ObjectSize"] == 5
    assert "ObjectParts" not in got  # not uploaded in parts


def test_errors(gateway, s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"hello")
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert client_error(e.value) == (404, "NoSuchKey")
    resp = signed_request(gateway, "GET", f"/{bucket}/one?attributes", {"x-amz-object-attributes": "Colour"})
    assert (resp.status, resp.code) == (400, "InvalidArgument"), resp
    resp = signed_request(gateway, "GET", f"/{bucket}/one?attributes")
    assert (resp.status, resp.code) == (400, "InvalidArgument"), resp
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=["ETag"], VersionId="v1")
    assert client_error(e.value)[1] == "NoSuchVersion"


def test_aws_cli(aws, s3, bucket, multipart_object):
    out = aws(
        "s3api", "get-object-attributes", "--bucket", bucket, "--key", multipart_object,
        "--object-attributes", "ObjectSize", "ObjectParts", "--max-parts", "1",
    ).stdout
    got = json.loads(out)
    assert got["ObjectSize"] == sum(len(p) for p in PARTS)
    assert got["ObjectParts"]["TotalPartsCount"] == 3
    assert [p["PartNumber"] for p in got["ObjectParts"]["Parts"]] == [1]


def test_needs_get_object_and_get_object_attributes(tmp_path):
    users = {
        u: random_credentials()[1] for u in ("attrs", "reader", "both")
    }
    actions = {
        "attrs": ["s3:GetObjectAttributes"],
        "reader": ["s3:GetObject"],
        "both": ["s3:GetObject", "s3:GetObjectAttributes"],
    }
    doc = {
        "users": [
            {
                "access_key": u,
                "secret_key": secret,
                "policy": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": actions[u], "Resource": "arn:aws:s3:::*/*"}],
                },
            }
            for u, secret in users.items()
        ]
    }
    (tmp_path / "users.json").write_text(json.dumps(doc))
    gw = start_gateway(tmp_path, ["--users", str(tmp_path / "users.json")])
    name = unique_bucket_name("attrs")
    root = make_s3_client(gw)
    try:
        root.create_bucket(Bucket=name)
        root.put_object(Bucket=name, Key="k", Body=b"data")
        for user, allowed in [("attrs", False), ("reader", False), ("both", True)]:
            client = make_s3_client(gw, access_key=user, secret_key=users[user])
            try:
                got = client.get_object_attributes(Bucket=name, Key="k", ObjectAttributes=["ObjectSize"])
                outcome = got["ObjectSize"]
            except ClientError as e:
                outcome = client_error(e)
            assert outcome == (4 if allowed else (403, "AccessDenied")), user
        # A missing key: AccessDenied without s3:ListBucket, as for GetObject.
        both = make_s3_client(gw, access_key="both", secret_key=users["both"])
        with pytest.raises(ClientError) as e:
            both.get_object_attributes(Bucket=name, Key="missing", ObjectAttributes=["ObjectSize"])
        assert client_error(e.value) == (403, "AccessDenied")
    finally:
        delete_bucket_fully(root, name)
        stop_gateway(gw)

"""Checksums of multipart uploads as current SDKs use them, and part reads:
CreateMultipartUpload with ChecksumAlgorithm/ChecksumType, part checksums
checked, kept and listed, the composite (`VALUE-N`) or full-object checksum
at Complete and on GET/HEAD with ChecksumMode, and GET/HEAD with PartNumber.

Expected values are computed here independently: zlib's CRC32, hashlib's
SHAs, e2e_util's table-driven CRC32C/CRC64NVME (botocore needs awscrt for
those, which a plain `pip install boto3` lacks)."""

import base64
import hashlib
import json
import os
import struct
import zlib

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from e2e_util import checksum_b64, client_error, crc64nvme, etag_of, signed_request

MiB = 1024 * 1024
# Two full parts and a short last one.
PARTS = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]


def raw(algorithm: str, data: bytes) -> bytes:
    return base64.b64decode(checksum_b64(algorithm, data))


def composite(algorithm: str, parts: list[bytes]) -> str:
    """S3's composite checksum: the checksum of the part checksums, -N."""
    joined = b"".join(raw(algorithm, p) for p in parts)
    return f"{checksum_b64(algorithm, joined)}-{len(parts)}"


def upload_parts(s3, bucket, key, algorithm, parts, checksum_type=None, send_part_values=False):
    extra = {"ChecksumType": checksum_type} if checksum_type else {}
    create = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, **extra)
    assert create["ChecksumAlgorithm"] == algorithm
    up = create["UploadId"]
    done = []
    for i, data in enumerate(parts, start=1):
        field = f"Checksum{algorithm}"
        value = checksum_b64(algorithm, data)
        # botocore computes CRC32/SHA* itself; CRC64NVME/CRC32C values are given.
        args = {field: value} if send_part_values else {"ChecksumAlgorithm": algorithm}
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=i, Body=data, **args)
        assert r["ETag"] == etag_of(data)
        assert r[field] == value
        done.append({"PartNumber": i, "ETag": r["ETag"], field: value})
    return up, done


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA256"])
def test_composite_checksum(s3, bucket, algorithm):
    up, done = upload_parts(s3, bucket, "comp", algorithm, PARTS)
    listed = s3.list_parts(Bucket=bucket, Key="comp", UploadId=up)
    assert listed["ChecksumAlgorithm"] == algorithm
    assert listed["ChecksumType"] == "COMPOSITE"
    assert [p[f"Checksum{algorithm}"] for p in listed["Parts"]] == [
        checksum_b64(algorithm, p) for p in PARTS
    ]
    want = composite(algorithm, PARTS)
    result = s3.complete_multipart_upload(
        Bucket=bucket, Key="comp", UploadId=up, MultipartUpload={"Parts": done}
    )
    assert result[f"Checksum{algorithm}"] == want
    assert result["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="comp", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == want
    assert head["ChecksumType"] == "COMPOSITE"
    got = s3.get_object(Bucket=bucket, Key="comp", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == want
    assert got["Body"].read() == b"".join(PARTS)
    # Without ChecksumMode no checksum is sent.
    assert f"Checksum{algorithm}" not in s3.head_object(Bucket=bucket, Key="comp")
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["ChecksumAlgorithm"], o["ChecksumType"]) for o in listed] == [
        ("comp", [algorithm], "COMPOSITE")
    ]


@pytest.mark.parametrize("algorithm", ["CRC64NVME", "CRC32", "CRC32C"])
def test_full_object_checksum(s3, bucket, algorithm):
    # CRC64NVME is FULL_OBJECT by default; CRC32/CRC32C must ask for it.
    kind = None if algorithm == "CRC64NVME" else "FULL_OBJECT"
    up, done = upload_parts(s3, bucket, "full", algorithm, PARTS, kind, send_part_values=True)
    listed = s3.list_parts(Bucket=bucket, Key="full", UploadId=up)
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == (algorithm, "FULL_OBJECT")
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["UploadId"], u["ChecksumAlgorithm"], u["ChecksumType"]) for u in uploads] == [
        (up, algorithm, "FULL_OBJECT")
    ]
    result = s3.complete_multipart_upload(
        Bucket=bucket, Key="full", UploadId=up, MultipartUpload={"Parts": done}
    )
    want = checksum_b64(algorithm, b"".join(PARTS))
    assert result[f"Checksum{algorithm}"] == want
    assert result["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert (head[f"Checksum{algorithm}"], head["ChecksumType"]) == (want, "FULL_OBJECT")
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["ChecksumAlgorithm"], o["ChecksumType"]) for o in listed] == [([algorithm], "FULL_OBJECT")]
    assert s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")["Body"].read() == b"".join(PARTS)


def test_crc64nvme_reference_value():
    # The CRC-64/NVME check value, so the expected values above are right.
    assert crc64nvme(b"123456789") == 0xAE8B14860A799888
    assert base64.b64decode(checksum_b64("CRC64NVME", b"123456789")) == struct.pack(
        ">Q", 0xAE8B14860A799888
    )


def test_wrong_part_checksum_is_refused(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="bad", ChecksumAlgorithm="SHA256")["UploadId"]
    wrong = checksum_b64("SHA256", b"not the part")
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="bad", UploadId=up, PartNumber=1, Body=b"part", ChecksumSHA256=wrong)
    assert client_error(e.value) == (400, "BadDigest")
    # A part of another algorithm than the upload declared is refused too.
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="bad", UploadId=up, PartNumber=1, Body=b"part", ChecksumAlgorithm="CRC32")
    assert client_error(e.value) == (400, "InvalidRequest")
    assert s3.list_parts(Bucket=bucket, Key="bad", UploadId=up).get("Parts", []) == []
    # A Complete naming a checksum the part does not have is InvalidPart.
    r = s3.upload_part(Bucket=bucket, Key="bad", UploadId=up, PartNumber=1, Body=b"part", ChecksumAlgorithm="SHA256")
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="bad", UploadId=up,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumSHA256": wrong}]},
        )
    assert client_error(e.value) == (400, "InvalidPart")
    # A composite upload's Complete must give every part's checksum.
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="bad", UploadId=up,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]},
        )
    assert client_error(e.value) == (400, "InvalidRequest")
    ok = s3.complete_multipart_upload(
        Bucket=bucket, Key="bad", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]}]},
    )
    assert ok["ChecksumSHA256"] == composite("SHA256", [b"part"])


@pytest.mark.parametrize(
    "algorithm,kind",
    [("SHA256", "FULL_OBJECT"), ("SHA1", "FULL_OBJECT"), ("CRC64NVME", "COMPOSITE"), ("MD5", None)],
)
def test_invalid_checksum_declarations(gateway, bucket, algorithm, kind):
    headers = {"x-amz-checksum-algorithm": algorithm}
    if kind:
        headers["x-amz-checksum-type"] = kind
    resp = signed_request(gateway, "POST", f"/{bucket}/k?uploads", headers)
    assert (resp.status, resp.code) == (400, "InvalidRequest"), resp


def test_checksum_type_without_algorithm(gateway, bucket):
    resp = signed_request(gateway, "POST", f"/{bucket}/k?uploads", {"x-amz-checksum-type": "COMPOSITE"})
    assert (resp.status, resp.code) == (400, "InvalidRequest"), resp


def test_transfer_manager_default_checksums(s3, bucket, tmp_path):
    """upload_file with current boto3's defaults (CRC32 on every part), then
    a download: the object's checksum is what S3 would report."""
    data = b"".join(PARTS)
    src = tmp_path / "src"
    src.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                         preferred_transfer_client="classic")
    s3.upload_file(str(src), bucket, "tm", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="tm", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data)
    if "ChecksumCRC32" in head:  # s3transfer declared CRC32 at Create
        assert head["ChecksumCRC32"] in (composite("CRC32", PARTS), checksum_b64("CRC32", data))
    dst = tmp_path / "dst"
    s3.download_file(bucket, "tm", str(dst), Config=cfg)
    assert dst.read_bytes() == data


def test_get_and_head_part_number(s3, bucket):
    up, done = upload_parts(s3, bucket, "mp", "CRC32", PARTS)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={"Parts": done})
    total = sum(len(p) for p in PARTS)
    offset = 0
    for n, data in enumerate(PARTS, start=1):
        got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["PartsCount"] == 3
        assert got["ContentLength"] == len(data)
        assert got["ContentRange"] == f"bytes {offset}-{offset + len(data) - 1}/{total}"
        assert got["ETag"].endswith('-3"')
        assert got["Body"].read() == data
        head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert (head["PartsCount"], head["ContentLength"]) == (3, len(data))
        assert head["ContentRange"] == got["ContentRange"]
        offset += len(data)
    # With ChecksumMode, a composite object's part read carries the part's
    # checksum, which botocore validates against the part's bytes.
    part2 = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2, ChecksumMode="ENABLED")
    assert part2["ChecksumCRC32"] == checksum_b64("CRC32", PARTS[1])
    assert part2["Body"].read() == PARTS[1]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=4)
    assert client_error(e.value) == (416, "InvalidPartNumber")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="mp", PartNumber=4)
    assert client_error(e.value)[0] == 416


def test_part_number_of_a_single_put(s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="one", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == "bytes 0-9/10"
    assert "PartsCount" not in got
    assert got["Body"].read() == b"0123456789"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="one", PartNumber=2)
    assert client_error(e.value) == (416, "InvalidPartNumber")


def test_part_number_errors(gateway, s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"0123456789")
    for bad in ["0", "10001", "x"]:
        resp = signed_request(gateway, "GET", f"/{bucket}/one?partNumber={bad}")
        assert (resp.status, resp.code) == (400, "InvalidArgument"), resp
    resp = signed_request(gateway, "GET", f"/{bucket}/one?partNumber=1", {"Range": "bytes=0-1"})
    assert (resp.status, resp.code) == (400, "InvalidRequest"), resp
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing", PartNumber=1)
    assert client_error(e.value) == (404, "NoSuchKey")


def test_parts_numbered_in_the_completed_object(s3, bucket):
    """Parts uploaded as 2 and 7 are parts 1 and 2 of the object."""
    a, b = os.urandom(5 * MiB), b"last"
    up = s3.create_multipart_upload(Bucket=bucket, Key="gaps")["UploadId"]
    ra = s3.upload_part(Bucket=bucket, Key="gaps", UploadId=up, PartNumber=2, Body=a)
    rb = s3.upload_part(Bucket=bucket, Key="gaps", UploadId=up, PartNumber=7, Body=b)
    s3.complete_multipart_upload(
        Bucket=bucket, Key="gaps", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": ra["ETag"]}, {"PartNumber": 7, "ETag": rb["ETag"]}]},
    )
    assert s3.get_object(Bucket=bucket, Key="gaps", PartNumber=2)["Body"].read() == b
    assert s3.head_object(Bucket=bucket, Key="gaps", PartNumber=1)["ContentLength"] == len(a)


def test_zlib_reference():
    assert checksum_b64("CRC32", b"abc") == base64.b64encode(struct.pack(">I", zlib.crc32(b"abc"))).decode()
    assert checksum_b64("SHA256", b"abc") == base64.b64encode(hashlib.sha256(b"abc").digest()).decode()


def test_upload_part_copy_gets_the_declared_checksum(s3, bucket):
    """S3 computes a copied part's checksum for an upload that declared one."""
    src = os.urandom(5 * MiB + 100)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    up = s3.create_multipart_upload(Bucket=bucket, Key="copied", ChecksumAlgorithm="SHA256")["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key="copied", UploadId=up, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    first = src[: 5 * MiB]
    assert r1["CopyPartResult"]["ChecksumSHA256"] == checksum_b64("SHA256", first)
    r2 = s3.upload_part(Bucket=bucket, Key="copied", UploadId=up, PartNumber=2, Body=b"tail", ChecksumAlgorithm="SHA256")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="copied", UploadId=up,
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"], "ChecksumSHA256": r1["CopyPartResult"]["ChecksumSHA256"]},
            {"PartNumber": 2, "ETag": r2["ETag"], "ChecksumSHA256": r2["ChecksumSHA256"]},
        ]},
    )
    assert done["ChecksumSHA256"] == composite("SHA256", [first, b"tail"])
    assert s3.get_object(Bucket=bucket, Key="copied")["Body"].read() == first + b"tail"


def test_complete_checks_the_expected_object_checksum(s3, bucket):
    """A Complete may say which object checksum (and type) it expects."""
    data = [os.urandom(5 * MiB), b"rest"]
    up, done = upload_parts(s3, bucket, "exp", "CRC64NVME", data, send_part_values=True)
    whole = checksum_b64("CRC64NVME", b"".join(data))

    def complete(**kw):
        return s3.complete_multipart_upload(
            Bucket=bucket, Key="exp", UploadId=up, MultipartUpload={"Parts": done}, **kw
        )

    with pytest.raises(ClientError) as e:
        complete(ChecksumCRC64NVME=checksum_b64("CRC64NVME", b"other"), ChecksumType="FULL_OBJECT")
    assert client_error(e.value) == (400, "BadDigest")
    with pytest.raises(ClientError) as e:
        complete(ChecksumType="COMPOSITE")
    assert client_error(e.value) == (400, "InvalidRequest")
    # The refusals left the upload open; the right value completes it.
    result = complete(ChecksumCRC64NVME=whole, ChecksumType="FULL_OBJECT")
    assert result["ChecksumCRC64NVME"] == whole
    assert s3.get_object(Bucket=bucket, Key="exp")["Body"].read() == b"".join(data)


def test_aws_cli_multipart_checksum_and_part_reads(aws, s3, bucket, tmp_path):
    """`aws s3 cp --checksum-algorithm SHA256` of a multipart-sized file, then
    `s3api head-object` with --checksum-mode and --part-number."""
    data = os.urandom(9 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    aws("s3", "cp", str(src), f"s3://{bucket}/big.bin", "--checksum-algorithm", "SHA256", config="default")
    head = json.loads(
        aws("s3api", "head-object", "--bucket", bucket, "--key", "big.bin", "--checksum-mode", "ENABLED").stdout
    )
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-2"')  # the CLI's 8 MiB parts
    parts = [data[: 8 * MiB], data[8 * MiB :]]
    assert (head["ChecksumSHA256"], head["ChecksumType"]) == (composite("SHA256", parts), "COMPOSITE")
    part = json.loads(
        aws("s3api", "head-object", "--bucket", bucket, "--key", "big.bin", "--part-number", "2").stdout
    )
    assert (part["ContentLength"], part["PartsCount"]) == (len(parts[1]), 2)
    out = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{bucket}/big.bin", str(out))
    assert out.read_bytes() == data

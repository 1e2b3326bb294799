"""Integrity: flexible checksums (x-amz-checksum-*), Content-MD5,
x-amz-content-sha256, aws-chunked streaming uploads (signed chunks, signed and
unsigned trailers), non-seekable uploads."""

import io
import os
import zlib

import pytest
from boto3.s3.transfer import TransferConfig
from botocore import httpchecksum
from botocore.exceptions import ClientError

from e2e_util import (
    EMPTY_SHA256,
    checksum_b64,
    chunk_signatures,
    client_error,
    etag_of,
    md5_b64,
    signed_request,
    signed_streaming_put,
    signing_key,
    split_chunks,
    trailer_signature,
    unsigned_trailer_put,
)

ALGORITHMS = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]
DATA = os.urandom(200_000) + b"tail"


def _head_checksum(s3, bucket, key, algorithm):
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    return head.get(f"Checksum{algorithm}")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_boto3_checksum_algorithm(s3, bucket, algorithm):
    if algorithm.lower() not in httpchecksum._SUPPORTED_CHECKSUM_ALGORITHMS:
        pytest.skip(f"botocore cannot compute {algorithm} without awscrt (see the raw-header test)")
    expected = checksum_b64(algorithm, DATA)
    put = s3.put_object(Bucket=bucket, Key="c", Body=DATA, ChecksumAlgorithm=algorithm)
    assert put.get(f"Checksum{algorithm}") == expected
    assert put["ETag"] == etag_of(DATA)
    assert _head_checksum(s3, bucket, "c", algorithm) == expected
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got.get(f"Checksum{algorithm}") == expected
    assert got["Body"].read() == DATA  # botocore also validates the checksum while reading


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_checksum_header_raw(gateway, s3, bucket, algorithm):
    """x-amz-checksum-<alg> sent as a header (how SDKs send it over plain HTTP)."""
    value = checksum_b64(algorithm, DATA)
    resp = signed_request(
        gateway, "PUT", f"/{bucket}/raw-{algorithm}", {f"x-amz-checksum-{algorithm.lower()}": value}, DATA
    )
    assert resp.status == 200, resp
    assert resp.header(f"x-amz-checksum-{algorithm.lower()}") == value
    head = signed_request(gateway, "HEAD", f"/{bucket}/raw-{algorithm}", {"x-amz-checksum-mode": "ENABLED"})
    assert head.header(f"x-amz-checksum-{algorithm.lower()}") == value


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_checksum_header_mismatch(gateway, s3, bucket, algorithm):
    wrong = checksum_b64(algorithm, DATA + b"x")
    resp = signed_request(
        gateway, "PUT", f"/{bucket}/bad-{algorithm}", {f"x-amz-checksum-{algorithm.lower()}": wrong}, DATA
    )
    assert (resp.status, resp.code) == (400, "BadDigest"), resp
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=f"bad-{algorithm}")
    assert client_error(e.value)[0] == 404, "a rejected upload must not leave an object"


def test_checksum_header_malformed(gateway, bucket):
    resp = signed_request(gateway, "PUT", f"/{bucket}/m", {"x-amz-checksum-crc32": "not base64!!"}, DATA)
    assert (resp.status, resp.code) == (400, "InvalidRequest"), resp


def test_boto3_default_upload_stores_crc32(s3, bucket):
    """Current botocore sends a CRC32 with every PutObject by default."""
    s3.put_object(Bucket=bucket, Key="d", Body=DATA)
    assert _head_checksum(s3, bucket, "d", "CRC32") == checksum_b64("CRC32", DATA)
    assert s3.get_object(Bucket=bucket, Key="d")["Body"].read() == DATA


def test_overwrite_without_checksum_drops_old_checksum(gateway, s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"first", ChecksumAlgorithm="SHA256")
    resp = signed_request(gateway, "PUT", f"/{bucket}/o", {}, b"second")
    assert resp.status == 200
    head = s3.head_object(Bucket=bucket, Key="o", ChecksumMode="ENABLED")
    assert head.get("ChecksumSHA256") in (None, checksum_b64("SHA256", b"second"))


class _NonSeekable(io.RawIOBase):
    def __init__(self, data: bytes):
        self._src = io.BytesIO(data)

    def readable(self):
        return True

    def seekable(self):
        return False

    def readinto(self, b):
        n = self._src.readinto(memoryview(b)[: min(len(b), 4096)])
        return n


def test_upload_fileobj_non_seekable(s3, bucket):
    data = os.urandom(3 * 1024 * 1024 + 17)
    cfg = TransferConfig(multipart_threshold=64 * 1024 * 1024, preferred_transfer_client="classic")
    s3.upload_fileobj(_NonSeekable(data), bucket, "stream", Config=cfg)
    got = s3.get_object(Bucket=bucket, Key="stream")
    assert got["ContentLength"] == len(data)
    assert got["Body"].read() == data


def test_content_md5_mismatch(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"payload", ContentMD5=md5_b64(b"other"))
    assert client_error(e.value) == (400, "BadDigest")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="md5")
    assert client_error(e.value)[0] == 404


@pytest.mark.parametrize("value", ["not-base64!", "YWJj"])  # garbage; valid base64 of 3 bytes
def test_content_md5_invalid(gateway, bucket, value):
    resp = signed_request(gateway, "PUT", f"/{bucket}/md5", {"Content-MD5": value}, b"payload")
    assert (resp.status, resp.code) == (400, "InvalidDigest"), resp


def test_content_sha256_mismatch(gateway, s3, bucket):
    """Body changed after signing: the signed x-amz-content-sha256 no longer matches."""
    resp = signed_request(gateway, "PUT", f"/{bucket}/sha", body=b"original", send_body=b"tampered")
    assert (resp.status, resp.code) == (400, "XAmzContentSHA256Mismatch"), resp
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="sha")
    assert client_error(e.value)[0] == 404


def test_content_sha256_invalid_value(gateway, bucket):
    resp = signed_request(gateway, "PUT", f"/{bucket}/sha", body=b"x", payload_hash="nonsense")
    assert resp.status == 400, resp
    assert resp.code in ("InvalidArgument", "XAmzContentSHA256Mismatch", "InvalidRequest"), resp


# --------------------------------------------------------------------------
# aws-chunked


def test_chunk_signer_matches_aws_documentation():
    """Guards the test helper itself with the published AWS example."""
    key = signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1")
    chunks = split_chunks(b"a" * 66560, 65536) + [b""]
    scope = "20130524/us-east-1/s3/aws4_request"
    sigs = chunk_signatures(
        key, "20130524T000000Z", scope, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9", chunks
    )
    assert sigs[-1] == "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
    sigs = chunk_signatures(
        key, "20130524T000000Z", scope, "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e", chunks
    )
    assert checksum_b64("CRC32C", b"a" * 66560) == "sOO8/Q=="
    tsig = trailer_signature(key, "20130524T000000Z", scope, sigs[-1], b"x-amz-checksum-crc32c:sOO8/Q==\n")
    assert tsig == "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
    assert EMPTY_SHA256.startswith("e3b0c442")


@pytest.mark.parametrize("size,chunk", [(0, 65536), (1, 65536), (66560, 65536), (300_000, 8192)])
def test_signed_streaming_upload(gateway, s3, bucket, size, chunk):
    data = os.urandom(size)
    resp = signed_streaming_put(gateway, f"/{bucket}/chunked", data, chunk_size=chunk)
    assert resp.status == 200, resp
    assert resp.header("ETag") == etag_of(data)
    got = s3.get_object(Bucket=bucket, Key="chunked")
    assert got["ContentLength"] == size
    assert got["Body"].read() == data


def test_signed_streaming_keeps_metadata(gateway, s3, bucket):
    data = os.urandom(70000)
    resp = signed_streaming_put(
        gateway, f"/{bucket}/meta", data, extra_headers={"Content-Type": "text/csv", "x-amz-meta-origin": "mc"}
    )
    assert resp.status == 200, resp
    head = s3.head_object(Bucket=bucket, Key="meta")
    assert head["ContentType"] == "text/csv"
    assert head["Metadata"] == {"origin": "mc"}
    assert head["ContentLength"] == len(data)
    assert head.get("ContentEncoding") in (None, ""), "aws-chunked is a transfer detail, not stored"


@pytest.mark.parametrize("bad", [0, 1, 2], ids=["first-chunk", "second-chunk", "final-chunk"])
def test_signed_streaming_bad_chunk_signature(gateway, s3, bucket, bad):
    data = os.urandom(66560)
    resp = signed_streaming_put(gateway, f"/{bucket}/tampered", data, chunk_size=65536, corrupt_chunk=bad)
    assert (resp.status, resp.code) == (403, "SignatureDoesNotMatch"), resp
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="tampered")
    assert client_error(e.value)[0] == 404, "a rejected stream must not leave an object"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA256", "CRC64NVME"])
def test_signed_streaming_with_trailer(gateway, s3, bucket, algorithm):
    data = os.urandom(100_000)
    name = f"x-amz-checksum-{algorithm.lower()}"
    resp = signed_streaming_put(gateway, f"/{bucket}/t", data, trailer=(name, checksum_b64(algorithm, data)))
    assert resp.status == 200, resp
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == data
    assert _head_checksum(s3, bucket, "t", algorithm) == checksum_b64(algorithm, data)


def test_signed_streaming_trailer_mismatch(gateway, s3, bucket):
    data = os.urandom(100_000)
    resp = signed_streaming_put(
        gateway, f"/{bucket}/t", data, trailer=("x-amz-checksum-crc32", checksum_b64("CRC32", b"other"))
    )
    assert (resp.status, resp.code) == (400, "BadDigest"), resp
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="t")


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "CRC64NVME"])
def test_unsigned_trailer_upload(gateway, s3, bucket, algorithm):
    """What boto3 / aws CLI send over HTTPS by default (STREAMING-UNSIGNED-PAYLOAD-TRAILER)."""
    data = os.urandom(150_000)
    name = f"x-amz-checksum-{algorithm.lower()}"
    resp = unsigned_trailer_put(gateway, f"/{bucket}/u", data, (name, checksum_b64(algorithm, data)))
    assert resp.status == 200, resp
    assert resp.header("ETag") == etag_of(data)
    assert s3.get_object(Bucket=bucket, Key="u")["Body"].read() == data
    assert _head_checksum(s3, bucket, "u", algorithm) == checksum_b64(algorithm, data)


def test_unsigned_trailer_mismatch(gateway, s3, bucket):
    data = os.urandom(150_000)
    wrong = checksum_b64("CRC32", data[:-1])
    resp = unsigned_trailer_put(gateway, f"/{bucket}/u", data, ("x-amz-checksum-crc32", wrong))
    assert (resp.status, resp.code) == (400, "BadDigest"), resp
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="u")


def test_decoded_content_length_mismatch(gateway, s3, bucket):
    """x-amz-decoded-content-length that disagrees with the chunks is an error, not a short object."""
    data = os.urandom(5000)
    resp = signed_streaming_put(
        gateway, f"/{bucket}/len", data, extra_headers={"X-Amz-Decoded-Content-Length": "6000"}
    )
    assert resp.status == 400, resp
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="len")


def test_crc_helpers_known_values():
    assert zlib.crc32(b"123456789") == 0xCBF43926
    assert checksum_b64("CRC32C", b"123456789") == "4waSgw=="
    assert checksum_b64("CRC64NVME", b"123456789") == "rosUhgp5mIg="

"""The azure backend shares its storage account with other Azure tools: blobs
written with the Azure SDK are served through S3 with their content type and
a usable ETag, objects written through S3 are plain block blobs that the SDK
reads with their content type, MD5 and metadata, nothing is ever served stale,
and listings continue across gateway processes.

Runs only with BLOBGATE_TEST_BACKEND=azure (the azure_blob fixture skips
otherwise); the SDK client uses the same account and credentials as the
gateway.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import os

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobType, ContentSettings
from botocore.exceptions import ClientError

from conftest import make_s3_client
from e2e_util import client_error, etag_of, md5_b64, reference_entries, utf8_sorted


@pytest.fixture
def container(azure_blob, bucket):
    """The Azure container behind this test's bucket."""
    return azure_blob.get_container_client(bucket)


def _sdk_put_with_md5(container, key: str, data: bytes, content_type: str, metadata: dict[str, str]):
    """Single Put Blob with an explicit Content-MD5."""
    settings = ContentSettings(content_type=content_type, content_md5=bytearray(hashlib.md5(data).digest()))
    container.upload_blob(key, data, content_settings=settings, metadata=metadata, overwrite=True)
    return container.get_blob_client(key).get_blob_properties()


def _sdk_put_without_md5(container, key: str, chunks: list[bytes], content_type: str, metadata: dict[str, str]):
    """A block blob staged block by block and committed without any Content-MD5
    (what AzCopy and the SDKs' parallel uploads leave behind)."""
    blob = container.get_blob_client(key)
    ids = []
    for i, chunk in enumerate(chunks):
        block_id = base64.b64encode(f"block-{i:06d}".encode()).decode()
        blob.stage_block(block_id, chunk)
        ids.append(BlobBlock(block_id=block_id))
    blob.commit_block_list(ids, content_settings=ContentSettings(content_type=content_type), metadata=metadata)
    props = blob.get_blob_properties()
    assert not props.content_settings.content_md5, "test setup: the blob was meant to have no Content-MD5"
    return props


def _azure_etag_as_s3(props) -> str:
    """The S3 ETag the contract gives a blob without Content-MD5."""
    return '"' + props.etag.strip('"') + '-1"'


# --------------------------------------------------------------------------
# (a) blobs written by the Azure SDK, read through S3


def test_sdk_blob_with_md5_served_through_s3(s3, bucket, container):
    data = b"id,name\n1,alpha\n2,beta\n"
    key = "from-sdk/daten ü.csv"
    _sdk_put_with_md5(container, key, data, "text/csv", {"origin": "sdk", "team": "data"})

    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [(key, len(data), etag_of(data))]

    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == data
    assert got["ContentType"] == "text/csv"
    assert got["ContentLength"] == len(data)
    assert got["ETag"] == etag_of(data)
    assert got["Metadata"] == {"origin": "sdk", "team": "data"}
    head = s3.head_object(Bucket=bucket, Key=key)
    assert (head["ETag"], head["ContentType"], head["Metadata"]) == (etag_of(data), "text/csv", got["Metadata"])
    ranged = s3.get_object(Bucket=bucket, Key=key, Range="bytes=3-6")
    assert ranged["Body"].read() == data[3:7]


def test_sdk_blob_without_md5_served_through_s3(s3, bucket, container):
    chunks = [b"first block|", b"second block|", b"third"]
    data = b"".join(chunks)
    key = "no-md5/blob.json"
    props = _sdk_put_without_md5(container, key, chunks, "application/json", {"origin": "azcopy"})
    expected_etag = _azure_etag_as_s3(props)

    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == data
    assert got["ContentType"] == "application/json"
    assert got["ETag"] == expected_etag
    assert got["Metadata"] == {"origin": "azcopy"}
    assert s3.head_object(Bucket=bucket, Key=key)["ETag"] == expected_etag
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="no-md5/")["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [(key, len(data), expected_etag)]


@pytest.mark.parametrize("with_md5", [True, False], ids=["md5", "no-md5"])
def test_sdk_blob_etag_usable_in_conditions(s3, bucket, container, with_md5):
    data = b"conditional body"
    if with_md5:
        _sdk_put_with_md5(container, "c", data, "text/plain", {})
    else:
        _sdk_put_without_md5(container, "c", [data], "text/plain", {})
    etag = s3.head_object(Bucket=bucket, Key="c")["ETag"]

    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert client_error(e.value)[0] == 304
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == data
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert client_error(e.value) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert client_error(e.value)[0] == 304


def test_container_created_by_sdk_is_a_bucket(s3, azure_blob):
    from e2e_util import unique_bucket_name

    name = unique_bucket_name("sdk-container")
    container = azure_blob.create_container(name)
    try:
        container.upload_blob("k", b"v")
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        s3.head_bucket(Bucket=name)
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]] == ["k"]
        assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
    finally:
        azure_blob.delete_container(name)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert client_error(e.value)[0] == 404


# --------------------------------------------------------------------------
# (b) objects written through S3, read by the Azure SDK


def test_s3_object_readable_by_sdk(s3, bucket, container):
    data = os.urandom(300_000)
    key = "from-s3/report 2024.bin"
    put = s3.put_object(
        Bucket=bucket, Key=key, Body=data, ContentType="application/x-report",
        Metadata={"color": "blue", "owner": "data-team"},
    )  # fmt: skip
    assert put["ETag"] == etag_of(data)

    blob = container.get_blob_client(key)
    assert blob.download_blob().readall() == data
    props = blob.get_blob_properties()
    assert props.blob_type == BlobType.BLOCKBLOB
    assert props.size == len(data)
    assert props.content_settings.content_type == "application/x-report"
    assert bytes(props.content_settings.content_md5 or b"") == hashlib.md5(data).digest()
    assert props.metadata.get("bgm_color") == "blue", props.metadata
    assert props.metadata.get("bgm_owner") == "data-team", props.metadata
    assert [b.name for b in container.list_blobs()] == [key]


def test_s3_metadata_round_trips_via_sdk_names(s3, bucket, container):
    """What the gateway stores for user metadata is read back the same way
    after another tool rewrote the blob's other properties."""
    s3.put_object(Bucket=bucket, Key="m", Body=b"x", Metadata={"color": "blue"})
    blob = container.get_blob_client("m")
    md5 = bytearray(hashlib.md5(b"x").digest())
    blob.set_http_headers(ContentSettings(content_type="text/x-changed", content_md5=md5))
    head = s3.head_object(Bucket=bucket, Key="m")
    assert head["ContentType"] == "text/x-changed"
    assert head["Metadata"] == {"color": "blue"}
    assert head["ETag"] == etag_of(b"x")


def test_empty_object_via_s3(s3, bucket, container):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    props = container.get_blob_client("empty").get_blob_properties()
    assert props.size == 0
    assert bytes(props.content_settings.content_md5 or b"") == hashlib.md5(b"").digest()
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""


# --------------------------------------------------------------------------
# (c) writes outside the gateway are never served stale


def test_overwrite_outside_gateway_is_seen(s3, bucket, container):
    s3.put_object(Bucket=bucket, Key="o", Body=b"old through s3", ContentType="text/plain")
    old = s3.get_object(Bucket=bucket, Key="o")
    assert old["Body"].read() == b"old through s3"
    old_etag = old["ETag"]

    for i in range(3):
        new = f"new from the sdk, round {i}".encode()
        if i % 2 == 0:
            _sdk_put_with_md5(container, "o", new, "text/x-new", {"round": str(i)})
            new_etag = etag_of(new)
        else:
            new_etag = _azure_etag_as_s3(_sdk_put_without_md5(container, "o", [new], "text/x-new", {"round": str(i)}))
        got = s3.get_object(Bucket=bucket, Key="o")
        assert got["Body"].read() == new
        assert got["ETag"] == new_etag != old_etag
        assert got["Metadata"] == {"round": str(i)}
        assert got["ContentType"] == "text/x-new"
        head = s3.head_object(Bucket=bucket, Key="o")
        assert (head["ETag"], head["ContentLength"]) == (new_etag, len(new))
        listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
        assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [("o", len(new), new_etag)]
        # A client revalidating its cached copy gets the new body, not 304.
        fresh = s3.get_object(Bucket=bucket, Key="o", IfNoneMatch=old_etag)
        assert fresh["Body"].read() == new
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key="o", IfMatch=old_etag)
        assert client_error(e.value) == (412, "PreconditionFailed")
        old_etag = new_etag


def test_delete_outside_gateway_is_seen(s3, bucket, container):
    s3.put_object(Bucket=bucket, Key="gone", Body=b"here")
    assert s3.get_object(Bucket=bucket, Key="gone")["Body"].read() == b"here"
    container.delete_blob("gone")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="gone")
    assert client_error(e.value) == (404, "NoSuchKey")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_range_read_during_outside_overwrite_is_not_mixed(s3, bucket, container):
    """Ranges read after an outside overwrite all come from the new blob."""
    old, new = b"A" * 100_000, b"B" * 100_000
    s3.put_object(Bucket=bucket, Key="r", Body=old)
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=0-9")["Body"].read() == b"A" * 10
    _sdk_put_with_md5(container, "r", new, "application/octet-stream", {})
    for start in (0, 50_000, 99_990):
        got = s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={start}-{start + 9}")
        assert got["Body"].read() == b"B" * 10
        assert got["ETag"] == etag_of(new)


# --------------------------------------------------------------------------
# (d) listings continue on another gateway process


LIST_KEYS = [
    *[f"logs/2024/{i:03d}.txt" for i in range(12)],
    *[f"logs/2025/{i:03d}.txt" for i in range(5)],
    *[f"top-{i:02d}" for i in range(9)],
    "ünïcödé/α",
    "ünïcödé/β",
    "with space/x",
    "z+plus",
]


@pytest.fixture
def listed_bucket(s3, bucket, container):
    """LIST_KEYS, half written through S3 and half with the Azure SDK."""

    def put(i_key):
        i, key = i_key
        if i % 2:
            s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        else:
            container.upload_blob(key, key.encode())

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, enumerate(LIST_KEYS)))
    return bucket


def _entries(page) -> list[tuple[str, bool]]:
    out = [(o["Key"], False) for o in page.get("Contents", [])]
    out += [(p["Prefix"], True) for p in page.get("CommonPrefixes", [])]
    return sorted(out, key=lambda e: e[0].encode())


@pytest.mark.parametrize(
    "args",
    [{}, {"Delimiter": "/"}, {"Prefix": "logs/"}, {"Prefix": "logs/", "Delimiter": "/"}],
    ids=["flat", "delimiter", "prefix", "prefix-delimiter"],
)
def test_v2_continuation_token_moves_to_another_process(s3, replica, listed_bucket, args):
    s3b = make_s3_client(replica)
    expected = reference_entries(LIST_KEYS, args.get("Prefix", ""), args.get("Delimiter", ""))
    first = s3.list_objects_v2(Bucket=listed_bucket, MaxKeys=max(1, len(expected) // 3), **args)
    assert first["IsTruncated"] is True
    got = _entries(first)
    token, pages = first["NextContinuationToken"], 1
    while token:
        page = s3b.list_objects_v2(Bucket=listed_bucket, MaxKeys=4, ContinuationToken=token, **args)
        got += _entries(page)
        pages += 1
        assert pages < 50, "listing does not end"
        token = page.get("NextContinuationToken") if page["IsTruncated"] else None
    assert got == expected


def test_v2_token_from_second_process_back_to_first(s3, replica, listed_bucket):
    s3b = make_s3_client(replica)
    clients, got, token = [s3, s3b], [], None
    for i in range(40):
        args = {"ContinuationToken": token} if token else {}
        page = clients[i % 2].list_objects_v2(Bucket=listed_bucket, MaxKeys=3, **args)
        got += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert got == utf8_sorted(LIST_KEYS)
    assert len(set(got)) == len(got)


def test_v1_marker_moves_to_another_process(s3, replica, listed_bucket):
    s3b = make_s3_client(replica)
    first = s3.list_objects(Bucket=listed_bucket, MaxKeys=7)
    assert first["IsTruncated"] is True
    got = [o["Key"] for o in first["Contents"]]
    marker = got[-1]
    for _ in range(50):
        page = s3b.list_objects(Bucket=listed_bucket, MaxKeys=7, Marker=marker)
        keys = [o["Key"] for o in page.get("Contents", [])]
        got += keys
        if not page["IsTruncated"]:
            break
        marker = keys[-1]
    assert got == utf8_sorted(LIST_KEYS)


def test_v1_next_marker_with_delimiter_moves_to_another_process(s3, replica, listed_bucket):
    s3b = make_s3_client(replica)
    expected = reference_entries(LIST_KEYS, delimiter="/")
    page = s3.list_objects(Bucket=listed_bucket, MaxKeys=4, Delimiter="/")
    got = _entries(page)
    clients = [s3b, s3]
    for i in range(50):
        if not page["IsTruncated"]:
            break
        page = clients[i % 2].list_objects(Bucket=listed_bucket, MaxKeys=4, Delimiter="/", Marker=page["NextMarker"])
        got += _entries(page)
    assert got == expected


# --------------------------------------------------------------------------
# (e) a large single PUT is a plain committed block blob


def test_40mib_put_is_committed_block_blob(s3, bucket, container):
    size = 40 * 1024 * 1024  # several blocks of any usual block size (4, 8, 16 MiB)
    data = os.urandom(size)
    md5 = hashlib.md5(data).digest()
    put = s3.put_object(Bucket=bucket, Key="big/40mib.bin", Body=data, ContentType="application/x-big")
    assert put["ETag"] == '"' + md5.hex() + '"'

    blob = container.get_blob_client("big/40mib.bin")
    props = blob.get_blob_properties()
    assert props.blob_type == BlobType.BLOCKBLOB
    assert props.size == size
    assert props.content_settings.content_type == "application/x-big"
    assert bytes(props.content_settings.content_md5 or b"") == md5
    _, uncommitted = blob.get_block_list("all")
    assert uncommitted == [], "blocks left uncommitted after the PUT"
    got = blob.download_blob(max_concurrency=2).readall()
    assert len(got) == size and hashlib.md5(got).digest() == md5
    # and through S3, ranges across block boundaries
    mib8 = 8 * 1024 * 1024
    r = s3.get_object(Bucket=bucket, Key="big/40mib.bin", Range=f"bytes={mib8 - 5}-{mib8 + 4}")
    assert r["Body"].read() == data[mib8 - 5 : mib8 + 5]


def test_failed_put_leaves_previous_blob(s3, bucket, container):
    """A PUT whose body does not match its Content-MD5 changes nothing in Azure."""
    s3.put_object(Bucket=bucket, Key="keep", Body=b"previous")
    before = container.get_blob_client("keep").get_blob_properties()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="keep", Body=b"replacement", ContentMD5=md5_b64(b"other"))
    assert client_error(e.value) == (400, "BadDigest")
    after = container.get_blob_client("keep").get_blob_properties()
    assert after.etag == before.etag
    assert container.get_blob_client("keep").download_blob().readall() == b"previous"
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"previous"


def test_failed_first_put_leaves_no_blob(s3, bucket, container):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="new", Body=b"body", ContentMD5=md5_b64(b"other"))
    assert client_error(e.value) == (400, "BadDigest")
    with pytest.raises(ResourceNotFoundError):
        container.get_blob_client("new").get_blob_properties()
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

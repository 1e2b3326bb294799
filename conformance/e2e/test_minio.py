"""minio-py (what `mc`-style Python tooling uses) against the gateway."""

import io
import os

import pytest
import requests
from minio import Minio
from minio.error import S3Error

from e2e_util import unique_bucket_name


@pytest.fixture
def mbucket(minio_client):
    name = unique_bucket_name("minio")
    minio_client.make_bucket(name)
    yield name
    try:
        for o in minio_client.list_objects(name, recursive=True):
            minio_client.remove_object(name, o.object_name)
        minio_client.remove_bucket(name)
    except Exception:
        pass


def test_make_bucket_exists_list_remove(minio_client):
    name = unique_bucket_name("minio-mb")
    minio_client.make_bucket(name)
    assert minio_client.bucket_exists(name)
    assert name in [b.name for b in minio_client.list_buckets()]
    try:  # us-east-1 legacy: 200 for the owner; otherwise BucketAlreadyOwnedByYou
        minio_client.make_bucket(name)
    except S3Error as e:
        assert e.code == "BucketAlreadyOwnedByYou"
    minio_client.remove_bucket(name)
    assert not minio_client.bucket_exists(name)


def test_put_known_length_and_stat(minio_client, mbucket):
    data = os.urandom(123_456)
    res = minio_client.put_object(
        mbucket, "dir/known.bin", io.BytesIO(data), len(data),
        content_type="application/x-test", metadata={"Project": "blobgate"},
    )  # fmt: skip
    st = minio_client.stat_object(mbucket, "dir/known.bin")
    assert st.size == len(data)
    assert st.etag == res.etag
    assert st.content_type == "application/x-test"
    assert st.metadata.get("x-amz-meta-project") == "blobgate"
    resp = minio_client.get_object(mbucket, "dir/known.bin")
    try:
        assert resp.read() == data
    finally:
        resp.close()
        resp.release_conn()


def test_put_unknown_length_single_part(minio_client, mbucket):
    """length=-1 with a part_size larger than the data: minio-py sends one PutObject."""
    data = os.urandom(1024 * 1024 + 5)
    minio_client.put_object(mbucket, "unknown.bin", io.BytesIO(data), -1, part_size=5 * 1024 * 1024)
    assert minio_client.stat_object(mbucket, "unknown.bin").size == len(data)
    resp = minio_client.get_object(mbucket, "unknown.bin")
    try:
        assert resp.read() == data
    finally:
        resp.close()
        resp.release_conn()


def test_put_unknown_length_multipart(minio_client, mbucket):
    data = os.urandom(11 * 1024 * 1024)
    minio_client.put_object(mbucket, "mp.bin", io.BytesIO(data), -1, part_size=5 * 1024 * 1024,
                            metadata={"x-amz-meta-origin": "minio"})  # fmt: skip
    stat = minio_client.stat_object(mbucket, "mp.bin")
    assert stat.size == len(data)
    assert stat.etag.endswith("-3")
    assert stat.metadata["x-amz-meta-origin"] == "minio"
    resp = minio_client.get_object(mbucket, "mp.bin")
    try:
        assert resp.read() == data
    finally:
        resp.close()
        resp.release_conn()


def test_copy_compose_and_remove_objects(minio_client, mbucket):
    from minio.commonconfig import ComposeSource, CopySource
    from minio.deleteobjects import DeleteObject

    a, b = os.urandom(5 * 1024 * 1024), b"tail"
    minio_client.put_object(mbucket, "a", io.BytesIO(a), len(a))
    minio_client.put_object(mbucket, "b", io.BytesIO(b), len(b))
    minio_client.copy_object(mbucket, "a-copy", CopySource(mbucket, "a"))
    # compose_object uses UploadPartCopy for each source.
    minio_client.compose_object(mbucket, "ab", [ComposeSource(mbucket, "a"), ComposeSource(mbucket, "b")])
    resp = minio_client.get_object(mbucket, "ab")
    try:
        assert resp.read() == a + b
    finally:
        resp.close()
        resp.release_conn()
    errors = list(minio_client.remove_objects(mbucket, [DeleteObject(k) for k in ["a", "b", "a-copy", "ab"]]))
    assert errors == []
    assert list(minio_client.list_objects(mbucket)) == []


def test_ranged_get(minio_client, mbucket):
    data = bytes(range(256)) * 10
    minio_client.put_object(mbucket, "r", io.BytesIO(data), len(data))
    resp = minio_client.get_object(mbucket, "r", offset=100, length=50)
    try:
        assert resp.read() == data[100:150]
    finally:
        resp.close()
        resp.release_conn()


def test_fput_fget(minio_client, mbucket, tmp_path):
    src = tmp_path / "in.dat"
    src.write_bytes(os.urandom(300_000))
    minio_client.fput_object(mbucket, "files/in.dat", str(src))
    dst = tmp_path / "out.dat"
    minio_client.fget_object(mbucket, "files/in.dat", str(dst))
    assert dst.read_bytes() == src.read_bytes()


def test_list_objects(minio_client, mbucket):
    for k in ["a.txt", "dir/b.txt", "dir/sub/c.txt", "z.txt"]:
        minio_client.put_object(mbucket, k, io.BytesIO(b"x"), 1)
    # minio-py yields a page's Contents before its CommonPrefixes
    top = [(o.object_name, o.is_dir) for o in minio_client.list_objects(mbucket)]
    assert sorted(top) == [("a.txt", False), ("dir/", True), ("z.txt", False)]
    rec = [o.object_name for o in minio_client.list_objects(mbucket, recursive=True)]
    assert rec == ["a.txt", "dir/b.txt", "dir/sub/c.txt", "z.txt"]
    sub = [o.object_name for o in minio_client.list_objects(mbucket, prefix="dir/")]
    assert sorted(sub) == ["dir/b.txt", "dir/sub/"]
    v1 = [o.object_name for o in minio_client.list_objects(mbucket, recursive=True, use_api_v1=True)]
    assert v1 == rec
    after = [o.object_name for o in minio_client.list_objects(mbucket, recursive=True, start_after="dir/b.txt")]
    assert after == ["dir/sub/c.txt", "z.txt"]


def test_remove_object_and_missing(minio_client, mbucket):
    minio_client.put_object(mbucket, "gone", io.BytesIO(b"1"), 1)
    minio_client.remove_object(mbucket, "gone")
    with pytest.raises(S3Error) as e:
        minio_client.stat_object(mbucket, "gone")
    assert e.value.code in ("NoSuchKey", "ResourceNotFound")
    with pytest.raises(S3Error) as e:
        minio_client.get_object(mbucket, "gone")
    assert e.value.code == "NoSuchKey"
    minio_client.remove_object(mbucket, "never-existed")  # no error


def test_presigned_get_and_put(minio_client, mbucket):
    import datetime as dt

    minio_client.put_object(mbucket, "p.txt", io.BytesIO(b"presigned"), 9)
    url = minio_client.presigned_get_object(mbucket, "p.txt", expires=dt.timedelta(minutes=5))
    assert requests.get(url, timeout=10).content == b"presigned"
    put_url = minio_client.presigned_put_object(mbucket, "q.txt", expires=dt.timedelta(minutes=5))
    assert requests.put(put_url, data=b"uploaded", timeout=10).status_code == 200
    resp = minio_client.get_object(mbucket, "q.txt")
    try:
        assert resp.read() == b"uploaded"
    finally:
        resp.close()
        resp.release_conn()


def test_client_without_region_uses_get_bucket_location(gateway, mbucket):
    """Without a configured region minio-py first asks GetBucketLocation."""
    client = Minio(gateway.netloc, access_key=gateway.access_key, secret_key=gateway.secret_key, secure=False)
    client.put_object(mbucket, "loc", io.BytesIO(b"1"), 1)
    assert client.stat_object(mbucket, "loc").size == 1

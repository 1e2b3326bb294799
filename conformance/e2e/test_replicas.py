"""Two gateway processes over the same storage (the stateless-replicas design):
what one writes the other serves at once, with no stale cache, and listing
continuation tokens work on either."""

import concurrent.futures

import pytest
from botocore.exceptions import ClientError

from conftest import make_s3_client
from e2e_util import client_error, etag_of


@pytest.fixture(scope="module")
def s3b(replica):
    return make_s3_client(replica)


def test_write_here_read_there(s3, s3b, bucket):
    for i in range(5):  # alternate writers; each read must see the latest write
        writer, reader = (s3, s3b) if i % 2 == 0 else (s3b, s3)
        body = f"version {i}".encode()
        writer.put_object(Bucket=bucket, Key="shared", Body=body, Metadata={"v": str(i)})
        got = reader.get_object(Bucket=bucket, Key="shared")
        assert got["Body"].read() == body
        assert got["ETag"] == etag_of(body)
        assert got["Metadata"] == {"v": str(i)}
        assert reader.head_object(Bucket=bucket, Key="shared")["ContentLength"] == len(body)


def test_delete_there_gone_here(s3, s3b, bucket):
    s3.put_object(Bucket=bucket, Key="d", Body=b"1")
    assert s3.get_object(Bucket=bucket, Key="d")["Body"].read() == b"1"  # warm any cache
    s3b.delete_object(Bucket=bucket, Key="d")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="d")
    assert client_error(e.value) == (404, "NoSuchKey")


def test_conditional_get_sees_other_writer(s3, s3b, bucket):
    s3.put_object(Bucket=bucket, Key="c", Body=b"old")
    old = s3.head_object(Bucket=bucket, Key="c")["ETag"]
    s3b.put_object(Bucket=bucket, Key="c", Body=b"new")
    got = s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=old)
    assert got["Body"].read() == b"new"


def test_bucket_created_there_usable_here(s3, s3b):
    from e2e_util import unique_bucket_name

    name = unique_bucket_name("replica")
    s3b.create_bucket(Bucket=name)
    s3.head_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"v")
    s3.delete_object(Bucket=name, Key="k")
    s3b.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert client_error(e.value)[0] == 404


def test_continuation_token_works_on_the_other_replica(s3, s3b, bucket):
    keys = [f"p/{i:03d}" for i in range(25)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), keys))
    got, token, clients = [], None, [s3, s3b]
    for i in range(10):
        args = {"Bucket": bucket, "MaxKeys": 4}
        if token:
            args["ContinuationToken"] = token
        page = clients[i % 2].list_objects_v2(**args)
        got += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert got == keys


def test_concurrent_writers_on_both(s3, s3b, bucket):
    def put(i):
        (s3, s3b)[i % 2].put_object(Bucket=bucket, Key=f"w/{i:02d}", Body=str(i).encode())

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(40)))
    a = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    b = [o["Key"] for o in s3b.list_objects_v2(Bucket=bucket)["Contents"]]
    assert a == b == [f"w/{i:02d}" for i in range(40)]

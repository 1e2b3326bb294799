"""The read cache seen from outside: a gateway with the default policy (a
cached object is revalidated at most every few seconds) serves writes made
through itself at once, and writes made through another gateway within
its revalidation window; with the cache off it behaves the same, only
slower."""

import time

import pytest
from botocore.exceptions import ClientError

from conftest import backend_config, make_s3_client, start_gateway, stop_gateway, suite_backend
from e2e_util import client_error, random_credentials, unique_bucket_name

WINDOW = 1.0


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Gateway A caches with a 1 s window; gateway B (cache off) writes
    around it on the same storage."""
    workdir = tmp_path_factory.mktemp("cache")
    cfg = backend_config(suite_backend(), workdir)
    creds = random_credentials()
    a = start_gateway(workdir, ["--cache-revalidate-secs", str(WINDOW)], cfg=cfg, credentials=creds)
    b = start_gateway(workdir, ["--cache-size-mib", "0"], cfg=cfg, credentials=creds)
    yield make_s3_client(a), make_s3_client(b), a
    stop_gateway(a)
    stop_gateway(b)


def read(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_own_writes_are_seen_at_once(pair):
    a, _, _ = pair
    bucket = unique_bucket_name("cacheown")
    a.create_bucket(Bucket=bucket)
    for i in range(5):
        a.put_object(Bucket=bucket, Key="k", Body=b"v%d" % i)
        assert read(a, bucket, "k") == b"v%d" % i
        assert a.head_object(Bucket=bucket, Key="k")["ContentLength"] == 2
    a.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "k"}, MetadataDirective="REPLACE",
                  Metadata={"m": "1"})  # fmt: skip
    assert a.head_object(Bucket=bucket, Key="k")["Metadata"] == {"m": "1"}
    a.delete_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as e:
        read(a, bucket, "k")
    assert client_error(e.value)[0] == 404


def test_other_writers_are_seen_within_the_window(pair):
    a, b, _ = pair
    bucket = unique_bucket_name("cacheother")
    a.create_bucket(Bucket=bucket)
    b.put_object(Bucket=bucket, Key="k", Body=b"old")
    assert read(a, bucket, "k") == b"old"
    assert read(a, bucket, "k") == b"old"  # now cached
    b.put_object(Bucket=bucket, Key="k", Body=b"newer")
    started = time.monotonic()
    while (got := read(a, bucket, "k")) != b"newer":
        assert got == b"old"
        assert time.monotonic() - started < WINDOW + 1.0, "change unseen past the window"
        time.sleep(0.05)
    # Conditional GETs use the current ETag too.
    etag = b.head_object(Bucket=bucket, Key="k")["ETag"]
    with pytest.raises(ClientError) as e:
        a.get_object(Bucket=bucket, Key="k", IfNoneMatch=etag)
    assert client_error(e.value)[0] == 304
    b.delete_object(Bucket=bucket, Key="k")
    time.sleep(WINDOW + 0.2)
    with pytest.raises(ClientError) as e:
        read(a, bucket, "k")
    assert client_error(e.value)[0] == 404


def test_hits_and_misses_are_in_the_metrics(pair):
    from test_observability import scrape, value

    a, _, gw = pair
    bucket = unique_bucket_name("cachemetrics")
    a.create_bucket(Bucket=bucket)
    a.put_object(Bucket=bucket, Key="hot", Body=b"x" * 1000)
    before = scrape(gw)
    for _ in range(10):
        assert read(a, bucket, "hot") == b"x" * 1000
    after = scrape(gw)
    hits = value(after, "blobgate_cache_hits_total") - value(before, "blobgate_cache_hits_total")
    misses = value(after, "blobgate_cache_misses_total") - value(before, "blobgate_cache_misses_total")
    assert misses == 1 and hits == 9, (hits, misses)
    assert value(after, "blobgate_cache_bytes") >= 1000


def test_tags_set_elsewhere_show_within_the_window(pair):
    a, b, _ = pair
    bucket = unique_bucket_name("cachetags")
    a.create_bucket(Bucket=bucket)
    b.put_object(Bucket=bucket, Key="k", Body=b"v", Tagging="x=1")
    assert a.get_object(Bucket=bucket, Key="k")["TagCount"] == 1  # now cached
    a.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": []})  # own change: at once
    assert "TagCount" not in a.get_object(Bucket=bucket, Key="k")
    b.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]})
    time.sleep(WINDOW + 0.5)
    got = a.get_object(Bucket=bucket, Key="k")
    assert (got["TagCount"], got["Body"].read()) == (2, b"v")
    a.delete_object(Bucket=bucket, Key="k")
    a.delete_bucket(Bucket=bucket)

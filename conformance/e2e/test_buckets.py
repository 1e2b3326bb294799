"""Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
GetBucketLocation, bucket naming, and virtual-host-style addressing."""

import datetime as dt
import secrets

import pytest
from botocore.exceptions import ClientError

from conftest import delete_bucket_fully
from e2e_util import client_error, etag_of, unique_bucket_name


def test_bucket_lifecycle(s3):
    name = unique_bucket_name("lifecycle")
    before = dt.datetime.now(dt.timezone.utc)
    resp = s3.create_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200

    listed = {b["Name"]: b for b in s3.list_buckets()["Buckets"]}
    assert name in listed
    created = listed[name]["CreationDate"]
    assert before - dt.timedelta(minutes=5) < created < before + dt.timedelta(minutes=5)

    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region") == "us-east-1"

    resp = s3.delete_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert client_error(e.value)[0] == 404


def test_list_buckets_owner_and_order(s3):
    names = [unique_bucket_name(p) for p in ("zz", "aa", "mm")]
    for n in names:
        s3.create_bucket(Bucket=n)
    try:
        resp = s3.list_buckets()
        assert resp.get("Owner", {}).get("ID"), resp.get("Owner")
        listed = [b["Name"] for b in resp["Buckets"]]
        assert listed == sorted(listed), "ListBuckets is sorted by name"
        assert set(names) <= set(listed)
    finally:
        for n in names:
            s3.delete_bucket(Bucket=n)


def test_create_existing_bucket_keeps_contents(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"still here")
    try:
        resp = s3.create_bucket(Bucket=bucket)
        # AWS us-east-1 legacy behaviour: 200 for a re-create by the owner.
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    except ClientError as e:
        assert client_error(e) == (409, "BucketAlreadyOwnedByYou")
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"still here"


def test_head_missing_bucket_is_404(s3):
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=unique_bucket_name("missing"))
    assert client_error(e.value)[0] == 404


def test_delete_non_empty_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="x", Body=b"1")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert client_error(e.value) == (409, "BucketNotEmpty")
    s3.head_bucket(Bucket=bucket)  # still there
    assert s3.get_object(Bucket=bucket, Key="x")["Body"].read() == b"1"


def test_delete_bucket_with_only_a_folder_marker_is_not_empty(s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/", Body=b"")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert client_error(e.value) == (409, "BucketNotEmpty")


def test_delete_missing_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=unique_bucket_name("missing"))
    assert client_error(e.value) == (404, "NoSuchBucket")


def test_bucket_usable_after_emptied_and_recreated(s3):
    name = unique_bucket_name("recreate")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="a/b/c", Body=b"1")
    s3.delete_object(Bucket=name, Key="a/b/c")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
    finally:
        delete_bucket_fully(s3, name)


def test_get_bucket_location(s3, bucket):
    resp = s3.get_bucket_location(Bucket=bucket)
    # us-east-1 is reported as an empty LocationConstraint.
    assert resp.get("LocationConstraint") in (None, "")


def test_get_bucket_location_missing_bucket(s3):
    with pytest.raises(ClientError) as e:
        s3.get_bucket_location(Bucket=unique_bucket_name("missing"))
    assert client_error(e.value) == (404, "NoSuchBucket")


@pytest.mark.parametrize(
    "name",
    [
        "UpperCase",
        "ab",
        "a" * 64,
        "a..b",
        "192.168.5.4",
        "-abc",
        "abc-",
        ".abc",
        "abc.",
        "under_score",
        "a.-b",
        "xn--abc",
        "abc-s3alias",
    ],
)
def test_invalid_bucket_name(s3, name):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert client_error(e.value) == (400, "InvalidBucketName")


@pytest.mark.parametrize(
    "make",
    [
        lambda: "b" + secrets.token_hex(1),  # 3 characters
        lambda: unique_bucket_name("max").ljust(63, "a"),
        lambda: f"a-b-c-{secrets.token_hex(4)}",
        lambda: f"0-9{secrets.token_hex(4)}",
    ],
    ids=["len3", "len63", "dashes", "digits"],
)
def test_valid_unusual_bucket_names(s3, make):
    # Dotted names (valid in S3) are deliberately refused: Azure container names
    # cannot contain dots (design/AZURE-MAPPING.md), and both backends agree.
    name = make()
    s3.create_bucket(Bucket=name)
    try:
        s3.head_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="k", Body=b"v")
        assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
    finally:
        delete_bucket_fully(s3, name)


def test_create_bucket_other_region_constraint(s3):
    """A us-east-1 endpoint refuses a bucket for another region (AWS:
    IllegalLocationConstraintException), and does not create it."""
    name = unique_bucket_name("eu")
    with pytest.raises(ClientError) as e:
        s3.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
    assert client_error(e.value) == (400, "IllegalLocationConstraintException")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert client_error(e.value)[0] == 404


# --------------------------------------------------------------------------
# virtual-host style


def test_virtual_host_style_round_trip(vhost_s3, s3):
    name = unique_bucket_name("vhost")
    vhost_s3.create_bucket(Bucket=name)
    try:
        assert name in {b["Name"] for b in vhost_s3.list_buckets()["Buckets"]}
        put = vhost_s3.put_object(Bucket=name, Key="dir/obj.txt", Body=b"virtual")
        assert put["ETag"] == etag_of(b"virtual")
        # the same object is visible path-style
        assert s3.get_object(Bucket=name, Key="dir/obj.txt")["Body"].read() == b"virtual"
        got = vhost_s3.get_object(Bucket=name, Key="dir/obj.txt")
        assert got["Body"].read() == b"virtual"
        vhost_s3.head_bucket(Bucket=name)
        listing = vhost_s3.list_objects_v2(Bucket=name, Delimiter="/")
        assert [p["Prefix"] for p in listing.get("CommonPrefixes", [])] == ["dir/"]
        vhost_s3.delete_object(Bucket=name, Key="dir/obj.txt")
        vhost_s3.delete_bucket(Bucket=name)
        with pytest.raises(ClientError) as e:
            s3.head_bucket(Bucket=name)
        assert client_error(e.value)[0] == 404
    finally:
        delete_bucket_fully(s3, name)


def test_virtual_host_missing_bucket(vhost_s3):
    with pytest.raises(ClientError) as e:
        vhost_s3.get_object(Bucket=unique_bucket_name("missing"), Key="k")
    assert client_error(e.value) == (404, "NoSuchBucket")


def test_get_bucket_versioning_reports_unversioned(s3, bucket):
    """Buckets are never versioned: the configuration is empty, as S3 answers for
    a bucket whose versioning was never enabled (mc and rclone ask)."""
    got = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in got and "MFADelete" not in got
    with pytest.raises(ClientError) as e:
        s3.get_bucket_versioning(Bucket=unique_bucket_name("nope"))
    assert client_error(e.value) == (404, "NoSuchBucket")

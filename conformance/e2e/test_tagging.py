"""Tagging: of buckets (Get/Put/DeleteBucketTagging, stored with the bucket
like its policy) and of objects (Get/Put/DeleteObjectTagging, `x-amz-tagging`
on PUT, CopyObject with `x-amz-tagging-directive` and CreateMultipartUpload,
`x-amz-tagging-count` on GET/HEAD), with S3's limits and errors, through
boto3, the aws CLI and minio-py. On Azure the tags are the blob's index tags:
the Azure SDK reads them and Find Blobs by Tags finds the object. Policies
with s3:ExistingObjectTag, s3:RequestObjectTag and s3:RequestObjectTagKeys
are in test_access_tags below.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest
from botocore.exceptions import ClientError

from conftest import delete_bucket_fully, make_s3_client, start_gateway, stop_gateway, suite_backend
from e2e_util import error_of, random_credentials, unique_bucket_name

AZURE = suite_backend() == "azure"


def tag_set(**tags: str) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tags_of(s3, bucket: str, key: str) -> dict:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def tag_count(s3, bucket: str, key: str) -> int | None:
    return s3.head_object(Bucket=bucket, Key=key).get("TagCount")


def test_bucket_tagging_round_trip(s3, bucket):
    assert error_of(s3.get_bucket_tagging, Bucket=bucket) == (404, "NoSuchTagSet")
    tags = [{"Key": "project", "Value": "census-2031"}, {"Key": "coût", "Value": "équipe <stats>"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags[:1]})  # replaces
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags[:1]
    s3.delete_bucket_tagging(Bucket=bucket)
    assert error_of(s3.get_bucket_tagging, Bucket=bucket) == (404, "NoSuchTagSet")


@pytest.mark.parametrize(
    "tag_set",
    [
        [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}],
        [{"Key": "k" * 129, "Value": "v"}],
        [{"Key": "k", "Value": "v" * 257}],
        [{"Key": "aws:reserved", "Value": "v"}],
        [{"Key": f"k{i}", "Value": "v"} for i in range(51)],
    ],
    ids=["duplicate key", "long key", "long value", "aws prefix", "51 tags"],
)
def test_invalid_bucket_tags_are_refused_and_keep_the_previous_set(s3, bucket, tag_set):
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "kept", "Value": "yes"}]})
    assert error_of(s3.put_bucket_tagging, Bucket=bucket, Tagging={"TagSet": tag_set}) == (400, "InvalidTag")
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "kept", "Value": "yes"}]


def test_bucket_tags_go_with_the_bucket(s3):
    from e2e_util import unique_bucket_name

    name = unique_bucket_name("tags")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert "Contents" not in s3.list_objects_v2(Bucket=name)  # not an object
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        assert error_of(s3.get_bucket_tagging, Bucket=name) == (404, "NoSuchTagSet")
    finally:
        s3.delete_bucket(Bucket=name)


# ---- object tagging ----------------------------------------------------------


def test_object_tags_on_put_and_round_trip(s3, bucket):
    s3.put_object(Bucket=bucket, Key="data/a.csv", Body=b"x,y\n", Tagging="project=census&stage=raw%20data")
    assert tags_of(s3, bucket, "data/a.csv") == {"project": "census", "stage": "raw data"}
    assert tag_count(s3, bucket, "data/a.csv") == 2
    got = s3.get_object(Bucket=bucket, Key="data/a.csv")
    assert got["TagCount"] == 2 and got["Body"].read() == b"x,y\n"
    etag = got["ETag"]

    s3.put_object_tagging(Bucket=bucket, Key="data/a.csv", Tagging={"TagSet": tag_set(stage="clean")})
    assert tags_of(s3, bucket, "data/a.csv") == {"stage": "clean"}
    head = s3.head_object(Bucket=bucket, Key="data/a.csv")
    assert head["TagCount"] == 1 and head["ETag"] == etag  # tags are not the object's bytes

    s3.delete_object_tagging(Bucket=bucket, Key="data/a.csv")
    assert tags_of(s3, bucket, "data/a.csv") == {}
    assert tag_count(s3, bucket, "data/a.csv") is None
    assert s3.get_object(Bucket=bucket, Key="data/a.csv")["Body"].read() == b"x,y\n"


def test_a_new_put_replaces_the_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="a=1")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(b="2")})
    s3.put_object(Bucket=bucket, Key="k", Body=b"2")  # no tags: the object has none
    assert tags_of(s3, bucket, "k") == {}
    assert tag_count(s3, bucket, "k") is None
    s3.put_object(Bucket=bucket, Key="k", Body=b"3", Tagging="c=3")
    assert tags_of(s3, bucket, "k") == {"c": "3"}
    s3.delete_object(Bucket=bucket, Key="k")
    assert error_of(s3.get_object_tagging, Bucket=bucket, Key="k") == (404, "NoSuchKey")
    s3.put_object(Bucket=bucket, Key="k", Body=b"4")
    assert tags_of(s3, bucket, "k") == {}


def test_tagging_a_missing_object_is_no_such_key(s3, bucket):
    assert error_of(s3.get_object_tagging, Bucket=bucket, Key="none") == (404, "NoSuchKey")
    assert error_of(s3.put_object_tagging, Bucket=bucket, Key="none",
                    Tagging={"TagSet": tag_set(a="1")}) == (404, "NoSuchKey")  # fmt: skip
    assert error_of(s3.delete_object_tagging, Bucket=bucket, Key="none") == (404, "NoSuchKey")
    assert error_of(s3.get_object_tagging, Bucket=bucket, Key="k", VersionId="v1") == (404, "NoSuchVersion")


@pytest.mark.parametrize(
    "tags",
    [
        [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}],
        [{"Key": "k" * 129, "Value": "v"}],
        [{"Key": "k", "Value": "v" * 257}],
        [{"Key": "aws:reserved", "Value": "v"}],
        [{"Key": f"k{i}", "Value": "v"} for i in range(11)],
    ],
    ids=["duplicate key", "long key", "long value", "aws prefix", "11 tags"],
)
def test_invalid_object_tags_are_refused_and_keep_the_previous_set(s3, bucket, tags):
    s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="kept=yes")
    assert error_of(s3.put_object_tagging, Bucket=bucket, Key="k", Tagging={"TagSet": tags}) == (400, "InvalidTag")
    assert tags_of(s3, bucket, "k") == {"kept": "yes"}
    header = "&".join(f"{t['Key']}={t['Value']}" for t in tags)
    assert error_of(s3.put_object, Bucket=bucket, Key="k", Body=b"2", Tagging=header) == (400, "InvalidTag")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"1"


def test_limits_that_fit_are_accepted(s3, bucket):
    tags = {f"k{i}" + "x" * 120: "v" * 256 for i in range(10)}
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(**tags)})
    assert tags_of(s3, bucket, "k") == tags


def test_malformed_tagging_documents(s3, bucket, gateway):
    from e2e_util import parse_error, signed_request

    s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="kept=1")
    for doc in (b"<Tagging><TagSet><Tag><Key>a</Key></Tag>", b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",
                b"not xml"):  # fmt: skip
        r = signed_request(gateway, "PUT", f"/{bucket}/k?tagging", body=doc)
        assert (r.status, parse_error(r.body)["Code"]) == (400, "MalformedXML")
    r = signed_request(gateway, "PUT", f"/{bucket}/k2", {"x-amz-tagging": "k=%FF"}, body=b"1")
    assert (r.status, parse_error(r.body)["Code"]) == (400, "InvalidArgument")
    assert tags_of(s3, bucket, "k") == {"kept": "1"}


def test_copy_keeps_or_replaces_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"source", Tagging="team=stats")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"})
    assert tags_of(s3, bucket, "copy") == {"team": "stats"}
    s3.copy_object(Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE", Tagging="team=ml&tier=gold")  # fmt: skip
    assert tags_of(s3, bucket, "copy2") == {"team": "ml", "tier": "gold"}
    s3.copy_object(Bucket=bucket, Key="copy3", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE")  # fmt: skip
    assert tags_of(s3, bucket, "copy3") == {}
    assert tags_of(s3, bucket, "src") == {"team": "stats"}
    assert error_of(s3.copy_object, Bucket=bucket, Key="copy4", CopySource={"Bucket": bucket, "Key": "src"},
                    TaggingDirective="MOVE") == (400, "InvalidArgument")  # fmt: skip


def test_multipart_upload_tags_the_completed_object(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="big", Tagging="source=pipeline&run=42")
    part = os.urandom(5 * 1024 * 1024)
    etags = [s3.upload_part(Bucket=bucket, Key="big", UploadId=up["UploadId"], PartNumber=n, Body=part)["ETag"]
             for n in (1, 2)]  # fmt: skip
    s3.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags)]})  # fmt: skip
    assert tags_of(s3, bucket, "big") == {"source": "pipeline", "run": "42"}
    assert tag_count(s3, bucket, "big") == 2
    assert error_of(s3.create_multipart_upload, Bucket=bucket, Key="bad", Tagging="aws:x=1") == (400, "InvalidTag")


def test_tags_on_a_large_object_do_not_rewrite_it(s3, bucket):
    body = os.urandom(48 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="large", Body=body)
    before = s3.head_object(Bucket=bucket, Key="large")
    started = time.monotonic()
    for i in range(5):
        s3.put_object_tagging(Bucket=bucket, Key="large", Tagging={"TagSet": tag_set(round=str(i))})
    assert time.monotonic() - started < 5  # five tag writes, not five 48 MiB rewrites
    after = s3.head_object(Bucket=bucket, Key="large")
    assert (after["ETag"], after["LastModified"], after["TagCount"]) == (before["ETag"], before["LastModified"], 1)
    got = s3.get_object(Bucket=bucket, Key="large")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()


def test_unicode_tags_by_backend(s3, bucket):
    """S3 takes any Unicode letter and '@'; Azure index tags only ASCII
    letters, digits, space and + - . / : = _ , so the azure backend refuses
    the others instead of changing them."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="ok=fine")
    unicode_tags = {"coût": "équipe", "owner": "ana@stat"}
    if AZURE:
        assert error_of(s3.put_object_tagging, Bucket=bucket, Key="k",
                        Tagging={"TagSet": tag_set(**unicode_tags)}) == (400, "InvalidTag")  # fmt: skip
        assert tags_of(s3, bucket, "k") == {"ok": "fine"}
        assert error_of(s3.put_object, Bucket=bucket, Key="k2", Body=b"1",
                        Tagging="owner=ana%40stat") == (400, "InvalidTag")  # fmt: skip
        assert error_of(s3.head_object, Bucket=bucket, Key="k2") == (404, "404")
    else:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(**unicode_tags)})
        assert tags_of(s3, bucket, "k") == unicode_tags
    every_azure_char = "Az09 +-./:=_"
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(**{every_azure_char: every_azure_char})})
    assert tags_of(s3, bucket, "k") == {every_azure_char: every_azure_char}


def test_aws_cli_object_tagging(aws, s3, bucket):
    s3.put_object(Bucket=bucket, Key="cli.txt", Body=b"1")
    aws("s3api", "put-object-tagging", "--bucket", bucket, "--key", "cli.txt",
        "--tagging", json.dumps({"TagSet": tag_set(owner="cli", env="test")}))  # fmt: skip
    out = json.loads(aws("s3api", "get-object-tagging", "--bucket", bucket, "--key", "cli.txt").stdout)
    assert {t["Key"]: t["Value"] for t in out["TagSet"]} == {"owner": "cli", "env": "test"}
    aws("s3api", "delete-object-tagging", "--bucket", bucket, "--key", "cli.txt")
    out = json.loads(aws("s3api", "get-object-tagging", "--bucket", bucket, "--key", "cli.txt").stdout)
    assert out["TagSet"] == []


def test_minio_object_tags(minio_client, s3, bucket):
    import io

    from minio.commonconfig import Tags

    tags = Tags.new_object_tags()
    tags["dataset"] = "labour-force"
    minio_client.put_object(bucket, "m.bin", io.BytesIO(b"abc"), 3, tags=tags)
    assert dict(minio_client.get_object_tags(bucket, "m.bin")) == {"dataset": "labour-force"}
    tags["year"] = "2031"
    minio_client.set_object_tags(bucket, "m.bin", tags)
    assert tags_of(s3, bucket, "m.bin") == {"dataset": "labour-force", "year": "2031"}
    minio_client.delete_object_tags(bucket, "m.bin")
    assert minio_client.get_object_tags(bucket, "m.bin") is None


def test_replica_sees_tags(s3, replica, bucket):
    other = make_s3_client(replica)
    s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="a=1")
    assert tags_of(other, bucket, "k") == {"a": "1"}
    other.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set(b="2")})
    assert tags_of(s3, bucket, "k") == {"b": "2"}


def test_azure_tools_see_the_tags(s3, azure_blob, bucket):
    s3.put_object(Bucket=bucket, Key="azure/tagged.parquet", Body=b"pq", Tagging="project=census&stage=raw")
    blob = azure_blob.get_blob_client(bucket, "azure/tagged.parquet")
    assert blob.get_blob_tags() == {"project": "census", "stage": "raw"}
    assert blob.get_blob_properties().tag_count == 2
    s3.put_object_tagging(Bucket=bucket, Key="azure/tagged.parquet", Tagging={"TagSet": tag_set(stage="final")})
    assert blob.get_blob_tags() == {"stage": "final"}
    # Tags set by an Azure tool are the object's tags through S3 too.
    blob.set_blob_tags({"owner": "azure-tool"})
    assert tags_of(s3, bucket, "azure/tagged.parquet") == {"owner": "azure-tool"}
    found = [b.name for b in azure_blob.get_container_client(bucket).find_blobs_by_tags("\"owner\" = 'azure-tool'")]
    assert found == ["azure/tagged.parquet"]


# ---- policies on tags ----------------------------------------------------------


class TagSite:
    """A gateway with a users file: `analyst` may read objects tagged
    classification=public only, and write objects only with a project tag
    of `census` and no tag keys but project and stage; `uploader` may
    PutObject only (so not tag what it writes)."""

    def __init__(self, workdir):
        self.secret = random_credentials()[1]
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging"], "Resource": "*",
             "Condition": {"StringEquals": {"s3:ExistingObjectTag/classification": "public"}}},
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": "*",
             "Condition": {"StringEquals": {"s3:RequestObjectTag/project": "census"},
                           "ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["project", "stage"]}}},
        ]}  # fmt: skip
        uploader = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}
        users = {"users": [{"access_key": "analyst", "secret_key": self.secret, "policy": policy},
                           {"access_key": "uploader", "secret_key": self.secret, "policy": uploader}]}  # fmt: skip
        (workdir / "users.json").write_text(json.dumps(users))
        self.gw = start_gateway(workdir, ["--users", str(workdir / "users.json")])
        self.root = make_s3_client(self.gw)
        self.analyst = make_s3_client(self.gw, access_key="analyst", secret_key=self.secret)
        self.uploader = make_s3_client(self.gw, access_key="uploader", secret_key=self.secret)


@pytest.fixture(scope="module")
def tag_site(tmp_path_factory):
    s = TagSite(tmp_path_factory.mktemp("tag-policies"))
    yield s
    stop_gateway(s.gw)


@pytest.fixture
def tag_bucket(tag_site):
    name = unique_bucket_name("tagpol")
    tag_site.root.create_bucket(Bucket=name)
    yield name
    delete_bucket_fully(tag_site.root, name)


def test_access_tags_existing_object_tag(tag_site, tag_bucket):
    root, analyst = tag_site.root, tag_site.analyst
    root.put_object(Bucket=tag_bucket, Key="open.csv", Body=b"1", Tagging="classification=public")
    root.put_object(Bucket=tag_bucket, Key="secret.csv", Body=b"2", Tagging="classification=restricted")
    root.put_object(Bucket=tag_bucket, Key="untagged.csv", Body=b"3")
    assert analyst.get_object(Bucket=tag_bucket, Key="open.csv")["Body"].read() == b"1"
    assert analyst.head_object(Bucket=tag_bucket, Key="open.csv")["TagCount"] == 1
    assert tags_of(analyst, tag_bucket, "open.csv") == {"classification": "public"}
    for key in ("secret.csv", "untagged.csv"):
        assert error_of(analyst.get_object, Bucket=tag_bucket, Key=key) == (403, "AccessDenied")
        assert error_of(analyst.get_object_tagging, Bucket=tag_bucket, Key=key) == (403, "AccessDenied")
    # Re-tagged: the decision follows the tags at once.
    root.put_object_tagging(Bucket=tag_bucket, Key="open.csv", Tagging={"TagSet": tag_set(classification="internal")})
    assert error_of(analyst.get_object, Bucket=tag_bucket, Key="open.csv") == (403, "AccessDenied")


def test_access_tags_request_object_tag(tag_site, tag_bucket):
    root, analyst = tag_site.root, tag_site.analyst
    analyst.put_object(Bucket=tag_bucket, Key="ok.csv", Body=b"1", Tagging="project=census&stage=raw")
    assert tags_of(root, tag_bucket, "ok.csv") == {"project": "census", "stage": "raw"}
    for tagging in ("", "project=labour", "project=census&owner=me"):
        kwargs = {"Tagging": tagging} if tagging else {}
        assert error_of(analyst.put_object, Bucket=tag_bucket, Key="no.csv", Body=b"1", **kwargs) == (403, "AccessDenied")
    assert error_of(root.head_object, Bucket=tag_bucket, Key="no.csv") == (404, "404")
    # PutObjectTagging is judged on the tags in its body.
    analyst.put_object_tagging(Bucket=tag_bucket, Key="ok.csv", Tagging={"TagSet": tag_set(project="census")})
    assert error_of(analyst.put_object_tagging, Bucket=tag_bucket, Key="ok.csv",
                    Tagging={"TagSet": tag_set(project="census", secret="x")}) == (403, "AccessDenied")  # fmt: skip
    assert tags_of(root, tag_bucket, "ok.csv") == {"project": "census"}
    # Tags on a write need s3:PutObjectTagging too.
    assert error_of(tag_site.uploader.put_object, Bucket=tag_bucket, Key="t.csv", Body=b"1",
                    Tagging="project=census") == (403, "AccessDenied")  # fmt: skip
    tag_site.uploader.put_object(Bucket=tag_bucket, Key="t.csv", Body=b"1")
    # Anonymous callers are refused without a policy, whatever the body.
    import requests

    r = requests.put(f"{tag_site.gw.endpoint}/{tag_bucket}/ok.csv?tagging", data=b"<Tagging><TagSet/></Tagging>")
    assert r.status_code == 403 and b"AccessDenied" in r.content
    assert tags_of(root, tag_bucket, "ok.csv") == {"project": "census"}

"""GetBucketPolicyStatus (IsPublic by AWS's rules) and the condition keys of
common public-read and copy-guard bucket policies: aws:Referer,
s3:x-amz-copy-source, s3:x-amz-metadata-directive and
s3:x-amz-server-side-encryption load and are enforced.

A module gateway with a users file: `writer` may do everything in the
module's bucket, and the bucket policies of each test narrow it (an explicit
Deny wins).
"""

from __future__ import annotations

import json

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import delete_bucket_fully, make_s3_client, start_gateway, stop_gateway
from e2e_util import random_credentials, unique_bucket_name


class Site:
    def __init__(self, workdir):
        self.writer_secret = random_credentials()[1]
        users = {"users": [{"access_key": "writer", "secret_key": self.writer_secret, "policy": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}}]}
        (workdir / "users.json").write_text(json.dumps(users))
        self.gw = start_gateway(workdir, ["--users", str(workdir / "users.json")])
        self.root = make_s3_client(self.gw)
        self.writer = make_s3_client(self.gw, access_key="writer", secret_key=self.writer_secret)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("policy-status"))
    yield s
    stop_gateway(s.gw)


@pytest.fixture
def bucket(site):
    name = unique_bucket_name("pstatus")
    site.root.create_bucket(Bucket=name)
    yield name
    delete_bucket_fully(site.root, name)


def put_policy(site, bucket, *statements):
    site.root.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))


def code(call, **kwargs) -> str:
    try:
        call(**kwargs)
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


def test_policy_status_says_whether_the_bucket_is_public(site, bucket):
    status = lambda: site.root.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"]  # noqa: E731
    assert status() is False  # no policy
    put_policy(site, bucket, {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/writer"},
                              "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"})  # fmt: skip
    assert status() is False
    put_policy(site, bucket, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                              "Resource": f"arn:aws:s3:::{bucket}/*",
                              "Condition": {"IpAddress": {"aws:SourceIp": "10.20.0.0/16"}}})  # fmt: skip
    assert status() is False
    put_policy(site, bucket, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                              "Resource": f"arn:aws:s3:::{bucket}/*"})  # fmt: skip
    assert status() is True
    with pytest.raises(ClientError) as e:
        site.root.get_bucket_policy_status(Bucket=unique_bucket_name("absent"))
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"


def test_referer_restricted_public_read(site, bucket):
    site.root.put_object(Bucket=bucket, Key="site/logo.png", Body=b"png")
    put_policy(site, bucket, {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                              "Resource": f"arn:aws:s3:::{bucket}/site/*",
                              "Condition": {"StringLike": {"aws:Referer": ["https://dashboard.example.org/*"]}}})  # fmt: skip
    url = f"{site.gw.endpoint}/{bucket}/site/logo.png"
    assert requests.get(url, headers={"Referer": "https://dashboard.example.org/page"}, timeout=10).content == b"png"
    assert requests.get(url, headers={"Referer": "https://elsewhere.example/"}, timeout=10).status_code == 403
    assert requests.get(url, timeout=10).status_code == 403
    assert site.root.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True


def test_copy_guards(site, bucket):
    site.root.put_object(Bucket=bucket, Key="in/a.txt", Body=b"a", Metadata={"owner": "team"})
    put_policy(
        site, bucket,
        # Copies only from in/ ...
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringNotLike": {"s3:x-amz-copy-source": [f"{bucket}/in/*", f"/{bucket}/in/*"]},
                       "Null": {"s3:x-amz-copy-source": "false"}}},
        # ... keeping the metadata.
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"s3:x-amz-metadata-directive": "REPLACE"}}},
    )  # fmt: skip
    w = site.writer
    assert code(w.copy_object, Bucket=bucket, Key="out/a.txt", CopySource={"Bucket": bucket, "Key": "in/a.txt"}) == "ok"
    site.root.put_object(Bucket=bucket, Key="secret/b.txt", Body=b"b")
    assert code(w.copy_object, Bucket=bucket, Key="out/b.txt",
                CopySource={"Bucket": bucket, "Key": "secret/b.txt"}) == "AccessDenied"  # fmt: skip
    assert code(w.copy_object, Bucket=bucket, Key="out/c.txt", CopySource={"Bucket": bucket, "Key": "in/a.txt"},
                MetadataDirective="REPLACE", Metadata={"owner": "me"}) == "AccessDenied"  # fmt: skip
    # Plain PUTs carry no copy source: the copy guard does not apply.
    assert code(w.put_object, Bucket=bucket, Key="out/d.txt", Body=b"d") == "ok"


def test_encryption_header_policies_load_and_apply(site, bucket):
    # The common "deny uploads that do not ask for encryption" policy.
    put_policy(site, bucket, {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                              "Resource": f"arn:aws:s3:::{bucket}/*",
                              "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}})  # fmt: skip
    assert code(site.writer.put_object, Bucket=bucket, Key="plain", Body=b"x") == "AccessDenied"

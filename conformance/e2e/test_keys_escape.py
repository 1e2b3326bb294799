"""Object keys: odd characters, long keys, file/directory collisions on the fs
backend, and path-traversal attempts that must never leave the data dir.

An escape attempt passes when the gateway either stores a plain object inside
the bucket under exactly the given key (and returns it exactly), or refuses the
request with a 4xx S3 error; in no case may a file outside the data dir be
created, changed or read. With the fs backend every ancestor directory of the
data dir (up to the session's work dir) holds a canary file and is watched.
"""

import os
import posixpath
import secrets
import urllib.parse
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import suite_backend
from e2e_util import client_error, parse_error, signed_request


def azure_refuses(key: str) -> bool:
    """Keys the azure backend refuses with 400 InvalidObjectName (README, "On
    Azure"): a URL path cannot name `.`/`..`, and Azure turns `\\` into `/`."""
    return suite_backend() == "azure" and (key in (".", "..") or "\\" in key)


def assert_refused(s3, bucket, key):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert client_error(e.value) == (400, "InvalidObjectName")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    assert client_error(e.value)[0] == 400

ROUND_TRIP_KEYS = [
    "ünïcödé/ファイル.txt",
    "with space",
    "  leading and trailing spaces  ",
    "plus+sign",
    "percent%25literal",
    "percent%2Fnot-a-slash",
    "question?mark",
    "hash#tag",
    "amp&and=eq",
    "emoji😀🎉/x",
    "/leading-slash",
    "double//slash",
    "triple///slash//",
    "trailing-slash/",
    "./dot-slash",
    "a/./b",
    "dot.",
    "..dots",
    "...",
    "tilde~",
    "semi;colon,comma",
    "quote\"apos'",
    "star*caret^pipe|",
    "backslash\\x",
    "brackets[]{}()<>",
    "tab\tkey",
    "k" * 1024,
    "€" * 341 + "k",  # 1024 bytes, 342 characters
    "a" * 300 + "/" + "b" * 300,  # path segments longer than NAME_MAX (255)
    ("s" * 254 + "/") * 3 + "end",
]


def _id(key: str) -> str:
    return key if len(key) <= 40 else f"{key[:20]}...({len(key.encode())}B)"


@pytest.mark.parametrize("key", ROUND_TRIP_KEYS, ids=[_id(k) for k in ROUND_TRIP_KEYS])
def test_key_round_trip(s3, bucket, key):
    if azure_refuses(key):
        assert_refused(s3, bucket, key)
        assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
        return
    body = key.encode()
    put = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"k": "v"})
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == body
    assert got["Metadata"] == {"k": "v"}
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == [key]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])] == [key]
    assert s3.delete_object(Bucket=bucket, Key=key)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key)
    assert client_error(e.value) == (404, "NoSuchKey")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_1024_byte_key_presigned(s3, bucket):
    import requests

    key = "p/" + "é" * 511  # 1024 bytes
    s3.put_object(Bucket=bucket, Key=key, Body=b"long")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    assert requests.get(url, timeout=10).content == b"long"


# --------------------------------------------------------------------------
# fs layout collisions



def _store_and_check(s3, bucket, keys):
    """PUT each key with its own name as body, read each back, and check the
    listing shows exactly these keys in UTF-8 binary order."""
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    for k in keys:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode(), k
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=str.encode)

@pytest.mark.parametrize(
    "keys",
    [
        ["x", "x/y"],
        ["p/q", "p"],
        ["k/", "k", "k//", "k/child"],
        ["deep/a/b/c", "deep/a/b", "deep/a", "deep"],
        ["d/", "d/e/", "d/e/f"],
    ],
    ids=["file-then-child", "child-then-file", "slash-variants", "nested", "folder-markers"],
)
def test_file_and_directory_keys_coexist(s3, bucket, keys):
    _store_and_check(s3, bucket, keys)
    # delete in put order: the rest stays intact each time
    for i, k in enumerate(keys):
        s3.delete_object(Bucket=bucket, Key=k)
        rest = sorted(keys[i + 1 :], key=str.encode)
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == rest
        for r in rest:
            assert s3.get_object(Bucket=bucket, Key=r)["Body"].read() == r.encode()


def test_no_phantom_prefixes_after_delete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a/b/c/d.txt", Body=b"1")
    s3.put_object(Bucket=bucket, Key="keep.txt", Body=b"1")
    s3.delete_object(Bucket=bucket, Key="a/b/c/d.txt")
    resp = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert resp.get("CommonPrefixes", []) == []
    assert [o["Key"] for o in resp["Contents"]] == ["keep.txt"]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="a/")["KeyCount"] == 0


SIDECAR_LIKE = [
    "obj.meta", "obj.json", "obj.metadata", ".obj.meta", ".obj", "obj~", "obj.tmp", ".tmp",
    ".meta", ".blobgate", "_blobgate", ".obj.json", "obj/.meta", ".blobgate-meta", ".part",
    "obj.part", ".uploads", ".multipart", "obj#meta", "obj.xattr",
]  # fmt: skip


def test_keys_that_look_like_internal_files(s3, bucket):
    """Objects named like typical metadata/temp files neither clobber a neighbour's
    data or metadata nor hide; and no internal file leaks into listings."""
    s3.put_object(Bucket=bucket, Key="obj", Body=b"the object", Metadata={"owner": "me"}, ContentType="text/x-obj")
    for k in SIDECAR_LIKE:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode(), Metadata={"name": "sidecar"})
    head = s3.head_object(Bucket=bucket, Key="obj")
    assert head["Metadata"] == {"owner": "me"}
    assert head["ContentType"] == "text/x-obj"
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"the object"
    for k in SIDECAR_LIKE:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode(), k
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(["obj", *SIDECAR_LIKE], key=str.encode)


ENCODING_LOOKALIKES = [
    "%", "%%", "%25", "%2E%2E", "%2e%2e", "..", "%2F", "%00", "@", "@obj", "a/@obj", "@name",
    "@lock", "@bucket", "@meta", "dir/", "dir/%", "dir/@", "#", "#" + "f" * 64, "x/#abc",
    "CASE", "case", "Case/", "case/", "~", "+", ".", "_",
]  # fmt: skip


def test_keys_resembling_storage_encodings_stay_distinct(s3, bucket):
    """Keys that look like typical on-disk escapes (percent, '@', '#', case) are
    distinct objects: no two of them share storage."""
    keys = [k for k in ENCODING_LOOKALIKES if not azure_refuses(k)]
    for k in ENCODING_LOOKALIKES:
        if azure_refuses(k):
            assert_refused(s3, bucket, k)
    _store_and_check(s3, bucket, keys)
    for i, k in enumerate(keys):
        s3.delete_object(Bucket=bucket, Key=k)
        for r in keys[i + 1 :]:
            assert s3.head_object(Bucket=bucket, Key=r)["ContentLength"] == len(r.encode()), (k, r)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_listing_hides_backend_files(s3, bucket):
    s3.put_object(Bucket=bucket, Key="only", Body=b"1", Metadata={"a": "b"}, ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key="dir/inner", Body=b"2", Metadata={"a": "b"})
    for args in ({}, {"Delimiter": "/"}, {"Prefix": "dir/"}, {"Prefix": "."}, {"Prefix": "_"}):
        resp = s3.list_objects_v2(Bucket=bucket, **args)
        keys = [o["Key"] for o in resp.get("Contents", [])]
        prefixes = [p["Prefix"] for p in resp.get("CommonPrefixes", [])]
        assert set(keys) | set(prefixes) <= {"only", "dir/inner", "dir/"}, (args, keys, prefixes)


# --------------------------------------------------------------------------
# escape attempts


@pytest.fixture
def sandbox(gateway):
    """Canaries in every directory between the session work dir and the data dir,
    and a snapshot of everything there except the data dir and the log."""
    if gateway.data_dir is None:
        yield None
        return
    token = secrets.token_hex(16)
    workdir = gateway.jail.parent
    dirs = [gateway.data_dir.parent]
    while dirs[-1] != workdir:
        dirs.append(dirs[-1].parent)
    canaries = []
    for d in dirs:
        c = d / "canary.txt"
        c.write_text(f"CANARY-{token}")
        canaries.append(c)

    def snapshot():
        state = {}
        for root, subdirs, files in os.walk(workdir):
            root_p = Path(root)
            if root_p == gateway.data_dir:
                subdirs[:] = []
                continue
            for name in files:
                p = root_p / name
                if p == gateway.log_path:
                    continue
                st = p.lstat()
                state[str(p.relative_to(workdir))] = (st.st_size, st.st_mtime_ns)
            for name in subdirs:
                state[str((root_p / name).relative_to(workdir)) + "/"] = "dir"
        return state

    before = snapshot()
    yield {"token": token.encode(), "canaries": canaries, "depth": len(dirs)}
    after = snapshot()
    assert after == before, (
        "files outside the data dir were created/changed: "
        f"{sorted(set(after.items()) ^ set(before.items()))}"
    )
    for c in canaries:
        assert c.read_text() == f"CANARY-{token}"


ESCAPE_KEYS = [
    "../escape.txt",
    "../../../../../../../../escape.txt",
    "..",
    ".",
    "../",
    "./",
    "a/../../b",
    "a/../b",
    "a/b/../../../../c",
    "..\\..\\windows.txt",
    "%2e%2e/literal-percent",
    "%2e%2e%2fliteral",
    "....//x",
    ".../x",
    "x/..",
    "x/../",
    "~/home.txt",
    "ABSOLUTE",  # replaced by '/' + an absolute path inside the sandbox
]


def _assert_rejected_400(status: int, code: str):
    assert status == 400, f"expected the object to be stored or a 400 S3 error, got {status} {code}"
    assert code and code.isalnum(), code


@pytest.mark.parametrize("key", ESCAPE_KEYS)
def test_escape_key_put_get(s3, bucket, sandbox, gateway, key):
    if key == "ABSOLUTE":
        target = (gateway.jail / "absolute-target.txt") if gateway.jail else Path("/tmp/blobgate-e2e-abs-target")
        key = "/" + str(target).lstrip("/")
    body = b"escape attempt " + key.encode()
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except ClientError as e:
        _assert_rejected_400(*client_error(e))
        with pytest.raises(ClientError) as e2:
            s3.get_object(Bucket=bucket, Key=key)
        assert client_error(e2.value)[0] in (400, 404)
        return
    # stored: it must be an ordinary object with exactly that key
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    normalized = posixpath.normpath(key).lstrip("/")
    if normalized not in (key, ".", "..", "") and not normalized.startswith("../"):
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key=normalized)
        assert client_error(e.value)[0] == 404, f"{key!r} was stored as {normalized!r}"
    s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def _raw_targets(bucket: str, gateway, depth: int) -> list[str]:
    targets = []
    for n in range(1, depth + 2):
        targets += [
            f"/{bucket}/" + "../" * n + "canary.txt",
            f"/{bucket}/" + "%2e%2e/" * n + "canary.txt",
            f"/{bucket}/" + "%2E%2E%2F" * n + "canary.txt",
            f"/{bucket}/" + "..%2f" * n + "canary.txt",
            f"/{bucket}/x/" + "..%5c" * n + "canary.txt",
        ]
    targets += [
        "/%2e%2e/canary.txt",
        "/../canary.txt",
        "/..%2f..%2fcanary.txt",
        "/.%2e/.%2e/canary.txt",
        f"/{bucket}/%00/canary.txt",
    ]
    if gateway.jail:
        for c in (gateway.jail / "canary.txt", gateway.data_dir.parent / "canary.txt"):
            targets += [f"/{bucket}/" + urllib.parse.quote(str(c)), f"/{bucket}/" + urllib.parse.quote(str(c), safe="")]
    return targets


def test_escape_raw_reads(gateway, s3, bucket, sandbox):
    """Traversal in the raw request target (also percent-encoded) never reads outside."""
    depth = sandbox["depth"] if sandbox else 8
    failures = []
    for target in _raw_targets(bucket, gateway, depth):
        resp = signed_request(gateway, "GET", target)
        if sandbox and sandbox["token"] in resp.body:
            failures.append(f"{target}: CANARY READ")
        elif resp.status >= 500 or resp.status < 400:
            failures.append(f"{target}: {resp.status} {resp.body[:200]!r}")
        elif resp.body and not parse_error(resp.body).get("Code"):
            failures.append(f"{target}: {resp.status} without S3 error body")
    assert not failures, "\n".join(failures)


def test_escape_raw_writes(gateway, s3, bucket, sandbox):
    """Traversal in a raw PUT target either stores an object inside the bucket or is refused."""
    depth = sandbox["depth"] if sandbox else 8
    failures = []
    for n in (1, 2, depth - 1):
        for seg in ("../", "%2e%2e/", "..%2f", "%2E%2E%2F"):
            target = f"/{bucket}/" + seg * n + f"pwned-{n}.txt"
            resp = signed_request(gateway, "PUT", target, body=b"pwned")
            if resp.status >= 500:
                failures.append(f"PUT {target}: {resp.status} {resp.body[:200]!r}")
            elif resp.status == 200:
                key = urllib.parse.unquote(target[len(bucket) + 2 :])
                try:
                    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                except ClientError as e:
                    failures.append(f"PUT {target}: 200 but key {key!r} not readable: {client_error(e)}")
                    continue
                if data != b"pwned":
                    failures.append(f"PUT {target}: stored data differs")
            elif not (400 <= resp.status < 500 and resp.code):
                failures.append(f"PUT {target}: {resp.status} {resp.body[:200]!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("key", ["nul\x00byte", "\x01ctrl", "del\x7f"])
def test_control_characters(s3, bucket, sandbox, key):
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"ctl")
    except ClientError as e:
        status, code = client_error(e)
        assert status == 400 and code, (status, code)
        return
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"ctl"

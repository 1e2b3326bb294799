"""The aws CLI (v1) against the gateway: `aws s3` high-level commands and `aws s3api`."""

import hashlib
import json
import os
from pathlib import Path

import pytest
import requests

from e2e_util import etag_of, unique_bucket_name


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_s3_mb_ls_cp_rm_rb(aws, tmp_path):
    name = unique_bucket_name("cli")
    out = aws("s3", "mb", f"s3://{name}").stdout
    assert f"make_bucket: {name}" in out
    assert name in aws("s3", "ls").stdout

    src = tmp_path / "hello world.txt"
    src.write_bytes(b"hello from the aws cli\n")
    aws("s3", "cp", str(src), f"s3://{name}/docs/hello world.txt")
    listing = aws("s3", "ls", f"s3://{name}/docs/").stdout
    assert "hello world.txt" in listing
    assert str(len(src.read_bytes())) in listing
    assert "PRE docs/" in aws("s3", "ls", f"s3://{name}/").stdout

    streamed = aws("s3", "cp", f"s3://{name}/docs/hello world.txt", "-").stdout
    assert streamed == "hello from the aws cli\n"
    dst = tmp_path / "back.txt"
    aws("s3", "cp", f"s3://{name}/docs/hello world.txt", str(dst))
    assert dst.read_bytes() == src.read_bytes()

    rb = aws("s3", "rb", f"s3://{name}", check=False)
    assert rb.returncode != 0 and "BucketNotEmpty" in rb.stderr
    aws("s3", "rm", f"s3://{name}/docs/hello world.txt")
    assert aws("s3", "ls", f"s3://{name}/", check=False).stdout.strip() == ""
    aws("s3", "rb", f"s3://{name}")
    assert name not in aws("s3", "ls").stdout


def test_s3_sync_round_trip(aws, tmp_path):
    name = unique_bucket_name("sync")
    aws("s3", "mb", f"s3://{name}")
    src = tmp_path / "src"
    files = {
        "a.txt": b"a" * 10,
        "sub/b.bin": os.urandom(100_000),
        "sub/deeper/c with space.csv": b"x,y\n1,2\n",
        "ünï/d.json": b'{"k": 1}',
        "empty": b"",
    }
    for rel, data in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        # older than any upload, so sync's size+mtime comparison is deterministic
        os.utime(p, (p.stat().st_atime - 3600, p.stat().st_mtime - 3600))
    up = aws("s3", "sync", str(src), f"s3://{name}/data/").stdout
    assert up.count("upload:") == len(files)
    # nothing changed: a second sync uploads nothing (sizes and times agree)
    assert aws("s3", "sync", str(src), f"s3://{name}/data/").stdout.strip() == ""

    dst = tmp_path / "dst"
    aws("s3", "sync", f"s3://{name}/data/", str(dst))
    assert _tree(dst) == {k: v for k, v in files.items()}
    assert aws("s3", "sync", f"s3://{name}/data/", str(dst)).stdout.strip() == ""

    # --delete removes remote files that are gone locally
    (src / "a.txt").unlink()
    out = aws("s3", "sync", "--delete", str(src), f"s3://{name}/data/").stdout
    assert "delete: s3://" in out and "a.txt" in out
    keys = aws("s3api", "list-objects-v2", "--bucket", name, "--query", "Contents[].Key", "--output", "json").stdout
    assert "data/a.txt" not in json.loads(keys)

    aws("s3", "rm", "--recursive", f"s3://{name}/data/")
    aws("s3", "rb", f"s3://{name}")


def test_s3_rb_force(aws, tmp_path):
    name = unique_bucket_name("force")
    aws("s3", "mb", f"s3://{name}")
    f = tmp_path / "f"
    f.write_bytes(b"1")
    for i in range(3):
        aws("s3", "cp", str(f), f"s3://{name}/k{i}")
    aws("s3", "rb", "--force", f"s3://{name}")
    assert name not in aws("s3", "ls").stdout


def test_s3_ls_missing_bucket(aws):
    p = aws("s3", "ls", f"s3://{unique_bucket_name('missing')}/", check=False)
    assert p.returncode != 0
    assert "NoSuchBucket" in p.stderr


def test_s3api_object_commands(aws, tmp_path, s3, bucket):
    body = tmp_path / "body.csv"
    body.write_bytes(b"id,name\n1,alpha\n2,beta\n")
    put = json.loads(
        aws(
            "s3api", "put-object", "--bucket", bucket, "--key", "tables/t.csv", "--body", str(body),
            "--content-type", "text/csv", "--metadata", "Origin=cli,Run=7",
        ).stdout
    )  # fmt: skip
    assert put["ETag"] == etag_of(body.read_bytes())

    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "tables/t.csv").stdout)
    assert head["ContentLength"] == len(body.read_bytes())
    assert head["ContentType"] == "text/csv"
    assert head["Metadata"] == {"origin": "cli", "run": "7"}

    out = tmp_path / "out.csv"
    got = json.loads(aws("s3api", "get-object", "--bucket", bucket, "--key", "tables/t.csv", str(out)).stdout)
    assert out.read_bytes() == body.read_bytes()
    assert got["ETag"] == put["ETag"]

    part = tmp_path / "part"
    got = json.loads(
        aws("s3api", "get-object", "--bucket", bucket, "--key", "tables/t.csv", "--range", "bytes=0-6", str(part)).stdout
    )
    assert part.read_bytes() == b"id,name"
    assert got["ContentRange"] == f"bytes 0-6/{len(body.read_bytes())}"

    listing = json.loads(
        aws("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "tables/", "--delimiter", "/").stdout
    )
    assert [o["Key"] for o in listing["Contents"]] == ["tables/t.csv"]

    miss = aws("s3api", "head-object", "--bucket", bucket, "--key", "nope", check=False)
    assert miss.returncode != 0 and "404" in miss.stderr

    aws("s3api", "delete-object", "--bucket", bucket, "--key", "tables/t.csv")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_s3api_list_paging(aws, s3, bucket):
    for i in range(7):
        s3.put_object(Bucket=bucket, Key=f"p/{i}", Body=b"")
    # the CLI pages with --page-size via continuation tokens and merges the pages
    out = json.loads(
        aws("s3api", "list-objects-v2", "--bucket", bucket, "--page-size", "2", "--query", "Contents[].Key").stdout
    )
    assert out == [f"p/{i}" for i in range(7)]


def test_s3_presign(aws, s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"shared by link")
    url = aws("s3", "presign", f"s3://{bucket}/shared.txt", "--expires-in", "300").stdout.strip()
    r = requests.get(url, timeout=10)
    assert r.status_code == 200, (url, r.content)
    assert r.content == b"shared by link"


def test_s3_cp_single_put_15mib(aws, tmp_path, s3, bucket):
    """Below the configured 64 MB multipart threshold: one PutObject."""
    src = tmp_path / "big.bin"
    data = os.urandom(15 * 1024 * 1024)
    src.write_bytes(data)
    aws("s3", "cp", str(src), f"s3://{bucket}/big.bin")
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ETag"] == etag_of(data)  # a single-part ETag
    dst = tmp_path / "big.out"
    aws("s3", "cp", f"s3://{bucket}/big.bin", str(dst))
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_s3_cp_20mib_multipart(aws, tmp_path, s3, bucket):
    """With the CLI's default 8 MB threshold a 20 MiB copy is a multipart upload."""
    src = tmp_path / "mp.bin"
    data = os.urandom(20 * 1024 * 1024)
    src.write_bytes(data)
    aws("s3", "cp", str(src), f"s3://{bucket}/mp.bin", config="default")
    head = s3.head_object(Bucket=bucket, Key="mp.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')  # 8 MiB parts: 3 parts
    dst = tmp_path / "mp.out"
    aws("s3", "cp", f"s3://{bucket}/mp.bin", str(dst), config="default")
    assert dst.read_bytes() == data

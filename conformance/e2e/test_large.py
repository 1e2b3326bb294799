"""A 100 MiB object through a single PUT and back, streamed on the client side,
with the gateway's memory watched while it receives the upload."""

import hashlib
import os
from pathlib import Path

import pytest

SIZE = 100 * 1024 * 1024
CHUNK = 1024 * 1024


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _vm_rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """100 MiB of pseudo-random data written in 1 MiB chunks; returns (path, sha256, md5)."""
    path = tmp_path_factory.mktemp("large") / "big.bin"
    sha, md5 = hashlib.sha256(), hashlib.md5()
    seed = os.urandom(CHUNK)
    with open(path, "wb") as f:
        for i in range(SIZE // CHUNK):
            block = hashlib.sha256(i.to_bytes(4, "big")).digest() + seed[32:]  # distinct per chunk
            f.write(block)
            sha.update(block)
            md5.update(block)
    yield path, sha.hexdigest(), md5.hexdigest()
    path.unlink()


@pytest.mark.slow
def test_100mib_single_put_and_get(gateway, s3, bucket, big_file):
    path, sha256_hex, md5_hex = big_file
    pid = gateway.proc.pid if gateway.proc else None
    rss_before = None
    if pid:
        try:  # reset the peak-RSS counter (VmHWM) of the gateway process
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            rss_before = _vm_rss_kib(pid)
        except OSError:
            pass

    with open(path, "rb") as f:
        put = s3.put_object(Bucket=bucket, Key="big.bin", Body=f)
    assert put["ETag"] == f'"{md5_hex}"'

    if pid and rss_before is not None:
        hwm = _vm_hwm_kib(pid)
        # A streaming upload does not need the object in memory; a buffered one
        # needs at least 100 MiB. Allow generous room for the allocator.
        assert hwm - rss_before < 64 * 1024, (
            f"gateway peak RSS rose by {(hwm - rss_before) // 1024} MiB during a 100 MiB upload"
        )

    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == SIZE

    got = s3.get_object(Bucket=bucket, Key="big.bin")
    assert got["ContentLength"] == SIZE
    sha = hashlib.sha256()
    n = 0
    for chunk in got["Body"].iter_chunks(CHUNK):
        sha.update(chunk)
        n += len(chunk)
    assert n == SIZE
    assert sha.hexdigest() == sha256_hex

    # a range in the middle matches the file
    start = 50 * 1024 * 1024 + 123
    rng = s3.get_object(Bucket=bucket, Key="big.bin", Range=f"bytes={start}-{start + CHUNK - 1}")
    with open(path, "rb") as f:
        f.seek(start)
        assert rng["Body"].read() == f.read(CHUNK)

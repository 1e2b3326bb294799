"""Peak gateway memory while objects of growing size stream in and out.

Starts the release binary on a loopback port with a temporary data dir,
PUTs and GETs objects of each size with boto3 (single requests, streamed
from a generator on both sides), checks the SHA-256 of what comes back, and
reads the gateway's peak RSS (VmHWM) after each size. Memory must not grow
with object size: compare the rows.

    python3 benches/stream_memory.py [SIZE_MIB ...]     (default: 64 1024)

Multipart instead of single PUTs: set PART_MIB (e.g. 64); boto3's
transfer manager then uploads in parts of that size, 4 at a time. The issue's
soak is `PART_MIB=64 python3 benches/stream_memory.py 64 1024 5120`.

Over Azure instead of a local directory: set BLOBGATE_BACKEND=azure with the
gateway's usual Azure settings (AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY,
BLOBGATE_AZURE_ENDPOINT), e.g. for an Azurite started by
conformance/azurite.sh.

Needs boto3 (conformance/.venv has it) and a release build
(cargo build --release -p blobgate).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
CHUNK = 1 << 20


def make_file(path: Path, size: int) -> str:
    """Write `size` pseudo-random bytes to `path`; return their SHA-256."""
    sha = hashlib.sha256()
    block = os.urandom(CHUNK)
    with path.open("wb") as f:
        for i in range(size // CHUNK):
            chunk = block[i % 251 :] + block[: i % 251]
            sha.update(chunk)
            f.write(chunk)
    return sha.hexdigest()


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [64, 1024]
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    binary = target / "release" / "blobgate"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as store:
        env = dict(os.environ, BLOBGATE_ACCESS_KEY="bench", BLOBGATE_SECRET_KEY="bench-secret", RUST_LOG="warn")
        backend = os.environ.get("BLOBGATE_BACKEND", "fs")
        args = [str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--backend", backend]
        if backend == "fs":
            args += ["--data-dir", store]
        proc = subprocess.Popen(args, env=env)
        try:
            time.sleep(0.5)
            s3 = boto3.client(
                "s3",
                endpoint_url=f"http://127.0.0.1:{port}",
                aws_access_key_id="bench",
                aws_secret_access_key="bench-secret",
                region_name="us-east-1",
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
            )
            bucket = f"bench-{os.getpid()}"
            s3.create_bucket(Bucket=bucket)
            part_mib = int(os.environ.get("PART_MIB", "0"))
            transfer = TransferConfig(
                multipart_threshold=max(part_mib, 5) << 20,
                multipart_chunksize=max(part_mib, 5) << 20,
                max_concurrency=4,
            )
            print(f"backend: {backend}, " + (f"multipart, {part_mib} MiB parts" if part_mib else "single PUT"))
            print(f"{'size MiB':>9} {'PUT MiB/s':>10} {'GET MiB/s':>10} {'peak RSS MiB':>13}")
            for mib in sizes:
                size = mib << 20
                src = Path(data) / f"src-{mib}"
                expected = make_file(src, size)
                t0 = time.perf_counter()
                with src.open("rb") as body:
                    if part_mib:
                        s3.upload_fileobj(body, bucket, f"obj-{mib}", Config=transfer)
                    else:
                        s3.put_object(Bucket=bucket, Key=f"obj-{mib}", Body=body)
                put_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                got = s3.get_object(Bucket=bucket, Key=f"obj-{mib}")["Body"]
                sha = hashlib.sha256()
                for chunk in iter(lambda: got.read(CHUNK), b""):
                    sha.update(chunk)
                get_s = time.perf_counter() - t0
                assert sha.hexdigest() == expected, "downloaded bytes differ"
                src.unlink()
                s3.delete_object(Bucket=bucket, Key=f"obj-{mib}")
                print(f"{mib:>9} {mib / put_s:>10.0f} {mib / get_s:>10.0f} {peak_rss_kib(proc.pid) / 1024:>13.1f}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()

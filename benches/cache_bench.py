"""Hot-object GETs through the read cache, with the cache on and off, over
the Azure backend behind a proxy that adds latency to every request.

Starts Azurite (conformance/azurite.sh), a TCP proxy in front of it that
delays each chunk the gateway sends by DELAY_MS (one request is one chunk:
about DELAY_MS per backend request, as a remote Azure region would add), and
two release gateways on that proxy: one with the cache at its defaults
(revalidation every 2 s) and one with --cache-size-mib 0. For a 64 KiB and a
1 MiB object it GETs each N times, one client connection, one request at a
time, and reports requests/s, median and p99 latency, the speed-up of the
cache, backend requests per client GET counted at the proxy, and the hit ratio
(the share of GETs answered without a backend request: with the default
policy a hot object costs one conditional request every 2 s).

    python3 benches/cache_bench.py [N] [DELAY_MS]      (default 300 20)

Needs boto3 (conformance/.venv or the bench venv) and a release build
(BLOBGATE_BIN overrides the binary).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DelayProxy:
    """Forwards TCP to a target; each chunk towards the target waits `delay`
    seconds first (in order per connection). Counts those chunks."""

    def __init__(self, target_port: int, delay: float):
        self.target_port, self.delay = target_port, delay
        self.port = free_port()
        self.requests = 0
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result()

    async def _start(self):
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader, writer):
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def to_target():
            while data := await reader.read(1 << 16):
                self.requests += 1
                await asyncio.sleep(self.delay)
                up_w.write(data)
                await up_w.drain()
            up_w.close()

        async def to_client():
            while data := await up_r.read(1 << 16):
                writer.write(data)
                await writer.drain()
            writer.close()

        await asyncio.gather(to_target(), to_client(), return_exceptions=True)


def start_gateway(binary: Path, endpoint: str, extra: list[str], env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--backend", "azure",
         "--azure-endpoint", endpoint, *extra],  # fmt: skip
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gateway did not start")


def client(url: str):
    return boto3.client(
        "s3", endpoint_url=url, aws_access_key_id="bench", aws_secret_access_key="bench-secret",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, max_pool_connections=1),
    )  # fmt: skip


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    delay_ms = float(sys.argv[2]) if len(sys.argv) > 2 else 20
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    binary = Path(os.environ.get("BLOBGATE_BIN") or target / "release" / "blobgate")
    azurite_sh = REPO / "conformance" / "azurite.sh"
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        out = subprocess.run([str(azurite_sh), "start", f"{work}/azurite"], check=True, capture_output=True, text=True)
        azenv = dict(
            line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines() if "=" in line
        )
        azenv = {k: v.strip("'\"") for k, v in azenv.items()}
        procs = []
        try:
            proxy = DelayProxy(int(azenv["AZURITE_PORT"]), delay_ms / 1000)
            endpoint = azenv["AZURITE_ENDPOINT"].replace(f":{azenv['AZURITE_PORT']}", f":{proxy.port}")
            env = dict(os.environ, AZURE_STORAGE_ACCOUNT=azenv["AZURITE_ACCOUNT"],
                       AZURE_STORAGE_KEY=azenv["AZURITE_KEY"], BLOBGATE_ACCESS_KEY="bench",
                       BLOBGATE_SECRET_KEY="bench-secret", RUST_LOG="warn")  # fmt: skip
            gateways = {}
            for name, extra in [("cache on", []), ("cache off", ["--cache-size-mib", "0"])]:
                proc, url = start_gateway(binary, endpoint, extra, env)
                procs.append(proc)
                gateways[name] = url
            setup = client(gateways["cache off"])
            setup.create_bucket(Bucket="hot")
            sizes = {"64 KiB": 64 << 10, "1 MiB": 1 << 20}
            for label, size in sizes.items():
                setup.put_object(Bucket="hot", Key=label, Body=os.urandom(size))
            rows = []
            print(f"{n} sequential GETs per row; proxy adds {delay_ms:g} ms per backend request")
            print(f"{'object':>7} {'gateway':>10} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'backend/GET':>11} {'hit ratio':>9}")
            for label, size in sizes.items():
                by = {}
                for name, url in gateways.items():
                    s3 = client(url)
                    s3.get_object(Bucket="hot", Key=label)["Body"].read()  # warm up connection and cache
                    before = proxy.requests
                    lat = []
                    t0 = time.perf_counter()
                    for _ in range(n):
                        t = time.perf_counter()
                        body = s3.get_object(Bucket="hot", Key=label)["Body"].read()
                        lat.append(time.perf_counter() - t)
                        assert len(body) == size
                    total = time.perf_counter() - t0
                    backend = proxy.requests - before
                    lat.sort()
                    row = {
                        "object": label, "gateway": name, "requests": n, "req_per_s": n / total,
                        "p50_ms": statistics.median(lat) * 1000, "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
                        "backend_requests": backend, "hit_ratio": 1 - min(backend, n) / n, "delay_ms": delay_ms,
                    }  # fmt: skip
                    by[name] = row
                    rows.append(row)
                    print(f"{label:>7} {name:>10} {row['req_per_s']:>7.1f} {row['p50_ms']:>7.1f} "
                          f"{row['p99_ms']:>7.1f} {backend / n:>11.2f} {row['hit_ratio']:>9.3f}")  # fmt: skip
                print(f"{label:>7} speed-up of the cache: {by['cache on']['req_per_s'] / by['cache off']['req_per_s']:.1f}x")
            results = REPO / "target" / "bench" / "cache_bench.jsonl"
            results.parent.mkdir(parents=True, exist_ok=True)
            with results.open("a") as f:
                for row in rows:
                    f.write(json.dumps(row) + "\n")
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=10)
            subprocess.run([str(azurite_sh), "stop", f"{work}/azurite"], capture_output=True)


if __name__ == "__main__":
    main()

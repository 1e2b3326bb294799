"""How fast the web console opens a big folder: the time from following a
link to a folder until its first rows are on screen, for a prefix of N keys
(default 100,000) against the baseline of a prefix of 10 keys, in one run,
on one release gateway (fs backend on a temporary directory) and one
headless Chromium (conformance/e2e/browser.py).

The console lists a folder one page at a time (100 entries first, then
1,000) and renders the first page as soon as it arrives, so a prefix of 100,000 keys should open
as fast as one of 10; the issue's target is the first page on screen in
under 1 s on this machine.

    cargo build --release -p blobgate
    conformance/.venv/bin/python benches/console_bench.py [N] [RUNS]   (default 100000 7)

With a third argument G (GiB), it then uploads a sparse file of G GiB
through the console's upload button (multipart, 4 parts in flight) and
samples the resident memory of every Chromium process of the run and of the
gateway: the browser must not hold the file in memory.

    conformance/.venv/bin/python benches/console_bench.py 10 3 2

Needs boto3 and selenium (conformance/.venv) and Chromium
(conformance/browser.sh). BLOBGATE_BIN overrides the binary. Prints a
Markdown table: median and slowest of RUNS openings of each folder.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import requests
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "conformance" / "e2e"))
import browser  # noqa: E402

ACCESS, SECRET = "bench-access", "bench-secret-key-0123456789"

MEASURE = """
const [hash, done] = arguments;
const t0 = performance.now();
const observer = new MutationObserver(() => {
  if (document.querySelector('#objects tbody tr')) {
    observer.disconnect();
    const lists = performance.getEntriesByType('resource').filter((e) => e.name.includes('list-type=2'));
    const last = lists[lists.length - 1];
    done([performance.now() - t0, last ? last.duration : 0]);
  }
});
observer.observe(document.getElementById('app'), {subtree: true, childList: true});
location.hash = hash;
"""


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def chromium_pids(profile: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if profile in (d / "cmdline").read_bytes().decode(errors="replace"):
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def upload(driver, s3, gib: int, work: Path, gateway_pid: int) -> str:
    big = work / "upload.bin"
    with big.open("wb") as f:
        f.truncate(gib << 30)
    driver.execute_script("location.hash = '#/b/bench/'")
    time.sleep(1)
    pids = chromium_pids(str(driver.profile_dir))
    before = rss_mib(pids)
    gw_before = rss_mib([gateway_pid])
    peak, gw_peak = before, gw_before
    started = time.monotonic()
    driver.find_element("id", "upload-files").send_keys(str(big))
    while True:
        peak = max(peak, rss_mib(chromium_pids(str(driver.profile_dir))))
        gw_peak = max(gw_peak, rss_mib([gateway_pid]))
        try:
            s3.head_object(Bucket="bench", Key="upload.bin")
            break
        except Exception:
            time.sleep(0.2)
    seconds = time.monotonic() - started
    return (
        "\n| upload through the console | time | rate | Chromium RSS before | Chromium RSS peak | gateway RSS peak |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |\n"
        f"| {gib} GiB file, multipart | {seconds:.1f} s | {(gib << 10) / seconds:.0f} MiB/s | {before:.0f} MiB "
        f"| {peak:.0f} MiB | {gw_peak:.0f} MiB (from {gw_before:.0f}) |"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    upload_gib = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    binary = os.environ.get("BLOBGATE_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "release" / "blobgate"
    )
    work = Path(tempfile.mkdtemp(prefix="console-bench-"))
    port = free_port()
    env = {**os.environ, "BLOBGATE_ACCESS_KEY": ACCESS, "BLOBGATE_SECRET_KEY": SECRET, "RUST_LOG": "warn"}
    gw = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(work / "data")],
        env=env, stdout=subprocess.DEVNULL, stderr=open(work / "gateway.log", "wb"),
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{endpoint}/-/health/live", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                          region_name="us-east-1", config=Config(max_pool_connections=32, retries={"max_attempts": 5}))  # fmt: skip
        s3.create_bucket(Bucket="bench")
        started = time.monotonic()
        keys = [f"small/part-{i:02d}.csv" for i in range(10)] + [f"big/part-{i:06d}.csv" for i in range(n)]
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket="bench", Key=k, Body=b"a,b\n1,2\n"), keys))
        print(f"wrote {len(keys)} objects in {time.monotonic() - started:.0f} s", file=sys.stderr)

        driver = browser.chromium(work / "downloads")
        try:
            driver.get(f"{endpoint}/-/console/")
            driver.find_element("id", "accessKeyId").send_keys(ACCESS)
            driver.find_element("id", "secretAccessKey").send_keys(SECRET)
            driver.find_element("css selector", "form.signin button[type=submit]").click()
            time.sleep(1)
            results: dict[str, list[float]] = {"small/": [], "big/": []}
            listing: dict[str, list[float]] = {"small/": [], "big/": []}
            for _ in range(runs):
                for prefix in results:
                    driver.execute_script("location.hash = '#/'")
                    time.sleep(0.3)
                    ms, list_ms = driver.execute_async_script(MEASURE, f"#/b/bench/{prefix}")
                    results[prefix].append(ms)
                    listing[prefix].append(list_ms)
            rows = driver.execute_script("return document.querySelectorAll('#objects tbody tr').length")
            uploaded = upload(driver, s3, upload_gib, work, gw.pid) if upload_gib else ""
        finally:
            driver.quit()
        base = statistics.median(results["small/"])
        print(f"| folder | keys | first page on screen, median of {runs} | slowest | vs 10 keys | of which the ListObjectsV2 request |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for prefix, count in (("small/", 10), ("big/", n)):
            med = statistics.median(results[prefix])
            print(f"| `{prefix}` | {count:,} | {med:.0f} ms | {max(results[prefix]):.0f} ms | {med / base:.2f}x "
                  f"| {statistics.median(listing[prefix]):.0f} ms |")
        print(uploaded)
        print(f"\n(rows on screen after the big folder's first page: {rows})", file=sys.stderr)
    finally:
        gw.terminate()
        gw.wait(timeout=30)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()

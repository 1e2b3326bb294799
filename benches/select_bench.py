"""S3 Select through the gateway against DuckDB on the same file (issue 5).

Makes (once, cached) a CSV of ROWS rows and the same rows as Parquet with
DuckDB, starts the release gateway over the fs backend on a loopback port,
uploads both objects with boto3 (one streamed PUT each), then times each
query RUNS times through boto3 `select_object_content` (the whole event
stream consumed) and, in the same run, DuckDB running the equivalent query
on the same local file (read_csv with header=true / read_parquet), with its
default threads and with one thread (the gateway runs a query on one
partition). Every gateway answer is checked against DuckDB's.

Reported per query and format: the median seconds of each side and their
ratio, the gateway's time to the first Records event, its CPU seconds
(utime+stime from /proc/PID/stat around each run, median), its peak RSS
during the query (VmHWM, reset through /proc/PID/clear_refs before each
query) and the Stats event's BytesScanned against the object's size. One
JSON line per row is appended to $BENCH_RESULTS.

    benches/select_bench.sh [ROWS] [RUNS]      (default 10000000 3)

Environment: BLOBGATE_BIN (default $CARGO_TARGET_DIR/release/blobgate),
BENCH_DATA (cache of generated files, default /var/tmp/blobgate-select-bench),
BENCH_RESULTS (default target/bench/select_bench.jsonl). Needs duckdb and
boto3 (select_bench.sh makes a virtualenv with both).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import duckdb
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

REPO = Path(__file__).resolve().parents[1]
HZ = os.sysconf("SC_CLK_TCK")
CATEGORIES = 100


# --- data ------------------------------------------------------------------

def generate(rows: int, cache: Path) -> tuple[Path, Path]:
    """The CSV and Parquet files of `rows` rows, made once per row count.

    id BIGINT (0..rows-1, in file order), name VARCHAR (66 chars),
    category VARCHAR ('c0'..'c99', by id), value DOUBLE (0..999.99, from a
    hash of id), ts TIMESTAMP (one second apart, written to the CSV in ISO
    8601 with a T and Z as S3 Select reads timestamps). The Parquet file
    has about ten row groups, ZSTD.
    """
    d = cache / f"rows-{rows}"
    csv_path, pq_path = d / "data.csv", d / "data.parquet"
    if csv_path.exists() and pq_path.exists():
        return csv_path, pq_path
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"""
        CREATE VIEW gen AS SELECT
            i AS id,
            'n-' || md5(i::VARCHAR) || md5((-i)::VARCHAR) AS name,
            'c' || ((i * 7919) % {CATEGORIES})::VARCHAR AS category,
            ((hash(i) % 100000) / 100.0)::DOUBLE AS value,
            TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i) AS ts
        FROM range({rows}) t(i)""")
    tmp_csv, tmp_pq = d / "data.csv.tmp", d / "data.parquet.tmp"
    # Written in id order (preserve_insertion_order is DuckDB's default).
    con.execute(f"""COPY (SELECT id, name, category, value, strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS ts
                         FROM gen ORDER BY id)
                   TO '{tmp_csv}' (FORMAT csv, HEADER true)""")
    con.execute(f"""COPY (SELECT * FROM gen ORDER BY id) TO '{tmp_pq}'
                   (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {max(10_000, rows // 10)})""")
    con.close()
    tmp_csv.rename(csv_path)
    tmp_pq.rename(pq_path)
    print(f"generated {rows} rows in {time.perf_counter() - t0:.1f} s into {d}", file=sys.stderr)
    return csv_path, pq_path


# --- queries -----------------------------------------------------------------

@dataclass
class Query:
    name: str
    s3_csv: str  # S3 Select SQL on the CSV object (every field is a string)
    s3_parquet: str  # ... on the Parquet object (typed columns)
    duck: str  # DuckDB, with {src} for read_csv(...) / read_parquet(...)
    kind: str  # how answers are compared: rows (as a set), agg, limit
    first_record: bool = False
    formats: tuple[str, ...] = ("csv", "parquet")


QUERIES = [
    Query(
        "filter (~0.1% of rows)",
        "SELECT s.id, s.name FROM S3Object s WHERE s.category = 'c42' AND CAST(s.value AS FLOAT) > 900",
        "SELECT s.id, s.name FROM S3Object s WHERE s.category = 'c42' AND s.value > 900",
        "SELECT id, name FROM {src} WHERE category = 'c42' AND value > 900",
        "rows",
    ),
    Query(
        "COUNT, SUM with WHERE",
        "SELECT COUNT(*), SUM(CAST(s.value AS FLOAT)) FROM S3Object s WHERE s.category = 'c7'",
        "SELECT COUNT(*), SUM(s.value) FROM S3Object s WHERE s.category = 'c7'",
        "SELECT COUNT(*), SUM(value) FROM {src} WHERE category = 'c7'",
        "agg",
    ),
    Query(
        "SELECT * LIMIT 10",
        "SELECT * FROM S3Object s LIMIT 10",
        "SELECT * FROM S3Object s LIMIT 10",
        "SELECT * FROM {src} LIMIT 10",
        "limit",
        first_record=True,
    ),
    Query(
        "one column SUM",
        "",
        "SELECT SUM(s.value) FROM S3Object s",
        "SELECT SUM(value) FROM {src}",
        "agg",
        formats=("parquet",),
    ),
]


# --- gateway -----------------------------------------------------------------

def ticks(pid: int) -> int:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)


def hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_hwm(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass
class Answer:
    seconds: float
    first_record: float | None
    records: bytes
    scanned: int | None
    processed: int | None
    returned: int | None
    cpu: float


def select(s3, bucket: str, key: str, sql: str, fmt: str, pid: int) -> Answer:
    if fmt == "csv":
        inp = {"CSV": {"FileHeaderInfo": "USE"}, "CompressionType": "NONE"}
    else:
        inp = {"Parquet": {}}
    c0 = ticks(pid)
    t0 = time.perf_counter()
    resp = s3.select_object_content(
        Bucket=bucket, Key=key, Expression=sql, ExpressionType="SQL",
        InputSerialization=inp, OutputSerialization={"CSV": {}},
    )
    first = None
    out = io.BytesIO()
    stats = {}
    for ev in resp["Payload"]:
        if "Records" in ev:
            if first is None:
                first = time.perf_counter() - t0
            out.write(ev["Records"]["Payload"])
        elif "Stats" in ev:
            stats = ev["Stats"]["Details"]
    secs = time.perf_counter() - t0
    cpu = (ticks(pid) - c0) / HZ
    return Answer(secs, first, out.getvalue(), stats.get("BytesScanned"), stats.get("BytesProcessed"),
                  stats.get("BytesReturned"), cpu)


def duck_run(path: Path, fmt: str, q: Query, threads: int | None) -> tuple[float, float, list]:
    src = f"read_csv('{path}', header=true)" if fmt == "csv" else f"read_parquet('{path}')"
    con = duckdb.connect(config={"threads": threads} if threads else {})
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    rows = con.execute(q.duck.format(src=src)).fetchall()
    secs = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    con.close()
    return secs, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), rows


def check(q: Query, fmt: str, records: bytes, expected: list, rows_total: int) -> str | None:
    """None if the gateway's CSV records answer the query as DuckDB did."""
    got = list(csv.reader(io.StringIO(records.decode())))
    if q.kind == "rows":
        g = sorted((int(r[0]), r[1]) for r in got)
        e = sorted((int(r[0]), r[1]) for r in expected)
        if g != e:
            extra, missing = sorted(set(g) - set(e)), sorted(set(e) - set(g))
            return f"{len(g)} rows, DuckDB {len(e)}; not in DuckDB's: {extra[:3]}, missing: {missing[:3]}"
    elif q.kind == "agg":
        if len(got) != 1 or len(got[0]) != len(expected[0]):
            return f"answer {got!r}, DuckDB {expected!r}"
        for g, e in zip(got[0], expected[0]):
            gv, ev = float(g), float(e)
            if abs(gv - ev) > 1e-9 * max(1.0, abs(ev)):
                return f"answer {got[0]!r}, DuckDB {expected[0]!r}"
    elif q.kind == "limit":
        # S3 Select's LIMIT without ORDER BY: the first rows of the object.
        if len(got) != 10 or [int(r[0]) for r in got] != list(range(10)):
            return f"{len(got)} rows, ids {[r[0] for r in got][:12]} (want ids 0..9)"
        if fmt == "csv" and got[0] != [str(x) for x in _first_csv_row]:
            return f"first row {got[0]!r}, file has {_first_csv_row!r}"
    return None


_first_csv_row: list = []


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    binary = Path(os.environ.get("BLOBGATE_BIN") or target / "release" / "blobgate")
    cache = Path(os.environ.get("BENCH_DATA", "/var/tmp/blobgate-select-bench"))
    results = Path(os.environ.get("BENCH_RESULTS") or REPO / "target" / "bench" / "select_bench.jsonl")
    if not binary.is_file():
        sys.exit(f"no gateway binary at {binary} (cargo build --release -p blobgate)")

    csv_path, pq_path = generate(rows, cache)
    sizes = {"csv": csv_path.stat().st_size, "parquet": pq_path.stat().st_size}
    paths = {"csv": csv_path, "parquet": pq_path}
    with csv_path.open() as f:
        f.readline()
        _first_csv_row.extend(next(csv.reader([f.readline()])))
    meta = duckdb.connect().execute(f"SELECT count(DISTINCT row_group_id), any_value(compression) "
                                    f"FROM parquet_metadata('{pq_path}')").fetchone()
    print(f"{rows} rows: CSV {sizes['csv'] / 2**20:.0f} MiB, Parquet {sizes['parquet'] / 2**20:.0f} MiB "
          f"({meta[0]} row groups, {meta[1]}); {runs} runs each; binary {binary}", file=sys.stderr)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = tempfile.mkdtemp(prefix="blobgate-selectbench.", dir="/var/tmp")
    log = open(Path(store + ".log"), "wb")
    env = dict(os.environ, BLOBGATE_ACCESS_KEY="bench", BLOBGATE_SECRET_KEY="bench-secret", RUST_LOG="warn")
    proc = subprocess.Popen([str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--backend", "fs",
                             "--data-dir", store], env=env, stdout=log, stderr=subprocess.STDOUT)
    out_rows = []
    anomalies = []
    load_before = Path("/proc/loadavg").read_text().split()[0]
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    sys.exit(f"gateway exited: {Path(store + '.log').read_text()}")
                time.sleep(0.1)
        s3 = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="bench",
            aws_secret_access_key="bench-secret", region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, read_timeout=600),
        )
        bucket = "selectbench"
        s3.create_bucket(Bucket=bucket)
        for fmt in ("csv", "parquet"):
            t0 = time.perf_counter()
            with paths[fmt].open("rb") as body:  # one streamed PUT (the gateway has no multipart yet)
                s3.put_object(Bucket=bucket, Key=f"data.{fmt}", Body=body)
            print(f"uploaded {fmt} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        rss_reset = reset_hwm(proc.pid)

        for q in QUERIES:
            for fmt in q.formats:
                sql = q.s3_csv if fmt == "csv" else q.s3_parquet
                gw, dk, dk1 = [], [], []
                expected = None
                error = None
                if rss_reset:
                    reset_hwm(proc.pid)
                for _ in range(runs):  # interleaved: gateway, DuckDB, DuckDB 1 thread
                    try:
                        gw.append(select(s3, bucket, f"data.{fmt}", sql, fmt, proc.pid))
                    except (ClientError, EventStreamError) as e:
                        error = f"{type(e).__name__}: {e}"
                    secs, cpu, expected = duck_run(paths[fmt], fmt, q, None)
                    dk.append((secs, cpu))
                    secs, cpu, _ = duck_run(paths[fmt], fmt, q, 1)
                    dk1.append((secs, cpu))
                    if error:
                        break
                rss = hwm_mib(proc.pid)
                row = dict(query=q.name, format=fmt, sql=sql, duck_sql=q.duck, object_bytes=sizes[fmt],
                           duck_s=statistics.median(s for s, _ in dk), duck_cpu_s=statistics.median(c for _, c in dk),
                           duck1_s=statistics.median(s for s, _ in dk1))
                if error:
                    row["error"] = error
                    anomalies.append(f"{q.name} / {fmt}: `{sql}` -> {error}")
                else:
                    wrong = check(q, fmt, gw[0].records, expected, rows)
                    if wrong:
                        row["wrong"] = wrong
                        anomalies.append(f"{q.name} / {fmt}: `{sql}` -> wrong answer: {wrong}")
                    row.update(
                        gw_s=statistics.median(a.seconds for a in gw), gw_runs=[round(a.seconds, 3) for a in gw],
                        gw_cpu_s=statistics.median(a.cpu for a in gw), gw_rss_mib=round(rss, 1) if rss_reset else None,
                        first_record_s=statistics.median(a.first_record for a in gw) if q.first_record
                        and all(a.first_record is not None for a in gw) else None,
                        bytes_scanned=gw[0].scanned, bytes_returned=gw[0].returned,
                    )
                    row["ratio"] = row["gw_s"] / row["duck_s"]
                    row["ratio1"] = row["gw_s"] / row["duck1_s"]
                out_rows.append(row)
                print(f"  {q.name} / {fmt}: " + (row.get("error") or
                      f"gateway {row['gw_s']:.3f} s, DuckDB {row['duck_s']:.3f} s"), file=sys.stderr)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(store, ignore_errors=True)
        Path(store + ".log").unlink(missing_ok=True)

    load = f"{load_before} -> {Path('/proc/loadavg').read_text().split()[0]}"
    print(f"\n{rows} rows; CSV {sizes['csv'] / 2**20:.0f} MiB, Parquet {sizes['parquet'] / 2**20:.0f} MiB; "
          f"median of {runs}; DuckDB {duckdb.__version__}; load average {load}")
    hdr = ["query", "format", "gateway s", "DuckDB s", "gw/DuckDB", "DuckDB 1 thr s", "gw/DuckDB 1 thr",
           "first Records s", "gw CPU s", "gw peak RSS MiB", "BytesScanned / size"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + " --- |" * len(hdr))
    for r in out_rows:
        if "error" in r:
            cells = [r["query"], r["format"], "error", f"{r['duck_s']:.2f}", "-", f"{r['duck1_s']:.2f}", "-", "-", "-", "-", "-"]
        else:
            scanned = "-" if r["bytes_scanned"] is None else \
                f"{r['bytes_scanned'] / 2**20:.1f} / {r['object_bytes'] / 2**20:.0f} MiB ({r['bytes_scanned'] / r['object_bytes']:.1%})"
            cells = [r["query"], r["format"] + (" WRONG" if "wrong" in r else ""), f"{r['gw_s']:.2f}",
                     f"{r['duck_s']:.2f}", f"{r['ratio']:.1f}", f"{r['duck1_s']:.2f}", f"{r['ratio1']:.1f}",
                     "-" if r["first_record_s"] is None else f"{r['first_record_s']:.3f}",
                     f"{r['gw_cpu_s']:.2f}", "-" if r["gw_rss_mib"] is None else f"{r['gw_rss_mib']:.0f}", scanned]
        print("| " + " | ".join(cells) + " |")
    if anomalies:
        print("\nanomalies:")
        for a in anomalies:
            print(f"  {a}")

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a") as f:
        for r in out_rows:
            f.write(json.dumps(dict(bench="select_bench", time=now, commit=commit, rows=rows, runs=runs,
                                    binary=str(binary), duckdb=duckdb.__version__, loadavg=load, **r)) + "\n")
    print(f"results appended to {results}")


if __name__ == "__main__":
    main()

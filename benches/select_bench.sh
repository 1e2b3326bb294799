#!/usr/bin/env bash
# S3 Select through the gateway against DuckDB on the same files: see
# select_bench.py. Makes (or completes) the virtualenv $BENCH_VENV (default
# /var/tmp/blobgate-bench-venv, shared with azure_throughput.sh) with duckdb
# and boto3, then runs the benchmark with it.
#
#   benches/select_bench.sh [ROWS] [RUNS]     (default 10000000 3)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BENCH_VENV:-/var/tmp/blobgate-bench-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c 'import duckdb, boto3' 2>/dev/null; then
    echo "installing duckdb and boto3 into $venv" >&2
    "$venv/bin/pip" install -q 'duckdb>=1.1' 'boto3>=1.34'
fi
exec "$venv/bin/python" "$repo/benches/select_bench.py" "$@"

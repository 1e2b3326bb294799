#!/usr/bin/env bash
# Test the deployment: render every Kustomize overlay with Debian's kubectl,
# validate it against the Kubernetes schemas, check the invariants, the
# Dockerfile's contract with the binary, and start the shipped configurations
# with the real binary (on Azurite for the projects').
#
#   deploy/tests/run.sh [pytest args...]
#
# Environment:
#   BLOBGATE_BIN          gateway binary (default: ${CARGO_TARGET_DIR:-target}/debug/blobgate, built if missing)
#   BLOBGATE_KUBECTL      a kubectl to render with (default: Debian's kubernetes-client,
#                         unpacked into $BLOBGATE_KUBECTL_DIR, default /var/tmp/blobgate-kubectl)
#   AZURITE_ENDPOINT, AZURITE_ACCOUNT, AZURITE_KEY
#                         a running Azurite (default: one started here, conformance/azurite.sh)
#   BLOBGATE_VENV         the test virtualenv (conformance/venv.sh)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo_root/target}"

export BLOBGATE_BIN="${BLOBGATE_BIN:-$target/debug/blobgate}"
if [ ! -x "$BLOBGATE_BIN" ]; then
    (cd "$repo_root" && cargo build --locked -p blobgate --bin blobgate)
fi

# kubectl 1.20 from Debian's kubernetes-client: the kustomize (v2.0) the
# design says overlays must render with. Unpacked rather than installed: no
# root needed, and no clash with another kubectl package on the machine.
if [ -z "${BLOBGATE_KUBECTL:-}" ]; then
    kubectl_dir="${BLOBGATE_KUBECTL_DIR:-/var/tmp/blobgate-kubectl}"
    export BLOBGATE_KUBECTL="$kubectl_dir/usr/bin/kubectl"
    if ! "$BLOBGATE_KUBECTL" version --client >/dev/null 2>&1; then
        download="$(mktemp -d "${TMPDIR:-/tmp}/blobgate-kubectl.XXXXXX")"
        if ! (cd "$download" && apt-get download kubernetes-client >/dev/null 2>&1); then
            if [ "$(id -u)" -eq 0 ]; then
                apt-get update -qq
            fi
            (cd "$download" && apt-get download kubernetes-client)
        fi
        mkdir -p "$kubectl_dir"
        dpkg-deb -x "$download"/kubernetes-client_*.deb "$kubectl_dir"
        rm -rf "$download"
    fi
fi
echo "run.sh: rendering with $("$BLOBGATE_KUBECTL" version --client --short 2>/dev/null || "$BLOBGATE_KUBECTL" version --client | head -1)" >&2

if [ -z "${AZURITE_ENDPOINT:-}" ]; then
    azurite_dir="$(mktemp -d "${TMPDIR:-/tmp}/blobgate-azurite-deploy.XXXXXX")"
    trap '"$repo_root/conformance/azurite.sh" stop "$azurite_dir" || true; rm -rf "$azurite_dir"' EXIT
    eval "$("$repo_root/conformance/azurite.sh" start "$azurite_dir")"
fi
export AZURITE_ENDPOINT AZURITE_ACCOUNT AZURITE_KEY

. "$repo_root/conformance/venv.sh"
ensure_venv "$here/requirements.txt"

cd "$repo_root"
set +e
"$VENV_PYTHON" -m pytest -c "$here/pytest.ini" --rootdir "$here" -q "$here" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "run.sh: pytest collected no tests; treating that as a failure" >&2
fi
exit "$rc"

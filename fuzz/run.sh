#!/usr/bin/env bash
# Run blobgate's fuzz targets under libFuzzer (coverage-guided, nightly Rust).
#
#   fuzz/run.sh [SECONDS] [TARGET...]    every target (or those named) for
#                                        SECONDS each (default 60)
#   fuzz/run.sh --smoke                  CI's smoke: the auth targets, 10 s
#                                        each, on the committed corpus
#   fuzz/run.sh --list                   the targets
#
# Each target starts from its committed corpus (fuzz/corpus/TARGET, read
# only) and a working corpus in $BLOBGATE_FUZZ_DIR/corpus/TARGET (default
# /var/tmp/blobgate-fuzz), where libFuzzer keeps what it finds; a run picks
# up where the last left off. A crash or a failed property stops the target
# with its input in $BLOBGATE_FUZZ_DIR/artifacts/TARGET/ and makes this
# script exit 1; replay it with `cargo test -p blobgate-fuzz` after copying
# it into fuzz/corpus/TARGET/ (it then stays as a regression input).
# Each run's last stats line (executions, coverage, corpus) is printed as a
# table row for fuzz/README.md.
#
# Needs a nightly toolchain (`rustup toolchain list`) and cargo-fuzz, which
# is installed with `cargo install cargo-fuzz --locked` when missing. The
# smoke skips (exit 0) when there is no nightly: the stable replay of the
# corpora in `cargo test` still runs. The XML, Select SQL and JSON records
# targets build DataFusion with sanitizer flags (a long first build); the
# smoke leaves them to the stable replay.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="${BLOBGATE_FUZZ_DIR:-/var/tmp/blobgate-fuzz}"
auth_targets=(sigv4_agreement sigv4_parse chunked policy jwt session_token post_policy)
gateway_targets=(xml select_sql json_records)

say() { echo "fuzz: $*" >&2; }

seconds=60
smoke=0
case "${1:-}" in
    --list) printf '%s\n' "${auth_targets[@]}" "${gateway_targets[@]}"; exit 0 ;;
    --smoke) smoke=1; seconds=10; shift ;;
    '' | *[!0-9]*) ;;
    *) seconds="$1"; shift ;;
esac
if [ "$#" -gt 0 ]; then
    targets=("$@")
elif [ "$smoke" = 1 ]; then
    targets=("${auth_targets[@]}")
else
    targets=("${auth_targets[@]}" "${gateway_targets[@]}")
fi

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    if [ "$smoke" = 1 ]; then
        say "no nightly toolchain: libFuzzer smoke skipped (cargo test replays the corpora on stable)"
        exit 0
    fi
    say "needs a nightly toolchain (rustup toolchain install nightly)"
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz"
    cargo install cargo-fuzz --locked >&2
fi

features=()
for t in "${targets[@]}"; do
    case " ${gateway_targets[*]} " in *" $t "*) features=(--features gateway) ;; esac
done
build_dir="${BLOBGATE_FUZZ_TARGET:-$work/target}"
say "building ${targets[*]}"
cargo +nightly fuzz build --fuzz-dir "$here/libfuzzer" -O --target-dir "$build_dir" "${features[@]}" >&2

status=0
printf '| target | seconds | executions | exec/s | coverage (cov) | features (ft) | corpus |\n|---|---|---|---|---|---|---|\n'
for t in "${targets[@]}"; do
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t" "$work/logs"
    log="$work/logs/$t.log"
    # malloc_limit_mb: a crafted size field must never make the parser
    # allocate what it declares (the bodies bound every buffer well below).
    if ! cargo +nightly fuzz run --fuzz-dir "$here/libfuzzer" -O --target-dir "$build_dir" "${features[@]}" "$t" \
        "$work/corpus/$t" "$here/corpus/$t" -- \
        -max_total_time="$seconds" -malloc_limit_mb=256 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$work/artifacts/$t/" -print_final_stats=1 > "$log" 2>&1; then
        say "$t FAILED: see $log and $work/artifacts/$t/"
        grep -m5 -E "panicked|ERROR|SUMMARY" "$log" >&2 || true
        status=1
    fi
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    last="$(grep -E '^#[0-9]+' "$log" | tail -1)"
    cov="$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo '?')"
    ft="$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo '?')"
    corp="$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo '?')"
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$seconds" "$execs" "$rate" "$cov" "$ft" "$corp"
done
exit "$status"

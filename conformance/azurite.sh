#!/usr/bin/env bash
# Azurite (Microsoft's Azure Storage emulator, blob service only) for tests and
# benchmarks: installed once into a cache directory, started on a free
# loopback port with a fresh data folder, stopped by its pid file.
#
#   conformance/azurite.sh install
#       Install Azurite $AZURITE_VERSION into the cache (reused when present);
#       print the path of azurite-blob.
#   conformance/azurite.sh start DIR [--port PORT] [--keep-data] [--https CERT KEY [--oauth]]
#       Start Azurite with its data under DIR/data (emptied first unless
#       --keep-data), wait until it answers, and print `export` lines on
#       stdout (also written to DIR/env):
#           AZURITE_PID AZURITE_PORT AZURITE_ENDPOINT AZURITE_ACCOUNT AZURITE_KEY
#       so that `eval "$(conformance/azurite.sh start DIR)"` sets them.
#       Log: DIR/azurite.log; pid: DIR/azurite.pid. Installs first if needed.
#       --https serves HTTPS with the PEM certificate and key (the endpoint is
#       then https://); --oauth also accepts Entra ID bearer tokens (Azurite's
#       "basic" check: audience, issuer and expiry, not the signature).
#   conformance/azurite.sh stop DIR
#       Stop the Azurite started with DIR (SIGTERM, then SIGKILL); no-op if
#       none runs.
#
# Pointing blobgate at it:
#   AZURE_STORAGE_ACCOUNT=$AZURITE_ACCOUNT AZURE_STORAGE_KEY=$AZURITE_KEY \
#       blobgate serve --backend azure --azure-endpoint "$AZURITE_ENDPOINT"
#
# Environment:
#   BLOBGATE_AZURITE_DIR  install cache (default /var/tmp/blobgate-azurite)
#   AZURITE_VERSION       npm version to install (default 3.35.0)
#
# Needs Node.js and npm; when they are missing and apt-get is usable (root),
# Debian's nodejs and npm are installed. Listens on 127.0.0.1 only.
set -euo pipefail

AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"
cache="${BLOBGATE_AZURITE_DIR:-/var/tmp/blobgate-azurite}"
install_dir="$cache/azurite-$AZURITE_VERSION"
bin="$install_dir/node_modules/.bin/azurite-blob"

# The well-known development account every Azurite has (public, documented).
ACCOUNT=devstoreaccount1
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
START_TIMEOUT=30 # seconds until Azurite must answer

say() { echo "azurite.sh: $*" >&2; }
die() { say "$*"; exit 1; }

ensure_node() {
    if command -v node >/dev/null && command -v npm >/dev/null; then
        return
    fi
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        say "node/npm not found; installing Debian's nodejs and npm"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq nodejs npm >&2
        command -v node >/dev/null && command -v npm >/dev/null && return
    fi
    die "Node.js and npm are needed to run Azurite; install them (e.g. apt-get install nodejs npm)"
}

installed() {
    [ -f "$install_dir/.installed" ] && [ -x "$bin" ] && node "$bin" --version >/dev/null 2>&1
}

cmd_install() {
    ensure_node
    if installed; then
        echo "$bin"
        return
    fi
    mkdir -p "$cache"
    # One installer at a time (tests and benchmarks may start together).
    exec 9>"$cache/.lock"
    flock 9
    if ! installed; then
        say "installing azurite@$AZURITE_VERSION into $install_dir"
        local tmp
        tmp="$(mktemp -d "$cache/.install.XXXXXX")"
        printf '{"name":"blobgate-azurite","private":true,"dependencies":{"azurite":"%s"}}\n' \
            "$AZURITE_VERSION" >"$tmp/package.json"
        if ! (cd "$tmp" && npm install --no-audit --no-fund --loglevel=error >"$tmp/npm.log" 2>&1); then
            cat "$tmp/npm.log" >&2
            rm -rf "$tmp"
            die "npm install azurite@$AZURITE_VERSION failed"
        fi
        touch "$tmp/.installed"
        rm -rf "$install_dir"
        mv "$tmp" "$install_dir"
        installed || die "azurite-blob does not run after installing ($bin)"
    fi
    flock -u 9
    exec 9>&-
    echo "$bin"
}

answers() { # any HTTP answer from the blob endpoint means Azurite is serving
    local code
    code="$(curl -k -s -o /dev/null -m 2 -w '%{http_code}' "$scheme://127.0.0.1:$1/$ACCOUNT?comp=list" || true)"
    [ -n "$code" ] && [ "$code" != "000" ]
}

port_free() { # nothing accepts connections there
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pid_is_azurite() {
    [ -n "${1:-}" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q azurite-blob
}

cmd_stop() {
    local dir="${1:?usage: azurite.sh stop DIR}"
    local pid
    pid="$(cat "$dir/azurite.pid" 2>/dev/null || true)"
    if pid_is_azurite "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            pid_is_azurite "$pid" || break
            sleep 0.1
        done
        if pid_is_azurite "$pid"; then
            say "azurite (pid $pid) ignored SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$dir/azurite.pid"
}

cmd_start() {
    local dir="" port="" keep=0
    local extra=()
    scheme=http
    while [ $# -gt 0 ]; do
        case "$1" in
            --port) port="${2:?--port needs a value}"; shift 2 ;;
            --keep-data) keep=1; shift ;;
            --https)
                extra+=(--cert "${2:?--https needs CERT KEY}" --key "${3:?--https needs CERT KEY}")
                scheme=https
                shift 3 ;;
            --oauth) extra+=(--oauth basic); shift ;;
            -*) die "unknown option $1" ;;
            *) [ -z "$dir" ] || die "one DIR only"; dir="$1"; shift ;;
        esac
    done
    [ -n "$dir" ] || die "usage: azurite.sh start DIR [--port PORT] [--keep-data] [--https CERT KEY [--oauth]]"
    cmd_install >/dev/null
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    cmd_stop "$dir" # a leftover from an earlier run with the same DIR
    if [ "$keep" -eq 0 ]; then
        rm -rf "$dir/data"
    fi
    mkdir -p "$dir/data"

    local attempt pid=""
    for attempt in 1 2 3 4 5; do
        local p="$port"
        if [ -z "$p" ]; then
            # Below Linux's ephemeral range, so outgoing connections do not take it.
            p=$((20000 + RANDOM % 12000))
            port_free "$p" || continue
        fi
        echo "--- $(date -u +%FT%TZ) azurite-blob $AZURITE_VERSION on 127.0.0.1:$p" >>"$dir/azurite.log"
        local log_from
        log_from="$(stat -c %s "$dir/azurite.log")"
        # setsid: its own session, so a terminal's ^C or the caller's process
        # group signals do not reach it; only `stop` does.
        setsid node "$bin" --blobHost 127.0.0.1 --blobPort "$p" --location "$dir/data" \
            --silent --disableTelemetry --skipApiVersionCheck --loose "${extra[@]}" \
            </dev/null >>"$dir/azurite.log" 2>&1 &
        pid=$!
        echo "$pid" >"$dir/azurite.pid"
        local deadline=$((SECONDS + START_TIMEOUT))
        while [ "$SECONDS" -lt "$deadline" ]; do
            if ! kill -0 "$pid" 2>/dev/null; then
                break
            fi
            if answers "$p"; then
                port="$p"
                {
                    echo "export AZURITE_PID=$pid"
                    echo "export AZURITE_PORT=$p"
                    echo "export AZURITE_ENDPOINT=$scheme://127.0.0.1:$p/$ACCOUNT"
                    echo "export AZURITE_ACCOUNT=$ACCOUNT"
                    echo "export AZURITE_KEY='$KEY'"
                } | tee "$dir/env"
                say "Azurite $AZURITE_VERSION listening on 127.0.0.1:$p (pid $pid, data $dir/data)"
                return 0
            fi
            sleep 0.1
        done
        cmd_stop "$dir"
        if [ -z "$port" ] && tail -c +"$((log_from + 1))" "$dir/azurite.log" | grep -q EADDRINUSE; then
            say "port $p taken; trying another"
            continue
        fi
        tail -n 20 "$dir/azurite.log" >&2
        die "Azurite did not answer on 127.0.0.1:$p within ${START_TIMEOUT}s"
    done
    die "no free port for Azurite after 5 tries"
}

case "${1:-}" in
    install) shift; cmd_install "$@" ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
        exit 2
        ;;
esac

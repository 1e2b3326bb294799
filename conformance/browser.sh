#!/usr/bin/env bash
# Headless Chromium for the web console's browser tests: Debian's chromium and
# chromium-driver (installed with apt-get when missing) and axe-core (the
# accessibility checker, installed once through npm into a cache directory).
#
#   eval "$(conformance/browser.sh)"      # or: conformance/browser.sh install
#       Install what is missing, then print on stdout
#           export BLOBGATE_CHROMIUM=/usr/bin/chromium
#           export BLOBGATE_CHROMEDRIVER=/usr/bin/chromedriver
#           export BLOBGATE_AXE_JS=DIR/node_modules/axe-core/axe.min.js
#       which conformance/e2e/browser.py reads.
#   . conformance/browser.sh
#       The same, exporting the three variables into the sourcing shell (its
#       shell options are left as they were).
#
# Environment:
#   BLOBGATE_BROWSER_DIR  axe-core install cache (default /var/tmp/blobgate-browser)
#   AXE_CORE_VERSION      npm version of axe-core (default 4.14.1)
#
# Chromium comes only from Debian (a browser build downloaded by a tool
# would not be reachable here): installing it needs root and apt-get. axe-core
# needs Node.js and npm; when they are missing and apt-get is usable (root),
# Debian's nodejs and npm are installed.

_browser_main() {
    local axe_version="${AXE_CORE_VERSION:-4.14.1}"
    local cache="${BLOBGATE_BROWSER_DIR:-/var/tmp/blobgate-browser}"
    local chromium=/usr/bin/chromium
    local chromedriver=/usr/bin/chromedriver
    local axe_js="$cache/node_modules/axe-core/axe.min.js"

    _browser_say() { echo "browser.sh: $*" >&2; }
    _browser_die() { _browser_say "$*"; return 1; }

    _browser_is_root_with_apt() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; }

    _browser_apt_install() { # apt-get install, with apt-get update when the first try fails
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -qq "$@" >&2; then
            _browser_say "apt-get install $* failed; updating the package lists and trying again"
            apt-get update -qq >&2 || return 1
            apt-get install -y -qq "$@" >&2 || return 1
        fi
    }

    _browser_ensure_chromium() {
        if [ -x "$chromium" ] && [ -x "$chromedriver" ]; then
            return 0
        fi
        _browser_is_root_with_apt || _browser_die "$chromium or $chromedriver is missing; install Debian's chromium and chromium-driver (as root: apt-get install chromium chromium-driver)" || return 1
        _browser_say "installing Debian's chromium and chromium-driver"
        _browser_apt_install chromium chromium-driver || _browser_die "apt-get install chromium chromium-driver failed" || return 1
        [ -x "$chromium" ] && [ -x "$chromedriver" ] || _browser_die "chromium installed, but $chromium or $chromedriver is still missing"
    }

    _browser_ensure_node() {
        if command -v node >/dev/null && command -v npm >/dev/null; then
            return 0
        fi
        if _browser_is_root_with_apt; then
            _browser_say "node/npm not found; installing Debian's nodejs and npm"
            _browser_apt_install nodejs npm || true
            command -v node >/dev/null && command -v npm >/dev/null && return 0
        fi
        _browser_die "Node.js and npm are needed to install axe-core; install them (e.g. apt-get install nodejs npm)"
    }

    _browser_axe_installed() { # the pinned version, complete
        [ -s "$axe_js" ] && grep -q "\"version\": *\"$axe_version\"" "$cache/node_modules/axe-core/package.json" 2>/dev/null
    }

    _browser_ensure_axe() {
        _browser_axe_installed && return 0
        _browser_ensure_node || return 1
        mkdir -p "$cache" || return 1
        # One installer at a time (several test runs may start together).
        (
            flock 9
            if ! _browser_axe_installed; then
                _browser_say "installing axe-core@$axe_version into $cache"
                if ! npm install --prefix "$cache" "axe-core@$axe_version" --no-audit --no-fund \
                    --loglevel=error >"$cache/npm.log" 2>&1; then
                    cat "$cache/npm.log" >&2
                    exit 1
                fi
            fi
        ) 9>"$cache/.lock" || _browser_die "npm install axe-core@$axe_version failed" || return 1
        _browser_axe_installed || _browser_die "axe-core@$axe_version is not at $axe_js after installing"
    }

    _browser_ensure_chromium || return 1
    _browser_ensure_axe || return 1
    _browser_say "$("$chromium" --version 2>/dev/null | head -n1), $("$chromedriver" --version | head -n1 | cut -d' ' -f1-2), axe-core $axe_version"
    BLOBGATE_CHROMIUM="$chromium"
    BLOBGATE_CHROMEDRIVER="$chromedriver"
    BLOBGATE_AXE_JS="$axe_js"
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced: export into the caller's shell, and leave no helper functions behind.
    if _browser_main; then
        export BLOBGATE_CHROMIUM BLOBGATE_CHROMEDRIVER BLOBGATE_AXE_JS
        unset -f $(compgen -A function _browser_)
    else
        unset -f $(compgen -A function _browser_)
        return 1
    fi
else
    set -euo pipefail
    case "${1:-install}" in
        install) ;;
        *)
            sed -n '2,/^$/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
    _browser_main
    printf 'export BLOBGATE_CHROMIUM=%q\n' "$BLOBGATE_CHROMIUM"
    printf 'export BLOBGATE_CHROMEDRIVER=%q\n' "$BLOBGATE_CHROMEDRIVER"
    printf 'export BLOBGATE_AXE_JS=%q\n' "$BLOBGATE_AXE_JS"
fi

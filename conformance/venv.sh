# Sourced by the test runners: the Python virtualenv they share.
#
#   . conformance/venv.sh
#   ensure_venv REQUIREMENTS_FILE    # sets VENV_PYTHON
#
# The venv is $BLOBGATE_VENV (default: conformance/.venv), made with $PYTHON
# (default: python3). Each requirements file is installed when it (or the
# interpreter) changed since its last install, so runners with different
# files share one venv.

ensure_venv() {
    local req="$1"
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local venv="${BLOBGATE_VENV:-$root/conformance/.venv}"
    local python="${PYTHON:-python3}"

    if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; }; then
        if [ -e "$venv" ] && [ -f "$venv/pyvenv.cfg" ]; then
            echo "venv.sh: recreating broken virtualenv $venv" >&2
            rm -rf "$venv"
        fi
        echo "venv.sh: creating virtualenv $venv" >&2
        "$python" -m venv "$venv"
    fi

    # One stamp per requirements file, named after its path in the repository.
    local rel="${req#"$root"/}"
    local stamp="$venv/.blobgate-requirements-${rel//\//_}"
    local want
    want="$( { cat "$req"; "$venv/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "venv.sh: installing $req into $venv" >&2
        "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
        echo "$want" > "$stamp"
    fi
    VENV_PYTHON="$venv/bin/python"
}

# Sourced by .ci/demo and .ci/test: find Python >= 3.12, make .venv, install the locked stack;
# .ci/test also calls ensure_chromium.
# Re-running is cheap: the install is skipped while requirements.lock and pyproject.toml match
# what .venv was built from.

find_python() {
    local candidate version_ok='import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)'
    for candidate in python3.13 python3.12 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "$version_ok" 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    # pyenv installs many interpreters but puts only the selected one first on PATH.
    if command -v pyenv >/dev/null 2>&1; then
        local root
        root=$(pyenv root)
        for candidate in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -rV); do
            if [ -x "$candidate/bin/python3" ] && "$candidate/bin/python3" -c "$version_ok" 2>/dev/null; then
                echo "$candidate/bin/python3"
                return 0
            fi
        done
    fi
    return 1
}

setup_venv() {
    local python stamp want
    if ! python=$(find_python); then
        echo "error: iwm-lab needs Python 3.12 or newer; none found on PATH or in pyenv." >&2
        echo "       Install one (e.g. 'pyenv install 3.12') and run this again." >&2
        exit 1
    fi
    if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
        rm -rf .venv
    fi
    if [ ! -x .venv/bin/python ]; then
        echo "creating .venv with $("$python" --version)" >&2
        "$python" -m venv .venv
    fi
    want=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
    stamp=.venv/.iwm-lab-installed
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "installing the locked dependencies into .venv (first run takes a minute or two)" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
        echo "$want" > "$stamp"
    fi
}

# Called by .ci/test only. The browser tests drive Debian's chromium through Playwright, whose
# own browser download cannot work where only package mirrors are reachable.
ensure_chromium() {
    if command -v chromium >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian's chromium for the browser tests" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
        return 0
    fi
    echo "note: chromium is not installed, so the browser tests will be skipped (under CI=true" >&2
    echo "      they fail). Install it as root: apt-get install chromium" >&2
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
setup_venv

#!/usr/bin/env bash
# Runs every test ferrocache has, installing what is missing first:
#   formatting and lints, unit tests, integration tests that start the real
#   binary (wire tables, differential runs against Debian's memcached,
#   memccapable, network fuzzing), the pymemcache suite, and a bounded
#   coverage-guided fuzz run of the parsers (scripts/fuzz.sh, which installs
#   cargo-fuzz if it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# --- what the tests need from the system --------------------------------
missing=()
[ -x /usr/bin/memcached ] || missing+=(memcached)
[ -x /usr/bin/memccapable ] || missing+=(libmemcached-tools)
command -v python3 >/dev/null || missing+=(python3)
# Debian splits venv (ensurepip) out of python3.
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
# The tests signal servers with kill(1), which minimal images leave out.
[ -x /bin/kill ] || [ -x /usr/bin/kill ] || missing+=(procps)
# The lifecycle tests drive the server with `nc -q1`, as users do.
[ -x /usr/bin/nc.openbsd ] || missing+=(netcat-openbsd)
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- Python venv with the client libraries -------------------------------
venv=.venv
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s tests/python/requirements.txt "$stamp"; then
    echo "== creating $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r tests/python/requirements.txt
    cp tests/python/requirements.txt "$stamp"
fi

# --- Rust -----------------------------------------------------------------
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --release -- -D warnings
echo "== cargo test (release: the integration tests drive the release binary)"
cargo test --release
echo "== unit tests again with debug assertions (overflow checks, store invariants)"
cargo test --lib

# --- real client libraries -----------------------------------------------
echo "== pymemcache suite"
cargo build --release --bin ferrocache
FERROCACHE_BIN="$PWD/target/release/ferrocache" "$venv/bin/python" -m pytest -q tests/python

# --- coverage-guided fuzzing of the parsers (about 60 s once built) ------
echo "== fuzz (scripts/fuzz.sh: cargo-fuzz, 60 s)"
scripts/fuzz.sh

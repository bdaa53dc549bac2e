#!/usr/bin/env bash
# Runs every test ferrocache has, installing what is missing first:
#   formatting and lints, unit tests, integration tests that start the real
#   binary (wire tables, differential runs against Debian's memcached,
#   memccapable, network fuzzing), the real-client suites (pymemcache;
#   pylibmc, python-binary-memcached and memjs over the binary protocol and
#   SASL; ascii auth; TLS), each client suite against ferrocache and against
#   Debian's memcached, pymemcache once more over TLS, the ElastiCache
#   auto-discovery clients (elasticache-auto-discovery,
#   django-elastipymemcache, emcache, memcache-plus) against three
#   ferrocache nodes, the pymemcache suite through twemproxy (nutcracker) in
#   front of three nodes, and a bounded coverage-guided fuzz run of the
#   parsers (scripts/fuzz.sh, which installs cargo-fuzz if it is missing).
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
# twemproxy in front of three nodes, for the text suite through a proxy.
[ -x /usr/sbin/nutcracker ] || missing+=(nutcracker)
# A real DNS server for the cluster_dns tests (A and SRV records):
# dnsmasq-base is the binary without the system service on port 53.
[ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq-base)
# The lifecycle tests drive the server with `nc -q1`, as users do.
[ -x /usr/bin/nc.openbsd ] || missing+=(netcat-openbsd)
# The metrics endpoint is scraped with curl and by a real Prometheus.
command -v curl >/dev/null || missing+=(curl)
[ -x /usr/bin/prometheus ] || missing+=(prometheus)
# SASL against Debian's memcached: a Cyrus sasldb made with saslpasswd2.
[ -x /usr/sbin/saslpasswd2 ] || missing+=(sasl2-bin)
# TLS tests make their certificates with openssl and drive s_client.
command -v openssl >/dev/null || missing+=(openssl)
# pylibmc's Cyrus client plugins (PLAIN, SCRAM-SHA-256).
ls /usr/lib/*/sasl2/libplain.so >/dev/null 2>&1 || missing+=(libsasl2-modules)
# pylibmc is built from source against Debian's libmemcached (and zlib),
# with a C compiler and the headers of the Python the venv is made from.
[ -e /usr/include/libmemcached/memcached.h ] || missing+=(libmemcached-dev)
[ -e /usr/include/zlib.h ] || missing+=(zlib1g-dev)
command -v cc >/dev/null || missing+=(build-essential)
if command -v python3 >/dev/null &&
    ! python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    missing+=(python3-dev)
fi
# memjs runs on Node.js (node:test) and installs with npm ci. Each only if
# absent: Debian's npm would replace a Node.js from elsewhere.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
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
    echo "== creating $venv (pip install -r tests/python/requirements.txt; pylibmc builds from source)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r tests/python/requirements.txt
    cp tests/python/requirements.txt "$stamp"
fi

# --- Node packages (memjs) ------------------------------------------------
echo "== npm ci (tests/node)"
(cd tests/node && npm ci --no-audit --no-fund --loglevel=error)

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
# The client suites run each test against ferrocache and against Debian's
# memcached (FERROCACHE_CLIENT_TARGETS narrows that); the pymemcache suite
# against ferrocache.
cargo build --release --bin ferrocache
export FERROCACHE_BIN="$PWD/target/release/ferrocache"
echo "== Python client suites (pymemcache, pylibmc, python-binary-memcached, ascii auth, auto-discovery)"
"$venv/bin/python" -m pytest -q tests/python
echo "== pymemcache suite again over TLS (-Z, tls_context), against ferrocache and memcached"
FERROCACHE_TEST_TLS=1 "$venv/bin/python" -m pytest -q tests/python/test_pymemcache.py
FERROCACHE_TEST_TLS=1 FERROCACHE_TEST_AGAINST_MEMCACHED=1 "$venv/bin/python" -m pytest -q tests/python/test_pymemcache.py
echo "== pymemcache suite through twemproxy (nutcracker, ketama over three nodes)"
FERROCACHE_TEST_THROUGH_TWEMPROXY=1 "$venv/bin/python" -m pytest -q -rs tests/python/test_pymemcache.py
echo "== memjs suite (node --test)"
node --test tests/node/memjs.test.js
echo "== memcache-plus auto-discovery suite (node --test)"
node --test tests/node/discovery.test.js

# --- coverage-guided fuzzing of the parsers (about 60 s once built) ------
echo "== fuzz (scripts/fuzz.sh: cargo-fuzz, 60 s)"
scripts/fuzz.sh

#!/usr/bin/env bash
# User-space instructions per request, ferrocache beside Debian's memcached.
# Each server runs under `valgrind --tool=callgrind`, which counts
# the instructions the server executes (not the kernel's): unlike ops/s or
# CPU seconds, the count barely moves with what else the machine is doing,
# so it ranks two builds, or two servers, on their own code.
#
#   scripts/bench-instructions.sh                 # workloads a and e, 5 s each
#   WORKLOADS="a" DURATION=10 scripts/bench-instructions.sh
#
# Workloads (as in scripts/bench.sh): a = 1:10 set:get, e = sets only,
# g = gets only, c = gets pipelined 16 deep, and cb = the same with memcached
# spoken to in its binary protocol (ferrocache stays on text: a text get
# set against memcached's binary one), cbin = the same with both servers in
# binary (set beside c: ferrocache's binary get against its text get), abin
# = 1:10 set:get with both in binary, cmg and amg = c and a with both
# servers in meta commands (`mg <key> v f`, `ms <key> <len> F0 T0`);
# 100-byte values, 20-byte keys, 100,000 keys, 50 connections.
# FERROCACHE_BIN=path measures that ferrocache binary instead of a fresh
# build (to compare two builds under the same conditions); FERROCACHE_ARGS
# adds options to its command line (FERROCACHE_ARGS="-o hotkeys=20").
# Needs valgrind, /usr/bin/memcached and python3. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
WORKLOADS=${WORKLOADS:-"a e"}
# Client connections during the measured run (1 gives the cost of a lone
# request per wake-up, independent of how requests happen to batch).
CONNS=${CONNS:-50}
MEMCACHED=/usr/bin/memcached
declare -A ARGS=([a]="--ratio 1:10" [e]="--ratio 1:0" [g]="--ratio 0:1"
    [c]="--ratio 0:1 --pipeline 16" [cb]="--ratio 0:1 --pipeline 16"
    [cbin]="--ratio 0:1 --pipeline 16" [abin]="--ratio 1:10"
    [cmg]="--ratio 0:1 --pipeline 16" [amg]="--ratio 1:10")
declare -A DESC=([a]="1:10 set:get" [e]="sets only" [g]="gets only"
    [c]="gets pipelined 16 deep" [cb]="gets pipelined 16 deep, memcached in binary"
    [cbin]="gets pipelined 16 deep, both in binary" [abin]="1:10 set:get, both in binary"
    [cmg]="gets pipelined 16 deep, both in meta" [amg]="1:10 set:get, both in meta")
# Options for one server only (the protocol each speaks).
declare -A MC_ARGS=([cb]="--protocol binary" [cbin]="--protocol binary" [abin]="--protocol binary"
    [cmg]="--protocol meta" [amg]="--protocol meta")
declare -A FC_ARGS=([cbin]="--protocol binary" [abin]="--protocol binary"
    [cmg]="--protocol meta" [amg]="--protocol meta")

for tool in valgrind callgrind_control callgrind_annotate python3; do
    command -v "$tool" >/dev/null || { echo "bench-instructions.sh: $tool is needed (apt-get install valgrind python3)" >&2; exit 1; }
done
[ -x "$MEMCACHED" ] || { echo "bench-instructions.sh: $MEMCACHED is missing (apt-get install memcached)" >&2; exit 1; }

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh

tmp=$(mktemp -d)
vg_pid=
cleanup() {
    if [ -n "$vg_pid" ]; then
        kill "$vg_pid" 2>/dev/null || true
        wait "$vg_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# measure SERVER WORKLOAD: sets OPS and INSTRUCTIONS. (It runs in this
# shell, not a subshell, so the EXIT trap knows the server to stop.)
measure() {
    local server=$1 w=$2 port out cmd
    port=$(free_port)
    out=$tmp/$server.$w.cg
    if [ "$server" = ferrocache ]; then
        cmd=("$FERROCACHE" -p "$port" -l 127.0.0.1 -t 2 -m 1024)
        # shellcheck disable=SC2206
        cmd+=(${FERROCACHE_ARGS:-})
        [ "$(id -u)" = 0 ] && cmd+=(-u root) # refused as root without -u, as memcached
    else
        # memcached sets its descriptor limit (soft and hard) to -c, and
        # valgrind refuses any hard limit but its own, which is 12 below
        # the shell's: with `ulimit -n 1024`, -c 1012 passes.
        cmd=("$MEMCACHED" -p "$port" -l 127.0.0.1 -U 0 -t 2 -m 1024 -c 1012)
        [ "$(id -u)" = 0 ] && cmd+=(-u root)
    fi
    (ulimit -n 1024; exec valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}") \
        >"$tmp/$server.log" 2>&1 &
    vg_pid=$!
    wait_port "$vg_pid" "$port" 100 0.2 || { echo "bench-instructions.sh: $server did not start:" >&2; cat "$tmp/$server.log" >&2; exit 1; }
    # shellcheck disable=SC2206
    local common=(--server "127.0.0.1:$port" --threads 1 --keys 100000 --key-size 20
        --value-size 100 ${ARGS[$w]})
    # shellcheck disable=SC2206
    if [ "$server" = memcached ]; then common+=(${MC_ARGS[$w]:-}); else common+=(${FC_ARGS[$w]:-}); fi
    "$LOADGEN" "${common[@]}" --connections 8 --active 8 --prefill --duration 0 >/dev/null 2>&1
    callgrind_control -z "$vg_pid" >/dev/null 2>&1 # count from here...
    "$LOADGEN" "${common[@]}" --connections "$CONNS" --duration "$DURATION" --json >"$tmp/run.json" 2>/dev/null
    callgrind_control -d "$vg_pid" >/dev/null 2>&1 # ...to here (written to $out.1)
    kill "$vg_pid"
    wait "$vg_pid" 2>/dev/null || true
    vg_pid=
    local ops ir
    ops=$(python3 -c 'import json,sys; r = json.load(open(sys.argv[1])); print(r["total_ops"] if r["errors"] == 0 else 0)' "$tmp/run.json")
    ir=$(callgrind_annotate "$out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    [ "$ops" -gt 0 ] && [ -n "$ir" ] || { echo "bench-instructions.sh: $server $w: no result" >&2; exit 1; }
    OPS=$ops INSTRUCTIONS=$ir
}

echo "| workload | ferrocache instructions/op | memcached instructions/op | ratio (memcached / ferrocache) |"
echo "|---|---:|---:|---:|"
for w in $WORKLOADS; do
    [ -n "${ARGS[$w]:-}" ] || { echo "bench-instructions.sh: no workload $w" >&2; exit 64; }
    measure ferrocache "$w"
    f_ops=$OPS f_ir=$INSTRUCTIONS
    measure memcached "$w"
    m_ops=$OPS m_ir=$INSTRUCTIONS
    echo "   $w: ferrocache $f_ops ops $f_ir instructions; memcached $m_ops ops $m_ir instructions" >&2
    python3 -c 'import sys
w, d, fo, fi, mo, mi = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
f, m = fi / fo, mi / mo
print(f"| ({w}) {d} | {f:,.0f} | {m:,.0f} | **{m / f:.2f}** |")' "$w" "${DESC[$w]}" "$f_ops" "$f_ir" "$m_ops" "$m_ir"
done

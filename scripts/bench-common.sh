# Sourced by the benchmark scripts (run from the repository root; needs
# cargo and python3): builds ferrocache and the load generator
# (benches/loadgen.rs) in release mode, sets FERROCACHE and LOADGEN to their
# paths, and defines free_port and wait_port.

# free_port: prints a port the OS just handed out on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PID PORT TRIES DELAY: succeeds once 127.0.0.1:PORT accepts a
# connection; fails if process PID exits first or TRIES checks DELAY seconds
# apart go unanswered.
wait_port() {
    local i
    for i in $(seq "$3"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep "$4"
    done
    return 1
}

echo "== cargo build --release" >&2
cargo build --release --quiet --bin ferrocache
FERROCACHE=${FERROCACHE_BIN:-$PWD/target/release/ferrocache}
LOADGEN=$(cargo build --release --quiet --bench loadgen --message-format=json \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "loadgen" and m.get("executable"):
        print(m["executable"])')
[ -x "$LOADGEN" ] || { echo "${0##*/}: no loadgen binary" >&2; exit 1; }
"$LOADGEN" --self-test >/dev/null

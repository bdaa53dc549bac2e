# Sourced by the benchmark scripts: builds ferrocache and the load generator
# (benches/loadgen.rs) in release mode and sets FERROCACHE and LOADGEN to
# their paths. Run from the repository root; needs cargo and python3.
echo "== cargo build --release" >&2
cargo build --release --quiet --bin ferrocache
FERROCACHE=$PWD/target/release/ferrocache
LOADGEN=$(cargo build --release --quiet --bench loadgen --message-format=json \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "loadgen" and m.get("executable"):
        print(m["executable"])')
[ -x "$LOADGEN" ] || { echo "${0##*/}: no loadgen binary" >&2; exit 1; }
"$LOADGEN" --self-test >/dev/null

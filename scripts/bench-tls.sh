#!/usr/bin/env bash
# TLS cost, side by side with Debian's memcached -Z (OpenSSL), with the same
# certificate (EC P-256, made here with openssl): handshakes per second
# (`openssl s_time -new`: a full handshake per connection), the 1:10 mix and
# gets pipelined 16 deep over TLS (loadgen --tls, a rustls client whose
# handshakes happen before the run) and the same two in plaintext on a
# plaintext instance of each server, ops/s and ops per server CPU-second;
# then the memory of an idle TLS connection (RSS before and after IDLE_TLS
# handshaken connections), beside a plaintext one.
#
#   scripts/bench-tls.sh                  # 3 rounds of 5 s
#   ROUNDS=1 DURATION=3 scripts/bench-tls.sh
#
# scripts/bench.sh runs it after its own workloads (TLS=0 skips it).
# Raw results go to target/bench/tls-*.tsv; the table to target/bench/tls-table-*.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
IDLE_TLS=${IDLE_TLS:-2000}
SERVER_THREADS=2
MEMCACHED=/usr/bin/memcached
[ -x "$MEMCACHED" ] || { echo "bench-tls.sh: $MEMCACHED is missing (apt-get install memcached)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "bench-tls.sh: openssl is missing (apt-get install openssl)" >&2; exit 1; }

# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh

tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- certificates ------------------------------------------------------------
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
(
    cd "$tmp"
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca
    openssl req "${ec[@]}" -keyout server.key -out server.csr -subj /CN=bench-server
    printf 'subjectAltName=IP:127.0.0.1\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out server.pem -days 2 -extfile server.ext
) >/dev/null 2>&1
chmod 644 "$tmp"/*.key # readable after -u
TLS_ARGS=(-Z -o "ssl_chain_cert=$tmp/server.pem,ssl_key=$tmp/server.key")

# start KIND tls|plain CONNS: sets SERVER_PID, SERVER_ADDR.
start() {
    local user=() port extra=()
    [ "$(id -u)" = 0 ] && user=(-u root)
    [ "$2" = tls ] && extra=("${TLS_ARGS[@]}")
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        if [ "$1" = ferrocache ]; then
            "$FERROCACHE" -p "$port" -l 127.0.0.1 -t "$SERVER_THREADS" -m 1024 -c "$3" \
                "${user[@]}" "${extra[@]}" >"$tmp/$1.log" 2>&1 &
        else
            "$MEMCACHED" -p "$port" -l 127.0.0.1 -U 0 -t "$SERVER_THREADS" -m 1024 -c "$3" \
                "${user[@]}" "${extra[@]}" >"$tmp/$1.log" 2>&1 &
        fi
        SERVER_PID=$!
        pids+=("$SERVER_PID")
        if wait_port "$SERVER_PID" "$port" 100 0.1; then
            SERVER_ADDR=127.0.0.1:$port
            return 0
        fi
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    done
    echo "bench-tls.sh: $1 ($2) did not start:" >&2
    cat "$tmp/$1.log" >&2
    exit 1
}

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

mkdir -p target/bench
stamp=$(date +%Y%m%d-%H%M%S)
results=target/bench/tls-$stamp.tsv
: >"$results"
tick=$(getconf CLK_TCK)

declare -A PID ADDR
for server in ferrocache memcached; do
    for mode in tls plain; do
        start "$server" "$mode" 4096
        PID[$server-$mode]=$SERVER_PID ADDR[$server-$mode]=$SERVER_ADDR
    done
done

common=(--threads 2 --keys 100000 --key-size 20 --value-size 100 --connections 50 --json --timeout 10)
declare -A WL=([a]="--ratio 1:10" [c]="--ratio 0:1 --pipeline 16")
for round in $(seq "$ROUNDS"); do
    for server in ferrocache memcached; do
        # Handshakes: openssl s_time makes a new connection (full handshake,
        # no resumption) after another for DURATION seconds.
        pid=${PID[$server-tls]} addr=${ADDR[$server-tls]}
        cpu0=$(cpu_ticks "$pid")
        out=$(timeout $((DURATION + 30)) openssl s_time -connect "$addr" -new -time "$DURATION" 2>&1 || true)
        cpu1=$(cpu_ticks "$pid")
        n=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) connections in [0-9.]* real seconds.*/\1/p' | head -1)
        secs=$(printf '%s\n' "$out" | sed -n 's/^[0-9]* connections in \([0-9.]*\) real seconds.*/\1/p' | head -1)
        printf 'hs\t%s\ttls\t%s\t%s\t{"total_ops": %s, "ops_per_sec": %s}\n' "$server" "$round" \
            "$((cpu1 - cpu0))" "${n:-0}" "$(python3 -c "print(${n:-0} / ${secs:-1})")" >>"$results"
        echo "   handshakes round $round $server: ${n:-0} in ${secs:-?} s, server CPU $((cpu1 - cpu0)) ticks" >&2
        for mode in tls plain; do
            pid=${PID[$server-$mode]} addr=${ADDR[$server-$mode]}
            tls=()
            [ "$mode" = tls ] && tls=(--tls --tls-ca "$tmp/ca.pem")
            for w in a c; do
                # shellcheck disable=SC2206
                wargs=(${WL[$w]})
                timeout 120 "$LOADGEN" --server "$addr" "${common[@]}" "${wargs[@]}" "${tls[@]}" \
                    --connections 16 --prefill --duration 0 >/dev/null 2>"$tmp/prefill.err" \
                    || { cat "$tmp/prefill.err" >&2; exit 1; }
                cpu0=$(cpu_ticks "$pid")
                json=$(timeout $((DURATION * 2 + 60)) "$LOADGEN" --server "$addr" "${common[@]}" "${wargs[@]}" \
                    "${tls[@]}" --duration "$DURATION" 2>"$tmp/loadgen.err") \
                    || { cat "$tmp/loadgen.err" >&2; exit 1; }
                cpu1=$(cpu_ticks "$pid")
                printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$server" "$mode" "$round" "$((cpu1 - cpu0))" "$json" >>"$results"
                echo "   $w $mode round $round $server: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("{:,.0f} ops/s, errors {}".format(r["ops_per_sec"], r["errors"]))' "$json"), server CPU $((cpu1 - cpu0)) ticks" >&2
            done
        done
    done
done
for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done

# --- memory per idle TLS connection (handshake done, one `version` served) ----
memfile=target/bench/tls-idle-$stamp.tsv
: >"$memfile"
for server in ferrocache memcached; do
    for mode in tls plain; do
        start "$server" "$mode" $((IDLE_TLS + 1024))
        sleep 0.5
        rss0=$(rss_kib "$SERVER_PID")
        tls=()
        [ "$mode" = tls ] && tls=(--tls --tls-ca "$tmp/ca.pem")
        "$LOADGEN" --server "$SERVER_ADDR" --threads 2 --connections "$IDLE_TLS" --active 0 --touch-idle \
            "${tls[@]}" --duration 3 --json >"$tmp/idle.json" 2>"$tmp/idle.err" &
        lg=$!
        pids+=("$lg")
        for _ in $(seq 900); do
            grep -q '^loadgen: measuring' "$tmp/idle.err" && break
            kill -0 "$lg" 2>/dev/null || break
            sleep 0.1
        done
        sleep 1
        rss1=$(rss_kib "$SERVER_PID")
        wait "$lg" || { cat "$tmp/idle.err" >&2; exit 1; }
        printf '%s\t%s\t%s\t%s\n' "$server" "$mode" "$rss0" "$rss1" >>"$memfile"
        echo "   idle $mode $server: RSS $rss0 -> $rss1 KiB" >&2
        kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    done
done

python3 - "$results" "$memfile" "$tick" "$IDLE_TLS" <<'EOF' | tee "target/bench/tls-table-$stamp.md"
import json, statistics, sys
results, memfile, tick, idle = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
runs = {}
for line in open(results):
    w, server, mode, rnd, ticks, js = line.rstrip("\n").split("\t", 5)
    r = json.loads(js)
    cpu = int(ticks) / tick
    r["ops_per_cpu_s"] = r["total_ops"] / cpu if cpu > 0 else float("nan")
    runs.setdefault((w, mode, server), []).append(r)
med = lambda k, key: statistics.median(r[key] for r in runs[k])
names = {"hs": "full TLS handshakes (openssl s_time -new, one client)",
         "a": "1:10 set:get, 100 B values, 50 conns", "c": "gets pipelined 16 deep, 50 conns"}
print("| workload | ferrocache ops/s | memcached ops/s | ratio | ops per server CPU-s ferrocache | memcached | ratio |")
print("|---|---:|---:|---:|---:|---:|---:|")
for w, mode in (("hs", "tls"), ("a", "tls"), ("a", "plain"), ("c", "tls"), ("c", "plain")):
    f, m = (w, mode, "ferrocache"), (w, mode, "memcached")
    if f not in runs or m not in runs:
        continue
    fo, mo = med(f, "ops_per_sec"), med(m, "ops_per_sec")
    fc, mc = med(f, "ops_per_cpu_s"), med(m, "ops_per_cpu_s")
    label = names[w] + ("" if w == "hs" else f", {mode}")
    print(f"| {label} | {fo:,.0f} | {mo:,.0f} | **{fo / mo:.2f}** | {fc:,.0f} | {mc:,.0f} | **{fc / mc:.2f}** |")
print()
for server in ("ferrocache", "memcached"):
    t, p = (("c", "tls", server), ("c", "plain", server))
    if t in runs and p in runs:
        print(f"- {server}: server CPU per pipelined get, TLS / plaintext = "
              f"{med(p, 'ops_per_cpu_s') / med(t, 'ops_per_cpu_s'):.2f}x")
print()
mem = {}
for line in open(memfile):
    server, mode, rss0, rss1 = line.split()
    mem[(server, mode)] = (int(rss1) - int(rss0)) * 1024 / idle
print(f"| memory per idle connection ({idle:,}, after one `version`) | ferrocache | memcached |")
print("|---|---:|---:|")
for mode in ("tls", "plain"):
    print(f"| {mode} | {mem[('ferrocache', mode)]:,.0f} B | {mem[('memcached', mode)]:,.0f} B |")
EOF
echo "raw results: $results, $memfile" >&2

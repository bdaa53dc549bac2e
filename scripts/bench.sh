#!/usr/bin/env bash
# Throughput and connection memory side by side with Debian's memcached.
#
# Builds ferrocache and the load generator (benches/loadgen.rs), starts both
# servers with the same -t/-m/-c on 127.0.0.1, and runs each workload against
# them in turn (ferrocache, memcached, ferrocache, … for ROUNDS rounds). Each
# server's CPU time (utime+stime from /proc/PID/stat) is read around every
# measured run. Prints a markdown table of medians with ferrocache/memcached
# ratios, then memory per idle connection (RSS before and after opening
# IDLE_CONNS connections to a fresh server).
#
#   scripts/bench.sh                     # defaults: 3 rounds of 5 s
#   ROUNDS=5 DURATION=10 scripts/bench.sh
#   WORKLOADS="a c" scripts/bench.sh     # only some workloads
#   TLS=0 scripts/bench.sh               # without the TLS part (scripts/bench-tls.sh)
#   INSTRUMENTS=0 scripts/bench.sh       # without the hot-key and scrape cost part
#
# Needs /usr/bin/memcached (scripts/test.sh installs it) and python3.
# Raw results (one JSON object per run) go to target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WORKLOADS=${WORKLOADS:-"a b c cb cbin abin cmg amg d e f"}
IDLE_CONNS=${IDLE_CONNS:-10000}
SLOW_CONNS=${SLOW_CONNS:-1000}
SERVER_THREADS=2
SERVER_MEM=1024
SERVER_CONNS=4096
LOADGEN_THREADS=2
KEYS=100000
MEMCACHED=/usr/bin/memcached

# --- the workloads: name, description, prefill (0/1), loadgen options,
# options for memcached only and options for ferrocache only (cb: memcached
# in its binary protocol, ferrocache in text, to set a text get beside
# memcached's cheaper binary one; abin, cbin: both servers in binary; amg,
# cmg: both servers in meta commands, `mg <key> v f` and `ms <key> <len> F0 T0`) --
declare -A W_DESC W_PREFILL W_ARGS W_MC_ARGS W_FC_ARGS
add() { W_DESC[$1]=$2; W_PREFILL[$1]=$3; W_ARGS[$1]=$4; W_MC_ARGS[$1]=${5:-}; W_FC_ARGS[$1]=${6:-}; }
add a "1:10 set:get, 100 B values, 50 conns" 1 "--ratio 1:10 --value-size 100 --connections 50"
add b "1:10 set:get, 4 KiB values, 50 conns" 1 "--ratio 1:10 --value-size 4096 --connections 50"
add c "gets pipelined 16 deep, 50 conns" 1 "--ratio 0:1 --value-size 100 --connections 50 --pipeline 16"
add cb "gets pipelined 16 deep; memcached in binary" 1 "--ratio 0:1 --value-size 100 --connections 50 --pipeline 16" "--protocol binary"
add cbin "gets pipelined 16 deep; both in binary" 1 "--ratio 0:1 --value-size 100 --connections 50 --pipeline 16" "--protocol binary" "--protocol binary"
add abin "1:10 set:get, 100 B values, 50 conns; both in binary" 1 "--ratio 1:10 --value-size 100 --connections 50" "--protocol binary" "--protocol binary"
add cmg "gets pipelined 16 deep; both in meta" 1 "--ratio 0:1 --value-size 100 --connections 50 --pipeline 16" "--protocol meta" "--protocol meta"
add amg "1:10 set:get, 100 B values, 50 conns; both in meta" 1 "--ratio 1:10 --value-size 100 --connections 50" "--protocol meta" "--protocol meta"
add d "multi-get of 100 keys, 50 conns" 1 "--ratio 0:1 --value-size 100 --connections 50 --multiget 100"
add e "sets only, 100 B values, 50 conns" 0 "--ratio 1:0 --value-size 100 --connections 50"
add f "1:10, 1000 conns of which 50 active" 1 "--ratio 1:10 --value-size 100 --connections 1000 --active 50"

if [ ! -x "$MEMCACHED" ]; then
    echo "bench.sh: $MEMCACHED is missing; scripts/test.sh installs it (apt-get install memcached)" >&2
    exit 1
fi
command -v python3 >/dev/null || { echo "bench.sh: python3 is needed" >&2; exit 1; }

# 10,000 idle connections need that many descriptors here and in each server
# (soft limit only: memcached sets its own limit and must be able to raise it).
want_fds=$(( (IDLE_CONNS > SERVER_CONNS ? IDLE_CONNS : SERVER_CONNS) + 2048 ))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want_fds" ]; then
    ulimit -Hn "$want_fds" 2>/dev/null || want_fds=$hard
fi
[ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$want_fds" ] && ulimit -Sn "$want_fds"
if [ "$want_fds" -lt $((IDLE_CONNS + 100)) ]; then
    echo "bench.sh: only $want_fds descriptors; measuring memory with $((want_fds - 200)) idle connections" >&2
    IDLE_CONNS=$((want_fds - 200))
fi

# --- build ----------------------------------------------------------------
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh

# --- servers, stopped on exit ----------------------------------------------
tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_ferrocache CONN_LIMIT [ARGS...]: sets SERVER_PID and SERVER_ADDR.
start_ferrocache() {
    local out="$tmp/ferrocache.$RANDOM" user=() limit=$1
    shift
    [ "$(id -u)" = 0 ] && user=(-u root) # refused as root without -u, as memcached
    "$FERROCACHE" -p 0 -l 127.0.0.1 -t "$SERVER_THREADS" -m "$SERVER_MEM" -c "$limit" \
        "${user[@]}" "$@" >"$out" 2>&1 &
    SERVER_PID=$!
    pids+=("$SERVER_PID")
    for _ in $(seq 100); do
        SERVER_ADDR=$(sed -n 's/^ferrocache listening on //p' "$out")
        [ -n "$SERVER_ADDR" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench.sh: ferrocache did not start:" >&2
    cat "$out" >&2
    exit 1
}

# start_memcached CONN_LIMIT: sets SERVER_PID and SERVER_ADDR.
start_memcached() {
    local user=() port
    [ "$(id -u)" = 0 ] && user=(-u root)
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        "$MEMCACHED" -p "$port" -l 127.0.0.1 -U 0 -t "$SERVER_THREADS" -m "$SERVER_MEM" -c "$1" \
            "${user[@]}" >"$tmp/memcached.log" 2>&1 &
        SERVER_PID=$!
        pids+=("$SERVER_PID")
        if wait_port "$SERVER_PID" "$port" 100 0.1; then
            SERVER_ADDR=127.0.0.1:$port
            return 0
        fi
        kill "$SERVER_PID" 2>/dev/null || true  # lost a race for the port: try another
        wait "$SERVER_PID" 2>/dev/null || true
    done
    echo "bench.sh: memcached did not start:" >&2
    cat "$tmp/memcached.log" >&2
    exit 1
}

stop_server() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

cpu_ticks() {  # utime + stime; fields after "(comm) " so a space in comm can't shift them
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# --- throughput ---------------------------------------------------------------
mkdir -p target/bench
stamp=$(date +%Y%m%d-%H%M%S)
results=target/bench/results-$stamp.tsv
: >"$results"
tick=$(getconf CLK_TCK)

start_ferrocache "$SERVER_CONNS"
FC_PID=$SERVER_PID FC_ADDR=$SERVER_ADDR
start_memcached "$SERVER_CONNS"
MC_PID=$SERVER_PID MC_ADDR=$SERVER_ADDR
echo "== ferrocache $FC_ADDR (pid $FC_PID), memcached $MC_ADDR (pid $MC_PID)" >&2
echo "== $ROUNDS rounds of ${DURATION} s per workload and server" >&2

common=(--threads "$LOADGEN_THREADS" --keys "$KEYS" --key-size 20 --json --timeout 10)
for w in $WORKLOADS; do
    [ -n "${W_DESC[$w]:-}" ] || { echo "bench.sh: no workload $w" >&2; exit 64; }
    # shellcheck disable=SC2206
    args=(${W_ARGS[$w]})
    for round in $(seq "$ROUNDS"); do
        for server in ferrocache memcached; do
            if [ "$server" = ferrocache ]; then pid=$FC_PID addr=$FC_ADDR; else pid=$MC_PID addr=$MC_ADDR; fi
            sargs=("${args[@]}")
            # shellcheck disable=SC2206
            if [ "$server" = memcached ]; then sargs+=(${W_MC_ARGS[$w]}); else sargs+=(${W_FC_ARGS[$w]}); fi
            kill -0 "$pid" 2>/dev/null || { echo "bench.sh: $server died" >&2; exit 1; }
            if [ "${W_PREFILL[$w]}" = 1 ]; then
                # The prefill is not measured: its own run, before the CPU reading.
                timeout 120 "$LOADGEN" --server "$addr" "${common[@]}" "${sargs[@]}" \
                    --connections 16 --active 16 --prefill --duration 0 >/dev/null 2>"$tmp/prefill.err" \
                    || { cat "$tmp/prefill.err" >&2; exit 1; }
            fi
            cpu0=$(cpu_ticks "$pid")
            json=$(timeout $((DURATION * 2 + 60)) "$LOADGEN" --server "$addr" "${common[@]}" "${sargs[@]}" \
                --duration "$DURATION" 2>"$tmp/loadgen.err") \
                || { cat "$tmp/loadgen.err" >&2; exit 1; }
            cpu1=$(cpu_ticks "$pid")
            printf '%s\t%s\t%s\t%s\t%s\n' "$w" "$server" "$round" "$((cpu1 - cpu0))" "$json" >>"$results"
            line=$(python3 -c 'import json, sys; r = json.loads(sys.argv[1]); print("{:,.0f} ops/s, p50 {} us, p99 {} us, errors {}".format(r["ops_per_sec"], r["p50_us"], r["p99_us"], r["errors"]))' "$json")
            echo "   $w round $round $server: $line, server CPU $((cpu1 - cpu0)) ticks" >&2
        done
    done
done
stop_server "$FC_PID"
stop_server "$MC_PID"

# --- what the instruments cost ----------------------------------------------------
# Workload a against four ferrocache servers in turn, round after round: plain,
# with hot keys (-o hotkeys=20), with the metrics endpoint (which turns the
# latency histograms on) and hot keys but never scraped, and the same scraped
# once a second by curl (Prometheus scrapes every 15 s by default: this is 15
# times that). Ops per server CPU-second of each, against the plain server's.
instfile=target/bench/instruments-$stamp.tsv
: >"$instfile"
if [ "${INSTRUMENTS:-1}" = 1 ]; then
    mport=$(free_port)
    declare -A I_PID I_ADDR
    for variant in plain hotkeys metrics scraped; do
        case $variant in
            plain) start_ferrocache "$SERVER_CONNS" ;;
            hotkeys) start_ferrocache "$SERVER_CONNS" -o hotkeys=20 ;;
            metrics) start_ferrocache "$SERVER_CONNS" -o "hotkeys=20,metrics_listen=127.0.0.1:$(free_port)" ;;
            scraped) start_ferrocache "$SERVER_CONNS" -o "hotkeys=20,metrics_listen=127.0.0.1:$mport" ;;
        esac
        I_PID[$variant]=$SERVER_PID I_ADDR[$variant]=$SERVER_ADDR
    done
    ( while kill -0 "${I_PID[scraped]}" 2>/dev/null; do
          curl -sf -o /dev/null "http://127.0.0.1:$mport/metrics" || true
          sleep 1
      done ) &
    pids+=("$!")
    # shellcheck disable=SC2206
    args=(${W_ARGS[a]})
    for variant in plain hotkeys metrics scraped; do
        timeout 120 "$LOADGEN" --server "${I_ADDR[$variant]}" "${common[@]}" "${args[@]}" \
            --connections 16 --active 16 --prefill --duration 0 >/dev/null 2>"$tmp/prefill.err" \
            || { cat "$tmp/prefill.err" >&2; exit 1; }
    done
    for round in $(seq "$ROUNDS"); do
        for variant in plain hotkeys metrics scraped; do
            pid=${I_PID[$variant]}
            cpu0=$(cpu_ticks "$pid")
            json=$(timeout $((DURATION * 2 + 60)) "$LOADGEN" --server "${I_ADDR[$variant]}" "${common[@]}" \
                "${args[@]}" --duration "$DURATION" 2>"$tmp/loadgen.err") \
                || { cat "$tmp/loadgen.err" >&2; exit 1; }
            cpu1=$(cpu_ticks "$pid")
            printf '%s\t%s\t%s\t%s\n' "$variant" "$round" "$((cpu1 - cpu0))" "$json" >>"$instfile"
            echo "   instruments round $round $variant: server CPU $((cpu1 - cpu0)) ticks" >&2
        done
    done
    for variant in plain hotkeys metrics scraped; do stop_server "${I_PID[$variant]}"; done
fi

# --- memory per idle connection --------------------------------------------------
# Fresh servers with room for the connections; RSS before, and with all of them
# open (never used, then again on new servers with one `version` served on each).
memfile=target/bench/idle-$stamp.tsv
: >"$memfile"
for touch in untouched touched; do
    for server in ferrocache memcached; do
        "start_$server" $((IDLE_CONNS + 1024))
        sleep 0.5
        rss0=$(rss_kib "$SERVER_PID")
        extra=()
        [ "$touch" = touched ] && extra=(--touch-idle)
        "$LOADGEN" --server "$SERVER_ADDR" --threads 2 --connections "$IDLE_CONNS" --active 0 \
            "${extra[@]}" --duration 4 --json >"$tmp/idle.json" 2>"$tmp/idle.err" &
        lg=$!
        pids+=("$lg")
        for _ in $(seq 600); do
            grep -q '^loadgen: measuring' "$tmp/idle.err" && break
            kill -0 "$lg" 2>/dev/null || break
            sleep 0.1
        done
        sleep 1
        rss1=$(rss_kib "$SERVER_PID")
        wait "$lg" || { cat "$tmp/idle.err" >&2; exit 1; }
        printf '%s\t%s\t%s\t%s\t%s\n' "$touch" "$server" "$rss0" "$rss1" "$(cat "$tmp/idle.json")" >>"$memfile"
        echo "   idle ($touch) $server: RSS $rss0 -> $rss1 KiB" >&2
        stop_server "$SERVER_PID"
    done
done

# --- memory per slow connection ---------------------------------------------------
# Fresh servers; SLOW_CONNS clients each send one byte of a request every half
# second for 5 s (scripts/slow-conns.py), so each holds a partial request.
slowfile=target/bench/slow-$stamp.tsv
: >"$slowfile"
for server in ferrocache memcached; do
    "start_$server" $((SLOW_CONNS + 1024))
    sleep 0.5
    json=$(python3 scripts/slow-conns.py --addr "$SERVER_ADDR" --pid "$SERVER_PID" -n "$SLOW_CONNS" --seconds 5)
    printf '%s\t%s\n' "$server" "$json" >>"$slowfile"
    echo "   slow $server: $json" >&2
    stop_server "$SERVER_PID"
done

# --- the table -----------------------------------------------------------------
descs=$(for w in $WORKLOADS; do printf '%s\t%s\n' "$w" "${W_DESC[$w]}"; done)
python3 - "$results" "$memfile" "$tick" "$IDLE_CONNS" "$descs" "$slowfile" "$instfile" <<'EOF' | tee "target/bench/table-$stamp.md"
import json, statistics, sys

results, memfile, tick, idle_conns, descs, slowfile, instfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
desc = dict(line.split("\t", 1) for line in descs.splitlines())
runs = {}
for line in open(results):
    w, server, rnd, ticks, js = line.rstrip("\n").split("\t", 4)
    r = json.loads(js)
    r["cpu_s"] = int(ticks) / tick
    r["ops_per_cpu_s"] = r["total_ops"] / r["cpu_s"] if r["cpu_s"] > 0 else float("nan")
    runs.setdefault((w, server), []).append(r)

def med(w, server, key):
    return statistics.median(r[key] for r in runs[(w, server)])

def n(x):
    return f"{x:,.0f}"

def ratio(a, b):
    return f"{a / b:.2f}" if b else "—"

print("| workload | ferrocache ops/s | memcached ops/s | ratio | p99 µs ferrocache | p99 µs memcached | ratio | ops per server CPU-s ferrocache | memcached | ratio | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for w in desc:
    if (w, "ferrocache") not in runs:
        continue
    fo, mo = med(w, "ferrocache", "ops_per_sec"), med(w, "memcached", "ops_per_sec")
    fp, mp = med(w, "ferrocache", "p99_us"), med(w, "memcached", "p99_us")
    fc, mc = med(w, "ferrocache", "ops_per_cpu_s"), med(w, "memcached", "ops_per_cpu_s")
    errs = sum(r["errors"] for s in ("ferrocache", "memcached") for r in runs[(w, s)])
    print(f"| ({w}) {desc[w]} | {n(fo)} | {n(mo)} | **{ratio(fo, mo)}** | {fp:,.0f} | {mp:,.0f} | {ratio(fp, mp)} "
          f"| {n(fc)} | {n(mc)} | **{ratio(fc, mc)}** | {errs} |")

mem = {}
for line in open(memfile):
    touch, server, rss0, rss1, js = line.rstrip("\n").split("\t", 4)
    r = json.loads(js)
    mem[(touch, server)] = ((int(rss1) - int(rss0)) * 1024 / idle_conns, r["connected"], r["conn_failures"])
print()
print(f"| memory per idle connection ({idle_conns:,} connections) | ferrocache | memcached | ratio |")
print("|---|---:|---:|---:|")
for touch, what in (("untouched", "never used"), ("touched", "after serving one `version`")):
    f, m = mem[(touch, "ferrocache")], mem[(touch, "memcached")]
    notes = [f"{s}: {c[1]:,} connected, {c[2]} lost" for s, c in (("ferrocache", f), ("memcached", m)) if c[1] != idle_conns or c[2]]
    print(f"| RSS growth per connection, {what} | {f[0]:,.0f} B | {m[0]:,.0f} B | **{ratio(f[0], m[0])}** |"
          + (" " + "; ".join(notes) if notes else ""))

slow = {}
for line in open(slowfile):
    server, js = line.rstrip("\n").split("\t", 1)
    slow[server] = json.loads(js)
f, m = slow["ferrocache"], slow["memcached"]
print(f"| RSS growth per slow connection ({f['connections']:,} clients, one byte every 0.5 s) "
      f"| {f['bytes_per_connection']:,.0f} B | {m['bytes_per_connection']:,.0f} B "
      f"| **{ratio(f['bytes_per_connection'], m['bytes_per_connection'])}** |")

inst = {}
for line in open(instfile):
    variant, rnd, ticks, js = line.rstrip("\n").split("\t", 3)
    r = json.loads(js)
    cpu_s = int(ticks) / tick
    inst.setdefault(variant, []).append((r["ops_per_sec"], r["total_ops"] / cpu_s if cpu_s > 0 else float("nan"), r["errors"]))
if inst:
    print()
    print("| instruments, workload (a), ferrocache alone | ops/s | ops per server CPU-s | against plain | errors |")
    print("|---|---:|---:|---:|---:|")
    base = statistics.median(x[1] for x in inst["plain"])
    names = {"plain": "none", "hotkeys": "`-o hotkeys=20`",
             "metrics": "`-o hotkeys=20,metrics_listen=…` (latency histograms on), never scraped",
             "scraped": "the same, scraped every 1 s"}
    for variant in ("plain", "hotkeys", "metrics", "scraped"):
        xs = inst[variant]
        per_cpu = statistics.median(x[1] for x in xs)
        print(f"| {names[variant]} | {n(statistics.median(x[0] for x in xs))} | {n(per_cpu)} | **{ratio(per_cpu, base)}** | {sum(x[2] for x in xs)} |")

print()
print("Per run (ops/s, p50/p99 µs, server CPU s; hit ratio, errors):")
print()
for (w, server), rs in sorted(runs.items()):
    cells = "; ".join(f"{r['ops_per_sec']:,.0f}, {r['p50_us']:,.0f}/{r['p99_us']:,.0f}, {r['cpu_s']:.2f}"
                      + (f" hit {r['hit_ratio']:.3f}" if r["hit_ratio"] is not None else "")
                      + (f" **{r['errors']} errors**" if r["errors"] else "") for r in rs)
    print(f"- ({w}) {server}: {cells}")
EOF
echo "raw results: $results, $memfile, $slowfile, $instfile" >&2

# --- TLS: handshakes, the 1:10 mix and pipelined gets over TLS, memory ------
if [ "${TLS:-1}" = 1 ]; then
    echo "== TLS (scripts/bench-tls.sh)" >&2
    ROUNDS=$ROUNDS DURATION=$DURATION scripts/bench-tls.sh
fi

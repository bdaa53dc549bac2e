#!/usr/bin/env bash
# A ferrocache cluster with ElastiCache auto-discovery, on this machine:
#
#   1. starts three ferrocache nodes on 127.0.0.1 (ports BASE_PORT,
#      BASE_PORT+1, BASE_PORT+2; BASE_PORT defaults to 21211), all serving
#      one node file (-o cluster_nodes);
#   2. a discovery client (elasticache-auto-discovery's `config get
#      cluster`, a ketama ring from uhashring, pymemcache per node) learns
#      the three nodes from the first one and spreads 300 keys over them;
#   3. a fourth node is started and added to the file: the nodes' file
#      watchers serve a higher config version, the client polls, picks it
#      up and re-hashes (about a quarter of the keys move, all to the new
#      node);
#   4. a node is removed from the file: after the version bump only the
#      keys that lived on it miss; every other key is still a hit (ketama).
#
# Everything it starts is stopped on exit (by pid). Needs python3 with
# venv; builds target/release/ferrocache if missing and makes a venv with
# the three client libraries in target/cluster-demo-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_PORT=${BASE_PORT:-21211}
BIN=target/release/ferrocache
if [ ! -x "$BIN" ]; then
    echo "== cargo build --release --bin ferrocache"
    cargo build --release --bin ferrocache
fi
venv=target/cluster-demo-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pymemcache, uhashring, elasticache_auto_discovery' 2>/dev/null; then
    echo "== making $venv (pymemcache, uhashring, elasticache-auto-discovery)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        pymemcache==4.0.0 uhashring==2.5 elasticache-auto-discovery==1.0.0
fi

for p in 0 1 2 3; do
    port=$((BASE_PORT + p))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is in use: set BASE_PORT to a free range" >&2
        exit 1
    fi
done

work=$(mktemp -d /tmp/ferrocache-cluster-demo.XXXXXX)
# Started as root, the nodes become nobody: they must read the file then.
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}" $(cat "$work/pids" 2>/dev/null); do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}" $(cat "$work/pids" 2>/dev/null); do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
    echo "== stopped every node started"
}
trap cleanup EXIT

user=()
[ "$(id -u)" = 0 ] && user=(-u nobody)

write_nodes() { # write_nodes PORT... : the node file, replaced atomically
    : >"$work/nodes.tmp"
    for port in "$@"; do
        echo "localhost|127.0.0.1|$port" >>"$work/nodes.tmp"
    done
    chmod 644 "$work/nodes.tmp"
    mv "$work/nodes.tmp" "$work/nodes"
}

start_node() { # start_node PORT
    "$BIN" -p "$1" -l 127.0.0.1 -t 2 -m 64 "${user[@]}" \
        -o "cluster_nodes=$work/nodes" 2>>"$work/log" &
    echo $! >>"$work/pids"
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "node on port $1 did not start; its log:" >&2
    cat "$work/log" >&2
    exit 1
}

A=$BASE_PORT B=$((BASE_PORT + 1)) C=$((BASE_PORT + 2)) D=$((BASE_PORT + 3))
write_nodes "$A" "$B" "$C"
echo "== three nodes on ports $A $B $C, node file $work/nodes"
for port in "$A" "$B" "$C"; do start_node "$port"; done

export DEMO_BIN=$BIN DEMO_WORK=$work DEMO_A=$A DEMO_B=$B DEMO_C=$C DEMO_D=$D
# The client: the steps that change the cluster call back into this script
# through the commands it is given.
"$venv/bin/python" - "$0" <<'EOF'
import os, subprocess, sys, time
import elasticache_auto_discovery
from pymemcache.client.base import Client
from uhashring import HashRing

A, B, C, D = (int(os.environ[f"DEMO_{n}"]) for n in "ABCD")
work = os.environ["DEMO_WORK"]
KEYS = [f"demo:{i}" for i in range(300)]


def config_version(port):
    """The version line of `config get cluster` (the library returns only
    the nodes)."""
    c = Client(("127.0.0.1", port))
    reply = c.raw_command(b"config get cluster", end_tokens=b"END\r\n")
    c.close()
    return int(reply.split(b"\r\n", 1)[1].split(b"\n", 1)[0])


def discover(port):
    nodes = elasticache_auto_discovery.discover(f"127.0.0.1:{port}", time_to_timeout=5)
    return sorted((ip.decode(), int(p)) for _, ip, p in nodes)


def ring(nodes):
    return HashRing(nodes=[f"{ip}:{p}" for ip, p in nodes], hash_fn="ketama")


clients = {}
def client(node):
    if node not in clients:
        host, port = node.split(":")
        clients[node] = Client((host, int(port)))
    return clients[node]


def place(r):
    return {k: r.get_node(k) for k in KEYS}


def spread(where):
    counts = {}
    for node in where.values():
        counts[node] = counts.get(node, 0) + 1
    return " ".join(f"{n}={counts[n]}" for n in sorted(counts))


def wait_for_new_version(port, old):
    """Polls the node (every 0.2 s, as a client's poller would, only faster)."""
    deadline = time.monotonic() + 10
    while (v := config_version(port)) <= old:
        assert time.monotonic() < deadline, "the version never rose"
        time.sleep(0.2)
    return v


def write_nodes(*ports):
    tmp = f"{work}/nodes.tmp"
    with open(tmp, "w") as f:
        f.writelines(f"localhost|127.0.0.1|{p}\n" for p in ports)
    os.chmod(tmp, 0o644)
    # Changes written a second or more apart (docs/autodiscovery.md).
    time.sleep(1.1)
    os.replace(tmp, f"{work}/nodes")


version = config_version(A)
nodes = discover(A)
print(f"-- discovered from node {A}: version {version}, nodes {nodes}")
r = ring(nodes)
where = place(r)
for k, node in where.items():
    client(node).set(k, k)
print(f"-- {len(KEYS)} keys set through the ketama ring: {spread(where)}")

print(f"-- starting a fourth node on {D} and adding it to the node file")
user = ["-u", "nobody"] if os.geteuid() == 0 else []
log = open(f"{work}/log", "a")
proc = subprocess.Popen([os.environ["DEMO_BIN"], "-p", str(D), "-l", "127.0.0.1", "-t", "2",
                         *user, "-o", f"cluster_nodes={work}/nodes"], stderr=log)
with open(f"{work}/pids", "a") as f:
    f.write(f"{proc.pid}\n")
time.sleep(0.5)
write_nodes(A, B, C, D)
version = wait_for_new_version(A, version)
nodes = discover(A)
print(f"-- the client polled: version {version}, nodes {nodes}")
r = ring(nodes)
moved = {k: n for k, n in place(r).items() if n != where[k]}
assert set(moved.values()) == {f"127.0.0.1:{D}"}, "keys move only to the new node"
print(f"-- {len(moved)} of {len(KEYS)} keys now hash to the new node, none elsewhere")
where = place(r)
for k, node in where.items():
    client(node).set(k, k)
print(f"-- keys set again: {spread(where)}")

print(f"-- removing node {C} from the node file")
write_nodes(A, B, D)
version = wait_for_new_version(A, version)
nodes = discover(A)
print(f"-- the client polled: version {version}, nodes {nodes}")
r = ring(nodes)
misses = [k for k in KEYS if client(r.get_node(k)).get(k) is None]
on_c = [k for k, n in where.items() if n == f"127.0.0.1:{C}"]
print(f"-- gets through the new ring: {len(KEYS) - len(misses)} hits, {len(misses)} misses; "
      f"{len(on_c)} keys lived on the removed node")
assert sorted(misses) == sorted(on_c), "only the removed node's keys miss"
print("-- only the removed node's keys missed (ketama)")
EOF

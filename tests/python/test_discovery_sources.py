"""Real ElastiCache auto-discovery clients against the two other node sources.

test_discovery.py drives the clients against nodes sharing a node file
(``-o cluster_nodes``); this module drives them against

- a DNS name (``-o cluster_dns``): Debian's dnsmasq, started unprivileged
  on a loopback port, serves SRV records ``_memcache._tcp.cache.test``
  whose targets are ``localhost`` (127.0.0.1, from dnsmasq's hosts file)
  with each node's port: every node sits on 127.0.0.1, so SRV records with
  distinct ports are how three distinct nodes are named. Each node asks
  dnsmasq every second (``cluster_dns_interval=1``) and serves
  ``localhost|127.0.0.1|<port>`` for each record. A fourth node is added by
  restarting dnsmasq on the same port with a fourth SRV record
  (``--srv-host`` is not re-read on SIGHUP), as tests/cluster_dns.rs does;
- a set list (``-o cluster_admin``, no other source): ``config set
  cluster`` over a raw socket installs the list on each node, a second set
  with four nodes bumps the version, and ``config delete cluster`` leaves
  no list (``config get cluster`` answers ``END``).

Clients: ``elasticache-auto-discovery`` (``discover()``, feeding
pymemcache's HashClient) and ``emcache`` with ``autodiscovery=True`` (its
own poller picks the fourth node up). Each stores keys through the nodes
it discovered; every key is then found on exactly one node, asked of each
node directly with a plain client (for HashClient, the node its hash
chose), and the keys are spread over every node. What each client saw
(versions, node lists, keys per node) is printed: ``pytest -s`` shows it.
"""

import asyncio
import os
import grp
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient

from conftest import _free_port, _start_ferrocache, against_memcached
from test_discovery import KEYS, config_get_cluster

pytestmark = pytest.mark.skipif(
    against_memcached(), reason="memcached has no auto-discovery"
)

SRV_NAME = "_memcache._tcp.cache.test"
WAIT = 10.0  # seconds: the longest any node or client is waited for
MORE_KEYS = [f"discovery-sources-more-{i}" for i in range(60)]


def raw_call(port, request):
    """Sends `request` to a node; returns its whole reply: one line, or a
    `CONFIG ...` block up to its `END`."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        data = b""
        while not (data.endswith(b"\r\n") and (
                not data.startswith(b"CONFIG") or data.endswith(b"\r\nEND\r\n"))):
            chunk = s.recv(65536)
            assert chunk, f"closed after {data!r}"
            data += chunk
    return data


def served(port):
    """(version, nodes) a node serves, None while it has no list."""
    if raw_call(port, b"config get cluster\r\n") == b"END\r\n":
        return None
    return config_get_cluster(port)


def node_list(ports):
    return sorted(("localhost", "127.0.0.1", str(p)) for p in ports)


def placement(ports, keys, hash_client=None):
    """{port: number of `keys` it holds}, each node asked directly; every
    key is on exactly one node (the one `hash_client` hashes it to)."""
    where = {}
    for port in ports:
        c = Client(("127.0.0.1", port), connect_timeout=5, timeout=5)
        try:
            for k in c.get_many(keys):
                assert k not in where, f"{k} on {where[k]} and {port}"
                where[k] = port
        finally:
            c.close()
    assert sorted(where) == sorted(keys), f"keys on no node: {set(keys) - set(where)}"
    if hash_client is not None:
        for k in keys:
            chosen = hash_client._get_client(k).server
            assert chosen == ("127.0.0.1", where[k]), (k, chosen, where[k])
    counts = {p: sum(1 for q in where.values() if q == p) for p in ports}
    return counts


def check_spread(ports, keys, hash_client=None):
    counts = placement(ports, keys, hash_client)
    assert all(counts.values()), f"every node holds keys: {counts}"
    return counts


class Nodes:
    """ferrocache nodes started with the same node-source options; each
    one's log goes to a file, shown when a wait fails."""

    def __init__(self, tmp: Path, options: str):
        self.tmp = tmp
        self.options = options
        self.procs = []
        self.ports = []
        self.logs = []

    def start_node(self):
        log = self.tmp / f"node-{len(self.procs)}.log"
        with open(log, "wb") as stderr:
            proc, port = _start_ferrocache(2, args=["-o", self.options], stderr=stderr)
        self.procs.append(proc)
        self.ports.append(port)
        self.logs.append(log)
        return port

    def log_tail(self):
        return "\n".join(f"--- {p}:\n" + log.read_text(errors="replace")[-2000:]
                         for p, log in zip(self.ports, self.logs))

    def wait_served(self, want):
        """Waits until every node serves the node list `want`; {port: version}."""
        deadline = time.monotonic() + WAIT
        while True:
            seen = {p: served(p) for p in self.ports}
            if all(s is not None and s[1] == want for s in seen.values()):
                return {p: s[0] for p, s in seen.items()}
            assert time.monotonic() < deadline, (
                f"nodes never served {want}: {seen}\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self):
        dead = [(p, proc.returncode) for p, proc in zip(self.ports, self.procs)
                if proc.poll() is not None]
        for proc in self.procs:
            proc.kill()
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
        return dead


# --- (a) a DNS name as the node source ------------------------------------


class Dnsmasq:
    """Debian's dnsmasq on 127.0.0.1:`port`, authoritative for .test,
    answering A records from a hosts file and the SRV records given."""

    def __init__(self, tmp: Path):
        self.binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not Path(self.binary).exists():
            pytest.fail("dnsmasq is missing: apt-get install -y dnsmasq", pytrace=False)
        self.tmp = tmp
        self.hosts = tmp / "hosts"
        self.hosts.write_text("127.0.0.1 localhost\n")
        self.log = tmp / "dnsmasq.log"
        self.port = _free_port()
        self.proc = None

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def serve(self, ports):
        """(Re)starts dnsmasq on the same port with one SRV record per port."""
        self.stop()
        cmd = [
            self.binary, "--no-daemon", "--conf-file=/dev/null",
            "--listen-address=127.0.0.1", "--bind-interfaces",
            "--no-resolv", "--no-hosts", "--local=/test/", "--pid-file=",
            f"--user={pwd.getpwuid(os.getuid()).pw_name}",
            f"--group={grp.getgrgid(os.getgid()).gr_name}",
            f"--port={self.port}", f"--addn-hosts={self.hosts}",
        ] + [f"--srv-host={SRV_NAME},localhost,{p}" for p in ports]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        # Ready when its TCP socket takes connections (it opens UDP first).
        deadline = time.monotonic() + WAIT
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"dnsmasq exited with status {self.proc.returncode}: "
                            f"{self.log.read_text()}", pytrace=False)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, f"dnsmasq did not start: {self.log.read_text()}"
                time.sleep(0.02)

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class DnsCluster(Nodes):
    """Three nodes following SRV records of SRV_NAME, which dnsmasq first
    serves with no record (the nodes start without a list, as a first pod
    of a StatefulSet does), then with one record per node."""

    def __init__(self, tmp: Path):
        self.dns = Dnsmasq(tmp)
        super().__init__(tmp, f"cluster_dns={SRV_NAME},"
                              f"cluster_dns_server={self.dns.server},cluster_dns_interval=1")

    def start(self):
        self.dns.serve([])
        for _ in range(3):
            self.start_node()
        assert all(served(p) is None for p in self.ports), "no record, no list"
        self.versions = self.publish()

    def publish(self):
        """dnsmasq serves a record for every node; waits until every node
        serves the list. Returns {port: version}."""
        before = time.time()
        self.dns.serve(self.ports)
        versions = self.wait_served(node_list(self.ports))
        for v in versions.values():
            # A changed membership: max(time of the answer, current + 1).
            assert int(before) <= v <= time.time() + 1, (before, versions)
        return versions

    def add_node(self):
        old = self.versions
        self.start_node()
        self.versions = self.publish()
        for p, v in old.items():
            assert self.versions[p] > v, f"node {p}: {v} -> {self.versions[p]}"
        return self.versions

    def stop(self):
        try:
            self.dns.stop()
        finally:
            dead = super().stop()
        assert not dead, f"nodes exited during the test: {dead}\n{self.log_tail()}"


@pytest.fixture
def dns_cluster(tmp_path):
    c = DnsCluster(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.stop()  # whatever was started, even if start() failed half way


def discover(port):
    import elasticache_auto_discovery

    found = elasticache_auto_discovery.discover(f"127.0.0.1:{port}", time_to_timeout=5)
    return sorted((h.decode(), ip.decode(), int(p)) for h, ip, p in found)


def hash_client(nodes):
    # Replies awaited: a key is stored before another connection looks.
    return HashClient([(ip, port) for _, ip, port in nodes],
                      connect_timeout=5, timeout=5, default_noreply=False)


def run_elasticache_auto_discovery(cluster, endpoint, label, grow):
    """discover() from `endpoint`, keys through HashClient, then `grow()`
    (which adds a fourth node to the list and returns the endpoint's
    version) and a new discover()."""
    nodes = discover(endpoint)
    version = served(endpoint)[0]
    print(f"\n[{label}] elasticache-auto-discovery saw (version {version}) {nodes}")
    assert nodes == sorted(("localhost", "127.0.0.1", p) for p in cluster.ports)
    client = hash_client(nodes)
    for k in KEYS:
        assert client.set(k, k.encode())
    assert all(client.get(k) == k.encode() for k in KEYS)
    counts = check_spread(cluster.ports, KEYS, client)
    print(f"  keys per node: {counts}")
    client.close()

    version = grow()
    nodes = discover(endpoint)
    print(f"  after adding a node (version {version}): {nodes}")
    assert nodes == sorted(("localhost", "127.0.0.1", p) for p in cluster.ports)
    client = hash_client(nodes)
    still = sum(1 for k in KEYS if client.get(k) == k.encode())
    for k in MORE_KEYS:
        assert client.set(k, k.encode())
    counts = check_spread(cluster.ports, MORE_KEYS, client)
    print(f"  {still}/{len(KEYS)} earlier keys still found; "
          f"{len(MORE_KEYS)} new keys per node: {counts}")
    client.close()


async def run_emcache(cluster, endpoint, label, grow):
    """emcache discovering from `endpoint` (polling every 0.2 s), keys
    through it, then `grow()` and its poller picking the fourth node up.
    Returns the client, still open, and its version."""
    import emcache

    # emcache connects to the nodes by their hostname (localhost).
    client = await emcache.create_client(
        [emcache.MemcachedHostAddress("localhost", endpoint)],
        autodiscovery=True,
        autodiscovery_poll_interval=0.2,
    )
    try:
        # The version emcache holds has no public accessor.
        version = client._cluster._autodiscover_config_version
        nodes = sorted((a.address, a.port) for a in client.cluster_managment().nodes())
        print(f"\n[{label}] emcache saw version {version}, nodes {nodes}")
        assert version == served(endpoint)[0]
        assert nodes == sorted(("localhost", p) for p in cluster.ports)
        for k in KEYS:
            await client.set(k.encode(), k.encode())
        for k in KEYS:
            item = await client.get(k.encode())
            assert item is not None and item.value == k.encode(), k
        counts = await asyncio.to_thread(check_spread, cluster.ports, KEYS)
        print(f"  keys per node: {counts}")

        added = await asyncio.to_thread(grow)
        deadline = time.monotonic() + WAIT
        while client._cluster._autodiscover_config_version != added:
            assert time.monotonic() < deadline, (
                f"emcache never saw version {added}: "
                f"holds {client._cluster._autodiscover_config_version}")
            await asyncio.sleep(0.1)
        nodes = sorted((a.address, a.port) for a in client.cluster_managment().nodes())
        print(f"  after adding a node: version {added}, nodes {nodes} "
              "(picked up by its own poller)")
        assert nodes == sorted(("localhost", p) for p in cluster.ports)
        for k in MORE_KEYS:
            await client.set(k.encode(), k.encode())
        counts = await asyncio.to_thread(check_spread, cluster.ports, MORE_KEYS)
        print(f"  {len(MORE_KEYS)} new keys per node: {counts}")
        return client, added
    except BaseException:
        await client.close()
        raise


def test_dns_elasticache_auto_discovery(dns_cluster):
    print(f"\n[dns] SRV {SRV_NAME} via dnsmasq {dns_cluster.dns.server}; "
          f"versions per node: {dns_cluster.versions}")

    def grow():
        return dns_cluster.add_node()[dns_cluster.ports[1]]

    run_elasticache_auto_discovery(dns_cluster, dns_cluster.ports[1], "dns", grow)
    print(f"  versions per node: {dns_cluster.versions}")


def test_dns_emcache_autodiscovery(dns_cluster):
    print(f"\n[dns] SRV {SRV_NAME} via dnsmasq {dns_cluster.dns.server}; "
          f"versions per node: {dns_cluster.versions}")

    def grow():
        return dns_cluster.add_node()[dns_cluster.ports[0]]

    async def run():
        client, _ = await run_emcache(dns_cluster, dns_cluster.ports[0], "dns", grow)
        await client.close()

    asyncio.run(run())
    print(f"  versions per node: {dns_cluster.versions}")


# --- (b) a set list: `config set cluster` with -o cluster_admin -----------


def config_set_cluster(port, version, ports):
    payload = f"{version}\n" + " ".join(
        f"localhost|127.0.0.1|{p}" for p in ports) + "\n"
    data = payload.encode()
    return raw_call(port, b"config set cluster 0 %d\r\n%s\r\n" % (len(data), data))


class AdminCluster(Nodes):
    """Three nodes with `-o cluster_admin` and no other source."""

    def __init__(self, tmp: Path):
        super().__init__(tmp, "cluster_admin")

    def start(self):
        for _ in range(3):
            self.start_node()
        for p in self.ports:
            assert raw_call(p, b"config get cluster\r\n") == b"END\r\n", "no list before a set"
        self.set_list(1)

    def set_list(self, version):
        """`config set cluster` of every node started, on every node;
        returns the version they serve."""
        for p in self.ports:
            assert config_set_cluster(p, version, self.ports) == b"STORED\r\n"
        versions = self.wait_served(node_list(self.ports))
        assert set(versions.values()) == {version}, versions
        return version

    def delete_list(self):
        for p in self.ports:
            assert raw_call(p, b"config delete cluster\r\n") == b"DELETED\r\n"
        for p in self.ports:
            assert raw_call(p, b"config get cluster\r\n") == b"END\r\n"
            assert raw_call(p, b"config delete cluster\r\n") == b"NOT_FOUND\r\n"

    def add_node(self):
        self.start_node()
        return self.set_list(2)

    def stop(self):
        dead = super().stop()
        assert not dead, f"nodes exited during the test: {dead}\n{self.log_tail()}"


@pytest.fixture
def admin_cluster(tmp_path):
    c = AdminCluster(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def test_set_list_elasticache_auto_discovery(admin_cluster):
    run_elasticache_auto_discovery(admin_cluster, admin_cluster.ports[1], "set list",
                                   admin_cluster.add_node)
    admin_cluster.delete_list()
    print("  after config delete cluster: every node answers END to config get cluster")


def test_set_list_emcache_autodiscovery(admin_cluster):
    async def run():
        client, version = await run_emcache(admin_cluster, admin_cluster.ports[0],
                                            "set list", admin_cluster.add_node)
        try:
            await asyncio.to_thread(admin_cluster.delete_list)
            # emcache's poller finds no list (END): it keeps the one it has.
            await asyncio.sleep(0.6)
            held = client._cluster._autodiscover_config_version
            nodes = sorted(a.port for a in client.cluster_managment().nodes())
            print(f"  after config delete cluster: every node answers END; "
                  f"emcache keeps version {held}, ports {nodes}")
            assert held == version and nodes == sorted(admin_cluster.ports)
        finally:
            await client.close()

    asyncio.run(run())

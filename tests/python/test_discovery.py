"""Real ElastiCache auto-discovery clients against a ferrocache cluster.

Three ferrocache nodes share one node file (``-o cluster_nodes``); each
client, through its public API, discovers the three nodes from one of
them, stores and reads keys spread over the nodes, and sees a fourth node
once it is added to the file (the nodes' file watchers pick the change up;
nothing is signalled). What each client saw is printed (``pytest -s``
shows it) for the record in docs/autodiscovery.md.

Clients: ``elasticache-auto-discovery`` (feeding pymemcache's HashClient),
``django-elastipymemcache`` (Django's cache backend) and ``emcache`` with
``autodiscovery=True``. pymemcache's own AWS ElastiCache client exists only
in its unreleased main branch (4.0.0, the latest release, has none), so it
is not among them.
"""

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient

from conftest import _start_ferrocache, against_memcached

pytestmark = pytest.mark.skipif(
    against_memcached(), reason="memcached has no auto-discovery"
)

KEYS = [f"discovery-key-{i}" for i in range(60)]


def config_get_cluster(port):
    """(version, [(host, ip, port)]) from one node, over a raw socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"config get cluster\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            assert chunk, f"closed after {data!r}"
            data += chunk
    header, rest = data.split(b"\r\n", 1)
    length = int(header.split()[3])
    payload = rest[:length].decode()
    assert rest[length:] == b"\r\nEND\r\n", data
    version, nodes = payload.split("\n")[:2]
    return int(version), [tuple(n.split("|")) for n in nodes.split(" ")]


class Cluster:
    """ferrocache nodes sharing a node file."""

    def __init__(self, tmp: Path):
        self.file = tmp / "nodes"
        self.procs = []
        self.ports = []
        # Each write of the file gets a modification time 10 s after the
        # one before: changes written seconds apart, as an operator makes
        # them (docs/autodiscovery.md: the version comes from it).
        self.mtime = int(time.time()) - 1000
        # A first list so the nodes start; rewritten once their ports are known.
        self.file.write_text("localhost|127.0.0.1|1\n")
        os.utime(self.file, (self.mtime, self.mtime))
        for _ in range(3):
            self.start_node()
        self.publish()

    def start_node(self):
        proc, port = _start_ferrocache(
            2, args=["-o", f"cluster_nodes={self.file}"]
        )
        self.procs.append(proc)
        self.ports.append(port)
        return port

    def publish(self):
        """Writes the file listing every node started; waits until every
        node serves it. Returns the version they serve."""
        lines = "".join(f"localhost|127.0.0.1|{p}\n" for p in self.ports)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text("# written by test_discovery.py\n" + lines)
        self.mtime += 10
        os.utime(tmp, (self.mtime, self.mtime))
        os.replace(tmp, self.file)
        want = sorted(("localhost", "127.0.0.1", str(p)) for p in self.ports)
        deadline = time.monotonic() + 10
        while True:
            seen = [config_get_cluster(p) for p in self.ports]
            if all(nodes == want for _, nodes in seen):
                versions = {v for v, _ in seen}
                assert len(versions) == 1, f"one file, one version: {seen}"
                return versions.pop()
            assert time.monotonic() < deadline, f"nodes never served {want}: {seen}"
            time.sleep(0.1)

    def add_node(self):
        before = config_get_cluster(self.ports[0])[0]
        self.start_node()
        version = self.publish()
        assert version > before, (before, version)
        return version

    def stop(self):
        for proc in self.procs:
            proc.kill()
            proc.wait()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.stop()


def keys_per_node(cluster, keys=KEYS):
    """How many of `keys` each node holds, asked of each node directly."""
    counts = {}
    for port in cluster.ports:
        c = Client(("127.0.0.1", port))
        counts[port] = len(c.get_many(keys))
        c.close()
    return counts


def check_spread(cluster, nodes):
    counts = keys_per_node(cluster)
    assert sum(counts.values()) == len(KEYS), counts
    used = [p for p, n in counts.items() if n > 0]
    assert len(used) == len(nodes), f"every node holds keys: {counts}"
    return counts


def test_elasticache_auto_discovery(cluster):
    import elasticache_auto_discovery

    endpoint = f"127.0.0.1:{cluster.ports[1]}"
    found = elasticache_auto_discovery.discover(endpoint, time_to_timeout=5)
    nodes = sorted((h.decode(), ip.decode(), int(p)) for h, ip, p in found)
    version = config_get_cluster(cluster.ports[1])[0]
    print(f"\nelasticache-auto-discovery saw (version {version}) {nodes}")
    assert nodes == sorted(("localhost", "127.0.0.1", p) for p in cluster.ports)
    client = HashClient([(ip, port) for _, ip, port in nodes])
    for k in KEYS:
        assert client.set(k, k.encode())
    assert all(client.get(k) == k.encode() for k in KEYS)
    print(f"  keys per node: {check_spread(cluster, nodes)}")

    version = cluster.add_node()
    found = elasticache_auto_discovery.discover(endpoint, time_to_timeout=5)
    nodes = sorted((h.decode(), ip.decode(), int(p)) for h, ip, p in found)
    print(f"  after adding a node (version {version}): {nodes}")
    assert [p for _, _, p in nodes] == sorted(cluster.ports)


def test_django_elastipymemcache(cluster):
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(CACHES={})
        django.setup()
    from django_elastipymemcache.backend import ElastiPymemcache

    cache = ElastiPymemcache(
        f"127.0.0.1:{cluster.ports[2]}",
        {"OPTIONS": {"discovery_interval": 0.2}},
    )
    client = cache._cache
    seen = sorted(client.clients)
    version = config_get_cluster(cluster.ports[2])[0]
    print(f"\ndjango-elastipymemcache saw (version {version}) {seen}")
    assert seen == sorted(f"127.0.0.1:{p}" for p in cluster.ports)
    for k in KEYS:
        cache.set(k, k, timeout=None)
    assert all(cache.get(k) == k for k in KEYS)
    # Django stores each key under its own prefix and version.
    counts = keys_per_node(cluster, [cache.make_key(k) for k in KEYS])
    assert sum(counts.values()) == len(KEYS) and all(counts.values()), counts
    print(f"  keys per node: {counts}")

    version = cluster.add_node()
    time.sleep(0.3)  # past the discovery interval
    cache.get("any-key")  # a request refreshes the node list when due
    seen = sorted(client.clients)
    print(f"  after adding a node (version {version}): {seen}")
    assert seen == sorted(f"127.0.0.1:{p}" for p in cluster.ports)
    cache.close()


def test_emcache_autodiscovery(cluster):
    import emcache

    async def run():
        # emcache connects to the nodes by their hostname (localhost).
        client = await emcache.create_client(
            [emcache.MemcachedHostAddress("localhost", cluster.ports[0])],
            autodiscovery=True,
            autodiscovery_poll_interval=0.2,
        )
        try:
            # The version emcache holds has no public accessor.
            version = client._cluster._autodiscover_config_version
            nodes = sorted(a.port for a in client.cluster_managment().nodes())
            print(f"\nemcache saw version {version}, nodes on ports {nodes}")
            assert version == config_get_cluster(cluster.ports[0])[0]
            assert nodes == sorted(cluster.ports)
            for k in KEYS:
                await client.set(k.encode(), k.encode())
            for k in KEYS:
                item = await client.get(k.encode())
                assert item is not None and item.value == k.encode()
            counts = check_spread(cluster, nodes)
            print(f"  keys per node: {counts}")

            added = await asyncio.to_thread(cluster.add_node)
            deadline = time.monotonic() + 10
            while client._cluster._autodiscover_config_version != added:
                assert time.monotonic() < deadline, "emcache never saw the new version"
                await asyncio.sleep(0.1)
            nodes = sorted(a.port for a in client.cluster_managment().nodes())
            print(f"  after adding a node: version {added}, ports {nodes}")
            assert nodes == sorted(cluster.ports)
        finally:
            await client.close()

    asyncio.run(run())

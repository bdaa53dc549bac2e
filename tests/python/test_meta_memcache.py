"""meta-memcache (``meta_memcache``), a Python client speaking memcached's
meta protocol (``mg ms md ma``), through its public API.

Every test runs against ferrocache and against Debian's memcached 1.6.18
(conftest.py's ``binary_server``, which serves both protocols, parametrised
over FERROCACHE_CLIENT_TARGETS). Clients have 2 s connect and receive
timeouts and pytest-timeout stops a test after 60 s.

What the client sends (meta-memcache 4.3.0 with meta-memcache-socket 0.3.1):

- ``get``: ``mg <key> f v t l h`` (plus ``c`` for the CAS variants,
  ``R<ttl>`` for a recache policy, ``N<ttl>`` for a lease policy, ``T<ttl>``
  for a touch); ``touch``: ``mg <key> T<ttl>``;
- ``set``: ``ms <key> <size> T<ttl> F<type>`` (``C<cas>``, ``I`` with a
  stale policy, ``M<mode>``); values over 128 bytes are zlib-compressed and
  the client flag tells the type (str 0, pickle 1, int 2, bytes 16, +8
  compressed);
- ``delete``/``invalidate``: ``md <key>`` (``C<cas>``; ``I T<ttl>`` with a
  stale policy);
- ``delta*``: ``ma <key> D<n>`` (``MD`` to decrement, ``N<ttl> J<initial>``
  to create, ``v`` to return the value);
- a key that is not printable ASCII without spaces, or that is 187
  characters or longer, is sent base64-encoded with the ``b`` flag (long
  keys as the base64 of an 18-byte hash of the key, so they never reach
  memcached's 250-byte limit).

The one place where the two servers answer differently is ``mg … C<cas>``
(memcached 1.6.40's "return the value only if it changed"), which the
client sends only through ``meta_get`` with a ``cas_token`` in its
RequestFlags: docs/compatibility.md's meta table; see
``test_meta_get_with_cas_token``.
"""

import base64
import os
import socket
import threading
import time

import pytest
from meta_memcache import (
    CacheClient,
    Key,
    LeasePolicy,
    MemcacheServerError,
    RecachePolicy,
    RequestFlags,
    ServerAddress,
    SetMode,
    StalePolicy,
    Success,
    Value,
    connection_pool_factory_builder,
)

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 2.0
# The client reads a value into a buffer that starts at read_buffer_size
# (4096 by default) and grows slowly: a 1 MB get then takes ~25 s.
READ_BUFFER = 2 * 1024 * 1024
ITEM_SIZE_MAX = 1024 * 1024


def make_client(server):
    return CacheClient.cache_client_from_servers(
        servers=[ServerAddress(server.host, server.port)],
        connection_pool_factory_fn=connection_pool_factory_builder(
            connection_timeout=TIMEOUT, recv_timeout=TIMEOUT, max_pool_size=16,
            read_buffer_size=READ_BUFFER,
        ),
    )


@pytest.fixture
def mc(binary_server):
    return make_client(binary_server)


def raw(server, data: bytes) -> bytes:
    """Sends `data` on a new text connection, then `mn`; returns the reply
    up to the `MN`."""
    with socket.create_connection(server.addr, timeout=TIMEOUT) as s:
        s.sendall(data + b"mn\r\n")
        buf = b""
        while not buf.endswith(b"MN\r\n"):
            chunk = s.recv(65536)
            assert chunk, f"closed after {buf!r}"
            buf += chunk
    return buf[: -len(b"MN\r\n")]


def b64(key: str) -> bytes:
    return base64.b64encode(key.encode())


# --- get / set / delete / touch ----------------------------------------------


def test_set_get_delete_miss(mc, key):
    k = key("a")
    assert mc.get(k) is None
    assert mc.delete(k) is False  # md: NF
    assert mc.invalidate(k) is True  # NF counts as gone
    for value in ["text", "ünïcode", b"\x00\xff bytes", 12345, -7, {"a": [1, 2.5]}]:
        assert mc.set(k, value, ttl=100) is True
        got = mc.get(k)
        assert got == value and type(got) is type(value)
    # an empty value is never unserialized: "" comes back as b""
    assert mc.set(k, "", ttl=100) is True
    assert mc.get(k) == b""
    text = "compressible " * 1000  # zlib, flag 8 | 0
    assert mc.set(k, text, ttl=100) is True
    assert mc.get(k) == text
    assert mc.delete(k) is True
    assert mc.get(k) is None
    assert mc.delete(k) is False
    assert mc.set(k, "again", ttl=100) is True
    assert mc.invalidate(k) is True
    assert mc.get(k) is None


def test_values_are_stored_with_the_clients_type_flag(mc, binary_server, key):
    k = key("typed")
    assert mc.set(k, 42, ttl=100) is True
    assert raw(binary_server, f"mg {k} v f s\r\n".encode()) == b"VA 2 f2 s2\r\n42\r\n"
    assert mc.set(k, b"bin", ttl=100) is True
    assert raw(binary_server, f"mg {k} v f\r\n".encode()) == b"VA 3 f16\r\nbin\r\n"


def test_set_modes_and_refill(mc, key):
    k = key("modes")
    assert mc.set(k, b"x", ttl=100, set_mode=SetMode.REPLACE) is False
    assert mc.get(k) is None
    assert mc.set(k, b"mid", ttl=100, set_mode=SetMode.ADD) is True
    assert mc.set(k, b"other", ttl=100, set_mode=SetMode.ADD) is False
    assert mc.set(k, b">>", ttl=100, set_mode=SetMode.APPEND) is True
    assert mc.set(k, b"<<", ttl=100, set_mode=SetMode.PREPEND) is True
    assert mc.get(k) == b"<<mid>>"
    assert mc.set(k, b"new", ttl=100, set_mode=SetMode.REPLACE) is True
    assert mc.get(k) == b"new"
    # refill is an add: it never overwrites
    assert mc.refill(k, b"refilled", ttl=100) is False
    assert mc.get(k) == b"new"
    k2 = key("refill")
    assert mc.refill(k2, b"refilled", ttl=100) is True
    assert mc.get(k2) == b"refilled"
    # append to a missing key is NS (neither server autovivifies without N)
    assert mc.set(key("none"), b"x", ttl=100, set_mode=SetMode.APPEND) is False


def ttl_of(mc, k):
    result = mc.meta_get(Key(k), flags=RequestFlags(return_ttl=True))
    assert isinstance(result, Success), result
    return result.flags.ttl


def test_touch_and_ttls(mc, key):
    k = key("t")
    assert mc.touch(k, 100) is False  # mg k T100: EN
    assert mc.set(k, "v", ttl=0) is True
    assert ttl_of(mc, k) == -1
    assert mc.touch(k, 1000) is True
    assert 998 <= ttl_of(mc, k) <= 1000
    # get with touch_ttl sets the TTL too
    assert mc.get(k, touch_ttl=500) == "v"
    assert 498 <= ttl_of(mc, k) <= 500
    # the high-level get asks for t, l, h: the value's metadata comes back
    value = mc._get(k)
    assert isinstance(value, Value)
    assert value.value == "v" and value.flags.fetched is True
    assert 0 <= value.flags.last_access <= 2
    assert mc.touch(k, 1) is True
    time.sleep(2.1)
    assert mc.get(k) is None
    assert mc.touch(k, 100) is False


def test_set_ttl_expires(mc, key):
    k = key("exp")
    assert mc.set(k, "short", ttl=1) is True
    assert mc.get(k) == "short"
    time.sleep(2.1)
    assert mc.get(k) is None


# --- multi-get -----------------------------------------------------------------


def test_multi_get(mc, key):
    values = {key(f"m{i}"): f"value-{i}" * (i + 1) for i in range(100)}
    for k, v in values.items():
        assert mc.set(k, v, ttl=100) is True
    missing = [key("missing1"), key("missing2")]
    got = mc.multi_get(list(values) + missing)
    assert len(got) == 102
    assert {k.key: v for k, v in got.items()} == {**values, **{m: None for m in missing}}
    assert mc.multi_get([]) == {}
    with_cas = mc.multi_get_cas(list(values)[:5] + missing)
    for k, (v, cas) in with_cas.items():
        if k.key in values:
            assert v == values[k.key] and isinstance(cas, int) and cas > 0
            assert mc.get_cas(k)[1] == cas
        else:
            assert (v, cas) == (None, None)
    # touch_ttl on a multi_get touches every hit
    mc.multi_get(list(values)[:3], touch_ttl=700)
    assert all(698 <= ttl_of(mc, k) <= 700 for k in list(values)[:3])


# --- CAS ---------------------------------------------------------------------------


def test_cas(mc, key):
    k = key("cas")
    assert mc.get_cas(k) == (None, None)
    assert mc.set(k, "one", ttl=100, cas_token=1234) is False  # NF on a miss
    assert mc.get(k) is None
    cas1 = mc.set_cas(k, "one", ttl=100)
    assert isinstance(cas1, int) and cas1 > 0
    value, cas = mc.get_cas(k)
    assert (value, cas) == ("one", cas1)
    assert mc.set(k, "stale write", ttl=100, cas_token=cas1 + 1000) is False  # EX
    assert mc.get(k) == "one"
    cas2 = mc.set_cas(k, "two", ttl=100, cas_token=cas1)
    assert cas2 is not None and cas2 != cas1
    assert mc.get_cas(k) == ("two", cas2)
    assert mc.set(k, "three", ttl=100, cas_token=cas1) is False
    # delete with a CAS
    assert mc.delete(k, cas_token=cas1) is False
    assert mc.get(k) == "two"
    assert mc.delete(k, cas_token=cas2) is True
    assert mc.get(k) is None


def test_cas_mismatch_with_stale_policy_marks_stale(mc, key):
    """``ms k I C<cas>``: with a CAS older than the item's, the write is
    stored but marked stale (HD); the next reader wins the recache."""
    k = key("cas-stale")
    policy = StalePolicy(mark_stale_on_cas_mismatch=True)
    cas1 = mc.set_cas(k, "one", ttl=100)
    cas2 = mc.set_cas(k, "two", ttl=100)
    assert cas2 > cas1
    assert mc.set(k, "late", ttl=100, cas_token=cas1, stale_policy=policy) is True
    first = mc._get(k, return_cas_token=True)
    assert first.flags.stale is True and first.flags.win is True
    assert first.value is None  # the winner sees a miss
    second = mc._get(k)
    assert second.flags.stale is True and second.flags.win is False
    assert second.value == "late"
    # the winner writes with the stale item's CAS: a fresh value again
    assert mc.set(k, "fresh", ttl=100, cas_token=first.flags.cas_token) is True
    fresh = mc._get(k)
    assert fresh.value == "fresh" and fresh.flags.stale is False and fresh.flags.win is None


def test_meta_get_with_cas_token(mc, binary_server, key):
    """``mg <key> c v C<cas>``: memcached 1.6.18 reads C and ignores it, the
    value always comes back; ferrocache answers as memcached 1.6.40 does,
    with the value only when the item's CAS differs from the token, and
    ``HD c<cas>`` when the client's copy is current (docs/compatibility.md,
    the meta table)."""
    k = key("mgC")
    cas = mc.set_cas(k, "payload", ttl=100)
    flags = RequestFlags(return_value=True, return_cas_token=True, cas_token=cas)
    current = mc.meta_get(Key(k), flags=flags)
    changed = mc.meta_get(Key(k), flags=flags.replace(cas_token=cas + 1))
    # no f requested: the client reads the value as a str (type 0)
    assert isinstance(changed, Value) and changed.value == "payload"
    assert changed.flags.cas_token == cas
    if binary_server.kind == "memcached":
        assert isinstance(current, Value) and current.value == "payload"
    else:
        assert type(current) is Success
        assert current.flags.cas_token == cas


# --- delta -------------------------------------------------------------------------


def test_delta(mc, key):
    k = key("n")
    assert mc.delta(k, 1) is False  # NF
    assert mc.delta_and_get(k, 1) is None
    assert mc.get(k) is None
    assert mc.set(k, 10, ttl=100) is True
    assert mc.delta(k, 5) is True
    assert mc.get(k) == 15
    assert mc.delta_and_get(k, 3) == 18
    assert mc.delta_and_get(k, -8) == 10
    assert mc.delta_and_get(k, -100) == 0  # clamps at 0
    assert mc.set(k, 2**64 - 1, ttl=100) is True
    assert mc.delta_and_get(k, 2) == 1  # wraps at 64 bits
    # a refresh TTL comes with the delta
    assert mc.delta(k, 1, refresh_ttl=600) is True
    assert 598 <= ttl_of(mc, k) <= 600
    # with the counter's CAS
    _, cas = mc.get_cas(k)
    assert mc.delta(k, 1, cas_token=cas + 1000) is False  # EX
    assert mc.delta_and_get(k, 1, cas_token=cas) == 3


def test_delta_on_non_numeric_value_raises(mc, key):
    k = key("nan")
    assert mc.set(k, "abc", ttl=100) is True
    # CLIENT_ERROR cannot increment or decrement non-numeric value
    with pytest.raises(MemcacheServerError):
        mc.delta(k, 1)
    assert mc.get(k) == "abc"
    assert mc.delta(key("other"), 1) is False  # the pool still works


def test_delta_initialize(mc, key):
    k = key("init")
    # ma k N60 J10 D2: a missing counter is created with the initial value
    # (the delta is not applied to it), then counted
    assert mc.delta_initialize_and_get(k, 2, initial_value=10, initial_ttl=60) == 10
    assert 58 <= ttl_of(mc, k) <= 60
    assert mc.delta_initialize_and_get(k, 2, initial_value=10, initial_ttl=60) == 12
    assert mc.delta_initialize(k, -5, initial_value=10, initial_ttl=60) is True
    assert mc.delta_and_get(k, 0) == 7
    k2 = key("init2")
    assert mc.delta_initialize(k2, 3, initial_value=100, initial_ttl=60) is True
    assert mc.delta_and_get(k2, 1) == 101
    # the created counter is a plain string value "101", client flag 0
    assert mc.get(k2) == "101"
    k3 = key("init-dec")
    assert mc.delta_initialize_and_get(k3, -3, initial_value=0, initial_ttl=60) == 0
    assert mc.delta_initialize_and_get(k3, -3, initial_value=0, initial_ttl=60) == 0


def test_concurrent_deltas(binary_server, key):
    k = key("threads")
    clients = [make_client(binary_server) for _ in range(4)]
    errors = []

    def work(c):
        try:
            for _ in range(250):
                assert c.delta_initialize(k, 1, initial_value=0, initial_ttl=100)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    # 4 * 250 calls, the first of which only created the counter at 0
    assert clients[0].delta_and_get(k, 0) == 999


# --- leases, recache, stale --------------------------------------------------------


FAST_LEASE = LeasePolicy(ttl=30, miss_retries=3, miss_retry_wait=0.01, miss_max_retry_wait=0.05)


def test_lease_on_miss_one_winner(binary_server, key):
    k = key("lease")
    a, b = make_client(binary_server), make_client(binary_server)
    waits_a = []
    # mg k f c v t l h N30: the miss vivifies an empty item, A wins
    value, cas = a.get_or_lease_cas(k, FAST_LEASE, lease_wait_fn=waits_a.append)
    assert value is None and isinstance(cas, int) and cas > 0
    assert waits_a == []  # the winner returns at once
    # B loses (Z, empty value) and retries until the retries run out
    waits_b = []
    assert b.get_or_lease(k, FAST_LEASE, lease_wait_fn=waits_b.append) is None
    assert len(waits_b) == FAST_LEASE.miss_retries - 1
    # B again: A fills the value while B waits, B's retry finds it
    waits_b.clear()

    def a_fills(seconds):
        waits_b.append(seconds)
        assert a.set(k, "filled", ttl=100, cas_token=cas) is True

    assert b.get_or_lease(k, FAST_LEASE, lease_wait_fn=a_fills) == "filled"
    assert len(waits_b) == 1
    assert a.get(k) == "filled"
    # a hit is no lease
    assert a.get_or_lease_cas(k, FAST_LEASE)[0] == "filled"


def test_lease_winner_with_stale_cas_loses_its_write(binary_server, key):
    k = key("lease-cas")
    a = make_client(binary_server)
    _, cas = a.get_or_lease_cas(k, FAST_LEASE)
    assert a.set(k, "other writer", ttl=100) is True  # an invalidation meanwhile
    assert a.set(k, "from the lease", ttl=100, cas_token=cas) is False
    assert a.get(k) == "other writer"


def test_lease_many_threads_exactly_one_winner(binary_server, key):
    k = key("herd")
    n = 8
    clients = [make_client(binary_server) for _ in range(n)]
    barrier = threading.Barrier(n)
    filled = threading.Event()
    results = [None] * n
    policy = LeasePolicy(ttl=30, miss_retries=200, miss_retry_wait=0.02, miss_max_retry_wait=0.02)

    def work(i):
        waits = []
        barrier.wait(10)
        value, cas = clients[i].get_or_lease_cas(k, policy, lease_wait_fn=lambda s: (waits.append(s), time.sleep(s)))
        if value is None:
            # the winner: let every other thread see the placeholder first
            time.sleep(0.2)
            ok = clients[i].set(k, f"by {i}", ttl=100, cas_token=cas)
            filled.set()
            results[i] = ("won", ok, len(waits))
        else:
            results[i] = ("got", value, len(waits))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert filled.is_set()
    winners = [i for i, r in enumerate(results) if r[0] == "won"]
    assert len(winners) == 1, results
    w = winners[0]
    assert results[w] == ("won", True, 0)
    for i, r in enumerate(results):
        if i != w:
            assert r[0] == "got" and r[1] == f"by {w}" and r[2] >= 1, results


def test_recache_policy(binary_server, key):
    """``mg … R30``: an item with less TTL left than 30 s makes the first
    reader win the recache (W: a miss for it); the others get the value (Z)
    until it is written again."""
    k = key("recache")
    a, b = make_client(binary_server), make_client(binary_server)
    assert a.set(k, "old", ttl=20) is True
    policy = RecachePolicy(ttl=30)
    value, cas = a.get_cas(k, recache_policy=policy)
    assert value is None and cas > 0
    assert b.get(k, recache_policy=policy) == "old"
    assert b.get(k, recache_policy=policy) == "old"
    assert b.get(k) == "old"  # without the policy: a plain hit
    assert a.set(k, "new", ttl=20, cas_token=cas) is True
    # a fresh item, still under the recache TTL: a new race, a new winner
    assert a.get(k, recache_policy=policy) is None
    assert b.get(k, recache_policy=policy) == "new"
    # TTLs longer than the policy's never trigger it
    k2 = key("recache-long")
    assert a.set(k2, "long", ttl=1000) is True
    assert a.get(k2, recache_policy=policy) == "long"
    assert b.get(k2, recache_policy=policy) == "long"
    # multi_get with the policy too
    got = b.multi_get([k, k2], recache_policy=policy)
    assert {x.key: v for x, v in got.items()} == {k: "new", k2: "long"}


@pytest.mark.parametrize("how", ["invalidate", "delete"])
def test_stale_on_deletion(binary_server, key, how):
    """``md k I T30``: the item stays, stale, for 30 s; the first reader
    wins the recache (a miss), the others read the stale value."""
    k = key("stale")
    a, b = make_client(binary_server), make_client(binary_server)
    policy = StalePolicy(mark_stale_on_deletion_ttl=30)
    assert a.set(k, "old", ttl=1000) is True
    assert getattr(a, how)(k, stale_policy=policy) is True
    # (any mg after the md would win the recache: the first is the client's)
    value, cas = a.get_cas(k)
    assert value is None and cas > 0  # the winner
    for _ in range(2):
        stale = b._get(k)
        assert stale.value == "old" and stale.flags.stale is True and stale.flags.win is False
        assert 28 <= stale.flags.ttl <= 30
    assert b.get_or_lease(k, FAST_LEASE) == "old"  # a stale value is a hit
    assert a.set(k, "new", ttl=1000, cas_token=cas) is True
    fresh = b._get(k)
    assert fresh.value == "new" and fresh.flags.stale is False and fresh.flags.win is None
    # the stale item's CAS no longer matches
    assert a.set(k, "late", ttl=1000, cas_token=cas) is False
    # on a missing key
    missing = key("stale-missing")
    assert a.delete(missing, stale_policy=policy) is False
    assert a.invalidate(missing, stale_policy=policy) is True
    assert a.get(missing) is None


# --- keys --------------------------------------------------------------------------


def test_unicode_and_binary_keys_are_sent_base64(mc, binary_server, key):
    keys = [key("ключ-ü"), key("with space"), key("tab\there"), key("日本語"), key("emoji-🐍")]
    for i, k in enumerate(keys):
        assert mc.set(k, f"v{i}", ttl=100) is True
    got = mc.multi_get(keys)
    assert {x.key: v for x, v in got.items()} == {k: f"v{i}" for i, k in enumerate(keys)}
    # the server decoded each key: the item sits under the UTF-8 bytes
    for i, k in enumerate(keys):
        reply = raw(binary_server, b"mg " + b64(k) + b" b v k\r\n")
        assert reply == b"VA 2 k" + b64(k) + b" b\r\n" + f"v{i}".encode() + b"\r\n"
    plain = keys[0].encode()  # no space: the text protocol reaches it as-is
    assert raw(binary_server, b"mg " + plain + b" v\r\n") == b"VA 2\r\nv0\r\n"
    assert raw(binary_server, b"get " + plain + b"\r\n") == (
        b"VALUE " + plain + b" 0 2\r\nv0\r\nEND\r\n"
    )
    for k in keys:
        assert mc.delete(k) is True
        assert mc.get(k) is None


def test_long_keys_are_hashed(mc, binary_server, key):
    short = key("k" * 100)
    assert mc.set(short, "short", ttl=100) is True
    assert raw(binary_server, f"mg {short} v\r\n".encode()) == b"VA 5\r\nshort\r\n"
    longs = [key("x" * n) for n in (200, 250, 251, 1000, 5000)] + [key("ü" * 300)]
    for i, k in enumerate(longs):
        assert mc.set(k, i, ttl=100) is True
    for i, k in enumerate(longs):
        assert mc.get(k) == i
    assert mc.delta_and_get(longs[3], 10) == 13
    got = mc.multi_get(longs)
    assert [got[Key(k)] for k in longs] == [0, 1, 2, 13, 4, 5]
    # 213 characters stay under memcached's limit as text, but the client
    # hashes them: nothing sits under the plain key
    assert len(longs[0]) == 213
    assert raw(binary_server, f"mg {longs[0]} v\r\n".encode()) == b"EN\r\n"
    # a long key collides with no other long key sharing its prefix
    assert mc.set(key("x" * 5000 + "!"), "other", ttl=100) is True
    assert mc.get(longs[4]) == 4
    for k in longs:
        assert mc.delete(k) is True


# --- values ------------------------------------------------------------------------


def max_value_len(key_len):
    """memcached 1.6.18 with -I 1m: 48 + 8 (cas) + key + 1 + value + 2
    bytes, at most 1 MiB (client flags are not stored for flags 0)."""
    return ITEM_SIZE_MAX - 48 - 8 - key_len - 1 - 2


def test_large_values(mc, binary_server, key):
    k = key("big")
    for size in (100_000, 500_000, 1_000_000):
        blob = os.urandom(size)  # incompressible: zlib makes it bigger
        assert mc.set(k, blob, ttl=100) is True
        assert mc.get(k) == blob
    text = "abc" * 1_000_000  # 3 MB, far smaller once compressed
    assert mc.set(k, text, ttl=100) is True
    assert mc.get(k) == text
    # too large once compressed: both servers answer SERVER_ERROR object too
    # large for cache, which meta-memcache-socket 0.3.1 does not parse
    # ("Unknown response code"): the connection is dropped and
    # MemcacheServerError raised
    too_big = os.urandom(2 * ITEM_SIZE_MAX)
    with pytest.raises(MemcacheServerError):
        mc.set(k, too_big, ttl=100)
    assert mc.get(k) is None  # the failed set removed the old value
    assert mc.set(k, "after", ttl=100) is True
    assert mc.get(k) == "after"


def test_value_size_limit_byte_for_byte(binary_server, key):
    """The largest value either server stores, through the client's raw
    bytes (a serializer that neither types nor compresses)."""
    from meta_memcache.base.base_serializer import BaseSerializer, EncodedValue

    class Raw(BaseSerializer):
        def serialize(self, key, value):
            return EncodedValue(data=value, encoding_id=0)

        def unserialize(self, data, encoding_id):
            return bytes(data)

    c = CacheClient.cache_client_from_servers(
        servers=[ServerAddress(binary_server.host, binary_server.port)],
        connection_pool_factory_fn=connection_pool_factory_builder(
            connection_timeout=TIMEOUT, recv_timeout=TIMEOUT, read_buffer_size=READ_BUFFER
        ),
        serializer=Raw(),
    )
    k = key("limit")
    n = max_value_len(len(k))
    assert c.set(k, b"a" * n, ttl=100) is True
    assert c.get(k) == b"a" * n
    with pytest.raises(MemcacheServerError):
        c.set(k, b"b" * (n + 1), ttl=100)
    assert c.get(k) is None

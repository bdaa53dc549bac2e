"""python-binary-memcached (``bmemcached``), a pure-Python binary protocol
client with SASL PLAIN, through its public API.

Every test runs against ferrocache and against Debian's memcached 1.6.18
(conftest.py's ``binary_server`` and ``sasl_server``). Clients have a 3 s
socket timeout and pytest-timeout stops a test after 60 s.

bmemcached 0.33.0 compares a failed login's status with 0x08 instead of the
binary protocol's AUTH_ERROR (0x20), so a refused login surfaces as a plain
``MemcachedException`` with code 0x20 and the server's text, never as its
``InvalidCredentials``; the tests assert what the client really raises.
bmemcached offers no touch.
"""

import os
import time

import bmemcached
import pytest
from bmemcached.exceptions import MemcachedException

from conftest import SASL_PASSWORD, SASL_USER, SASL_USERS

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 3.0
FAST = 1.0  # a refusal answers or closes; a hang would take TIMEOUT
ITEM_SIZE_MAX = 1024 * 1024
# Binary protocol statuses as bmemcached reports them in .code.
E2BIG, EINVAL, DELTA_BADVAL, AUTH_ERROR = 0x03, 0x04, 0x06, 0x20


def max_value_len(key, flags):
    """memcached 1.6.18: 48 + 8 (cas) + key + 1 + value + 2 (+4 if flags) <= 1 MiB."""
    return ITEM_SIZE_MAX - 48 - 8 - len(key) - 1 - 2 - (4 if flags else 0)


def client(server, **kwargs):
    return bmemcached.Client([server.spec], socket_timeout=TIMEOUT, **kwargs)


@pytest.fixture
def mc(binary_server):
    c = client(binary_server)
    yield c
    c.disconnect_all()


# --- binary protocol, no authentication ------------------------------------


def test_set_get_miss(mc, key):
    k = key("a")
    assert mc.get(k) is None
    assert mc.get(k, default="dflt") == "dflt"
    assert mc.get(k, get_cas=True) == (None, None)
    assert mc.set(k, "hello") is True
    assert mc.get(k) == "hello"
    # bmemcached keeps the type in the flags; the server returns them.
    for value in [b"\x00\xff bytes", "ünïcode", 12345, {"a": [1, 2.5]}, ""]:
        assert mc.set(k, value) is True
        got = mc.get(k)
        assert got == value and type(got) is type(value)
    # zlib above 128 bytes: a flag bit marks the value compressed.
    text = "compressible " * 1000
    assert mc.set(k, text) is True
    assert mc.get(k) == text


def test_set_multi_get_multi_delete_multi(mc, key):
    values = {key(f"m{i}"): f"value-{i}" * (i + 1) for i in range(200)}
    assert mc.set_multi(values) == []
    missing = [key("missing1"), key("missing2")]
    assert mc.get_multi(list(values) + missing) == values
    assert mc.get_multi(missing) == {}
    with_cas = mc.get_multi(list(values)[:3], get_cas=True)
    assert {k: v for k, (v, _) in with_cas.items()} == {k: values[k] for k in list(values)[:3]}
    assert all(isinstance(cas, int) and cas > 0 for _, cas in with_cas.values())
    # delete_multi is True when every key was deleted.
    first = list(values)[:10]
    assert mc.delete_multi(first) is True
    assert mc.get_multi(first) == {}
    assert mc.delete_multi(list(values)[10:12] + missing) is False
    assert mc.get_multi(list(values)[10:12]) == {}
    assert len(mc.get_multi(list(values))) == 188


def test_add_replace(mc, key):
    k = key("ar")
    assert mc.add(k, "first") is True
    assert mc.add(k, "second") is False
    assert mc.get(k) == "first"
    assert mc.replace(key("nothing"), "x") is False
    assert mc.get(key("nothing")) is None
    assert mc.replace(k, "new") is True
    assert mc.get(k) == "new"
    # get_cas=True returns the stored item's CAS.
    ok, cas = mc.replace(k, "newer", get_cas=True)
    assert ok is True and mc.gets(k) == ("newer", cas)


def test_delete(mc, key):
    k = key("d")
    assert mc.set(k, "x") is True
    assert mc.delete(k) is True
    assert mc.get(k) is None
    # bmemcached answers True for NOT_FOUND too, and raises on other errors.
    assert mc.delete(k) is True
    # A delete with a stale CAS deletes nothing.
    _, cas = mc.set(k, "y", get_cas=True)
    assert mc.delete(k, cas=cas + 1000) is False
    assert mc.get(k) == "y"
    assert mc.delete(k, cas=cas) is True
    assert mc.get(k) is None


def test_incr_decr_with_initial_value(mc, key):
    k = key("n")
    # A missing counter is created with the initial value, not incremented.
    assert mc.incr(k, 5, default=100) == 100
    assert mc.get(k) == "100"
    assert mc.incr(k, 5) == 105
    assert mc.decr(k, 6) == 99
    assert mc.decr(k, 1000) == 0  # decr stops at 0
    assert mc.decr(key("n2"), 1, default=7) == 7
    # 64-bit wrap on incr.
    assert mc.set(k, str(2**64 - 1)) is True
    assert mc.incr(k, 2) == 1


@pytest.mark.parametrize("value", ["not a number", "1" * 25, "-5"])
def test_incr_non_numeric(mc, key, value):
    k = key("nn")
    assert mc.set(k, value) is True
    with pytest.raises(MemcachedException) as e:
        mc.incr(k, 1)
    assert e.value.code == DELTA_BADVAL
    assert mc.get(k) == value


def test_gets_cas(mc, key):
    k = key("c")
    assert mc.gets(k) == (None, None)
    ok, cas1 = mc.set(k, "v1", get_cas=True)
    assert ok is True and mc.gets(k) == ("v1", cas1)
    assert mc.cas(k, "v2", cas1) is True
    value, cas2 = mc.gets(k)
    assert value == "v2" and cas2 != cas1
    assert mc.cas(k, "v3", cas1) is False  # stale
    assert mc.get(k) == "v2"
    assert mc.cas(key("nope"), "x", cas2) is False  # missing
    assert mc.get(key("nope")) is None
    # set_multi_cas: (key, cas) -> value; cas 0 stores unconditionally.
    done = mc.set_multi_cas({(key("s1"), 0): "a", (k, cas2): "b"})
    assert set(done) == {key("s1"), k}
    assert mc.gets(k) == ("b", done[k])


def test_flush_all(mc, key):
    keys = [key(f"f{i}") for i in range(5)]
    assert mc.set_multi({k: "x" for k in keys}) == []
    assert len(mc.get_multi(keys)) == 5
    assert mc.flush_all() is True
    assert mc.get_multi(keys) == {}
    assert mc.set(keys[0], "after") is True
    assert mc.get(keys[0]) == "after"


def test_stats(binary_server, mc, key):
    stats = mc.stats()
    assert list(stats) == [binary_server.spec]
    s = stats[binary_server.spec]
    assert int(s["pid"]) == binary_server.pid
    assert s["version"] == b"1.6.18"
    assert int(s["threads"]) == binary_server.threads
    k = key("st")
    assert mc.set(k, "12345") is True
    assert mc.get(k) == "12345"
    assert mc.get(key("st-miss")) is None
    s2 = mc.stats()[binary_server.spec]
    assert int(s2["cmd_set"]) == int(s["cmd_set"]) + 1
    assert int(s2["cmd_get"]) == int(s["cmd_get"]) + 2
    assert int(s2["get_hits"]) == int(s["get_hits"]) + 1
    assert int(s2["get_misses"]) == int(s["get_misses"]) + 1
    # A STAT packet with a key asks for that group.
    settings = mc.stats("settings")[binary_server.spec]
    assert int(settings["maxbytes"]) == 64 * 1024 * 1024
    assert settings["binding_protocol"] == b"auto-negotiate"
    items = mc.stats("items")[binary_server.spec]
    assert items and all(name.startswith("items:") for name in items)


def test_value_size_limit(binary_server, key):
    raw = client(binary_server, raw_data=True)  # bytes with flags 0
    k = key("big")
    fits = os.urandom(max_value_len(k, flags=0))
    assert raw.set(k, fits) is True
    assert raw.get(k) == fits
    # One byte more is E2BIG, and the old value is gone.
    with pytest.raises(MemcachedException) as e:
        raw.set(k, fits + b"x")
    assert e.value.code == E2BIG
    assert raw.get(k) is None
    # With flags (bytes in the default mode) the item takes 4 bytes more.
    typed = client(binary_server)
    limit = os.urandom(max_value_len(k, flags=1))
    assert typed.set(k, limit, compress_level=0) is True
    with pytest.raises(MemcachedException) as e:
        typed.set(k, limit + b"x", compress_level=0)
    assert e.value.code == E2BIG
    # The connections are still in step.
    assert raw.set(k, b"small") is True
    assert typed.get(k) == "small"
    raw.disconnect_all()
    typed.disconnect_all()


def test_keys(binary_server, mc, key):
    for name in [" space ", "ключ-🔑", "tab\there"]:
        k = key(name)
        assert mc.set(k, name) is True
        assert mc.get(k) == name
        assert mc.get(k.encode()) == name
    long_key = key() + "x" * (250 - len(key()))
    assert len(long_key) == 250
    assert mc.set(long_key, "l") is True
    assert mc.get(long_key) == "l"
    # bmemcached sends a longer key; the server refuses it and closes the
    # connection (memcached cannot trust the rest of such a stream).
    with pytest.raises(MemcachedException) as e:
        mc.set(long_key + "x", "l")
    assert e.value.code == EINVAL
    fresh = client(binary_server)
    assert fresh.get(long_key) == "l"
    with pytest.raises(MemcachedException) as e:
        fresh.get(long_key + "x")
    assert e.value.code == EINVAL
    fresh.disconnect_all()


# --- SASL (-S) -------------------------------------------------------------


@pytest.mark.parametrize("user", list(SASL_USERS), ids=["ascii", "utf8-spaces"])
def test_sasl_login(sasl_server, key, user):
    c = client(sasl_server, username=user, password=SASL_USERS[user])
    k = key("s")
    assert c.set(k, "secret") is True
    assert c.get(k) == "secret"
    assert c.add(k, "x") is False
    assert c.incr(key("n"), 1, default=41) == 41
    assert c.incr(key("n"), 1) == 42
    assert c.get_multi([k, key("n")]) == {k: "secret", key("n"): "42"}
    assert c.delete(k) is True
    assert c.get(k) is None
    assert int(c.stats()[sasl_server.spec]["pid"]) == sasl_server.pid
    c.disconnect_all()


@pytest.mark.parametrize("user,password", [
    (SASL_USER, SASL_PASSWORD + "x"),
    (SASL_USER, ""),
    ("nobody", SASL_PASSWORD),
], ids=["wrong-password", "empty-password", "unknown-user"])
def test_sasl_login_refused(sasl_server, key, user, password):
    good = client(sasl_server, username=SASL_USER, password=SASL_PASSWORD)
    k = key("guarded")
    assert good.set(k, "kept") is True
    bad = client(sasl_server, username=user, password=password)
    start = time.monotonic()
    if password:
        with pytest.raises(MemcachedException) as e:
            bad.set(k, "overwritten")
        assert e.value.code == AUTH_ERROR
        with pytest.raises(MemcachedException) as e:
            bad.get(k)
        assert e.value.code == AUTH_ERROR
    else:
        # bmemcached skips the login when the password is empty: the
        # server refuses the store itself.
        with pytest.raises(MemcachedException) as e:
            bad.set(k, "overwritten")
        assert e.value.code == AUTH_ERROR
    assert time.monotonic() - start < FAST
    assert good.get(k) == "kept"
    good.disconnect_all()
    bad.disconnect_all()


def test_sasl_required(sasl_server, key):
    """No credentials: a request is refused with AUTH_ERROR and the server
    closes the connection; bmemcached then answers None for reads on it
    (a server it lost) until it reconnects."""
    good = client(sasl_server, username=SASL_USER, password=SASL_PASSWORD)
    k = key("guarded")
    assert good.set(k, "kept") is True
    start = time.monotonic()
    for request in [lambda c: c.get(k), lambda c: c.set(k, "overwritten")]:
        anon = client(sasl_server)
        with pytest.raises(MemcachedException) as e:
            request(anon)
        assert e.value.code == AUTH_ERROR
        assert anon.get(k) is None  # closed after the refusal
        anon.disconnect_all()
    assert time.monotonic() - start < FAST
    assert good.get(k) == "kept"
    good.disconnect_all()


def test_sasl_counters(sasl_server):
    """A PLAIN login is one auth_cmd; a refused one also an auth_error; a
    request refused for want of a login neither."""
    stats = client(sasl_server, username=SASL_USER, password=SASL_PASSWORD)

    def counters():
        s = stats.stats()[sasl_server.spec]
        return int(s["auth_cmds"]), int(s["auth_errors"])

    before = counters()  # the stats client's own login comes first
    assert client(sasl_server, username=SASL_USER, password=SASL_PASSWORD).get("x") is None
    after_ok = counters()
    with pytest.raises(MemcachedException):
        client(sasl_server, username=SASL_USER, password="wrong").get("x")
    after_bad = counters()
    with pytest.raises(MemcachedException):
        client(sasl_server).get("x")
    after_anon = counters()
    assert (after_ok[0] - before[0], after_ok[1] - before[1]) == (1, 0)
    assert (after_bad[0] - after_ok[0], after_bad[1] - after_ok[1]) == (1, 1)
    assert after_anon == after_bad
    stats.disconnect_all()

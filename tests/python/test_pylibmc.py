"""pylibmc (libmemcached) with ``binary=True``, through its public API.

Every test runs against ferrocache and against Debian's memcached 1.6.18
(the ``binary_server`` and ``sasl_server`` fixtures of conftest.py), so each
claim is checked on the original too. pylibmc is built from source against
Debian's libmemcached 1.1.x and Cyrus SASL (tests/python/requirements.txt).

In this process pylibmc logs in with SASL PLAIN (conftest.py narrows Cyrus
to its PLAIN plugin); the SCRAM-SHA-256 test runs pylibmc in a child
process whose Cyrus has only the SCRAM plugin. The servers' -vv logs tell
which mechanism each login used.

Every client has bounded timeouts (connect, poll, send, receive: 2 s), and
pytest-timeout stops any test after 60 s, so a hang fails instead of
stalling CI.
"""

import json
import os
import subprocess
import sys
import threading
import time

import pylibmc
import pytest

from conftest import (
    CYRUS_PLAIN_MISSING,
    MECHANISM_LOG,
    SASL_PASSWORD,
    SASL_USER,
    SASL_USERS,
    TARGETS,
    _run_target,
    _server_env,
    _stop,
    cyrus_plugin_dir,
)

pytestmark = pytest.mark.timeout(60)

# libmemcached's timeouts: connect and poll in ms, send and receive in µs.
# retry_timeout 0: a server marked failed is tried again at once (a test
# must see each server's own answer, not libmemcached's memory of it).
BEHAVIORS = {
    "connect_timeout": 2000,
    "_poll_timeout": 2000,
    "send_timeout": 2_000_000,
    "receive_timeout": 2_000_000,
    "retry_timeout": 0,
}
# A refusal is a reply or a close; a hang is a client timeout (2 s).
FAST = 1.0

# memcached 1.6.18 with -I 1m: an item of flags 0 takes
# 48 + 8 (cas) + key + 1 + value + 2 bytes, at most 1 MiB.
ITEM_SIZE_MAX = 1024 * 1024


def max_value_len(key):
    return ITEM_SIZE_MAX - 48 - 8 - len(key) - 1 - 2


def client(server, **kwargs):
    behaviors = dict(BEHAVIORS, **kwargs.pop("behaviors", {}))
    return pylibmc.Client([server.spec], binary=True, behaviors=behaviors, **kwargs)


@pytest.fixture
def mc(binary_server):
    c = client(binary_server, behaviors={"cas": True})
    yield c
    c.disconnect_all()


# --- binary protocol, no authentication ------------------------------------


def test_set_get_miss(mc, key):
    k = key("a")
    assert mc.get(k) is None
    assert mc.get(k, "dflt") == "dflt"
    assert mc.set(k, b"hello") is True
    assert mc.get(k) == b"hello"
    assert mc.set(k, b"") is True
    assert mc.get(k) == b""
    binary = bytes(range(256)) * 4
    assert mc.set(k, binary) is True
    assert mc.get(k) == binary
    # An expiry in the future keeps the item.
    assert mc.set(k, b"ttl", time=100) is True
    assert mc.get(k) == b"ttl"


def test_value_types_round_trip(mc, key):
    """pylibmc keeps the type in the flags: the server must return them."""
    values = {
        "str": "ünïcödé ✓",
        "int": 1234567,
        "big-int": 2**70,
        "float": 2.5,
        "dict": {"a": [1, 2.5, None]},
    }
    for name, value in values.items():
        assert mc.set(key(name), value) is True
        got = mc.get(key(name))
        assert got == value and type(got) is type(value), name
    # zlib compression above min_compress_len: a flag bit says so.
    text = "compressible " * 1000
    assert mc.set(key("z"), text, min_compress_len=100) is True
    assert mc.get(key("z")) == text


def test_set_multi_get_multi_delete_multi(mc, key):
    values = {key(f"m{i}"): f"value-{i}".encode() * (i + 1) for i in range(200)}
    assert mc.set_multi(values) == []
    missing = [key("missing1"), key("missing2")]
    assert mc.get_multi(list(values) + missing) == values
    assert mc.get_multi(missing) == {}
    # key_prefix is prepended on the wire and stripped from the result.
    assert mc.set_multi({"p1": b"1", "p2": b"2"}, key_prefix=key("pre:")) == []
    assert mc.get(key("pre:p1")) == b"1"
    assert mc.get_multi(["p1", "p2", "p3"], key_prefix=key("pre:")) == {"p1": b"1", "p2": b"2"}
    # delete_multi is True only if every key was there.
    first = list(values)[:10]
    assert mc.delete_multi(first) is True
    assert mc.get_multi(first) == {}
    assert mc.delete_multi(list(values)[10:12] + missing) is False
    assert mc.get_multi(list(values)[10:12]) == {}
    assert len(mc.get_multi(list(values))) == 188


def test_add_replace(mc, key):
    k = key("ar")
    assert mc.add(k, b"first") is True
    assert mc.add(k, b"second") is False
    assert mc.get(k) == b"first"
    with pytest.raises(pylibmc.NotFound):
        mc.replace(key("nothing"), b"x")
    assert mc.get(key("nothing")) is None
    assert mc.replace(k, b"new") is True
    assert mc.get(k) == b"new"
    assert mc.add_multi({k: b"again", key("ar2"): b"two"}) == [k]
    assert mc.get_multi([k, key("ar2")]) == {k: b"new", key("ar2"): b"two"}


def test_append_prepend(mc, key):
    k = key("ap")
    assert mc.append(k, b"tail") is False
    assert mc.prepend(k, b"head") is False
    assert mc.get(k) is None
    assert mc.set(k, b"mid") is True
    assert mc.append(k, b"-tail") is True
    assert mc.prepend(k, b"head-") is True
    assert mc.get(k) == b"head-mid-tail"


def test_delete(mc, key):
    k = key("d")
    assert mc.delete(k) is False
    assert mc.set(k, b"x") is True
    assert mc.delete(k) is True
    assert mc.get(k) is None
    assert mc.delete(k) is False


def test_incr_decr(mc, key):
    k = key("n")
    # pylibmc offers no initial value: a missing counter is NotFound.
    with pytest.raises(pylibmc.NotFound):
        mc.incr(k)
    with pytest.raises(pylibmc.NotFound):
        mc.decr(k)
    assert mc.get(k) is None
    assert mc.set(k, 10) is True
    assert mc.incr(k) == 11
    assert mc.incr(k, 9) == 20
    assert mc.decr(k, 5) == 15
    assert mc.decr(k, 100) == 0  # decr stops at 0
    assert mc.get(k) == 0
    # 64-bit wrap on incr.
    assert mc.set(k, b"18446744073709551615") is True
    assert mc.incr(k, 2) == 1
    # incr_multi: every key incremented, the values in the cache.
    keys = [key("m1"), key("m2")]
    for i, mk in enumerate(keys):
        assert mc.set(mk, b"%d" % (i * 100)) is True
    assert mc.incr_multi(keys, delta=7) is None
    assert mc.get_multi(keys) == {keys[0]: b"7", keys[1]: b"107"}


def test_incr_non_numeric(mc, key):
    k = key("nn")
    assert mc.set(k, b"not a number") is True
    with pytest.raises(pylibmc.Error):
        mc.incr(k)
    assert mc.get(k) == b"not a number"


# An expiry over 30 days is a Unix time: this one is in 1970, long past.
PAST = 60 * 60 * 24 * 30 + 1


def test_touch(mc, key):
    k = key("t")
    assert mc.touch(k, 100) is False
    assert mc.set(k, b"x") is True
    assert mc.touch(k, 100) is True
    assert mc.get(k) == b"x"
    # Touched to an expiry in the past, the item is gone.
    assert mc.touch(k, PAST) is True
    assert mc.get(k) is None
    assert mc.touch(k, 100) is False
    # A set with an expiry in the past stores nothing visible.
    assert mc.set(k, b"y", time=PAST) is True
    assert mc.get(k) is None


def test_gets_cas(mc, key):
    k = key("c")
    assert mc.gets(k) == (None, None)
    assert mc.set(k, b"v1") is True
    value, cas1 = mc.gets(k)
    assert value == b"v1" and isinstance(cas1, int) and cas1 > 0
    assert mc.cas(k, b"v2", cas1) is True
    value, cas2 = mc.gets(k)
    assert value == b"v2" and cas2 != cas1
    # A stale cas does not store.
    assert mc.cas(k, b"v3", cas1) is False
    assert mc.get(k) == b"v2"
    # A cas on a missing key is NotFound.
    with pytest.raises(pylibmc.NotFound):
        mc.cas(key("nope"), b"x", cas2)
    assert mc.get(key("nope")) is None


def test_flush_all(mc, key):
    keys = [key(f"f{i}") for i in range(5)]
    assert mc.set_multi({k: b"x" for k in keys}) == []
    assert len(mc.get_multi(keys)) == 5
    assert mc.flush_all() is True
    assert mc.get_multi(keys) == {}
    # The cache works after a flush.
    assert mc.set(keys[0], b"after") is True
    assert mc.get(keys[0]) == b"after"


@pytest.fixture(params=TARGETS)
def own_server(request):
    """A server of this test's own: a delayed flush_all would empty the
    shared one under the tests that follow."""
    proc, server = _run_target(request.param, env=_server_env())
    yield server
    _stop(proc, server)


def test_flush_all_with_delay_of_one_second(own_server):
    """memcached takes a flush_all delay of N seconds as "items last
    touched up to realtime(N) - 1", which is now for N = 1: flush_all(1)
    empties the cache at once (proto_text.c: new_oldest = realtime(exptime)
    - 1). Three rounds, so that a clock tick between the flush and the read
    cannot make a server that waits look right."""
    mc = client(own_server)
    for i in range(3):
        k = f"delayed-flush-{i}"
        assert mc.set(k, b"x") is True
        assert mc.flush_all(time=1) is True
        assert mc.get(k) is None, f"round {i}: still readable after flush_all(1)"
    mc.disconnect_all()


def test_stats(binary_server, mc, key):
    stats = mc.get_stats()
    assert len(stats) == 1
    name, s = stats[0]
    assert name.decode().startswith(binary_server.spec)
    assert int(s["pid"]) == binary_server.pid
    assert s["version"] == b"1.6.18"
    assert int(s["threads"]) == binary_server.threads
    assert int(s["limit_maxbytes"]) == 64 * 1024 * 1024
    k = key("st")
    assert mc.set(k, b"12345") is True
    assert mc.get(k) == b"12345"
    assert mc.get(key("st-miss")) is None
    s2 = mc.get_stats()[0][1]
    assert int(s2["cmd_set"]) == int(s["cmd_set"]) + 1
    assert int(s2["cmd_get"]) == int(s["cmd_get"]) + 2
    assert int(s2["get_hits"]) == int(s["get_hits"]) + 1
    assert int(s2["get_misses"]) == int(s["get_misses"]) + 1
    assert int(s2["total_items"]) == int(s["total_items"]) + 1


def test_value_size_limit(mc, key):
    k = key("big")
    fits = os.urandom(max_value_len(k))
    assert mc.set(k, fits) is True
    assert mc.get(k) == fits
    # One byte more is E2BIG from the server, and the old value is gone
    # (memcached unlinks it so that a failed set leaves nothing stale).
    with pytest.raises(pylibmc.TooBig):
        mc.set(k, fits + b"x")
    assert mc.get(k) is None
    with pytest.raises(pylibmc.TooBig):
        mc.set(k, os.urandom(2 * ITEM_SIZE_MAX))
    # The connection is still in step.
    assert mc.set(k, b"small") is True
    assert mc.get(k) == b"small"


def test_keys(mc, key):
    # The binary protocol carries any bytes in a key: spaces, CR LF, NUL, 0xff.
    for raw in [b" sp ace ", b"cr\r\nlf", b"nul\x00byte", b"\xff\xfe\x80"]:
        k = key().encode() + raw
        assert mc.set(k, raw) is True
        assert mc.get(k) == raw
    # NUL is part of the key, not its end.
    assert mc.get(key().encode() + b"nul") is None
    # A str key is sent as UTF-8.
    u = key("ключ-🔑")
    assert mc.set(u, b"u") is True
    assert mc.get(u) == b"u"
    assert mc.get(u.encode()) == b"u"
    # 250 bytes is the longest key; pylibmc refuses a longer one itself.
    long_key = key().encode() + b"x" * (250 - len(key()))
    assert len(long_key) == 250
    assert mc.set(long_key, b"l") is True
    assert mc.get(long_key) == b"l"
    with pytest.raises(ValueError):
        mc.set(long_key + b"x", b"l")


def test_noreply(binary_server, key):
    """With libmemcached's noreply behaviour stores go as quiet packets
    (SETQ, DELETEQ …) that the server answers only on error."""
    quiet = client(binary_server, behaviors={"_noreply": True})
    loud = client(binary_server)
    try:
        keys = [key(f"q{i}") for i in range(50)]
        for k in keys:
            assert quiet.set(k, k.encode()) is True
        assert quiet.delete(keys[0]) is True
        assert quiet.append(keys[1], b"+") is True
        # A quiet store that fails (too large) answers an error packet the
        # client must not take for the reply to its next request.
        quiet.set(key("toobig"), os.urandom(2 * ITEM_SIZE_MAX))
        got = loud.get_multi(keys)
        assert got == {k: k.encode() + (b"+" if k == keys[1] else b"") for k in keys[1:]}
        assert quiet.get(keys[2]) == keys[2].encode()
    finally:
        quiet.disconnect_all()
        loud.disconnect_all()


def test_threads_increment_one_counter(binary_server, key):
    k = key("ctr")
    setup = client(binary_server)
    assert setup.set(k, b"0") is True
    errors = []

    def work():
        c = client(binary_server)
        try:
            for _ in range(250):
                c.incr(k)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            c.disconnect_all()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "an incrementing thread hung"
    assert errors == []
    assert setup.get(k) == b"1000"
    setup.disconnect_all()


# --- SASL (-S) -------------------------------------------------------------


def sasl_client(server, user=SASL_USER, password=SASL_PASSWORD, **kwargs):
    return client(server, username=user, password=password, **kwargs)


@pytest.mark.parametrize("user", list(SASL_USERS), ids=["ascii", "utf8-spaces"])
def test_sasl_plain_login(sasl_server, key, user):
    if CYRUS_PLAIN_MISSING:
        pytest.fail(CYRUS_PLAIN_MISSING)
    offset = sasl_server.log_size()
    c = sasl_client(sasl_server, user, SASL_USERS[user])
    k = key("s")
    assert c.set(k, b"secret") is True
    assert c.get(k) == b"secret"
    assert c.add(k, b"x") is False
    assert c.append(k, b"!") is True
    assert c.set(key("n"), b"41") is True
    assert c.incr(key("n")) == 42
    assert c.get_multi([k, key("n")]) == {k: b"secret!", key("n"): b"42"}
    assert c.delete(k) is True
    assert c.get(k) is None
    assert int(c.get_stats()[0][1]["pid"]) == sasl_server.pid
    log = sasl_server.log_since(offset)
    assert MECHANISM_LOG[sasl_server.kind].format(mech="PLAIN") in log
    assert MECHANISM_LOG[sasl_server.kind].format(mech="SCRAM-SHA-256") not in log
    c.disconnect_all()


@pytest.mark.parametrize("user,password", [
    (SASL_USER, SASL_PASSWORD + "x"),
    (SASL_USER, SASL_PASSWORD[:-1]),
    ("nobody", SASL_PASSWORD),
], ids=["wrong-password", "password-prefix", "unknown-user"])
def test_sasl_login_refused(sasl_server, key, user, password):
    good = sasl_client(sasl_server)
    k = key("guarded")
    assert good.set(k, b"kept") is True

    bad = sasl_client(sasl_server, user, password)
    start = time.monotonic()
    with pytest.raises(pylibmc.Error, match="AUTHENTICATION FAILURE"):
        bad.set(k, b"overwritten")
    with pytest.raises(pylibmc.Error):
        bad.get(k)
    assert time.monotonic() - start < FAST
    # Nothing was written, and the server serves others as before.
    assert good.get(k) == b"kept"
    good.disconnect_all()
    bad.disconnect_all()


def test_sasl_required(sasl_server, key):
    """A binary client without credentials is refused: a store fails, and a
    read answers nothing (libmemcached takes the AUTH_ERROR reply to a GET
    for a miss: it cannot tell the caller more)."""
    good = sasl_client(sasl_server)
    k = key("guarded")
    assert good.set(k, b"kept") is True
    anon = client(sasl_server)
    start = time.monotonic()
    with pytest.raises(pylibmc.Error):
        anon.set(k, b"overwritten")
    assert anon.get(k) is None
    assert time.monotonic() - start < FAST
    assert good.get(k) == b"kept"
    good.disconnect_all()
    anon.disconnect_all()


SCRAM_CHILD = r"""
import json, sys, pylibmc
spec, user, password, key, behaviors = sys.argv[1:6]
c = pylibmc.Client([spec], binary=True, username=user, password=password,
                   behaviors=json.loads(behaviors))
try:
    out = {"set": c.set(key, b"scram"), "get": c.get(key).decode()}
except pylibmc.Error as e:
    out = {"error": str(e)}
print(json.dumps(out))
"""


def run_scram_child(server, user, password, key):
    env = dict(os.environ, SASL_PATH=str(cyrus_plugin_dir("SCRAM-SHA-256")))
    done = subprocess.run(
        [sys.executable, "-c", SCRAM_CHILD, server.spec, user, password, key,
         json.dumps(BEHAVIORS)],
        env=env, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("user", list(SASL_USERS), ids=["ascii", "utf8-spaces"])
def test_sasl_scram_sha256(sasl_server, key, user):
    """pylibmc whose Cyrus has only the SCRAM-SHA-256 plugin logs in with
    it (three round trips, the server's signature checked by Cyrus)."""
    mech = MECHANISM_LOG[sasl_server.kind].format(mech="SCRAM-SHA-256")
    offset = sasl_server.log_size()
    assert run_scram_child(sasl_server, user, SASL_USERS[user], key("scram")) == {
        "set": True, "get": "scram",
    }
    log = sasl_server.log_since(offset)
    assert mech in log
    assert MECHANISM_LOG[sasl_server.kind].format(mech="PLAIN") not in log

    offset = sasl_server.log_size()
    refused = run_scram_child(sasl_server, user, "wrong", key("scram2"))
    assert "AUTHENTICATION FAILURE" in refused.get("error", ""), refused
    assert mech in sasl_server.log_since(offset)
    good = sasl_client(sasl_server)
    assert good.get(key("scram")) == b"scram"
    assert good.get(key("scram2")) is None
    good.disconnect_all()


def test_text_client_on_binary_only_server(sasl_server, key):
    """libmemcached's text protocol on a -S server: ferrocache says it
    speaks binary only and closes, so the client fails at once."""
    if sasl_server.kind == "memcached":
        pytest.skip("memcached -S reads a text command and never answers: "
                    "the client waits for its own timeout")
    text = pylibmc.Client([sasl_server.spec], binary=False, behaviors=BEHAVIORS)
    start = time.monotonic()
    with pytest.raises(pylibmc.Error):
        text.set(key("t"), b"x")
    assert time.monotonic() - start < FAST
    text.disconnect_all()


def auth_counters(stats_client, spec):
    s = stats_client.stats()[spec]
    return int(s["auth_cmds"]), int(s["auth_errors"])


def test_sasl_scram_sha256_counts_one_auth_cmd_per_login(sasl_server, key):
    """memcached counts a SASL exchange in auth_cmds when it ends (success,
    or failure with auth_errors too), never for an AUTH_CONTINUE reply: a
    SCRAM-SHA-256 login (AUTH -> 0x21, STEP -> 0x21, STEP -> 0x00) is one
    auth_cmd, a refused one (AUTH -> 0x21, STEP -> 0x20) one auth_cmd and
    one auth_error, and so does ferrocache."""
    import bmemcached  # a PLAIN client to read the counters with

    stats = bmemcached.Client([sasl_server.spec], SASL_USER, SASL_PASSWORD, socket_timeout=3)
    before = auth_counters(stats, sasl_server.spec)  # logs in (counted) first
    assert run_scram_child(sasl_server, SASL_USER, SASL_PASSWORD, key("c1"))["set"] is True
    after_ok = auth_counters(stats, sasl_server.spec)
    assert "error" in run_scram_child(sasl_server, SASL_USER, "wrong", key("c2"))
    after_bad = auth_counters(stats, sasl_server.spec)
    stats.disconnect_all()
    assert (after_ok[0] - before[0], after_ok[1] - before[1]) == (1, 0)
    assert (after_bad[0] - after_ok[0], after_bad[1] - after_ok[1]) == (1, 1)

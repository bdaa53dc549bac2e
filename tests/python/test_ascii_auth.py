"""Ascii auth (`-Y authfile`) through pymemcache, and clients of the other
protocol refused fast: a binary client on a text-only (`-Y`) server, a text
client on a binary-only (`-S`) server.

pymemcache has no auth call of its own, and needs none: the login *is* a
``set`` whose value is ``<user> <password>``, so ``client.set(anykey,
b"user password")`` sends it (its reply is ``STORED``; nothing is stored).
Each connection logs in once, before anything else.

Every test runs against ferrocache and against Debian's memcached 1.6.18
(conftest.py's ``ascii_auth_server`` and ``sasl_server``). Where memcached
1.6.18 does not refuse a client of the other protocol but leaves it
waiting, that case is skipped for memcached with the reason. Clients have
bounded timeouts, and pytest-timeout stops a test after 60 s.
"""

import time

import bmemcached
import pylibmc
import pytest
from bmemcached.exceptions import MemcachedException
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError, MemcacheUnknownError

from conftest import SASL_PASSWORD, SASL_USER

pytestmark = pytest.mark.timeout(60)

LOGIN = f"{SASL_USER} {SASL_PASSWORD}".encode()
TIMEOUT = 3.0
FAST = 1.0  # a refusal answers or closes; a hang would take TIMEOUT
PYLIBMC_BEHAVIORS = {
    "connect_timeout": 2000,
    "_poll_timeout": 2000,
    "send_timeout": 2_000_000,
    "receive_timeout": 2_000_000,
    "retry_timeout": 0,
}
MEMCACHED_WAITS = (
    "memcached 1.6.18 reads a client of the protocol it does not serve and "
    "never answers: the client waits for its own timeout"
)


def text_client(server, **kwargs):
    kwargs.setdefault("default_noreply", False)
    return Client(server.addr, connect_timeout=TIMEOUT, timeout=TIMEOUT, **kwargs)


def logged_in(server):
    c = text_client(server)
    assert c.set("login", LOGIN) is True
    return c


def stats(server):
    c = logged_in(server)
    s = c.stats()
    c.close()
    return s


# --- pymemcache on -Y -----------------------------------------------------


def test_login_then_commands(ascii_auth_server, key):
    c = text_client(ascii_auth_server)
    login_key = key("login")
    assert c.set(login_key, LOGIN) is True
    k = key("a")
    assert c.get(k) is None
    assert c.set(k, b"value") is True
    assert c.get(k) == b"value"
    assert c.add(k, b"x") is False
    assert c.append(k, b"+") is True
    assert c.set(key("n"), b"1") is True
    assert c.incr(key("n"), 41) == 42
    assert c.get_many([k, key("n")]) == {k: b"value+", key("n"): b"42"}
    assert c.delete(k) is True
    assert int(c.stats()[b"pid"]) == ascii_auth_server.pid
    # The login stored nothing under its key.
    assert c.get(login_key) is None
    # After login a set is an ordinary set again.
    assert c.set(login_key, b"data") is True
    assert c.get(login_key) == b"data"
    c.close()


@pytest.mark.parametrize("call", [
    lambda c, k: c.get(k),
    lambda c, k: c.get_many([k, k + "2"]),
    lambda c, k: c.delete(k),
    lambda c, k: c.incr(k, 1),
    lambda c, k: c.touch(k, 10),
    lambda c, k: c.add(k, b"user pass"),
    lambda c, k: c.version(),
    lambda c, k: c.stats(),
    lambda c, k: c.flush_all(),
], ids=["get", "get_many", "delete", "incr", "touch", "add", "version", "stats", "flush_all"])
def test_commands_before_login_refused(ascii_auth_server, key, call):
    good = logged_in(ascii_auth_server)
    k = key("guarded")
    assert good.set(k, b"kept") is True
    c = text_client(ascii_auth_server)
    with pytest.raises(MemcacheClientError, match="unauthenticated"):
        call(c, k)
    # The connection stays open, and a login on it still works.
    assert c.set("login", LOGIN) is True
    assert c.get(k) == b"kept"
    c.close()
    good.close()


@pytest.mark.parametrize("value,reply", [
    (f"{SASL_USER} {SASL_PASSWORD}x".encode(), "authentication failure"),
    (f"nobody {SASL_PASSWORD}".encode(), "authentication failure"),
    (f"{SASL_USER}{SASL_PASSWORD}".encode(), "bad authentication token format"),
    (f"{SASL_USER} ".encode(), "bad authentication token format"),
], ids=["wrong-password", "unknown-user", "no-space", "empty-password"])
def test_login_refused(ascii_auth_server, key, value, reply):
    before = stats(ascii_auth_server)
    c = text_client(ascii_auth_server)
    start = time.monotonic()
    with pytest.raises(MemcacheClientError, match=reply):
        c.set("login", value)
    with pytest.raises(MemcacheClientError, match="unauthenticated"):
        c.get(key("a"))
    assert time.monotonic() - start < FAST
    # The same connection may try again.
    assert c.set("login", LOGIN) is True
    assert c.set(key("a"), b"in") is True
    c.close()
    after = stats(ascii_auth_server)
    # memcached counts a login attempt that reached the check: a wrong user
    # or password is an auth_cmd and an auth_error; a malformed token
    # neither. Our stats() logins count too (one each).
    checked = 1 if reply == "authentication failure" else 0
    assert after[b"auth_cmds"] == before[b"auth_cmds"] + checked + 1 + 1
    assert after[b"auth_errors"] == before[b"auth_errors"] + checked


def test_login_reply_ignores_noreply(ascii_auth_server, key):
    """The login's STORED comes even when the set says noreply: a client
    that logs in with noreply must read it (pymemcache then sees it as the
    reply to its next command)."""
    c = text_client(ascii_auth_server, default_noreply=True)
    assert c.set("login", LOGIN) is True  # noreply: pymemcache reads nothing
    with pytest.raises(MemcacheUnknownError, match="STORED"):
        c.get(key("a"))
    c.close()


def test_each_connection_logs_in(ascii_auth_server, key):
    a = logged_in(ascii_auth_server)
    assert a.set(key("shared"), b"x") is True
    b = text_client(ascii_auth_server)
    with pytest.raises(MemcacheClientError, match="unauthenticated"):
        b.get(key("shared"))
    # A reconnect is a new connection: it must log in again.
    a.close()
    with pytest.raises(MemcacheClientError, match="unauthenticated"):
        a.get(key("shared"))
    b.close()
    a.close()


# --- the other protocol, refused fast --------------------------------------


def test_pylibmc_binary_on_text_only_server(ascii_auth_server, key):
    if ascii_auth_server.kind == "memcached":
        pytest.skip(MEMCACHED_WAITS)
    for credentials in [{}, {"username": SASL_USER, "password": SASL_PASSWORD}]:
        c = pylibmc.Client([ascii_auth_server.spec], binary=True,
                           behaviors=PYLIBMC_BEHAVIORS, **credentials)
        start = time.monotonic()
        with pytest.raises(pylibmc.Error):
            c.set(key("b"), b"x")
        assert time.monotonic() - start < FAST, credentials
        c.disconnect_all()
    # Nothing was stored.
    assert logged_in(ascii_auth_server).get(key("b")) is None


def test_bmemcached_on_text_only_server(ascii_auth_server, key):
    if ascii_auth_server.kind == "memcached":
        pytest.skip(MEMCACHED_WAITS)
    # Without credentials the first request is answered UNKNOWN_COMMAND.
    c = bmemcached.Client([ascii_auth_server.spec], socket_timeout=TIMEOUT)
    start = time.monotonic()
    with pytest.raises(MemcachedException) as e:
        c.get(key("b"))
    assert e.value.code == 0x81
    assert time.monotonic() - start < FAST
    c.disconnect_all()
    # With credentials bmemcached reads UNKNOWN_COMMAND to its SASL_LIST_MECHS
    # as "no login needed", then finds the connection closed: the store
    # fails (bmemcached says so with False), at once.
    c = bmemcached.Client([ascii_auth_server.spec], SASL_USER, SASL_PASSWORD,
                          socket_timeout=TIMEOUT)
    start = time.monotonic()
    assert c.set(key("b"), "x") is False
    assert time.monotonic() - start < FAST
    c.disconnect_all()
    assert logged_in(ascii_auth_server).get(key("b")) is None


def test_pymemcache_on_binary_only_server(sasl_server, key):
    if sasl_server.kind == "memcached":
        pytest.skip(MEMCACHED_WAITS)
    c = text_client(sasl_server)
    start = time.monotonic()
    with pytest.raises(MemcacheClientError, match="speaks only the binary protocol"):
        c.set(key("t"), LOGIN)
    assert time.monotonic() - start < FAST
    c.close()

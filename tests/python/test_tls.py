"""TLS (``-Z``) through real clients' public APIs, each test against
ferrocache and against Debian's memcached 1.6.18 (built with TLS), with the
same certificates (conftest.py's ``tls_certs``, made with openssl):
pymemcache's ``tls_context``, mutual TLS, ``refresh_certs`` with a client
staying connected, and python-binary-memcached logging in with SASL over
TLS. What the two servers do differently is asserted per server.
"""

import shutil
import socket
import ssl

import bmemcached
import pytest
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheError

from conftest import (
    SASL_PASSWORD,
    SASL_USER,
    SASL_USERS,
    TARGETS,
    _make_sasldb,
    _run_target,
    _server_env,
    _stop,
    tls_certs,
    tls_context,
    tls_server_args,
)


def pyclient(server, ctx, **kwargs):
    return Client(server.addr, tls_context=ctx, connect_timeout=5, timeout=10,
                  default_noreply=False, **kwargs)


@pytest.fixture(scope="module", params=TARGETS)
def tls_server(request):
    proc, server = _run_target(request.param, tls_server_args(), env=_server_env())
    yield server
    _stop(proc, server)


@pytest.fixture(scope="module", params=TARGETS)
def mtls_server(request):
    ca = tls_certs() / "ca.pem"
    args = tls_server_args(f"ssl_verify_mode=2,ssl_ca_cert={ca}")
    proc, server = _run_target(request.param, args, env=_server_env())
    yield server
    _stop(proc, server)


def test_round_trip_and_tls_figures(tls_server):
    c = pyclient(tls_server, tls_context())
    assert c.set("tls:a", b"1" * 100_000) is True
    assert c.get("tls:a") == b"1" * 100_000
    assert c.get_many(["tls:a", "tls:missing"]) == {"tls:a": b"1" * 100_000}
    settings = c.stats("settings")
    assert settings[b"ssl_enabled"] == b"yes"
    assert settings[b"ssl_min_version"] == b"tlsv1.2"
    assert int(settings[b"ssl_verify_mode"]) == 0
    stats = c.stats()
    assert b"ssl_handshake_errors" in stats
    assert int(stats[b"time_since_server_cert_refresh"]) >= 0
    c.close()


def test_a_plaintext_client_is_refused(tls_server):
    plain = Client(tls_server.addr, connect_timeout=5, timeout=5)
    with pytest.raises((MemcacheError, OSError)) as raised:
        plain.get("tls:x")
    if tls_server.kind == "ferrocache":
        # memcached closes without a word; ferrocache says why.
        assert "requires TLS" in str(raised.value)
    plain.close()


def test_mutual_tls_accepts_the_cas_client(mtls_server):
    c = pyclient(mtls_server, tls_context("client"))
    assert c.set("mtls:k", b"v") is True
    assert c.get("mtls:k") == b"v"
    c.close()


@pytest.mark.parametrize("cert", [None, "foreign"])
def test_mutual_tls_refuses_others(mtls_server, cert):
    c = pyclient(mtls_server, tls_context(cert))
    with pytest.raises((MemcacheError, OSError)):
        c.set("mtls:k", b"v")
        c.get("mtls:k")
    c.close()


def _peer_certificate(server) -> bytes:
    ctx = tls_context()
    with socket.create_connection(server.addr, timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server.host) as s:
            return s.getpeercert(binary_form=True)


def _der(pem_path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


@pytest.mark.parametrize("kind", TARGETS)
def test_refresh_certs_while_a_client_stays_connected(kind, tmp_path):
    certs = tls_certs()
    for ext in ("pem", "key"):
        shutil.copy(certs / f"server.{ext}", tmp_path / f"live.{ext}")
    proc, server = _run_target(kind, tls_server_args(cert="live", folder=tmp_path),
                               env=_server_env())
    try:
        old = pyclient(server, tls_context())
        assert old.set("r:k", b"a") is True
        assert _peer_certificate(server) == _der(certs / "server.pem")
        for ext in ("pem", "key"):
            shutil.copy(certs / f"server2.{ext}", tmp_path / f"live.{ext}")
        assert old.raw_command(b"refresh_certs") == b"OK"
        assert old.get("r:k") == b"a"
        assert _peer_certificate(server) == _der(certs / "server2.pem")
        (tmp_path / "live.pem").write_text("junk\n")
        reply = old.raw_command(b"refresh_certs")
        assert reply.startswith(b"Error loading the certificate chain: "), reply
        assert _peer_certificate(server) == _der(certs / "server2.pem")
        assert old.get("r:k") == b"a"
        old.close()
    finally:
        _stop(proc, server)


@pytest.fixture(scope="module", params=TARGETS)
def tls_sasl_server(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"tls-sasl-{request.param}")
    if request.param == "ferrocache":
        pwdb = folder / "pwdb"
        pwdb.write_text("".join(f"{u}:{p}\n" for u, p in SASL_USERS.items()),
                        encoding="utf-8")
        env = _server_env(MEMCACHED_SASL_PWDB=str(pwdb))
    else:
        env = _server_env(SASL_CONF_PATH=str(_make_sasldb(folder)))
    proc, server = _run_target(request.param, ["-S", *tls_server_args()], env=env)
    yield server
    _stop(proc, server)


def test_binary_protocol_with_sasl_over_tls(tls_sasl_server):
    c = bmemcached.Client([tls_sasl_server.spec], SASL_USER, SASL_PASSWORD,
                          socket_timeout=5, tls_context=tls_context())
    assert c.set("sasl-tls:k", "v") is True
    assert c.get("sasl-tls:k") == "v"
    c.disconnect_all()

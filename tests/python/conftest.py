"""Fixtures for the real-client suites (pymemcache, pylibmc, bmemcached).

By default every test runs against the ferrocache binary named by the
FERROCACHE_BIN environment variable (default: <repo>/target/release/ferrocache),
started as ``ferrocache -p 0 -l 127.0.0.1 -t N`` (plus ``-u root`` as root, which
ferrocache, like memcached, requires). ferrocache prints exactly one
line ``ferrocache listening on 127.0.0.1:PORT`` once it accepts connections;
the fixture reads that line (bounded) instead of guessing a port or sleeping.

With FERROCACHE_TEST_AGAINST_MEMCACHED=1 the same tests run against Debian's
/usr/bin/memcached instead, on a port the OS just handed out, polling
connect() (bounded) until it answers. That is how the suite itself is checked.

The server fixture is parametrised over worker thread counts 1 and 4.

With FERROCACHE_TEST_TLS=1 the ``server`` fixture starts its server with
``-Z`` and certificates made once per session with Debian's ``openssl``
(``tls_certs``), and ``make_client`` gives pymemcache a ``tls_context``
trusting their CA: the pymemcache suite runs again over TLS, against either
server. test_tls.py uses the same certificates.
With FERROCACHE_TEST_THROUGH_TWEMPROXY=1 the ``server`` fixture is instead
twemproxy (Debian's ``nutcracker``, NUTCRACKER_BIN) in front of three
ferrocache nodes, hashing keys with ketama: the text-protocol suite
(test_pymemcache.py) then runs through the proxy. Tests of commands
twemproxy does not forward (it answers them with an error or closes) are
marked ``not_through_proxy`` and skipped there, with the reason.

The client suites (test_pylibmc.py, test_bmemcached.py, test_ascii_auth.py)
use three more fixtures, each parametrised over the targets named by
FERROCACHE_CLIENT_TARGETS (default ``ferrocache,memcached``: every test runs
against both, and memcached is how each claim is checked):

- ``binary_server``: started as above, no authentication;
- ``sasl_server``: ``-S``; ferrocache reads SASL_USERS from a
  ``user:password`` file named by MEMCACHED_SASL_PWDB, memcached (Debian's is
  built with Cyrus SASL, without the SASL pwdb) from a Cyrus sasldb made with
  ``saslpasswd2`` and a ``memcached.conf`` with ``mech_list: plain
  scram-sha-256`` (SASL_CONF_PATH). Both run with ``-vv`` and write their log
  to ``Server.log``, so that a test can tell which mechanism a client chose;
- ``ascii_auth_server``: ``-Y`` with an authfile holding SASL_USER.
"""

import atexit
import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from pymemcache.client.base import Client

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "target" / "release" / "ferrocache"
MEMCACHED_BIN = "/usr/bin/memcached"
STARTUP_TIMEOUT = 10.0
LISTENING_RE = re.compile(rb"^ferrocache listening on 127\.0\.0\.1:(\d+)\r?\n$")


@dataclass
class Server:
    host: str
    port: int
    pid: int
    threads: int
    kind: str  # "ferrocache" or "memcached"
    log: Optional[Path] = None  # the server's stderr, where it was kept

    @property
    def addr(self):
        return (self.host, self.port)

    @property
    def spec(self) -> str:
        """``host:port``, as pylibmc, bmemcached and memjs take a server."""
        return f"{self.host}:{self.port}"

    def log_size(self) -> int:
        return self.log.stat().st_size

    def log_since(self, offset: int) -> str:
        """What the server logged after byte `offset` of its log."""
        with open(self.log, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")


def against_memcached() -> bool:
    return os.environ.get("FERROCACHE_TEST_AGAINST_MEMCACHED") == "1"


def tls_enabled() -> bool:
    return os.environ.get("FERROCACHE_TEST_TLS") == "1"


_TLS_DIR: Optional[Path] = None


def _openssl(folder: Path, *args: str) -> None:
    if not shutil.which("openssl"):
        pytest.fail("openssl is missing: apt-get install -y openssl", pytrace=False)
    subprocess.run(["openssl", *args], cwd=folder, check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def tls_certs() -> Path:
    """A folder, made once per session, holding ``ca``, ``server`` (for
    127.0.0.1, signed by ``ca``), ``server2`` (the same, another key),
    ``client`` (CN=py-tls-client, signed by ``ca``) and ``foreign``
    (signed by ``foreign-ca``), each as NAME.pem and NAME.key."""
    global _TLS_DIR
    if _TLS_DIR is not None:
        return _TLS_DIR
    folder = Path(tempfile.mkdtemp(prefix="ferrocache-py-tls-"))
    atexit.register(shutil.rmtree, folder, True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "foreign-ca"):
        _openssl(folder, "req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                 "-days", "2", "-subj", f"/CN={ca}")
    leaves = [("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
              ("server2", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
              ("client", "ca", "extendedKeyUsage=clientAuth"),
              ("foreign", "foreign-ca", "extendedKeyUsage=clientAuth")]
    for name, ca, ext in leaves:
        cn = "py-tls-client" if name == "client" else name
        _openssl(folder, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={cn}")
        (folder / f"{name}.ext").write_text(ext + "\n")
        _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem",
                 "-CAkey", f"{ca}.key", "-CAcreateserial", "-out", f"{name}.pem",
                 "-days", "2", "-extfile", f"{name}.ext")
    _TLS_DIR = folder
    return folder


def tls_server_args(extra: str = "", cert: str = "server", folder: Optional[Path] = None):
    """``-Z -o ssl_chain_cert=...,ssl_key=...`` (plus `extra` keys)."""
    folder = folder or tls_certs()
    opts = f"ssl_chain_cert={folder / (cert + '.pem')},ssl_key={folder / (cert + '.key')}"
    if extra:
        opts += "," + extra
    return ["-Z", "-o", opts]


def tls_context(client_cert: Optional[str] = None) -> ssl.SSLContext:
    """A client context trusting the test CA, presenting `client_cert`."""
    folder = tls_certs()
    ctx = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    if client_cert:
        ctx.load_cert_chain(str(folder / f"{client_cert}.pem"), str(folder / f"{client_cert}.key"))
    return ctx
def through_twemproxy() -> bool:
    return os.environ.get("FERROCACHE_TEST_THROUGH_TWEMPROXY") == "1"


NUTCRACKER_BIN = os.environ.get("NUTCRACKER_BIN", "/usr/sbin/nutcracker")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "not_through_proxy(reason): the command is not forwarded by twemproxy",
    )


def pytest_collection_modifyitems(config, items):
    if not through_twemproxy():
        return
    for item in items:
        mark = item.get_closest_marker("not_through_proxy")
        if mark:
            reason = mark.args[0] if mark.args else "not forwarded by twemproxy"
            item.add_marker(pytest.mark.skip(reason=f"through twemproxy: {reason}"))


def _start_twemproxy(threads: int):
    """twemproxy with ketama over three ferrocache nodes; (procs, port)."""
    if not Path(NUTCRACKER_BIN).exists():
        pytest.fail(f"{NUTCRACKER_BIN} is missing: apt-get install -y nutcracker",
                    pytrace=False)
    nodes = [_start_ferrocache(threads) for _ in range(3)]
    port = _free_port()
    folder = Path(tempfile.mkdtemp(prefix="twemproxy-"))
    conf = folder / "nutcracker.yml"
    servers = "\n".join(f"    - 127.0.0.1:{p}:1" for _, p in nodes)
    conf.write_text(
        "ferrocache:\n"
        f"  listen: 127.0.0.1:{port}\n"
        "  hash: fnv1a_64\n"
        "  distribution: ketama\n"
        "  timeout: 5000\n"
        "  auto_eject_hosts: false\n"
        "  servers:\n"
        f"{servers}\n"
    )
    proxy = subprocess.Popen(
        [NUTCRACKER_BIN, "-c", str(conf), "-o", str(folder / "nutcracker.log"),
         "-s", str(_free_port())],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if proxy.poll() is not None:
            pytest.fail(f"nutcracker exited with status {proxy.returncode}: "
                        f"{(folder / 'nutcracker.log').read_text()}", pytrace=False)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proxy.kill()
                pytest.fail("nutcracker did not answer", pytrace=False)
            time.sleep(0.01)
    atexit.register(shutil.rmtree, folder, True)
    return [proxy] + [p for p, _ in nodes], port


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _drain(stream) -> None:
    """Keeps reading a child's stdout so it can never block on a full pipe."""
    try:
        while stream.read(65536):
            pass
    except (OSError, ValueError):
        pass


def _start_ferrocache(threads: int, args=(), env=None, stderr=None):
    binary = Path(os.environ.get("FERROCACHE_BIN", str(DEFAULT_BIN)))
    if not binary.is_absolute():
        binary = (Path.cwd() / binary).resolve()
    if not binary.exists():
        pytest.fail(
            f"ferrocache binary {binary} not found: run `cargo build --release` "
            "or set FERROCACHE_BIN",
            pytrace=False,
        )
    cmd = [str(binary), "-p", "0", "-l", "127.0.0.1", "-t", str(threads)]
    if _is_root():
        cmd += ["-u", "root"]  # like memcached, ferrocache refuses root without -u
    cmd += list(args)
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,  # None: inherited, start-up errors show in pytest's output
        env=env,
    )
    # Read the single listening line without risking an unbounded hang.
    fd = proc.stdout.fileno()
    line = b""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            proc.kill()
            proc.wait()
            pytest.fail(
                f"ferrocache printed no listening line within {STARTUP_TIMEOUT}s "
                f"(got so far {line!r})",
                pytrace=False,
            )
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 1)  # byte by byte: never consume past the line
        if not chunk:
            code = proc.wait()
            pytest.fail(
                f"ferrocache exited (status {code}) before printing its "
                f"listening line (got {line!r})",
                pytrace=False,
            )
        line += chunk
    m = LISTENING_RE.match(line)
    if not m:
        proc.kill()
        proc.wait()
        pytest.fail(f"unexpected ferrocache start-up line {line!r}", pytrace=False)
    threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
    return proc, int(m.group(1))


def _start_memcached(threads: int, args=(), env=None, stderr=None):
    if not Path(MEMCACHED_BIN).exists():
        pytest.fail(
            f"{MEMCACHED_BIN} is missing: apt-get install -y memcached",
            pytrace=False,
        )
    port = _free_port()
    cmd = [MEMCACHED_BIN, "-p", str(port), "-l", "127.0.0.1", "-U", "0",
           "-t", str(threads)]
    if _is_root():
        cmd += ["-u", "root"]
    cmd += list(args)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"memcached exited with status {proc.returncode} on start-up",
                        pytrace=False)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail(f"memcached did not answer on port {port} within "
                            f"{STARTUP_TIMEOUT}s", pytrace=False)
            time.sleep(0.01)
    return proc, port


@pytest.fixture(scope="session", params=[1, 4], ids=["t1", "t4"])
def server(request):
    """A running server (ferrocache, or memcached if asked) for the session."""
    threads = request.param
    args = tls_server_args() if tls_enabled() else ()
    if against_memcached():
        kind = "memcached"
        proc, port = _start_memcached(threads, args)
        procs = [proc]
    elif through_twemproxy():
        kind = "twemproxy"
        procs, port = _start_twemproxy(threads)
    else:
        kind = "ferrocache"
        proc, port = _start_ferrocache(threads, args)
        procs = [proc]
    try:
        yield Server("127.0.0.1", port, procs[0].pid, threads, kind)
    finally:
        alive = all(p.poll() is None for p in procs)
        codes = []
        for p in procs:
            p.kill()
            p.wait()
            codes.append(p.returncode)
            if p.stdout:
                p.stdout.close()
    # A server that died during the tests is a failure in its own right.
    assert alive, f"{kind} (-t {threads}) exited during the tests with status {codes}"


def make_client(server, **kwargs):
    """A pymemcache client; replies are awaited unless the test says otherwise."""
    kwargs.setdefault("default_noreply", False)
    kwargs.setdefault("connect_timeout", 5)
    kwargs.setdefault("timeout", 10)
    if tls_enabled():
        kwargs.setdefault("tls_context", tls_context())
    return Client(server.addr, **kwargs)


@pytest.fixture
def client(server):
    c = make_client(server)
    yield c
    c.close()


@pytest.fixture
def key():
    """key(name) -> a key unique to this test invocation."""
    prefix = uuid.uuid4().hex[:12]

    def make(name=""):
        return f"{prefix}:{name}"

    return make


# --- the client suites: both targets, with and without authentication ------

# The one user every authenticating server knows. The password has no space:
# memcached's ascii auth (`-Y`) splits the user from the password at a space.
SASL_USER = "ferro-user"
SASL_PASSWORD = "c0rrect-h0rse"
# A second SASL user (not in the -Y authfile): a name beyond ASCII, a
# password with spaces.
SASL_USER2 = "émile"
SASL_PASSWORD2 = "pa ss wörd"
SASL_USERS = {SASL_USER: SASL_PASSWORD, SASL_USER2: SASL_PASSWORD2}
# What the -vv log of each server says when a SASL_AUTH names a mechanism.
MECHANISM_LOG = {
    "ferrocache": "SASL_AUTH {mech} ",  # `<17 SASL_AUTH PLAIN +14 bytes`
    "memcached": "mech:  ``{mech}''",  # `mech:  ``PLAIN'' with 14 bytes of data`
}


def _targets():
    names = os.environ.get("FERROCACHE_CLIENT_TARGETS", "ferrocache,memcached")
    targets = [t.strip() for t in names.split(",") if t.strip()]
    unknown = set(targets) - {"ferrocache", "memcached"}
    if unknown or not targets:
        raise pytest.UsageError(
            f"FERROCACHE_CLIENT_TARGETS={names!r}: name ferrocache and/or memcached"
        )
    return targets


TARGETS = _targets()


def cyrus_plugin_dir(mechanism: str) -> Path:
    """A folder holding only the Cyrus SASL client plugin for `mechanism`
    (a link to Debian's, from libsasl2-modules), for SASL_PATH.

    libmemcached lets Cyrus pick the mechanism among those the server
    lists, and Cyrus prefers SCRAM-SHA-256 to PLAIN; a client process whose
    SASL_PATH holds one plugin can use that mechanism only.
    """
    name = {"PLAIN": "libplain.so", "SCRAM-SHA-256": "libscram.so"}[mechanism]
    found = sorted(Path("/usr/lib").glob(f"*/sasl2/{name}")) + sorted(
        Path("/usr/lib/sasl2").glob(name)
    )
    if not found:
        raise FileNotFoundError(
            f"Cyrus SASL plugin {name} not found under /usr/lib: "
            "apt-get install -y libsasl2-modules"
        )
    folder = Path(tempfile.mkdtemp(prefix=f"cyrus-{mechanism.lower()}-"))
    atexit.register(shutil.rmtree, folder, True)
    (folder / name).symlink_to(found[0])
    return folder


# pylibmc in this process logs in with PLAIN: Cyrus reads SASL_PATH once,
# when libmemcached first starts it, so it is set before any test runs
# (test_pylibmc.py checks the servers' logs for the mechanism, and runs
# SCRAM-SHA-256 in a child process of its own).
try:
    os.environ["SASL_PATH"] = str(cyrus_plugin_dir("PLAIN"))
except FileNotFoundError as e:
    CYRUS_PLAIN_MISSING = str(e)
else:
    CYRUS_PLAIN_MISSING = None


def _server_env(**extra):
    """The environment for a server: ours, less SASL_PATH (test_pylibmc.py
    narrows the Cyrus plugins of its own process with it; a Cyrus server
    given it would offer those mechanisms only), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "SASL_PATH"}
    env.update(extra)
    return env


def _run_target(kind, args=(), env=None, log=None, threads=4):
    """Starts `kind` with `args`; returns (proc, Server)."""
    stderr = open(log, "wb") if log else None
    try:
        start = _start_ferrocache if kind == "ferrocache" else _start_memcached
        proc, port = start(threads, args=args, env=env, stderr=stderr)
    finally:
        if stderr:
            stderr.close()  # the child has its own copy
    return proc, Server("127.0.0.1", port, proc.pid, threads, kind, log)


def _stop(proc, server):
    alive = proc.poll() is None
    proc.kill()
    proc.wait()
    if proc.stdout:
        proc.stdout.close()
    assert alive, f"{server.kind} exited during the tests with status {proc.returncode}"


@pytest.fixture(scope="session", params=TARGETS)
def binary_server(request):
    """ferrocache or memcached, no authentication: both protocols."""
    proc, server = _run_target(request.param, env=_server_env())
    yield server
    _stop(proc, server)


def _make_sasldb(folder: Path) -> Path:
    """A Cyrus sasldb holding SASL_USERS, and the memcached.conf naming it."""
    saslpasswd2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
    if not Path(saslpasswd2).exists():
        pytest.fail("saslpasswd2 is missing: apt-get install -y sasl2-bin", pytrace=False)
    db = folder / "sasldb2"
    for user, password in SASL_USERS.items():
        subprocess.run(
            [saslpasswd2, "-p", "-a", "memcached", "-f", str(db), "-c", user],
            input=password.encode(), check=True, timeout=30,
            env=_server_env(),  # with our SASL_PATH it finds no sasldb plugin
        )
    if not db.exists():
        pytest.fail(f"saslpasswd2 made no {db}", pytrace=False)
    (folder / "memcached.conf").write_text(
        f"mech_list: plain scram-sha-256\nsasldb_path: {db}\n"
    )
    return folder


@pytest.fixture(scope="session", params=TARGETS)
def sasl_server(request, tmp_path_factory):
    """`-S`: binary protocol only, SASL login first; logs with -vv."""
    folder = tmp_path_factory.mktemp(f"sasl-{request.param}")
    log = folder / "server.log"
    if request.param == "ferrocache":
        pwdb = folder / "pwdb"
        pwdb.write_text("".join(f"{u}:{p}\n" for u, p in SASL_USERS.items()), encoding="utf-8")
        env = _server_env(MEMCACHED_SASL_PWDB=str(pwdb))
    else:
        env = _server_env(SASL_CONF_PATH=str(_make_sasldb(folder)))
    proc, server = _run_target(request.param, ["-S", "-vv"], env=env, log=log)
    yield server
    _stop(proc, server)


@pytest.fixture(scope="session", params=TARGETS)
def ascii_auth_server(request, tmp_path_factory):
    """`-Y authfile`: text protocol only, a `set` carrying user and password first."""
    folder = tmp_path_factory.mktemp(f"authfile-{request.param}")
    authfile = folder / "authfile"
    authfile.write_text(f"{SASL_USER}:{SASL_PASSWORD}\n")
    proc, server = _run_target(request.param, ["-Y", str(authfile)], env=_server_env())
    yield server
    _stop(proc, server)

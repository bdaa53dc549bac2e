"""Fixtures for the pymemcache compatibility suite.

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
"""

import os
import re
import select
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

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

    @property
    def addr(self):
        return (self.host, self.port)


def against_memcached() -> bool:
    return os.environ.get("FERROCACHE_TEST_AGAINST_MEMCACHED") == "1"


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


def _start_ferrocache(threads: int):
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
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None,  # inherited: start-up errors show in pytest's output
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


def _start_memcached(threads: int):
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
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=None)
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
    if against_memcached():
        kind = "memcached"
        proc, port = _start_memcached(threads)
    else:
        kind = "ferrocache"
        proc, port = _start_ferrocache(threads)
    try:
        yield Server("127.0.0.1", port, proc.pid, threads, kind)
    finally:
        alive = proc.poll() is None
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
    # A server that died during the tests is a failure in its own right.
    assert alive, f"{kind} (-t {threads}) exited during the tests with status {proc.returncode}"


def make_client(server, **kwargs):
    """A pymemcache client; replies are awaited unless the test says otherwise."""
    kwargs.setdefault("default_noreply", False)
    kwargs.setdefault("connect_timeout", 5)
    kwargs.setdefault("timeout", 10)
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

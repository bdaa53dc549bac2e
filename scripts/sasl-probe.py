#!/usr/bin/env python3
"""Drive a server's binary-protocol SASL (LIST_MECHS, AUTH, STEP) case by
case and print what it answers, as the SASL table in docs/auth.md.

    scripts/sasl-probe.py                       # Debian's memcached, Cyrus sasldb
    scripts/sasl-probe.py --port 11211          # a server already running

With no --port it starts Debian's memcached with `-S` against a Cyrus
sasldb made in a temporary folder (needs `saslpasswd2`, Debian's
sasl2-bin; Debian's memcached is built without `--enable-sasl-pwdb`, so
MEMCACHED_SASL_PWDB does nothing there), with the users USERS below and
`mech_list: plain scram-sha-256`. A server given by --port must know the
same users. Every case opens a fresh connection. Exits 0; it reports, it
does not judge.
"""

import argparse
import base64
import hashlib
import hmac
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

USERS = {"user": "pass", "alice": "pa ss"}

LIST_MECHS, AUTH, STEP, VERSION, GET = 0x20, 0x21, 0x22, 0x0B, 0x00


def request(opcode, key=b"", value=b"", opaque=0):
    body = key + value
    return struct.pack(">BBHBBHIIQ", 0x80, opcode, len(key), 0, 0, 0, len(body), opaque, 0) + body


def read_response(sock):
    header = b""
    while len(header) < 24:
        chunk = sock.recv(24 - len(header))
        if not chunk:
            return None
        header += chunk
    magic, opcode, keylen, extlen, _, status, bodylen, _, _ = struct.unpack(">BBHBBHIIQ", header)
    body = b""
    while len(body) < bodylen:
        chunk = sock.recv(bodylen - len(body))
        if not chunk:
            break
        body += chunk
    return status, body[extlen + keylen:]


def exchange(port, steps, quiet=0.5):
    """steps: list of (opcode, mech, data) or callables taking the last
    reply and returning one. Returns the replies as text."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(quiet)
    out = []
    last = None
    try:
        for step in steps:
            if callable(step):
                step = step(last)
            opcode, mech, data = step
            s.sendall(request(opcode, mech, data))
            try:
                last = read_response(s)
            except (socket.timeout, ConnectionResetError) as e:
                out.append(f"(no reply: {e.__class__.__name__})")
                break
            if last is None:
                out.append("(closed)")
                break
            status, body = last
            out.append(f"0x{status:02x} {show(body)}")
    finally:
        s.close()
    return "; ".join(out)


def show(data, limit=60):
    text = repr(bytes(data[:limit]))[2:-1].replace("|", "\\|")
    if len(data) > limit:
        text += f"… ({len(data)} bytes)"
    return f"`{text}`"


class Scram:
    """A SCRAM-SHA-256 client (RFC 5802/7677), just enough to probe."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = f"n={user},r={self.nonce}"

    def first(self):
        return ("n,," + self.first_bare).encode()

    def final(self, server_first):
        fields = dict(kv.split("=", 1) for kv in server_first.decode().split(","))
        salt, iters, nonce = base64.b64decode(fields["s"]), int(fields["i"]), fields["r"]
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, iters)
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self.first_bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.new(stored, auth_message, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def scram_case(user, password):
    c = Scram(user, password)
    return [
        (AUTH, b"SCRAM-SHA-256", c.first()),
        lambda last: (STEP, b"SCRAM-SHA-256", c.final(last[1]) if last and last[0] == 0x21 else b""),
        lambda last: (STEP, b"SCRAM-SHA-256", b""),
    ]


def cases():
    return [
        ("list-mechs", [(LIST_MECHS, b"", b"")]),
        ("plain-ok", [(AUTH, b"PLAIN", b"\0user\0pass")]),
        ("plain-ok-then-get", [(AUTH, b"PLAIN", b"\0user\0pass"), (GET, b"k", b"")]),
        ("plain-password-with-space", [(AUTH, b"PLAIN", b"\0alice\0pa ss")]),
        ("plain-authzid-same", [(AUTH, b"PLAIN", b"user\0user\0pass")]),
        ("plain-authzid-other", [(AUTH, b"PLAIN", b"alice\0user\0pass")]),
        ("plain-wrong-password", [(AUTH, b"PLAIN", b"\0user\0pasS")]),
        ("plain-unknown-user", [(AUTH, b"PLAIN", b"\0nobody\0pass")]),
        ("plain-empty-password", [(AUTH, b"PLAIN", b"\0user\0")]),
        ("plain-empty-user", [(AUTH, b"PLAIN", b"\0\0pass")]),
        ("plain-one-nul", [(AUTH, b"PLAIN", b"user\0pass")]),
        ("plain-three-nuls", [(AUTH, b"PLAIN", b"\0user\0pass\0")]),
        ("plain-no-initial-then-step", [(AUTH, b"PLAIN", b""), (STEP, b"PLAIN", b"\0user\0pass")]),
        ("plain-lowercase-mech", [(AUTH, b"plain", b"\0user\0pass")]),
        ("plain-fail-then-ok", [(AUTH, b"PLAIN", b"\0user\0x"), (AUTH, b"PLAIN", b"\0user\0pass")]),
        ("plain-ok-then-step", [(AUTH, b"PLAIN", b"\0user\0pass"), (STEP, b"PLAIN", b"\0user\0pass")]),
        ("unknown-mech", [(AUTH, b"FOO", b"\0user\0pass")]),
        ("mech-32-bytes", [(AUTH, b"X" * 32, b"")]),
        ("mech-33-bytes", [(AUTH, b"X" * 33, b"")]),
        ("step-without-auth", [(STEP, b"PLAIN", b"\0user\0pass")]),
        ("get-before-auth", [(GET, b"k", b"")]),
        ("version-before-auth", [(VERSION, b"", b"")]),
        ("plain-100k-payload", [(AUTH, b"PLAIN", b"\0user\0" + b"x" * 100000)]),
        ("plain-2m-payload", [(AUTH, b"PLAIN", b"\0user\0" + b"x" * 2000000)]),
        ("scram-sha-256-ok", scram_case("user", "pass")),
        ("scram-sha-256-wrong-password", scram_case("user", "pasS")),
        ("scram-sha-256-unknown-user", scram_case("nobody", "pass")),
    ]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_memcached(folder):
    if not shutil.which("saslpasswd2"):
        sys.exit("sasl-probe: needs saslpasswd2 (apt-get install sasl2-bin)")
    db = os.path.join(folder, "sasldb2")
    for user, password in USERS.items():
        subprocess.run(["saslpasswd2", "-p", "-a", "memcached", "-f", db, "-c", user],
                       input=password.encode(), check=True)
    with open(os.path.join(folder, "memcached.conf"), "w") as f:
        f.write(f"mech_list: plain scram-sha-256\nsasldb_path: {db}\n")
    port = free_port()
    env = dict(os.environ, SASL_CONF_PATH=folder)
    cmd = ["/usr/bin/memcached", "-S", "-p", str(port), "-l", "127.0.0.1", "-U", "0"]
    if os.geteuid() == 0:
        cmd += ["-u", "root"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"memcached exited: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.05)
    proc.kill()
    sys.exit("memcached did not listen within 10 s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, help="probe a server already listening here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        proc = None
        port = args.port
        if port is None:
            proc, port = start_memcached(folder)
        try:
            print("| case | replies (status, body) |")
            print("|---|---|")
            for name, steps in cases():
                print(f"| {name} | {exchange(port, steps)} |")
        finally:
            if proc:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()

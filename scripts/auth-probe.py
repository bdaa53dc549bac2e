#!/usr/bin/env python3
"""Drive a server's ascii authentication (`-Y authfile`) case by case and
print what it answers, byte for byte, as the Markdown table in docs/auth.md.

    scripts/auth-probe.py                          # Debian's memcached
    scripts/auth-probe.py --server target/release/ferrocache

The server is started with `-Y <authfile> -U 0 -p <port> -l 127.0.0.1` (and
`-u root` when run as root); every case opens a fresh connection, sends its
bytes, reads until the server closes or is quiet for --quiet seconds, and
records the reply and whether the connection was closed. The authfile
written is AUTHFILE below. Exits 0; it reports, it does not judge.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

AUTHFILE = b"user:pass\nalice:pa ss\n:nouser\nempty:\nnul:a\x00b\n"

# (name, bytes sent). Case names are what docs/auth.md and the unit tests in
# src/auth/text.rs call them.
CASES = [
    ("ok", b"set k 0 0 9\r\nuser pass\r\n"),
    ("wrong-password", b"set k 0 0 9\r\nuser pasS\r\n"),
    ("unknown-user", b"set k 0 0 9\r\nuserx pas\r\n"),
    ("password-with-space", b"set k 0 0 11\r\nalice pa ss\r\n"),
    ("two-spaces", b"set k 0 0 10\r\nuser  pass\r\n"),
    ("trailing-space", b"set k 0 0 10\r\nuser pass \r\n"),
    ("leading-space", b"set k 0 0 10\r\n user pass\r\n"),
    ("empty-user", b"set k 0 0 7\r\n nouser\r\n"),
    ("empty-password", b"set k 0 0 6\r\nempty \r\n"),
    ("nul-in-password", b"set k 0 0 7\r\nnul a\x00b\r\n"),
    ("no-space", b"set k 0 0 8\r\nuserpass\r\n"),
    ("only-space", b"set k 0 0 1\r\n \r\n"),
    ("empty-block", b"set k 0 0 0\r\n\r\n"),
    ("block-bad-termination", b"set k 0 0 9\r\nuser passXY"),
    ("block-lf-only", b"set k 0 0 9\r\nuser pass\nX"),
    ("block-crlf-inside", b"set k 0 0 11\r\nuser pass\r\n\r\n"),
    ("block-short-then-wait", b"set k 0 0 9\r\nuser pa"),
    ("ok-then-get", b"set k 0 0 9\r\nuser pass\r\nget k\r\n"),
    ("fail-then-ok", b"set k 0 0 9\r\nuser pasS\r\nset k 0 0 9\r\nuser pass\r\n"),
    ("get-first", b"get foo\r\n"),
    ("quit-first", b"quit\r\n"),
    ("version-first", b"version\r\n"),
    ("add-then-block", b"add k 0 0 9\r\nuser pass\r\n"),
    ("upper-set", b"SET k 0 0 9\r\nuser pass\r\n"),
    ("four-tokens", b"set k 0 0\r\n"),
    ("size-not-number", b"set k 0 0 abc\r\n"),
    ("size-negative", b"set k 0 0 -1\r\n"),
    ("size-minus-zero", b"set k 0 0 -0\r\n\r\n"),
    ("size-plus", b"set k 0 0 +9\r\nuser pass\r\n"),
    ("size-trailing-junk", b"set k 0 0 9x\r\nuser pass\r\n"),
    ("size-leading-zero", b"set k 0 0 09\r\nuser pass\r\n"),
    ("size-2^32", b"set k 0 0 4294967296\r\n\r\n"),
    ("size-2^64", b"set k 0 0 18446744073709551616\r\n"),
    ("key-flags-ttl-ignored", b"set k x y 9\r\nuser pass\r\n"),
    ("extra-tokens-noreply", b"set k 0 0 9 noreply\r\nuser pass\r\n"),
    ("lf-only-command", b"set k 0 0 9\nuser pass\r\n"),
    ("leading-spaces-command", b"  set k 0 0 9\r\nuser pass\r\n"),
    ("tab-separated", b"set\tk 0 0 9\r\nuser pass\r\n"),
    ("nul-in-command", b"set k 0 0 9\x00junk\r\nuser pass\r\n"),
    ("empty-line-crlf", b"\r\n"),
    ("empty-line-lf", b"\n"),
    ("empty-lines-lf-lf", b"\n\n"),
    ("empty-lines-then-ok", b"\r\n\n\r\nset k 0 0 9\r\nuser pass\r\n"),
    ("spaces-line", b"     \r\n"),
    ("no-newline-2048", b"x" * 2048),
    ("no-newline-2049", b"x" * 2049),
    ("size-16384", b"set k 0 0 16384\r\nuser pass" + b"x" * (16384 - 9) + b"\r\n"),
    ("size-16385", b"set k 0 0 16385\r\n"),
    ("size-2^32-1", b"set k 0 0 4294967295\r\nuser pass\r\n"),
    ("size-huge-block", b"set k 0 0 100000\r\n" + b"x" * 100002),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(server, authfile, port):
    cmd = [server, "-p", str(port), "-l", "127.0.0.1", "-U", "0", "-Y", authfile]
    if os.geteuid() == 0:
        cmd += ["-u", "root"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"server exited: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.05)
    proc.kill()
    sys.exit("server did not listen within 10 s")


def probe(port, data, quiet):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(data)
    except OSError as e:
        return b"", f"send failed ({e.__class__.__name__})"
    s.settimeout(quiet)
    got = b""
    state = "open"
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            state = "reset"
            break
        if not chunk:
            state = "closed"
            break
        got += chunk
    s.close()
    return got, state


def show(data, limit=48):
    text = repr(bytes(data[:limit]))[2:-1].replace("|", "\\|")
    if len(data) > limit:
        text += f"… ({len(data)} bytes)"
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="/usr/bin/memcached")
    ap.add_argument("--quiet", type=float, default=0.4, help="seconds of silence that end a case")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        authfile = os.path.join(d, "authfile")
        with open(authfile, "wb") as f:
            f.write(AUTHFILE)
        port = free_port()
        proc = start(args.server, authfile, port)
        try:
            print(f"authfile: `{show(AUTHFILE, 200)}`\n")
            print("| case | sent | reply | connection |")
            print("|---|---|---|---|")
            for name, data in CASES:
                if proc.poll() is not None:
                    print(f"| {name} | `{show(data)}` | (server died) | |")
                    continue
                reply, state = probe(port, data, args.quiet)
                print(f"| {name} | `{show(data)}` | `{show(reply, 120)}` | {state} |")
            alive = "still running" if proc.poll() is None else f"exited {proc.returncode}"
            print(f"\nserver after all cases: {alive}")
        finally:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()

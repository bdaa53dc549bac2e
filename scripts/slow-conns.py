#!/usr/bin/env python3
"""Slow clients, for scripts/bench.sh: opens N connections to a server and
sends each one byte of a request every half second (never finishing it),
then prints the server's RSS growth per connection as JSON.

    python3 scripts/slow-conns.py --addr 127.0.0.1:11211 --pid PID -n 1000 --seconds 5
"""
import argparse
import json
import socket
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", required=True, help="HOST:PORT")
    ap.add_argument("--pid", type=int, required=True, help="the server's pid")
    ap.add_argument("-n", type=int, default=1000, help="connections")
    ap.add_argument("--seconds", type=float, default=5.0, help="how long to trickle")
    args = ap.parse_args()
    host, port = args.addr.rsplit(":", 1)
    rss0 = rss_kib(args.pid)
    # Longer than the run lasts, so no request ever completes.
    request = b"get " + b"k" * int(args.seconds * 2 + 10) + b"\r\n"
    conns = []
    for _ in range(args.n):
        s = socket.create_connection((host, int(port)), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(s)
    sent = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        for s in conns:
            s.send(request[sent:sent + 1])
        sent += 1
        time.sleep(0.5)
    rss1 = rss_kib(args.pid)
    for s in conns:
        s.close()
    print(json.dumps({
        "connections": len(conns),
        "bytes_sent_each": sent,
        "rss_before_kib": rss0,
        "rss_after_kib": rss1,
        "bytes_per_connection": (rss1 - rss0) * 1024 / len(conns),
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Measures what memcached answers to binary-protocol packets, good and bad.

Starts Debian's memcached (/usr/bin/memcached, 1.6.18) on free 127.0.0.1
ports, sends each case on a fresh connection and records exactly what comes
back: every response packet (status, opcode, extras, key, body, whether the
CAS is zero, the opaque) and what the connection does afterwards, found by
sending a NOOP behind the case:

  continue    the NOOP is answered: the case was consumed exactly
  close       the server closed the connection (after its replies, if any)
  waiting     nothing more comes back and the connection stays open: the
              server is still reading (or swallowing) bytes of the case
  desync +N   the case's own bytes were not all consumed, or more were
              eaten: the NOOP is answered only when N filler bytes are put
              between the case and the NOOP (N < 0: the server left -N bytes
              of the case unread and parsed them as the next packet)

The cases are the rows of docs/binary.md ("the bad-packet table" and the
opcode rows); src/protocol/binary/tests/table.rs follows them row by row.
Python 3.11 standard library only.

  scripts/binary-probe.py              # markdown table on stdout
  scripts/binary-probe.py --json       # the same rows as JSON
  scripts/binary-probe.py ROW...       # only the named rows
  scripts/binary-probe.py --seeds DIR  # no server: each row's bytes to
                                       # DIR/<row> (the fuzz seeds), with
                                       # 100-byte "too large" values
"""

import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

MEMCACHED = "/usr/bin/memcached"
REQ = 0x80
RES = 0x81
HEADER = struct.Struct(">BBHBBHIIQ")
OPAQUE = 0x0A0B0C0D
NOOP_OPAQUE = 0x4E4F4F50
QUIET = 0.25  # seconds of silence that end a read

OPCODES = {
    0x00: "GET", 0x01: "SET", 0x02: "ADD", 0x03: "REPLACE", 0x04: "DELETE",
    0x05: "INCREMENT", 0x06: "DECREMENT", 0x07: "QUIT", 0x08: "FLUSH",
    0x09: "GETQ", 0x0A: "NOOP", 0x0B: "VERSION", 0x0C: "GETK", 0x0D: "GETKQ",
    0x0E: "APPEND", 0x0F: "PREPEND", 0x10: "STAT", 0x11: "SETQ", 0x12: "ADDQ",
    0x13: "REPLACEQ", 0x14: "DELETEQ", 0x15: "INCREMENTQ", 0x16: "DECREMENTQ",
    0x17: "QUITQ", 0x18: "FLUSHQ", 0x19: "APPENDQ", 0x1A: "PREPENDQ",
    0x1B: "VERBOSITY", 0x1C: "TOUCH", 0x1D: "GAT", 0x1E: "GATQ",
    0x20: "SASL_LIST_MECHS", 0x21: "SASL_AUTH", 0x22: "SASL_STEP",
    0x23: "GATK", 0x24: "GATKQ",
}
OP = {name: code for code, name in OPCODES.items()}


def packet(opcode, key=b"", extras=b"", value=b"", cas=0, opaque=OPAQUE,
           magic=REQ, keylen=None, extlen=None, bodylen=None, datatype=0,
           vbucket=0):
    """One request packet; the length fields may be overridden to lie."""
    if isinstance(opcode, str):
        opcode = OP[opcode]
    keylen = len(key) if keylen is None else keylen
    extlen = len(extras) if extlen is None else extlen
    body = extras + key + value
    bodylen = len(body) if bodylen is None else bodylen
    header = HEADER.pack(magic, opcode, keylen, extlen, datatype, vbucket,
                         bodylen, opaque, cas)
    return header + body


class Raw(bytes):
    """Bytes of a case that are not a packet of their own (the rest of one)."""


def noop(opaque=NOOP_OPAQUE):
    return packet("NOOP", opaque=opaque)


def set_extras(flags=0, exptime=0):
    return struct.pack(">II", flags, exptime)


def incr_extras(delta=1, initial=0, exptime=0):
    return struct.pack(">QQI", delta, initial, exptime)


class Response:
    """One response packet."""

    def __init__(self, header, body):
        (self.magic, self.opcode, self.keylen, self.extlen, self.datatype,
         self.status, self.bodylen, self.opaque, self.cas) = header
        self.extras = body[:self.extlen]
        self.key = body[self.extlen:self.extlen + self.keylen]
        self.value = body[self.extlen + self.keylen:]

    def describe(self):
        name = OPCODES.get(self.opcode, f"0x{self.opcode:02x}")
        parts = [f"{name} status=0x{self.status:04x}"]
        if self.magic != RES:
            parts.append(f"magic=0x{self.magic:02x}")
        if self.extras:
            parts.append(f"extras={self.extras.hex()}")
        if self.key:
            parts.append(f"key={show(self.key)}")
        if self.value:
            if self.opcode in (OP["INCREMENT"], OP["DECREMENT"]) and \
                    self.status == 0 and len(self.value) == 8:
                parts.append(f"value=u64:{struct.unpack('>Q', self.value)[0]}")
            else:
                parts.append(f"value={show(self.value)}")
        parts.append("cas≠0" if self.cas else "cas=0")
        if self.opaque not in (OPAQUE, NOOP_OPAQUE):
            parts.append(f"opaque=0x{self.opaque:08x}")
        if self.datatype:
            parts.append(f"datatype={self.datatype}")
        return " ".join(parts)

    def as_json(self):
        return {
            "opcode": self.opcode, "status": self.status,
            "extras": self.extras.hex(), "key": self.key.decode("latin-1"),
            "value": self.value.decode("latin-1"), "cas_nonzero": self.cas != 0,
            "opaque": self.opaque,
        }


def show(b, limit=48):
    text = b[:limit].decode("latin-1")
    text = "".join(c if 32 <= ord(c) < 127 else f"\\x{ord(c):02x}" for c in text)
    text = text.replace("|", "\\|")
    return f'"{text}"' + (f"…({len(b)} bytes)" if len(b) > limit else "")


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed = False

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True

    def read(self, quiet=QUIET):
        """Reads response packets until `quiet` seconds pass without bytes,
        or the server closes."""
        packets = []
        self.sock.settimeout(quiet)
        while True:
            while len(self.buf) >= HEADER.size:
                header = HEADER.unpack(self.buf[:HEADER.size])
                total = HEADER.size + header[6]
                if len(self.buf) < total:
                    break
                packets.append(Response(header, self.buf[HEADER.size:total]))
                self.buf = self.buf[total:]
            if self.closed:
                return packets
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                return packets
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
            self.buf += data

    def close(self):
        self.sock.close()


class Server:
    def __init__(self, args, env=None):
        self.port = free_port()
        cmd = [MEMCACHED, "-u", "root", "-U", "0", "-l", "127.0.0.1",
               "-p", str(self.port)] + args
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port)).close()
                return
            except OSError:
                time.sleep(0.02)
        raise SystemExit(f"memcached {' '.join(args)} did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        if getattr(self, "tmpdir", None):
            shutil.rmtree(self.tmpdir, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- cases ----------------------------------------------------------------
#
# A case: (row, server, setup, steps, sync_search). `setup` packets are sent
# on a connection of their own first (their CAS values are kept, by key);
# `steps` is a list of byte strings, or of functions of those CAS values,
# sent in turn with a read after each. `sync_search` asks for the desync
# amount to be measured.

CASES = []


def case(row, steps, setup=(), server="default", sync=False, what=""):
    CASES.append(dict(row=row, steps=steps, setup=list(setup), server=server,
                      sync=sync, what=what))


def stored(key, value=b"v", flags=0):
    return packet("SET", key=key, extras=set_extras(flags), value=value)


HIT = [stored(b"k", b"hello", flags=0xCAFE)]
NUM = [stored(b"n", b"10")]
BIG = 1024 * 1024 + 1  # one byte over the default -I 1m


def define_cases(big=BIG):
    """Fills CASES; `big` is the size of a value over the limit."""
    # NOOP, VERSION, QUIT
    case("noop", [noop(opaque=OPAQUE)])
    case("noop-extras", [packet("NOOP", extras=b"\0\0\0\0")])
    case("noop-key", [packet("NOOP", key=b"k")])
    case("noop-body", [packet("NOOP", value=b"abc")])
    case("version", [packet("VERSION")])
    case("version-body", [packet("VERSION", value=b"x")])
    case("quit", [packet("QUIT")])
    case("quitq", [packet("QUITQ")])
    case("quit-body", [packet("QUIT", value=b"x")])
    # GET family
    case("get-hit", [packet("GET", key=b"k")], setup=HIT)
    case("get-miss", [packet("GET", key=b"k")])
    case("getk-hit", [packet("GETK", key=b"k")], setup=HIT)
    case("getk-miss", [packet("GETK", key=b"k")])
    case("getq-hit", [packet("GETQ", key=b"k")], setup=HIT)
    case("getq-miss", [packet("GETQ", key=b"k")])
    case("getkq-hit", [packet("GETKQ", key=b"k")], setup=HIT)
    case("getkq-miss", [packet("GETKQ", key=b"k")])
    case("get-key-250", [packet("GET", key=b"a" * 250)])
    case("get-key-251", [packet("GET", key=b"a" * 251)])
    case("get-no-key", [packet("GET")])
    case("get-extras", [packet("GET", key=b"k", extras=b"\0\0\0\0")])
    case("get-body", [packet("GET", key=b"k", value=b"abc")])
    case("get-datatype", [packet("GET", key=b"k", datatype=1, vbucket=7)],
         setup=HIT)
    case("get-binary-key", [packet("GET", key=b"a b\r\n\0")],
         setup=[stored(b"a b\r\n\0", b"x")])
    # GAT family and TOUCH
    gat = struct.pack(">I", 100)
    case("gat-hit", [packet("GAT", key=b"k", extras=gat)], setup=HIT)
    case("gat-miss", [packet("GAT", key=b"k", extras=gat)])
    case("gatk-hit", [packet("GATK", key=b"k", extras=gat)], setup=HIT)
    case("gatk-miss", [packet("GATK", key=b"k", extras=gat)])
    case("gatq-hit", [packet("GATQ", key=b"k", extras=gat)], setup=HIT)
    case("gatq-miss", [packet("GATQ", key=b"k", extras=gat)])
    case("gatkq-hit", [packet("GATKQ", key=b"k", extras=gat)], setup=HIT)
    case("gatkq-miss", [packet("GATKQ", key=b"k", extras=gat)])
    case("gat-no-extras", [packet("GAT", key=b"k")], setup=HIT)
    case("gat-no-key", [packet("GAT", extras=gat)])
    case("gat-body", [packet("GAT", key=b"k", extras=gat, value=b"abc")],
         setup=HIT, sync=True)
    case("touch-hit", [packet("TOUCH", key=b"k", extras=gat)], setup=HIT)
    case("touch-miss", [packet("TOUCH", key=b"k", extras=gat)])
    case("touch-no-extras", [packet("TOUCH", key=b"k")], setup=HIT)
    case("touch-extras-8", [packet("TOUCH", key=b"k", extras=gat + gat)],
         setup=HIT)
    case("touch-body", [packet("TOUCH", key=b"k", extras=gat, value=b"abc")],
         setup=HIT, sync=True)
    # SET, ADD, REPLACE
    ex = set_extras(5, 0)
    for op in ("SET", "ADD", "REPLACE"):
        low = op.lower()
        case(f"{low}-missing", [packet(op, key=b"k", extras=ex, value=b"v")])
        case(f"{low}-present", [packet(op, key=b"k", extras=ex, value=b"v")],
             setup=HIT)
        case(f"{low}q-missing", [packet(op + "Q", key=b"k", extras=ex,
                                        value=b"v")])
        case(f"{low}q-present", [packet(op + "Q", key=b"k", extras=ex,
                                        value=b"v")], setup=HIT)
        case(f"{low}-cas-match",
             [lambda cas, op=op: packet(op, key=b"k", extras=ex, value=b"v",
                                        cas=cas[b"k"])], setup=HIT)
        case(f"{low}-cas-mismatch",
             [packet(op, key=b"k", extras=ex, value=b"v", cas=12345)],
             setup=HIT)
        case(f"{low}-cas-missing",
             [packet(op, key=b"k", extras=ex, value=b"v", cas=12345)])
    case("set-then-get", [packet("SET", key=b"k", extras=set_extras(7, 0),
                                 value=b"abc"),
                          packet("GETK", key=b"k")])
    case("set-empty-value", [packet("SET", key=b"k", extras=ex)])
    case("set-exptime-max", [packet("SET", key=b"k",
                                    extras=set_extras(0, 0xFFFFFFFF),
                                    value=b"v"),
                             packet("GET", key=b"k")])
    case("set-no-extras", [packet("SET", key=b"k", value=b"v")])
    case("set-extras-4", [packet("SET", key=b"k", extras=b"\0\0\0\0",
                                 value=b"v")])
    case("set-no-key", [packet("SET", extras=ex, value=b"v")])
    case("set-key-251", [packet("SET", key=b"a" * 251, extras=ex, value=b"v")])
    case("set-too-large", [packet("SET", key=b"k", extras=ex,
                                  value=b"x" * big),
                           packet("GET", key=b"k")], setup=HIT)
    case("setq-too-large", [packet("SETQ", key=b"k", extras=ex,
                                   value=b"x" * big)])
    case("add-too-large", [packet("ADD", key=b"k", extras=ex,
                                  value=b"x" * big),
                           packet("GET", key=b"k")], setup=HIT)
    # The value of a too-large SET sent after the reply: memcached answers
    # once the key is in, then swallows the value as it comes.
    big_header = packet("SET", key=b"k", extras=ex, bodylen=9 + big)
    case("set-too-large-split", [big_header, Raw(b"x" * big)])
    # APPEND, PREPEND
    for op in ("APPEND", "PREPEND"):
        low = op.lower()
        case(f"{low}-missing", [packet(op, key=b"k", value=b"v")])
        case(f"{low}-present", [packet(op, key=b"k", value=b"++"),
                                packet("GET", key=b"k")], setup=HIT)
        case(f"{low}q-missing", [packet(op + "Q", key=b"k", value=b"v")])
        case(f"{low}q-present", [packet(op + "Q", key=b"k", value=b"v")],
             setup=HIT)
        case(f"{low}-cas-match",
             [lambda cas, op=op: packet(op, key=b"k", value=b"v",
                                        cas=cas[b"k"])], setup=HIT)
        case(f"{low}-cas-mismatch",
             [packet(op, key=b"k", value=b"v", cas=12345)], setup=HIT)
        case(f"{low}-extras", [packet(op, key=b"k", extras=ex, value=b"v")],
             setup=HIT)
        case(f"{low}-no-key", [packet(op, value=b"v")])
        case(f"{low}-empty-value", [packet(op, key=b"k")], setup=HIT)
        case(f"{low}-too-large", [packet(op, key=b"k", value=b"x" * big)],
             setup=HIT)
    # A value that fits alone but not once appended to the item's.
    nearly = [stored(b"k", b"x" * (1024 * 1024 - 200))]
    case("append-combined-too-large", [packet("APPEND", key=b"k",
                                              value=b"y" * 400)],
         setup=nearly)
    # Out of memory, with -M: the setup fills the cache with 100 KB values.
    full = [packet("SETQ", key=b"f%d" % i, extras=ex, value=b"x" * 100000)
            for i in range(30)] + [stored(b"k", b"x" * 100000)]
    case("set-no-memory", [packet("SET", key=b"z", extras=ex,
                                  value=b"x" * 100000)],
         setup=full, server="no-evict")
    case("append-no-memory", [packet("APPEND", key=b"k", value=b"y" * 10)],
         setup=full, server="no-evict")
    # DELETE
    case("delete-hit", [packet("DELETE", key=b"k")], setup=HIT)
    case("delete-miss", [packet("DELETE", key=b"k")])
    case("deleteq-hit", [packet("DELETEQ", key=b"k")], setup=HIT)
    case("deleteq-miss", [packet("DELETEQ", key=b"k")])
    case("delete-cas-match",
         [lambda cas: packet("DELETE", key=b"k", cas=cas[b"k"])], setup=HIT)
    case("delete-cas-mismatch", [packet("DELETE", key=b"k", cas=12345)],
         setup=HIT)
    case("delete-extras", [packet("DELETE", key=b"k", extras=b"\0\0\0\0")],
         setup=HIT)
    case("delete-body", [packet("DELETE", key=b"k", value=b"x")], setup=HIT)
    case("delete-no-key", [packet("DELETE")])
    # INCREMENT, DECREMENT
    case("incr-hit", [packet("INCREMENT", key=b"n",
                             extras=incr_extras(5, 0, 0))], setup=NUM)
    case("decr-hit", [packet("DECREMENT", key=b"n",
                             extras=incr_extras(3, 0, 0))], setup=NUM)
    case("decr-below-zero", [packet("DECREMENT", key=b"n",
                                    extras=incr_extras(11, 0, 0))], setup=NUM)
    case("incr-wraps", [packet("INCREMENT", key=b"n",
                               extras=incr_extras(2**64 - 1, 0, 0))],
         setup=NUM)
    case("incr-miss-no-create", [packet("INCREMENT", key=b"n",
                                        extras=incr_extras(1, 7, 0xFFFFFFFF))])
    case("incr-miss-create", [packet("INCREMENT", key=b"n",
                                     extras=incr_extras(1, 7, 0)),
                              packet("GET", key=b"n")])
    case("decr-miss-create", [packet("DECREMENT", key=b"n",
                                     extras=incr_extras(1, 7, 100))])
    case("incr-miss-create-exptime-fffffffe",
         [packet("INCREMENT", key=b"n", extras=incr_extras(1, 7, 0xFFFFFFFE))])
    case("incr-non-numeric", [packet("INCREMENT", key=b"k",
                                     extras=incr_extras(1, 0, 0))], setup=HIT)
    case("incr-cas-match",
         [lambda cas: packet("INCREMENT", key=b"n", extras=incr_extras(1),
                             cas=cas[b"n"])], setup=NUM)
    case("incr-cas-mismatch", [packet("INCREMENT", key=b"n",
                                      extras=incr_extras(1), cas=12345)],
         setup=NUM)
    case("incr-cas-missing-create",
         [packet("INCREMENT", key=b"n", extras=incr_extras(1, 7, 0),
                 cas=12345)])
    case("incrq-hit", [packet("INCREMENTQ", key=b"n",
                              extras=incr_extras(1))], setup=NUM)
    case("incrq-miss", [packet("INCREMENTQ", key=b"n",
                               extras=incr_extras(1, 0, 0xFFFFFFFF))])
    case("decrq-non-numeric", [packet("DECREMENTQ", key=b"k",
                                      extras=incr_extras(1))], setup=HIT)
    case("incr-no-extras", [packet("INCREMENT", key=b"n")], setup=NUM)
    case("incr-extras-8", [packet("INCREMENT", key=b"n", extras=ex)],
         setup=NUM)
    case("incr-no-key", [packet("INCREMENT", extras=incr_extras(1))])
    case("incr-body", [packet("INCREMENT", key=b"n", extras=incr_extras(1),
                              value=b"x")], setup=NUM)
    # FLUSH
    case("flush", [packet("FLUSH"), packet("GET", key=b"k")], setup=HIT)
    case("flushq", [packet("FLUSHQ"), packet("GET", key=b"k")], setup=HIT)
    # (A delay of a second or two races memcached's one-second clock.)
    case("flush-delay", [packet("FLUSH", extras=struct.pack(">I", 10)),
                         packet("GET", key=b"k")], setup=HIT)
    case("flush-extras-8", [packet("FLUSH", extras=ex)])
    case("flush-key", [packet("FLUSH", key=b"k")])
    case("flush-body", [packet("FLUSH", value=b"x")])
    case("flush-disabled", [packet("FLUSH")], server="no-flush")
    case("flushq-disabled", [packet("FLUSHQ")], server="no-flush")
    # STAT
    for group in (b"", b"settings", b"items", b"slabs", b"sizes", b"conns",
                  b"reset", b"detail on", b"detail off", b"detail dump",
                  b"detail", b"detail bogus", b"bogus", b"resetfoo",
                  b"settingsfoo", b"items ", b"Items", b"sizes_enable",
                  b"sizes_disable", b"extstore", b"detail dumpster",
                  b"cachedump 1 1"):
        name = group.decode().replace(" ", "-") or "general"
        steps = [packet("STAT", key=group)]
        if group == b"detail dump":
            steps = [packet("STAT", key=b"detail on"),
                     packet("GET", key=b"a:x"), packet("STAT", key=group),
                     packet("STAT", key=b"detail off")]
        case(f"stat-{name}", steps)
    case("stat-extras", [packet("STAT", extras=b"\0\0\0\0")])
    case("stat-body", [packet("STAT", key=b"items", value=b"abc")], sync=True)
    # VERBOSITY and other opcodes memcached does not implement
    case("verbosity", [packet("VERBOSITY", extras=struct.pack(">I", 1))],
         sync=True)
    case("verbosity-no-extras", [packet("VERBOSITY")])
    for code in (0x1F, 0x25, 0x30, 0x3D, 0x60, 0x64, 0xFF):
        case(f"unknown-0x{code:02x}", [packet(code)])
    case("unknown-key-extras", [packet(0x50, key=b"key", extras=b"\0" * 4,
                                       value=b"val")], sync=True)
    case("unknown-body", [packet(0x50, value=b"abcdef")])
    case("unknown-key-251", [packet(0x50, key=b"a" * 251)])
    # Header and length rules
    case("bad-magic-after-noop", [noop(), packet("NOOP", magic=0x81)])
    case("bad-magic-zero-after-noop", [noop(), packet("NOOP", magic=0x00)])
    case("keylen-over-bodylen", [packet("GET", key=b"abc", bodylen=2)])
    case("keylen-extlen-over-bodylen",
         [packet("SET", key=b"k", extras=ex, bodylen=8)])
    case("keylen-over-bodylen-unknown", [packet(0x50, key=b"abc", bodylen=2)])
    case("keylen-over-bodylen-waits",
         [packet("GET", keylen=10, bodylen=5), Raw(b"0123456789")])
    get = packet("GET", key=b"k")
    case("header-split", [Raw(get[:20]), Raw(get[20:24]), Raw(get[24:])])
    case("bodylen-max-set",
         [packet("SET", key=b"k", extras=ex, bodylen=0xFFFFFFFF)], sync=True)
    case("bodylen-int-max-set",
         [packet("SET", key=b"k", extras=ex, bodylen=0x7FFFFFFF)])
    case("bodylen-over-1g-set",
         [packet("SET", key=b"k", extras=ex, bodylen=(1 << 30) + 10)])
    case("bodylen-max-append",
         [packet("APPEND", key=b"k", bodylen=0xFFFFFFFF)])
    case("bodylen-max-get", [packet("GET", key=b"k", bodylen=0xFFFFFFFF)])
    case("bodylen-max-unknown", [packet(0x50, bodylen=0xFFFFFFFF)])
    case("bodylen-max-sasl-auth",
         [packet("SASL_AUTH", key=b"PLAIN", bodylen=0xFFFFFFFF)], sync=True)
    case("extlen-255", [packet("GET", key=b"k", extras=b"\0" * 255)])
    # SASL opcodes on a server without -S
    plain = b"\0user\0pass"
    case("sasl-list-mechs-off", [packet("SASL_LIST_MECHS")])
    case("sasl-list-mechs-body-off", [packet("SASL_LIST_MECHS", value=b"x")])
    case("sasl-auth-off", [packet("SASL_AUTH", key=b"PLAIN", value=plain)])
    case("sasl-step-off", [packet("SASL_STEP", key=b"PLAIN", value=plain)])
    case("sasl-auth-no-key-off", [packet("SASL_AUTH", value=plain)])
    case("sasl-auth-extras-off", [packet("SASL_AUTH", key=b"PLAIN",
                                         extras=b"\0\0\0\0", value=plain)])
    # SASL opcodes, and commands before authentication, with -S
    case("sasl-list-mechs", [packet("SASL_LIST_MECHS")], server="sasl")
    case("sasl-auth-ok", [packet("SASL_AUTH", key=b"PLAIN", value=plain),
                          packet("GET", key=b"k")], server="sasl")
    case("sasl-auth-no-data", [packet("SASL_AUTH", key=b"PLAIN")],
         server="sasl")
    case("sasl-auth-bad", [packet("SASL_AUTH", key=b"PLAIN",
                                  value=b"\0user\0nope")], server="sasl")
    case("sasl-auth-bad-mech", [packet("SASL_AUTH", key=b"NOPE",
                                       value=plain)], server="sasl")
    case("sasl-auth-mech-33", [packet("SASL_AUTH", key=b"A" * 33,
                                      value=plain)], server="sasl")
    case("sasl-auth-too-large", [packet("SASL_AUTH", key=b"PLAIN",
                                        value=b"x" * big)], server="sasl")
    case("sasl-step-not-started", [packet("SASL_STEP", key=b"PLAIN",
                                          value=plain)], server="sasl")
    case("sasl-unauth-get", [packet("GET", key=b"k")], server="sasl")
    case("sasl-unauth-noop", [noop(opaque=OPAQUE)], server="sasl")
    case("sasl-unauth-version", [packet("VERSION")], server="sasl")
    case("sasl-unauth-quit", [packet("QUIT")], server="sasl")
    case("sasl-unauth-unknown", [packet(0x50)], server="sasl")
    case("sasl-unauth-key-251", [packet("GET", key=b"a" * 251)],
         server="sasl")
    case("sasl-unauth-keylen-over-bodylen",
         [packet("GET", key=b"abc", bodylen=2)], server="sasl")
    case("sasl-unauth-bad-layout", [packet("GET")], server="sasl")


# --- running ----------------------------------------------------------------

SERVERS = {
    "default": [],
    "no-flush": ["-F"],
    "no-evict": ["-M", "-m", "2", "-I", "512k"],
    "sasl": ["-S"],
}


def start_servers(needed):
    """The servers the cases need, by name; the SASL one's configuration
    lives in a temporary directory, removed when it stops."""
    servers = {}
    saslconf = None
    for name in needed:
        env = None
        if name == "sasl":
            saslconf = tempfile.mkdtemp(prefix="binary-probe-sasl-")
            # Debian's memcached is built without --enable-sasl-pwdb: the
            # password goes in a sasldb (saslpasswd2, from sasl2-bin).
            sasldb = os.path.join(saslconf, "sasldb2")
            with open(os.path.join(saslconf, "memcached.conf"), "w") as f:
                f.write(f"mech_list: plain\nsasldb_path: {sasldb}\n")
            try:
                subprocess.run(["saslpasswd2", "-p", "-c", "-f", sasldb,
                                "-a", "memcached", "user"], input=b"pass",
                               check=True)
            except (OSError, subprocess.CalledProcessError) as e:
                print(f"saslpasswd2 failed ({e}): the sasl-auth-ok row will "
                      "show a failure", file=sys.stderr)
            env = dict(os.environ, SASL_CONF_PATH=saslconf)
        servers[name] = Server(SERVERS[name], env)
        servers[name].tmpdir = saslconf if name == "sasl" else None
    return servers


def authenticate(conn):
    conn.send(packet("SASL_AUTH", key=b"PLAIN", value=b"\0user\0pass"))
    conn.read()


def run_setup(server, name, setup):
    """Flushes the server and runs the setup packets; returns CAS by key."""
    conn = Conn(server.port)
    if name == "sasl":
        authenticate(conn)
    cas = {}
    # FLUSH is refused under -F: delete the keys the cases use instead.
    for key in (b"k", b"n", b"a:x", b"a b\r\n\0"):
        conn.send(packet("DELETEQ", key=key))
    if name != "no-flush":
        conn.send(packet("FLUSHQ"))
    if name == "no-evict":
        # Flushed items are reclaimed as allocations need them: delete them.
        for i in range(30):
            conn.send(packet("DELETEQ", key=b"f%d" % i))
    for p in setup:
        conn.send(p)
    conn.send(noop())
    conn.read(quiet=0.1)
    conn.close()
    # The CAS of each key, read back with GETK.
    conn = Conn(server.port)
    if name == "sasl":
        authenticate(conn)
    for key in (b"k", b"n"):
        conn.send(packet("GETK", key=key))
    for r in conn.read(quiet=0.1):
        if r.status == 0:
            cas[r.key] = r.cas
    conn.close()
    return cas


def after(conn):
    """What the connection does once the case is sent: continue, close or
    waiting (see the module docs)."""
    if conn.closed:
        return "close", []
    conn.send(noop())
    replies = conn.read()
    noops = [r for r in replies if r.opaque == NOOP_OPAQUE]
    others = [r for r in replies if r.opaque != NOOP_OPAQUE]
    if noops:
        return "continue", others
    if conn.closed:
        return "close", others
    return "waiting", others


def sync_search(server, name, c, cas):
    """The filler bytes needed between the case and a NOOP for the NOOP to
    be answered: 0 means in sync; negative means the case left bytes unread
    (then it is replayed without its last -N bytes)."""
    whole = b"".join(s(cas) if callable(s) else s for s in c["steps"])
    for shift in list(range(0, 33)) + list(range(-1, -min(33, len(whole)), -1)):
        run_setup(server, name, c["setup"])
        conn = Conn(server.port)
        data = whole[:shift] if shift < 0 else whole + b"\0" * shift
        conn.send(data + noop())
        replies = conn.read(quiet=0.1)
        ok = any(r.opaque == NOOP_OPAQUE and r.opcode == OP["NOOP"]
                 for r in replies) and not conn.closed
        conn.close()
        if ok:
            return shift
    return None


def run_case(servers, c):
    server = servers[c["server"]]
    cas = run_setup(server, c["server"], c["setup"])
    conn = Conn(server.port)
    steps = []
    for step in c["steps"]:
        data = step(cas) if callable(step) else step
        conn.send(data)
        steps.append(conn.read(quiet=1.0 if len(data) > 65536 else QUIET))
        if conn.closed:
            break
    then, late = after(conn)
    if late:
        steps.append(late)
    conn.close()
    if c["sync"]:
        shift = sync_search(server, c["server"], c, cas)
        if shift is None:
            then = f"{then} (no filler of -32..32 bytes resyncs)"
        elif shift != 0:
            then = f"desync {shift:+d}"
    return dict(row=c["row"], server=c["server"], steps=steps, then=then)


def request_text(c):
    parts = []
    for step in c["steps"]:
        if callable(step):
            parts.append("(as below, with the item's CAS)")
            continue
        parts.append(describe_request(step))
    text = "; ".join(parts)
    if c["setup"]:
        text = "[item present] " + text
    return text


def describe_request(data):
    if isinstance(data, Raw) or len(data) < HEADER.size:
        return f"{len(data)} more bytes"
    (magic, opcode, keylen, extlen, datatype, vbucket, bodylen, _opaque,
     cas) = HEADER.unpack(data[:HEADER.size])
    name = OPCODES.get(opcode, f"0x{opcode:02x}")
    parts = [name]
    if magic != REQ:
        parts.append(f"magic=0x{magic:02x}")
    body = data[HEADER.size:]
    fields = f"ext={extlen} key={keylen} body={bodylen}"
    if len(body) != bodylen:
        fields += f" (sent {len(body)})"
    parts.append(fields)
    if keylen and len(body) >= extlen + keylen and keylen <= 16:
        parts.append(f"key={show(body[extlen:extlen + keylen])}")
    if cas:
        parts.append("cas≠0")
    if datatype or vbucket:
        parts.append(f"datatype={datatype} vbucket={vbucket}")
    return " ".join(parts)


def summarise(replies):
    """One cell: each packet described; a long run of stat packets is cut."""
    stats = [r for r in replies if r.opcode == OP["STAT"] and r.status == 0]
    if len(stats) > 3:
        first, last = stats[0], stats[-1]
        rest = [r for r in replies if r not in stats]
        text = (f"{len(stats)} STAT packets: {first.describe()} … "
                f"{last.describe()}")
        if rest:
            text += "; " + "; ".join(r.describe() for r in rest)
        return text
    return "; ".join(r.describe() for r in replies) or "(nothing)"


def write_seeds(directory, rows):
    """Each row's bytes (CAS values 1) to a file named after the row."""
    define_cases(big=100)
    os.makedirs(directory, exist_ok=True)
    seen = set()
    for c in CASES:
        if rows and c["row"] not in rows:
            continue
        data = b"".join(s({b"k": 1, b"n": 1}) if callable(s) else s
                        for s in c["steps"])
        if data in seen or len(data) > 4096:
            continue  # (rows about the server's state, with big values)
        seen.add(data)
        with open(os.path.join(directory, c["row"]), "wb") as f:
            f.write(data)
    print(f"{len(seen)} seeds in {directory}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rows", nargs="*")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seeds", metavar="DIR")
    args = parser.parse_args()
    if args.seeds:
        write_seeds(args.seeds, args.rows)
        return
    define_cases()
    cases = [c for c in CASES if not args.rows or c["row"] in args.rows]
    servers = start_servers(sorted({c["server"] for c in cases}))
    version = subprocess.run([MEMCACHED, "-V"], capture_output=True,
                             text=True).stdout.strip()
    results = []
    try:
        for c in cases:
            r = run_case(servers, c)
            r["request"] = request_text(c)
            results.append(r)
            print(f"{c['row']}: {r['then']}", file=sys.stderr)
    finally:
        for s in servers.values():
            s.stop()
    if args.json:
        out = [dict(row=r["row"], server=r["server"], request=r["request"],
                    then=r["then"],
                    replies=[[p.as_json() for p in step]
                             for step in r["steps"]])
               for r in results]
        json.dump(dict(memcached=version, rows=out), sys.stdout, indent=1)
        print()
        return
    print(f"Measured with {version} ({os.path.basename(sys.argv[0])}).\n")
    print("| row | server | request | memcached's replies | then |")
    print("|---|---|---|---|---|")
    for r in results:
        replies = " / ".join(summarise(step) for step in r["steps"])
        print(f"| {r['row']} | {r['server']} | {r['request']} | {replies} "
              f"| {r['then']} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Side-by-side memory benchmark: ferrocache vs Debian's memcached.

Python 3.11 standard library only. Runs each server in turn (never two at
once), loads it over a few pipelined sockets (`set ... noreply` batches fenced
by `version`), and measures VmRSS/VmHWM from /proc/PID/status plus the
server's own `stats` (and `stats slabs` for total_malloced when present).

Runs (all by default, pick with --runs):
  footprint  N items (key 20 B; values 100 and 10 B) into -m 1024: RSS per
             resident item, overhead per item beyond key+value.
  capacity   -m 256: load distinct keys until evictions > 0, then 20% more;
             resident items (curr_items and a 2000-key get sample).
  churn      -m 64: write 3x the limit, first half values 100..300 B, second
             half 1000..3000 B; peak RSS (sampled every 0.2 s, and VmHWM)
             against 1.05 x m + 16 MiB; hit ratio of 50,000 gets over the
             most recently written keys.

Usage:
  scripts/bench-memory.py                   # everything, writes docs/benchmarks-memory.md
  scripts/bench-memory.py --quick           # smoke run (< 60 s), writes no doc unless --doc
  scripts/bench-memory.py --runs churn --no-build
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import hashlib
import os
import random
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1024 * 1024
NSOCK = 4                 # load sockets per server
BATCH_CMDS = 1000         # commands per write
BATCH_BYTES = 512 * 1024  # ...or fewer when values are large
GET_BATCH = 100           # keys per multi-get
SOCK_TIMEOUT = 30.0

# --------------------------------------------------------------------------
# process bookkeeping: every server we start is killed, whatever happens


_LIVE: set[subprocess.Popen] = set()


def _kill_all() -> None:
    for p in list(_LIVE):
        _kill(p)


def _kill(p: subprocess.Popen) -> None:
    if p.poll() is None:
        try:
            p.kill()
        except OSError:
            pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    _LIVE.discard(p)


def _on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


atexit.register(_kill_all)
signal.signal(signal.SIGTERM, _on_signal)


class BenchError(Exception):
    pass


class BenchTimeout(BenchError):
    pass


# --------------------------------------------------------------------------
# /proc


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0]) * 1024
    return out


class RssSampler(threading.Thread):
    """Samples VmRSS every `period` seconds and keeps the peak."""

    def __init__(self, pid: int, period: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.peak = 0
        self.samples = 0
        self._stop_ev = threading.Event()

    def run(self):
        while not self._stop_ev.is_set():
            self.sample()
            self._stop_ev.wait(self.period)

    def sample(self) -> int:
        try:
            rss = proc_status(self.pid)["VmRSS"]
        except (OSError, KeyError):
            return 0
        self.samples += 1
        self.peak = max(self.peak, rss)
        return rss

    def reset(self):
        self.peak = 0

    def stop(self):
        self._stop_ev.set()
        self.join(timeout=2)


# --------------------------------------------------------------------------
# servers


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int
    stderr_path: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self):
        if self.proc.poll() is not None:
            tail = ""
            try:
                with open(self.stderr_path, errors="replace") as f:
                    tail = f.read()[-2000:]
            except OSError:
                pass
            raise BenchError(f"{self.name} exited with status {self.proc.returncode}: {tail.strip()}")

    def stop(self):
        _kill(self.proc)
        try:
            os.unlink(self.stderr_path)
        except OSError:
            pass


def _stderr_file(name: str) -> tuple[int, str]:
    path = f"/tmp/bench-memory-{os.getpid()}-{name}-{time.monotonic_ns()}.err"
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), path


def _spawn(name: str, cmd: list, stdout) -> tuple:
    """Starts a server process with stderr in a temp file; tracked for cleanup."""
    fd, errpath = _stderr_file(name)
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=fd)
    except OSError:
        os.unlink(errpath)
        raise
    finally:
        os.close(fd)
    _LIVE.add(p)
    return p, errpath


def start_ferrocache(binary: str, mem_mb: int, threads: int) -> Server:
    cmd = [binary, "-p", "0", "-l", "127.0.0.1", "-t", str(threads), "-m", str(mem_mb)]
    if os.geteuid() == 0:
        cmd += ["-u", "root"]  # like memcached, ferrocache refuses root without -u
    p, errpath = _spawn("ferrocache", cmd, subprocess.PIPE)
    srv = Server("ferrocache", p, 0, errpath)
    try:
        deadline = time.monotonic() + 15
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError("ferrocache did not announce its port within 15 s")
            r, _, _ = select.select([p.stdout], [], [], left)
            if r:
                ch = os.read(p.stdout.fileno(), 1)
                if not ch:
                    srv.check_alive()
                    raise BenchError("ferrocache closed stdout before announcing its port")
                line += ch
        m = re.match(rb"ferrocache listening on 127\.0\.0\.1:(\d+)", line.strip())
        if not m:
            raise BenchError(f"unexpected ferrocache start-up line {line!r}")
        srv.port = int(m.group(1))
        # keep draining stdout so the server can never block on a full pipe
        threading.Thread(target=lambda: [None for _ in iter(lambda: p.stdout.read(65536), b"")],
                         daemon=True).start()
        return srv
    except BaseException:
        srv.stop()
        raise


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_memcached(binary: str, mem_mb: int, threads: int) -> Server:
    for _attempt in range(10):
        port = _free_port()
        cmd = [binary, "-p", str(port), "-U", "0", "-l", "127.0.0.1",
               "-t", str(threads), "-m", str(mem_mb)]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        p, errpath = _spawn("memcached", cmd, subprocess.DEVNULL)
        srv = Server("memcached", p, port, errpath)
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline and p.poll() is None:
                try:
                    c = Conn(port, timeout=2)
                except OSError:
                    time.sleep(0.02)
                    continue
                try:
                    st = c.stats()
                finally:
                    c.close()
                if int(st.get("pid", -1)) == p.pid:
                    return srv
                break  # someone else's server on that port: try another
        except BaseException:
            srv.stop()
            raise
        srv.stop()
    raise BenchError("could not start memcached (port races?)")


# --------------------------------------------------------------------------
# protocol


class Conn:
    def __init__(self, port: int, timeout: float = SOCK_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        data = self.sock.recv(262144)
        if not data:
            raise BenchError("server closed the connection")
        if self.pos > 65536:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data

    def readline(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def skip(self, n: int):
        while len(self.buf) - self.pos < n:
            self._fill()
        self.pos += n

    def send(self, data: bytes):
        self.sock.sendall(data)

    def read_fence(self, errors: list) -> None:
        """Reads up to and including the VERSION line; other lines are errors."""
        while True:
            line = self.readline()
            if line.startswith(b"VERSION"):
                return
            errors.append(line)

    def fence(self):
        self.send(b"version\r\n")
        errs: list = []
        self.read_fence(errs)
        if errs:
            raise BenchError(f"unexpected replies before VERSION: {errs[:3]}")

    def _listing(self, cmd: bytes) -> dict[str, str]:
        self.send(cmd)
        out = {}
        while True:
            line = self.readline()
            if line == b"END":
                return out
            if line.startswith(b"STAT "):
                parts = line.decode(errors="replace").split(" ", 2)
                if len(parts) == 3:
                    out[parts[1]] = parts[2]
            elif line.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")):
                return out

    def stats(self) -> dict[str, str]:
        return self._listing(b"stats\r\n")

    def stats_slabs(self) -> dict[str, str]:
        return self._listing(b"stats slabs\r\n")

    def multiget_hits(self, keys: list[bytes]) -> int:
        self.send(b"get " + b" ".join(keys) + b"\r\n")
        hits = 0
        while True:
            line = self.readline()
            if line == b"END":
                return hits
            if line.startswith(b"VALUE "):
                hits += 1
                self.skip(int(line.rsplit(b" ", 1)[1]) + 2)
            else:
                raise BenchError(f"unexpected get reply {line[:200]!r}")


# --------------------------------------------------------------------------
# load generation

_VAL = bytes((0x61 + (i * 7 + i // 26) % 26) for i in range(4096))  # printable filler


class Keys:
    """key:%0Nd padded to the requested key length (20 B -> key:%016d)."""

    def __init__(self, keylen: int):
        digits = keylen - 4
        if digits < 8:
            raise SystemExit("key length must be at least 12")
        self.keylen = keylen
        self.digits = digits
        self.fmt = b"key:%0" + str(digits).encode() + b"d"
        self.set_fmt = b"set " + self.fmt + b" 0 0 %d noreply\r\n%b\r\n"

    def key(self, i: int) -> bytes:
        return self.fmt % i


@dataclass
class Loader:
    """A few sockets to one server; loads id ranges over all of them."""

    srv: Server
    keys: Keys
    deadline: float
    conns: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    rss_guard: int = 0  # abort if VmRSS exceeds this many bytes (0 = off)

    def __post_init__(self):
        self.conns = [Conn(self.srv.port) for _ in range(NSOCK)]
        for c in self.conns:
            c.fence()

    def close(self):
        for c in self.conns:
            c.close()

    def check(self):
        if time.monotonic() > self.deadline:
            raise BenchTimeout(f"{self.srv.name}: time limit reached")
        self.srv.check_alive()
        if self.rss_guard:
            rss = proc_status(self.srv.pid)["VmRSS"]
            if rss > self.rss_guard:
                raise BenchError(f"{self.srv.name}: RSS {rss / MIB:.0f} MiB over the safety guard "
                                 f"{self.rss_guard / MIB:.0f} MiB; aborted")

    def load(self, start: int, end: int, size: int | None = None, sizes: list | None = None):
        """set ids [start, end) noreply; value length `size` or sizes[i]."""
        if end <= start:
            return
        avg = size if size is not None else max(1, sum(sizes[start:end]) // (end - start))
        per = max(1, min(BATCH_CMDS, BATCH_BYTES // (avg + self.keys.keylen + 32)))
        bounds = list(range(start, end, per)) + [end]
        batches = list(zip(bounds[:-1], bounds[1:]))
        fail: list = []
        threads = [threading.Thread(target=self._worker, args=(c, batches[i::len(self.conns)], size, sizes, fail))
                   for i, c in enumerate(self.conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if fail:
            raise fail[0]

    def _worker(self, conn: Conn, batches, size, sizes, fail: list):
        fmt = self.keys.set_fmt
        val = _VAL
        pending = 0
        try:
            for n, (s, e) in enumerate(batches):
                if fail:
                    return
                if n % 16 == 0 and time.monotonic() > self.deadline:
                    raise BenchTimeout(f"{self.srv.name}: time limit reached while loading")
                if size is not None:
                    v = val[:size]
                    payload = b"".join([fmt % (i, size, v) for i in range(s, e)])
                else:
                    payload = b"".join([fmt % (i, sizes[i], val[:sizes[i]]) for i in range(s, e)])
                conn.send(payload + b"version\r\n")
                pending += 1
                if pending >= 2:  # keep one batch in flight while the next is built
                    conn.read_fence(self.errors)
                    pending -= 1
            while pending:
                conn.read_fence(self.errors)
                pending -= 1
        except BaseException as exc:  # noqa: BLE001 - reported by load()
            fail.append(exc)

    def stats(self) -> dict[str, str]:
        return self.conns[0].stats()

    def hit_count(self, ids: list[int]) -> int:
        c = self.conns[0]
        hits = 0
        for i in range(0, len(ids), GET_BATCH):
            hits += c.multiget_hits([self.keys.key(k) for k in ids[i:i + GET_BATCH]])
        return hits


def snapshot(srv: Server, loader: Loader) -> dict:
    st = loader.stats()
    slabs = loader.conns[0].stats_slabs()
    ps = proc_status(srv.pid)
    return {
        "rss": ps["VmRSS"],
        "hwm": ps["VmHWM"],
        "curr_items": int(st.get("curr_items", 0)),
        "bytes": int(st.get("bytes", 0)),
        "evictions": int(st.get("evictions", 0)),
        "limit_maxbytes": int(st.get("limit_maxbytes", 0)),
        "total_malloced": int(slabs["total_malloced"]) if "total_malloced" in slabs else None,
    }


# --------------------------------------------------------------------------
# runs


@dataclass
class Cfg:
    footprint_n: int
    footprint_m: int
    capacity_m: int
    churn_m: int
    churn_gets: int
    keylen: int
    sizes: list
    threads: int
    seed: int
    limits: dict  # run -> seconds per server


def with_server(kind: str, args, mem_mb: int, fn):
    """Starts one server, runs fn(srv, sampler), always kills it."""
    if kind == "ferrocache":
        srv = start_ferrocache(args.ferrocache, mem_mb, args.threads)
    else:
        srv = start_memcached(args.memcached, mem_mb, args.threads)
    sampler = RssSampler(srv.pid)
    sampler.start()
    try:
        return fn(srv, sampler)
    finally:
        sampler.stop()
        srv.stop()


def run_footprint(kind, args, cfg: Cfg, vsize: int) -> dict:
    def body(srv, sampler):
        keys = Keys(cfg.keylen)
        ld = Loader(srv, keys, time.monotonic() + cfg.limits["footprint"], rss_guard=args.rss_guard)
        try:
            time.sleep(0.3)
            idle = snapshot(srv, ld)
            t0 = time.monotonic()
            step = 200_000
            for s in range(0, cfg.footprint_n, step):
                ld.check()
                ld.load(s, min(cfg.footprint_n, s + step), size=vsize)
            secs = time.monotonic() - t0
            time.sleep(0.3)
            after = snapshot(srv, ld)
            items = after["curr_items"]
            grow = after["rss"] - idle["rss"]
            per = grow / items if items else float("nan")
            return {
                "items_loaded": cfg.footprint_n, "load_s": secs, "idle": idle, "after": after,
                "rss_per_item": per, "overhead_per_item": per - (cfg.keylen + vsize),
                "peak_sampled": sampler.peak, "errors": len(ld.errors), "err_sample": ld.errors[:3],
            }
        finally:
            ld.close()
    return with_server(kind, args, cfg.footprint_m, body)


def run_capacity(kind, args, cfg: Cfg, vsize: int) -> dict:
    def body(srv, sampler):
        keys = Keys(cfg.keylen)
        ld = Loader(srv, keys, time.monotonic() + cfg.limits["capacity"], rss_guard=args.rss_guard)
        try:
            m_bytes = cfg.capacity_m * MIB
            cap = 20 * m_bytes // (cfg.keylen + vsize)  # give up without evictions past this
            if cap >= 10 ** keys.digits:
                cap = 10 ** keys.digits - 1
            chunk = 50_000
            loaded = 0
            first_evict_at = None
            t0 = time.monotonic()
            while loaded < cap:
                ld.check()
                ld.load(loaded, min(cap, loaded + chunk), size=vsize)
                loaded = min(cap, loaded + chunk)
                if int(ld.stats().get("evictions", 0)) > 0:
                    first_evict_at = loaded
                    break
            if first_evict_at is not None:
                extra = (first_evict_at + 4) // 5
                end = loaded + extra
                for s in range(loaded, end, 200_000):
                    ld.check()
                    ld.load(s, min(end, s + 200_000), size=vsize)
                loaded = end
            secs = time.monotonic() - t0
            time.sleep(0.3)
            after = snapshot(srv, ld)
            rng = random.Random(cfg.seed)
            sample = rng.sample(range(loaded), min(2000, loaded))
            hits = ld.hit_count(sample)
            frac = hits / len(sample)
            return {
                "loaded": loaded, "first_evict_at": first_evict_at, "load_s": secs, "after": after,
                "sample_n": len(sample), "sample_hits": hits, "resident_est": frac * loaded,
                "peak_sampled": sampler.peak, "errors": len(ld.errors), "err_sample": ld.errors[:3],
            }
        finally:
            ld.close()
    return with_server(kind, args, cfg.capacity_m, body)


def churn_sizes(cfg: Cfg) -> tuple[list, int]:
    rng = random.Random(cfg.seed)
    half = 3 * cfg.churn_m * MIB // 2
    sizes, total = [], 0
    while total < half:
        v = rng.randint(100, 300)
        sizes.append(v)
        total += v
    shift = len(sizes)
    while total < 2 * half:
        v = rng.randint(1000, 3000)
        sizes.append(v)
        total += v
    return sizes, shift


def run_churn(kind, args, cfg: Cfg) -> dict:
    sizes, shift = churn_sizes(cfg)
    n = len(sizes)

    def body(srv, sampler):
        keys = Keys(cfg.keylen)
        ld = Loader(srv, keys, time.monotonic() + cfg.limits["churn"], rss_guard=args.rss_guard)
        try:
            idle = snapshot(srv, ld)
            t0 = time.monotonic()
            phases = []
            for lo, hi in ((0, shift), (shift, n)):
                for s in range(lo, hi, 50_000):
                    ld.check()
                    ld.load(s, min(hi, s + 50_000), sizes=sizes)
                sampler.sample()
                phases.append((sampler.peak, proc_status(srv.pid)["VmRSS"]))
            secs = time.monotonic() - t0
            sampler.sample()
            after = snapshot(srv, ld)
            rng = random.Random(cfg.seed + 1)
            # (a) the most recently written 20% of all keys (by count)
            lo_all = n - n // 5
            ids = [rng.randrange(lo_all, n) for _ in range(cfg.churn_gets)]
            hit_all = ld.hit_count(ids) / len(ids)
            # (b) the most recently written 20% of the keys written after the shift
            lo_post = n - (n - shift) // 5
            ids = [rng.randrange(lo_post, n) for _ in range(cfg.churn_gets)]
            hit_post = ld.hit_count(ids) / len(ids)
            # (c) ideal: what a byte-exact LRU of m bytes (no overhead at all) would hold
            ideal_lo, acc = n, 0
            while ideal_lo > 0 and acc + sizes[ideal_lo - 1] + cfg.keylen <= cfg.churn_m * MIB:
                ideal_lo -= 1
                acc += sizes[ideal_lo] + cfg.keylen
            ideal_all = (n - max(ideal_lo, lo_all)) / (n - lo_all)
            ideal_post = (n - max(ideal_lo, lo_post)) / (n - lo_post)
            sampler.sample()
            return {
                "items_written": n, "shift_at": shift, "bytes_written": sum(sizes), "load_s": secs,
                "idle": idle, "after": after, "peak_sampled": sampler.peak,
                "peak_after_small": phases[0][0], "rss_after_small": phases[0][1],
                "hit_recent20_all": hit_all, "hit_recent20_post": hit_post,
                "ideal_recent20_all": ideal_all, "ideal_recent20_post": ideal_post,
                "recent20_all_n": n - lo_all, "recent20_post_n": n - lo_post,
                "errors": len(ld.errors), "err_sample": ld.errors[:3],
            }
        finally:
            ld.close()
    return with_server(kind, args, cfg.churn_m, body)


# --------------------------------------------------------------------------
# report


def mib(b) -> str:
    return "—" if b is None else f"{b / MIB:.1f} MiB"


def num(x) -> str:
    return "—" if x is None else f"{x:,}"


def ratio(a, b) -> str:
    try:
        if a is None or b is None or b == 0 or a != a or b != b:
            return "—"
        return f"{a / b:.2f}"
    except TypeError:
        return "—"


class Table:
    def __init__(self):
        self.rows: list[tuple] = []

    def add(self, run, metric, fc, mc, fmt=str, show_ratio=True, fcv=None, mcv=None):
        """fc/mc are raw values (or error strings)."""
        def cell(v):
            if isinstance(v, str):
                return v
            return fmt(v)
        r = ratio(fc, mc) if show_ratio and not isinstance(fc, str) and not isinstance(mc, str) else ""
        self.rows.append((run, metric, cell(fc), cell(mc), r))

    def markdown(self) -> str:
        head = ("run", "metric", "ferrocache", "memcached", "fc/mc")
        widths = [max(len(str(r[i])) for r in [head] + self.rows) for i in range(5)]
        def line(r):
            return "| " + " | ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)) + " |"
        out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line(r) for r in self.rows]
        return "\n".join(out)


def _get(res, kind, *path):
    v = res.get(kind)
    if isinstance(v, Exception):
        return f"error: {type(v).__name__}"
    for p in path:
        if v is None:
            return None
        v = v[p] if isinstance(v, dict) else getattr(v, p)
    return v


def build_table(results: dict, cfg: Cfg) -> tuple[Table, list[str]]:
    t = Table()
    notes: list[str] = []
    kv = lambda v: f"{v:.1f} B" if isinstance(v, float) else str(v)  # noqa: E731
    f1 = lambda v: f"{v:.1%}"  # noqa: E731
    for (run, vsize), res in results.items():
        where = run if vsize is None else f"{run} v={vsize}"
        for kind in ("ferrocache", "memcached"):
            v = res.get(kind)
            if isinstance(v, Exception):
                notes.append(f"{where} {kind}: {type(v).__name__}: {v}")
            elif isinstance(v, dict) and v.get("errors"):
                notes.append(f"{where} {kind}: {v['errors']} non-VERSION replies while loading, "
                             f"e.g. {v['err_sample']}")
        g = lambda *p: (_get(res, "ferrocache", *p), _get(res, "memcached", *p))  # noqa: E731
        if run == "footprint":
            tag = f"footprint v={vsize}"
            t.add(tag, "curr_items", *g("after", "curr_items"), num)
            t.add(tag, "RSS idle", *g("idle", "rss"), mib)
            t.add(tag, "RSS after load", *g("after", "rss"), mib)
            t.add(tag, "RSS per item", *g("rss_per_item"), kv)
            t.add(tag, f"overhead per item (beyond {cfg.keylen}+{vsize} B)", *g("overhead_per_item"), kv)
            fb, mb = g("after", "bytes")
            fi, mi = g("after", "curr_items")
            per = lambda b, i: b / i if isinstance(b, int) and isinstance(i, int) and i else None  # noqa: E731
            t.add(tag, "stats bytes per item", per(fb, fi), per(mb, mi), lambda v: f"{v:.1f} B")
            t.add(tag, "total_malloced", *g("after", "total_malloced"), mib)
            t.add(tag, "evictions", *g("after", "evictions"), num, show_ratio=False)
            t.add(tag, "load time", *g("load_s"), lambda v: f"{v:.1f} s")
        elif run == "capacity":
            tag = f"capacity v={vsize}"
            t.add(tag, "items loaded", *g("loaded"), num, show_ratio=False)
            t.add(tag, "first eviction seen after", *g("first_evict_at"), num, show_ratio=False)
            t.add(tag, "curr_items", *g("after", "curr_items"), num)
            t.add(tag, "resident est. (2000-get sample)", *g("resident_est"), lambda v: f"{v:,.0f}")
            fh, mh = g("sample_hits")
            fn, mn = g("sample_n")
            fr = fh / fn if isinstance(fh, int) and isinstance(fn, int) and fn else None
            mr = mh / mn if isinstance(mh, int) and isinstance(mn, int) and mn else None
            t.add(tag, "resident fraction (sample)", fr, mr, f1)
            t.add(tag, "RSS", *g("after", "rss"), mib)
            t.add(tag, "peak RSS (VmHWM)", *g("after", "hwm"), mib)
            t.add(tag, "stats bytes", *g("after", "bytes"), mib)
            t.add(tag, "limit_maxbytes", *g("after", "limit_maxbytes"), mib, show_ratio=False)
            t.add(tag, "total_malloced", *g("after", "total_malloced"), mib)
            t.add(tag, "evictions", *g("after", "evictions"), num)
        elif run == "churn":
            tag = f"churn -m {cfg.churn_m}"
            target = 1.05 * cfg.churn_m * MIB + 16 * MIB
            t.add(tag, "items written (shift at)", *[
                f"{a:,} ({b:,})" if isinstance(a, int) else a
                for a, b in zip(g("items_written"), g("shift_at"))], show_ratio=False)
            t.add(tag, "RSS idle", *g("idle", "rss"), mib)
            t.add(tag, "peak RSS, small phase (sampled)", *g("peak_after_small"), mib)
            t.add(tag, "peak RSS (sampled every 0.2 s)", *g("peak_sampled"), mib)
            t.add(tag, "peak RSS (VmHWM)", *g("after", "hwm"), mib)
            t.add(tag, "RSS at end", *g("after", "rss"), mib)
            hw = g("after", "hwm")
            verdict = tuple(("PASS" if x <= target else "FAIL") if isinstance(x, int) else x for x in hw)
            t.add(tag, f"VmHWM ≤ 1.05×m+16 MiB = {target / MIB:.1f} MiB", *verdict, show_ratio=False)
            t.add(tag, "curr_items", *g("after", "curr_items"), num)
            t.add(tag, "stats bytes", *g("after", "bytes"), mib)
            t.add(tag, "total_malloced", *g("after", "total_malloced"), mib)
            t.add(tag, "evictions", *g("after", "evictions"), num)
            fa, ma = g("recent20_all_n")
            ia = g("ideal_recent20_all")[0]
            t.add(tag, f"hit ratio, newest 20% of all keys ({num(fa) if isinstance(fa, int) else '?'}; "
                  f"exact LRU {ia:.0%})" if isinstance(ia, float) else "hit ratio, newest 20% of all keys",
                  *g("hit_recent20_all"), f1)
            fp, _ = g("recent20_post_n")
            ip = g("ideal_recent20_post")[0]
            t.add(tag, f"hit ratio, newest 20% of post-shift keys ({num(fp) if isinstance(fp, int) else '?'}; "
                  f"exact LRU {ip:.0%})" if isinstance(ip, float) else "hit ratio, newest 20% of post-shift keys",
                  *g("hit_recent20_post"), f1)
            t.add(tag, "load time", *g("load_s"), lambda v: f"{v:.1f} s")
    return t, notes


def sh(cmd: str) -> str:
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.rstrip()
    except Exception as exc:  # noqa: BLE001
        return f"({exc})"


def machine_info(args) -> dict:
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    h = hashlib.sha256()
    try:
        with open(args.ferrocache, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        bin_sha = h.hexdigest()[:12]
        bin_mtime = datetime.datetime.fromtimestamp(os.path.getmtime(args.ferrocache),
                                                    datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except OSError:
        bin_sha, bin_mtime = "?", "?"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "nproc": sh("nproc"),
        "free": sh("free -m"),
        "cpu": cpu or "?",
        "kernel": sh("uname -srm"),
        "memcached": sh(f"{shlex.quote(args.memcached)} -V"),
        "git": sh(f"git -C {shlex.quote(REPO)} log -1 --format='%h %s'"),
        "git_dirty": sh(f"git -C {shlex.quote(REPO)} status --porcelain -- src Cargo.toml Cargo.lock"),
        "bin": f"{args.ferrocache} (sha256 {bin_sha}…, built {bin_mtime})",
        "build": args.build_note,
        "command": " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
        "python": sys.version.split()[0],
    }


def render_doc(table: Table, notes: list[str], info: dict, cfg: Cfg, args, elapsed: float) -> str:
    target = 1.05 * cfg.churn_m + 16
    dirty = ("\n\n**Working tree had uncommitted changes under src/ or Cargo.* when this ran:**\n\n```\n"
             + info["git_dirty"] + "\n```") if info["git_dirty"] else ""
    notes_md = "\n".join(f"- {n}" for n in notes) if notes else "- none"
    return f"""# Memory benchmark: ferrocache vs memcached

Generated by `scripts/bench-memory.py` (Python stdlib only). Re-run it to
refresh this file; it overwrites it. `--quick` is a smoke run and does not
write this file unless `--doc PATH` is given.

## What was run

- date: {info['date']}
- command: `{info['command']}` ({elapsed:.0f} s)
- ferrocache: {info['bin']}; HEAD {info['git']}; build: {info['build']}
- memcached: `{info['memcached']}` (`{args.memcached}`, `-U 0 -l 127.0.0.1`{', `-u root`' if os.geteuid() == 0 else ''})
- both servers: `-t {cfg.threads}`, the same `-m` per run, started one at a time (never both loaded at once)
- machine: {info['nproc']} CPUs ({info['cpu']}), {info['kernel']}, Python {info['python']}

```
$ free -m
{info['free']}
```{dirty}

## Method

- Load: {NSOCK} sockets per server, pipelined `set <key> 0 0 <len> noreply`
  batches (≤ {BATCH_CMDS} commands or ≤ {BATCH_BYTES // 1024} KiB per write), each batch followed by
  `version` and read up to `VERSION` (one batch in flight per socket while the
  next is built). Keys `key:%0{cfg.keylen - 4}d` ({cfg.keylen} B), values of the requested length.
- Memory: VmRSS / VmHWM from `/proc/PID/status`; the server's `stats`
  (`curr_items`, `bytes`, `evictions`, `limit_maxbytes`) and `stats slabs`
  (`total_malloced`, when the server has it). "—" means the server does not report it.
- **footprint**: {cfg.footprint_n:,} items into `-m {cfg.footprint_m}` (nothing evicted).
  RSS per item = (RSS after load − RSS idle, measured after the load
  sockets connected) / `curr_items`; overhead = that − (key + value).
- **capacity**: `-m {cfg.capacity_m}`; distinct keys in chunks of 50,000 until `stats`
  shows evictions > 0, then 20% more. Resident items = `curr_items`, checked
  against a sample of 2000 random keys from everything loaded (multi-get).
- **churn**: `-m {cfg.churn_m}`; 3 × m bytes of values, first half sizes uniform
  in 100..300 B, second half uniform in 1000..3000 B. RSS sampled every 0.2 s
  and the kernel's VmHWM; target VmHWM ≤ 1.05 × m + 16 MiB = {target:.1f} MiB.
  Then {cfg.churn_gets:,} random gets over (a) the newest 20% of all keys written, by
  count — this window reaches back before the shift into small items an LRU of
  m bytes has long evicted, so even a perfect cache cannot hit them all — and (b)
  {cfg.churn_gets:,} over the newest 20% of the keys written after the shift. "exact LRU" is
  what one global LRU holding exactly m bytes of key+value (zero overhead)
  would hit; a server can beat it on (a) by keeping old small items instead
  (memcached's per-slab-class LRUs do, and memcached may also allocate past -m:
  compare total_malloced with -m).
- Ratios are ferrocache / memcached.

## Results

{table.markdown()}

Problems during the run:

{notes_md}
"""


# --------------------------------------------------------------------------


def maybe_build(args) -> str:
    if not args.build:
        return "not rebuilt (--no-build)"
    print("== cargo build --release", file=sys.stderr, flush=True)
    try:
        r = subprocess.run(["cargo", "build", "--release", "--bin", "ferrocache"], cwd=REPO,
                           capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        r = None
        err = str(exc)
    if r is not None and r.returncode == 0:
        return "cargo build --release succeeded"
    err = (r.stderr if r is not None else err).strip().splitlines()
    msg = "cargo build --release FAILED; using the existing binary (last good build)"
    print(f"warning: {msg}:\n  " + "\n  ".join(err[-15:]), file=sys.stderr)
    if not os.access(args.ferrocache, os.X_OK):
        raise SystemExit(f"{args.ferrocache} does not exist and the build failed")
    return msg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="footprint,capacity,churn",
                    help="comma-separated subset of footprint,capacity,churn")
    ap.add_argument("--quick", action="store_true", help="small smoke run (< 60 s)")
    ap.add_argument("-n", "--items", type=int, help="footprint items (default 1,000,000; --quick 100,000)")
    ap.add_argument("--sizes", default="100,10", help="value sizes for footprint/capacity")
    ap.add_argument("--key-len", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--servers", default="ferrocache,memcached")
    ap.add_argument("--ferrocache", default=os.path.join(REPO, "target/release/ferrocache"))
    ap.add_argument("--memcached", default="/usr/bin/memcached")
    ap.add_argument("--no-build", dest="build", action="store_false", help="do not run cargo build --release")
    ap.add_argument("--doc", help="write the report here (default docs/benchmarks-memory.md unless --quick)")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--rss-guard-mib", type=int, default=8192,
                    help="abort a server's run if its RSS passes this (default 8192)")
    args = ap.parse_args()

    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    bad = set(runs) - {"footprint", "capacity", "churn"}
    if bad:
        ap.error(f"unknown run(s): {', '.join(sorted(bad))}")
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if set(servers) - {"ferrocache", "memcached"}:
        ap.error("--servers takes ferrocache,memcached")
    args.rss_guard = args.rss_guard_mib * MIB
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        cfg = Cfg(footprint_n=args.items or 100_000, footprint_m=1024, capacity_m=16, churn_m=8,
                  churn_gets=5_000, keylen=args.key_len, sizes=sizes, threads=args.threads, seed=args.seed,
                  limits={"footprint": 20, "capacity": 20, "churn": 20})
    else:
        cfg = Cfg(footprint_n=args.items or 1_000_000, footprint_m=1024, capacity_m=256, churn_m=64,
                  churn_gets=50_000, keylen=args.key_len, sizes=sizes, threads=args.threads, seed=args.seed,
                  limits={"footprint": 90, "capacity": 120, "churn": 90})

    args.build_note = maybe_build(args)
    t_start = time.monotonic()
    results: dict = {}
    plan = []
    for run in runs:
        for vs in (sizes if run != "churn" else [None]):
            plan.append((run, vs))
    try:
        for run, vs in plan:
            res = results.setdefault((run, vs), {})
            for kind in servers:
                label = f"{run}{'' if vs is None else f' v={vs}'} {kind}"
                print(f"== {label}", file=sys.stderr, flush=True)
                t0 = time.monotonic()
                try:
                    if run == "footprint":
                        res[kind] = run_footprint(kind, args, cfg, vs)
                    elif run == "capacity":
                        res[kind] = run_capacity(kind, args, cfg, vs)
                    else:
                        res[kind] = run_churn(kind, args, cfg)
                except (BenchError, OSError) as exc:
                    print(f"   {label}: {type(exc).__name__}: {exc}", file=sys.stderr)
                    res[kind] = exc
                print(f"   {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("interrupted; servers killed", file=sys.stderr)
        _kill_all()
        return 130
    finally:
        _kill_all()
    elapsed = time.monotonic() - t_start

    table, notes = build_table(results, cfg)
    print()
    print(table.markdown())
    if notes:
        print("\nProblems:\n" + "\n".join(f"- {n}" for n in notes))
    doc = None if args.no_doc else (args.doc or (None if args.quick else os.path.join(REPO, "docs/benchmarks-memory.md")))
    if doc:
        with open(doc, "w") as f:
            f.write(render_doc(table, notes, machine_info(args), cfg, args, elapsed))
        print(f"\nwrote {os.path.relpath(doc)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""contrib/grafana/ferrocache.json against a real Prometheus.

ferrocache runs with ``-o metrics_listen`` and ``-o hotkeys``; Debian's
Prometheus (/usr/bin/prometheus) scrapes it every second. After a few
seconds of load (sets, gets that hit and miss, deletes, then large values
that evict), every query of the dashboard (each panel's targets, with
Grafana's variables replaced: ``$instance`` by the scraped instance,
``$__rate_interval`` by 15s) is sent to Prometheus's HTTP API and must
succeed and return at least one series, so a misspelt metric or label
fails here. The instance variable's ``label_values`` query is checked the
same way, and a few panels' values are compared with what ``stats`` says.

ferrocache only: memcached has no metrics endpoint. A missing prometheus
binary is a failure, not a skip. Every process started here is killed in
a ``finally``; pytest-timeout stops the test after 60 s.
"""

import json
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from pymemcache.client.base import Client

from conftest import REPO, TARGETS, _free_port, _start_ferrocache, against_memcached

pytestmark = [
    pytest.mark.skipif(
        against_memcached() or "ferrocache" not in TARGETS,
        reason="memcached has no metrics endpoint: the dashboard is ferrocache's",
    ),
    pytest.mark.timeout(60),
]

DASHBOARD = REPO / "contrib" / "grafana" / "ferrocache.json"
PROMETHEUS_BIN = "/usr/bin/prometheus"
RATE_INTERVAL = "15s"
LOAD_SECONDS = 4.0
HOT_KEY = "dash:hot"


def panels(dashboard):
    """Every panel, those inside rows included."""
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])


def targets(dashboard):
    """(panel title, refId, expr) of every query of the dashboard."""
    return [(p["title"], t["refId"], t["expr"])
            for p in panels(dashboard) for t in p.get("targets", [])]


def substitute(expr, instance):
    """What Grafana sends for `expr` with one instance selected."""
    out = expr.replace("${instance}", instance).replace("$instance", instance)
    for var in ("$__rate_interval", "${__rate_interval}", "$__interval", "${__interval}"):
        out = out.replace(var, RATE_INTERVAL)
    assert "$" not in out, f"unknown variable left in {out!r}"
    return out


class Prometheus:
    def __init__(self, folder: Path, target_port: int):
        if not Path(PROMETHEUS_BIN).exists():
            pytest.fail(f"{PROMETHEUS_BIN} is missing: apt-get install -y prometheus",
                        pytrace=False)
        config = folder / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: ferrocache\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n"
        )
        self.port = _free_port()
        self.log = folder / "prometheus.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [PROMETHEUS_BIN, f"--config.file={config}",
                 f"--storage.tsdb.path={folder / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    def get(self, path, **params):
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:  # 400/422 carry the error as JSON
            return json.load(e)

    def query(self, q):
        """The result vector of the instant query `q` (asserting success)."""
        body = self.get("/api/v1/query", query=q)
        assert body.get("status") == "success", f"{q}: {body}"
        return body["data"]["result"]

    def value(self, q):
        """The value of `q`, which must have exactly one series."""
        result = self.query(q)
        assert len(result) == 1, f"{q}: {result}"
        return float(result[0]["value"][1])

    def wait_ready(self, deadline):
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, \
                f"prometheus exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"prometheus not ready: {self.log.read_text()[-2000:]}", pytrace=False)


def eventually(check, deadline, what):
    """Polls `check` (returning (ok, detail)) until ok or the deadline."""
    while True:
        ok, detail = check()
        if ok:
            return detail
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: {detail}", pytrace=False)
        time.sleep(0.2)


def numbers(client):
    """`stats`, plus `stats slabs`' total_malloced."""
    out = {k.decode(): v for k, v in client.stats().items()}
    out["total_malloced"] = client.stats("slabs")[b"total_malloced"]
    return out


def load(client, seconds):
    """Rounds of a set, two gets that hit and one that misses; a delete that
    hits and one that misses every 10th round; a 100 kB value every 20th
    (into -m 8: they evict all along, so the class they go to has its
    series, and an eviction rate, before the load ends). Half the rounds
    use HOT_KEY, read and written."""
    big = b"x" * 100_000
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        k = HOT_KEY if i % 2 == 0 else f"dash:k{i % 50}"
        assert client.set(k, b"v" * (i % 300)) is True
        assert client.get(k) is not None
        assert client.get(k) is not None
        assert client.get(f"dash:absent:{i}") is None
        if i % 10 == 1:
            assert client.delete(k) is True
            assert client.delete(f"dash:absent:{i}") is False
        if i % 20 == 3:
            assert client.set(f"dash:big{i}", big) is True
        i += 1
    return i


@pytest.fixture
def stack(tmp_path):
    """(ferrocache client, Prometheus, instance label), all stopped after."""
    metrics_port = _free_port()
    proc, port = _start_ferrocache(
        2, ["-m", "8", "-o", f"metrics_listen=127.0.0.1:{metrics_port},hotkeys=10"])
    prom = client = None
    try:
        prom = Prometheus(tmp_path, metrics_port)
        client = Client(("127.0.0.1", port), connect_timeout=5, timeout=10,
                        default_noreply=False)
        yield client, prom, f"127.0.0.1:{metrics_port}"
        assert proc.poll() is None, f"ferrocache exited with status {proc.returncode}"
    finally:
        if client is not None:
            client.close()
        if prom is not None:
            prom.stop()
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_dashboard_file_is_well_formed():
    d = json.loads(DASHBOARD.read_text())
    assert 36 <= d["schemaVersion"] <= 41
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert variables["instance"]["type"] == "query"
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids {ids}"
    for p in panels(d):
        if p["type"] == "row":
            continue
        assert p.get("description", "").strip(), f"panel {p['title']!r} has no description"
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
        assert p["targets"], f"panel {p['title']!r} has no query"
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), f"{p['title']!r}: refIds {refs}"
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
            # Every selector follows the instance variable (multi-value: =~).
            selectors = re.findall(r"\bmemcached_\w+(\{[^}]*\})?", t["expr"])
            assert selectors and all('instance=~"$instance"' in s for s in selectors), \
                f"{p['title']!r}: {t['expr']}"


def test_every_dashboard_query_returns_series(stack):
    client, prom, instance = stack
    deadline = time.monotonic() + 45
    dashboard = json.loads(DASHBOARD.read_text())
    queries = targets(dashboard)
    assert len(queries) >= 15

    prom.wait_ready(deadline)
    # A first scrape before the load, so that every rate has a sample before it.
    eventually(lambda: (len(prom.query("memcached_up")) == 1, "no memcached_up yet"),
               deadline, "prometheus never scraped ferrocache")
    rounds = load(client, LOAD_SECONDS)

    # Wait until Prometheus has scraped what `stats` says now.
    def caught_up():
        s = numbers(client)
        pairs = {
            'memcached_commands_total{command="get",status="hit"}': s["get_hits"],
            'memcached_commands_total{command="get",status="miss"}': s["get_misses"],
            "memcached_items_evicted_total": s["evictions"],
            "memcached_current_items": s["curr_items"],
            "memcached_current_bytes": s["bytes"],
            "memcached_limit_bytes": s["limit_maxbytes"],
            "memcached_malloced_bytes": s["total_malloced"],
        }
        got = {q: prom.value(q) if prom.query(q) else None for q in pairs}
        differ = {q: (got[q], float(v)) for q, v in pairs.items() if got[q] != float(v)}
        return not differ, (s, differ)

    stats, _ = eventually(caught_up, deadline, "prometheus and stats disagree (prom, stats)")
    assert float(stats["evictions"]) > 0, f"the large values evicted nothing ({rounds} rounds)"

    # Every query of the dashboard, as Grafana would send it.
    results = {}
    for title, ref, expr in queries:
        q = substitute(expr, instance)
        result = prom.query(q)
        assert result, f"panel {title!r} query {ref} returns no series: {q}"
        results[(title, ref)] = result

    # The instance variable's label_values(memcached_up, instance).
    var = next(v for v in dashboard["templating"]["list"] if v["name"] == "instance")
    m = re.fullmatch(r"label_values\((\w+), *(\w+)\)", var["definition"])
    assert m, var["definition"]
    body = prom.get(f"/api/v1/label/{m.group(2)}/values", **{"match[]": m.group(1)})
    assert body["status"] == "success" and instance in body["data"], body

    def one(title, ref="A"):
        result = results[(title, ref)]
        assert len(result) == 1, f"{title} {ref}: {result}"
        return float(result[0]["value"][1])

    # Hit ratio: two hits per miss throughout, as stats counts them.
    ratio = one("Get hit ratio")
    want = int(stats["get_hits"]) / (int(stats["get_hits"]) + int(stats["get_misses"]))
    assert 0 <= ratio <= 1
    assert abs(ratio - want) < 0.02, f"dashboard {ratio}, stats {want}"
    assert abs(want - 2 / 3) < 0.01, stats

    ops = {(r["metric"]["command"], r["metric"]["status"]): float(r["value"][1])
           for r in results[("Operations per second by command and status", "A")]}
    for key in [("get", "hit"), ("get", "miss"), ("set", "hit"), ("delete", "hit"),
                ("delete", "miss")]:
        assert ops.get(key, 0) > 0, f"{key} has no rate: {ops}"
    assert abs(ops[("get", "hit")] / ops[("get", "miss")] - 2) < 0.1, ops

    assert one("Evictions per second") > 0
    per_class = results[("Evictions per second", "B")]
    assert any(float(r["value"][1]) > 0 for r in per_class), per_class

    memory = {ref: one("Memory used vs limit", ref) for ref in "ABC"}
    assert memory["A"] == float(stats["bytes"])
    assert memory["B"] == float(stats["total_malloced"])
    assert memory["C"] == float(stats["limit_maxbytes"]) == 8 * 1024 * 1024
    assert 0 < memory["A"] <= memory["B"] <= memory["C"]
    by_class = sum(float(r["value"][1]) for r in results[("Memory by slab class", "A")])
    assert by_class == memory["A"], (by_class, memory)

    assert one("Items") == float(stats["curr_items"]) > 0
    assert one("Items stored and reclaimed per second") > 0
    assert one("Current connections") >= 1
    assert one("Current connections", "B") == float(stats["max_connections"])
    assert one("Connections per second") >= 0

    # Latency: a series per command kind, p50 <= p99 <= p99.9, all under the
    # histogram's last finite bucket (about a second).
    latency = {}
    for name in ("p50", "p99", "p99.9"):
        rows = results[(f"Request latency {name} by command", "A")]
        latency[name] = {r["metric"]["command"]: float(r["value"][1]) for r in rows}
    for kind in ("get", "set", "delete"):
        p50, p99, p999 = (latency[n][kind] for n in ("p50", "p99", "p99.9"))
        assert 0 < p50 <= p99 <= p999 < 1.1, (kind, latency)

    # Hot keys: the key of half the rounds heads both tables.
    for title in ("Hottest keys read", "Hottest keys written"):
        rows = results[(title, "A")]
        keys = [r["metric"]["key"] for r in rows]
        assert keys and keys[0] == HOT_KEY, f"{title}: {keys}"
        assert len(keys) <= 10

"""`wmrun stats --serve`: /metrics scraped by Debian's Prometheus server, the bearer token,
and the refusals that keep it on loopback unless asked."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import clients
import harness
from stats_fleet import MIB, FILL_MIB, fleet, wait_for  # noqa: F401

pytestmark = pytest.mark.wmrun_only("stats is wmrun's own command")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running `stats --serve`, stopped with SIGTERM (which must exit it with 0)."""

    def __init__(self, runtime, *args, host="127.0.0.1"):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            runtime.command(["stats", "--serve", f"{host}:{self.port}", *args]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on http://"), (line, self.proc.stderr.read())

    def get(self, path, token=None):
        req = urllib.request.Request(self.base + path)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10 * harness.TIME_SCALE) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10 * harness.TIME_SCALE)


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "stats-token"
    path.write_text("stats-" + os.urandom(16).hex() + "\n")
    path.chmod(0o600)
    return path


def test_metrics_and_token(runtime, fleet, token_file):
    token = token_file.read_text().strip()
    server = Server(runtime, "--token-file", token_file)
    try:
        status, _, body = server.get("/metrics")
        assert status == 401 and "bearer token" in body
        status, _, _ = server.get("/metrics", token="stats-wrong-token-0123456789")
        assert status == 401
        status, headers, body = server.get("/metrics", token=token)
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert f'wmrun_container_hibernated{{id="{fleet["hib"]}",image="",state="hibernated"}} 1' \
            in body
        status, _, body = server.get("/api/stats", token=token)
        ids = {c["id"]: c for c in json.loads(body)["containers"]}
        assert status == 200 and ids[fleet["mem"]]["state"] == "running"
        # The page holds no figures: it loads without the token and asks for them with it.
        status, _, body = server.get("/")
        assert status == 200 and "<html" in body.lower()
    finally:
        assert server.stop() == 0
    # The scrape did not wake anything.
    assert runtime.state(fleet["hib"]).get("hibernated") is True


def test_serve_refusals(runtime, tmp_path, token_file):
    def refused(*args):
        r = runtime.run(["stats", *args], check=False, timeout=10)
        assert r.returncode != 0 and r.stdout == "", r
        return r.stderr

    assert "--allow-remote" in refused("--serve", "0.0.0.0:9323")
    assert "--token-file" in refused("--serve", "0.0.0.0:9323", "--allow-remote")
    assert "port" in refused("--serve", "127.0.0.1:99999")
    assert "not an IP address" in refused("--serve", "example.org:9323")
    assert "only goes with --serve" in refused("--token-file", str(token_file))
    assert "--no-stream" in refused("--serve", "127.0.0.1:9323", "--no-stream")
    token_file.chmod(0o644)
    assert "chmod 600" in refused("--serve", "127.0.0.1:9323", "--token-file", str(token_file))
    short = tmp_path / "short"
    short.write_text("abc\n")
    short.chmod(0o600)
    assert "16 characters" in refused("--serve", "127.0.0.1:9323", "--token-file", str(short))
    # A port already served is refused, not shared.
    first = Server(runtime)
    try:
        assert "cannot bind" in refused("--serve", f"127.0.0.1:{first.port}")
    finally:
        first.stop()


def test_remote_listen_needs_the_token(runtime, fleet, token_file):
    server = Server(runtime, "--allow-remote", "--token-file", token_file, host="0.0.0.0")
    try:
        assert server.get("/metrics")[0] == 401
        assert server.get("/metrics", token=token_file.read_text().strip())[0] == 200
    finally:
        assert server.stop() == 0


def prometheus_query(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.loads(r.read())
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


def check_grafana_dashboard(base, fleet):
    """Every query of contrib/grafana/wmrun-dashboard.json is valid PromQL over the metrics
    served, and each panel shows data for the fleet (rates need two scrapes, which the caller
    waited for)."""
    dashboard = json.loads((clients.CONTRIB / "grafana" / "wmrun-dashboard.json").read_text())
    assert dashboard["panels"]
    # Panels that stay empty for a fleet without these: no wake yet, no I/O, no throttling,
    # no paused or stopped container.
    may_be_empty = {"Wake p99 (1 h)", "Disk I/O", "CPU throttled", "Paused", "Stopped"}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$id", ".*")
            result = prometheus_query(base, expr)  # asserts status "success"
            if panel["title"] not in may_be_empty:
                assert result, f"panel {panel['title']!r}: {expr} has no data"
    ids = prometheus_query(base, "group by (id) (wmrun_container_uptime_seconds)")
    assert {fleet["mem"], fleet["hib"]} <= {r["metric"]["id"] for r in ids}


@pytest.mark.slow
def test_prometheus_scrapes_the_endpoint(runtime, fleet, token_file, tmp_path):
    prometheus = shutil.which("prometheus")
    if not prometheus:
        pytest.skip("Debian's prometheus is not installed (tools/install-deps installs it)")
    server = Server(runtime, "--token-file", token_file)
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: wmrun
    authorization:
      credentials_file: {token_file}
    static_configs:
      - targets: ['127.0.0.1:{server.port}']
""")
    prom = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "prometheus.log", "w"))
    base = f"http://127.0.0.1:{prom_port}"
    try:
        def scrapes():
            try:
                r = prometheus_query(base, 'count_over_time(up{job="wmrun"}[5m])')
            except OSError:
                return None
            return r and int(r[0]["value"][1]) >= 2
        assert wait_for(scrapes, timeout=60), (tmp_path / "prometheus.log").read_text()[-3000:]
        assert prometheus_query(base, 'up{job="wmrun"}')[0]["value"][1] == "1"

        mem = fleet["mem"]
        cpu = prometheus_query(base, f'container_cpu_usage_seconds_total{{id="{mem}"}}')
        assert cpu and float(cpu[0]["value"][1]) > 0
        assert cpu[0]["metric"]["state"] == "running"
        ws = prometheus_query(base, f'container_memory_working_set_bytes{{id="{mem}"}}')
        assert ws and float(ws[0]["value"][1]) >= FILL_MIB * MIB
        burn = prometheus_query(
            base, f'rate(container_cpu_usage_seconds_total{{id="{fleet["burn"]}"}}[1m])')
        assert burn and float(burn[0]["value"][1]) > 0
        hib = prometheus_query(base, f'wmrun_container_hibernated{{id="{fleet["hib"]}"}}')
        assert hib and hib[0]["value"][1] == "1" and hib[0]["metric"]["state"] == "hibernated"
        check_grafana_dashboard(base, fleet)
    finally:
        prom.terminate()
        prom.wait(timeout=30)
        assert server.stop() == 0


# Where the dashboard test keeps its screenshots and DOM dumps for a person to look at.
ARTIFACTS = Path(os.environ.get("WMRUN_TEST_ARTIFACTS",
                                harness.REPO / "build" / "test-artifacts")) / "stats-dashboard"


def chromium(tmp_path, url, *args):
    """Headless Debian chromium on url; the page's script runs for 6 s of virtual time (time
    stands still while a request is pending), so its first polls have been drawn."""
    cmd = [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu",
           "--hide-scrollbars", f"--user-data-dir={tmp_path / 'chromium'}",
           "--virtual-time-budget=6000", *args, url]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120 * harness.TIME_SCALE, cwd=tmp_path)


@pytest.mark.slow
def test_dashboard_in_headless_chromium(runtime, fleet, token_file, tmp_path):
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (tools/install-deps installs it)")
    token = token_file.read_text().strip()
    server = Server(runtime, "--token-file", token_file)
    mem = fleet["mem"]
    url = f"{server.base}/#token={token}&c={mem}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        res = chromium(tmp_path, url, "--dump-dom")
        dom = res.stdout
        (ARTIFACTS / "dashboard.html").write_text(dom)
        assert 'data-updates="' in dom and 'data-updates="0"' not in dom, res.stderr[-2000:]
        rows = dict(re.findall(r'<tr class="row [^"]*" data-id="([^"]+)" data-state="([^"]+)"',
                               dom))
        for name, cid in fleet.items():
            want = "hibernated" if name == "hib" else "paused" if name == "paused" else \
                "stopped" if name == "stopped" else "running"
            assert rows.get(cid) == want, (cid, rows)
        # The memory cell of the container that holds 40 MiB, against its 256 MiB limit.
        cell = re.search(r'<tr [^>]*data-id="%s"[^>]*>.*?<td class="num mem">([^<]*)<'
                         % re.escape(mem), dom, re.S)
        assert cell, dom[:3000]
        usage, limit = cell.group(1).split(" / ")
        assert usage.endswith("MiB") and float(usage[:-3]) >= FILL_MIB and limit == "256.0MiB"
        procs = re.search(r'<tr [^>]*data-id="%s"[^>]*>.*?<td class="num pids">(\d+)<'
                          % re.escape(fleet["procs"]), dom, re.S)
        assert procs and procs.group(1) == "4"
        # The detail view of the container named in the URL is open, its charts drawn.
        assert re.search(r'<section id="detail"[^>]*class="open"[^>]*data-id="%s"'
                         % re.escape(mem), dom)
        assert 'data-fact="memory"' in dom and "of 256.0MiB" in dom
        assert '<div id="error"></div>' in dom
        for name, size in (("desktop", "1280,900"), ("narrow", "390,844")):
            shot = ARTIFACTS / f"dashboard-{name}.png"
            shot.unlink(missing_ok=True)
            res = chromium(tmp_path, url, f"--screenshot={shot}", f"--window-size={size}")
            assert shot.is_file() and shot.stat().st_size > 10000, res.stderr[-2000:]
    finally:
        assert server.stop() == 0
    # Without the token the page loads but its data requests are refused, and it says so.
    server = Server(runtime, "--token-file", token_file)
    try:
        dom = chromium(tmp_path, server.base + "/", "--dump-dom").stdout
        assert '<div id="error">cannot read the statistics: 401' in dom
        assert '<tbody id="rows"></tbody>' in dom
    finally:
        assert server.stop() == 0


def test_contrib_systemd_unit_serves_without_capabilities(runtime, fleet, tmp_path):
    """contrib/systemd/wmrun-stats.service passes systemd-analyze verify, and its ExecStart
    serves the fleet as root with the empty capability set that the unit grants."""
    unit = tmp_path / "wmrun-stats.service"
    unit.write_text(clients.contrib_config("systemd/wmrun-stats.service", runtime.binary))
    verify = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr
    text = unit.read_text()
    assert re.search(r"^CapabilityBoundingSet=$", text, re.M)
    exec_start = re.search(r"^ExecStart=(.*)$", text, re.M).group(1).split()
    assert exec_start[0] == str(runtime.binary) and exec_start[1:3] == ["stats", "--serve"]
    assert exec_start[3].startswith("127.0.0.1:")  # loopback by default
    port = free_port()
    cmd = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs",
           exec_start[0], "--root", str(runtime.root), *exec_start[1:3], f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("listening on"), proc.stderr.read()
        caps = Path(f"/proc/{proc.pid}/status").read_text()
        assert re.search(r"^CapEff:\s+0+$", caps, re.M), caps
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                    timeout=10 * harness.TIME_SCALE) as r:
            body = r.read().decode()
        assert f'wmrun_container_hibernated{{id="{fleet["hib"]}",image="",state="hibernated"}} 1' \
            in body
        assert f'container_memory_usage_bytes{{id="{fleet["mem"]}"' in body
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10 * harness.TIME_SCALE) == 0

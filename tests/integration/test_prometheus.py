"""A real Prometheus against the running services: every dashboard query and
every alert expression must return data after a demo run.

Debian's `prometheus` binary (installed by `make check-deploy`) scrapes the
services of the `services` fixture, one job per service named like in
deploy/prometheus/prometheus.yml, every second, and loads
deploy/prometheus/alerts.yml. Then the example claims go through the
pipeline and a few gRPC calls reach every service, and each expression is
evaluated as an instant query through the HTTP API.

How expressions are made concrete:
- Dashboards: Grafana's variables are replaced the way Grafana would for a
  dashboard opened on "All": ``$job`` by the variable's allValue, the time
  variables by fixed windows longer than the test (``$__rate_interval`` ->
  5m, ``$__range`` -> 1h). A variable's ``label_values(metric, label)`` query is checked as
  ``metric`` carrying ``label``.
- Alerts: an alert's expression is a condition, empty while nothing is wrong.
  The rule file's convention is ``<signal> <comparison> <number>`` joined by
  ``and`` / ``unless``; each signal is evaluated on its own, without its
  threshold (``rate(x[5m]) > 0.1 and y > 5`` is checked as ``rate(x[5m])``
  and ``y``), so the test proves the alert watches series that exist.
Each must return at least one sample with a finite value (0 counts: series
known in advance are exported at zero; NaN from 0/0 would not).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from claimscrub.runtime.testing import REPO_ROOT, ServiceProcess, free_port

pytestmark = pytest.mark.kafka

DASHBOARDS = REPO_ROOT / "deploy/grafana/dashboards"
ALERTS = REPO_ROOT / "deploy/prometheus/alerts.yml"
# Windows wide enough to hold the whole test run: the activity happens once,
# at the start, and must stay inside every rate() window while we query.
TIME_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


class Prometheus:
    def __init__(self, url: str, proc: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.proc = proc

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as reply:
            body = json.loads(reply.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def scalar(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else 0.0


def _scrape_config(services: dict[str, ServiceProcess]) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml's shape, for the services running here."""
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {
                "job_name": name,
                "static_configs": [{"targets": [f"127.0.0.1:{p.metrics_port}"]}],
            }
            for name, p in services.items()
        ],
    }


def _wait(what: str, ready: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def prometheus(
    services: dict[str, ServiceProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus package is missing: run `make check-deploy`"
    work = tmp_path_factory.mktemp("prometheus")
    config = work / "prometheus.yml"
    config.write_text(yaml.safe_dump(_scrape_config(services)))
    port = free_port()
    log = (work / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    prom = Prometheus(f"http://127.0.0.1:{port}", proc)
    try:

        def ready() -> bool:
            assert proc.poll() is None, (work / "prometheus.log").read_text()
            try:
                with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=2) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        _wait("prometheus to start", ready)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _targets_up(prom: Prometheus, jobs: set[str]) -> bool:
    active = prom.get("/api/v1/targets")["activeTargets"]
    return {t["labels"]["job"] for t in active if t["health"] == "up"} >= jobs


def _demo_run(services: dict[str, ServiceProcess], examples_dir: Path) -> int:
    """The example claims through the pipeline, and gRPC calls to every service."""
    from google.protobuf import json_format

    from claimscrub.cli.claims_input import read_claims
    from claimscrub.cli.submit import submit
    from claimscrub.v1 import claim_pb2, units_service_pb2_grpc

    first = next(iter(services.values()))
    # The examples under claim ids of their own: the aggregator answers a
    # claim id once, and other tests of the session submit the examples too.
    claims = [
        {**c, "claimId": f"PROM-{c['claimId']}"} if isinstance(c, dict) and "claimId" in c else c
        for c in read_claims(str(examples_dir / "claims.json"))
    ]
    out = first.log_dir / "prometheus-submit.out"
    with out.open("w") as fh:
        assert submit(claims, first.kafka.bootstrap, wait=True, timeout_s=90, out=fh) == 0
    for p in services.values():
        with grpc.insecure_channel(f"127.0.0.1:{p.grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(3):
                health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    if "units" in services:
        claim = json_format.ParseDict(
            {
                "claimId": "PROM-1",
                "payerId": "MEDICARE",
                "submissionDate": "2026-06-01",
                "serviceLines": [
                    {
                        "lineNumber": 1,
                        "dateOfService": "2026-05-04",
                        "procedureCode": "97110",
                        "units": 2,
                        "minutes": 30,
                    }
                ],
            },
            claim_pb2.Claim(),
        )
        target = f"127.0.0.1:{services['units'].grpc_port}"
        with grpc.insecure_channel(target) as channel:
            stub = units_service_pb2_grpc.UnitsServiceStub(channel)
            for _ in range(3):
                stub.Check(claim, timeout=10)
    return len(claims)


# --- the expressions under test ---


def _substitute(expr: str, variables: dict[str, str]) -> str:
    for name, value in {**TIME_VARIABLES, **variables}.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and query variable of every dashboard."""
    found: list[tuple[str, str]] = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        d = json.loads(path.read_text())
        variables = {}
        for v in d.get("templating", {}).get("list", []):
            if v["type"] != "query":
                continue
            variables[f"${v['name']}"] = v.get("allValue") or ".+"
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", v["query"])
            assert m, f"{path.name}: variable {v['name']}: unsupported query {v['query']}"
            found.append((f"{path.name} variable {v['name']}", f"{m[1]}{{{m[2]}!=''}}"))
        panels = [q for p in d["panels"] for q in [p, *p.get("panels", [])]]
        for p in panels:
            for t in p.get("targets", []):
                where = f"{path.name} panel {p['title']!r} {t.get('refId', '')}"
                found.append((where, _substitute(t["expr"], variables)))
    return found


_OPEN, _CLOSE = "([{", ")]}"


def _top_level_spans(expr: str) -> Iterator[tuple[int, str]]:
    """(index, character) of the characters outside brackets and quotes."""
    depth, quote = 0, ""
    for i, c in enumerate(expr):
        if quote:
            if c == quote and expr[i - 1] != "\\":
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif depth == 0:
            yield i, c


def alert_signals(expr: str) -> list[str]:
    """The signals of an alert condition: split at top-level and/or/unless,
    each without a trailing comparison against a number."""
    expr = " ".join(expr.split())
    top = {i for i, _ in _top_level_spans(expr)}
    parts, start = [], 0
    for m in re.finditer(r" (and|or|unless) ", expr):
        if m.start() in top:
            parts.append(expr[start : m.start()])
            start = m.end()
    parts.append(expr[start:])
    signals = []
    for part in parts:
        cmp = re.search(r"\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?-?[0-9.]+(e[+-]?[0-9]+)?\s*$", part)
        if cmp and cmp.start(1) in {i for i, _ in _top_level_spans(part)}:
            part = part[: cmp.start()]
        signals.append(part.strip())
    return signals


def alert_expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text())
    found = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            for n, signal in enumerate(alert_signals(rule["expr"]), start=1):
                found.append((f"alert {rule['alert']} signal {n}", signal))
    return found


def test_alert_signals_are_split_at_top_level_only() -> None:
    assert alert_signals('rate(x{a=~"b|c"}[5m]) > 0.1 and y > 5') == ['rate(x{a=~"b|c"}[5m])', "y"]
    assert alert_signals("sum(a > 1) unless on() b == 0") == ["sum(a > 1)", "on() b"]
    assert alert_signals("a / b > 1e-3") == ["a / b"]
    assert alert_signals("histogram_quantile(0.99, sum by (le) (x))") == [
        "histogram_quantile(0.99, sum by (le) (x))"
    ]


def test_every_dashboard_and_alert_expression_returns_data(
    prometheus: Prometheus, services: dict[str, ServiceProcess], examples_dir: Path
) -> None:
    jobs = set(services)
    _wait("every service to be scraped", lambda: _targets_up(prometheus, jobs))
    before = prometheus.scalar("sum(claimscrub_results_total)")
    claims = _demo_run(services, examples_dir)
    _wait(
        "the results to be scraped",
        lambda: prometheus.scalar("sum(claimscrub_results_total)") >= before + claims,
    )
    expressions = dashboard_expressions() + alert_expressions()
    assert len(expressions) > 50
    # The offset gauges are sampled every 5 s and deriv() needs two samples:
    # evaluate until everything answers, or report what did not.
    failures = _failures(prometheus, expressions)
    deadline = time.monotonic() + 60
    while failures and time.monotonic() < deadline:
        time.sleep(2)
        failures = _failures(prometheus, expressions)
    assert not failures, "\n".join(failures)


def _failures(prom: Prometheus, expressions: list[tuple[str, str]]) -> list[str]:
    failures = []
    for where, expr in expressions:
        try:
            result = prom.query(expr)
        except Exception as exc:  # a 400 names the PromQL error
            failures.append(f"{where}: {expr}: {exc}")
            continue
        values = [float(r["value"][1]) for r in result]
        if not any(math.isfinite(v) for v in values):
            failures.append(f"{where}: {expr}: {values or 'no data'}")
    return failures


def test_the_alert_rules_load_and_evaluate_cleanly(prometheus: Prometheus) -> None:
    def evaluated() -> bool:
        groups = prometheus.get("/api/v1/rules")["groups"]
        return bool(groups) and all(g.get("lastEvaluation", "").startswith("2") for g in groups)

    _wait("the rule groups to be evaluated", evaluated)
    groups = prometheus.get("/api/v1/rules")["groups"]
    names = {r["name"] for g in groups for r in g["rules"]}
    expected = {
        r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]
    }
    assert names == expected
    assert all(r["health"] == "ok" for g in groups for r in g["rules"]), groups

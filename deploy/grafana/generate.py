"""claimscrub's Grafana dashboards, as code.

    python deploy/grafana/generate.py           # write the JSON files
    python deploy/grafana/generate.py --check   # exit 1 if a committed file is stale or invalid

Built with grafana-foundation-sdk (the build for Grafana 11.6, pinned in
requirements.lock) and committed as JSON under deploy/grafana/dashboards/,
which docker-compose provisions. helm/claimscrub/files/ carries copies of the
dashboards and of deploy/prometheus/alerts.yml because Helm reads only files
inside the chart; this script writes those copies too, so there is one source.

Every query uses `job`, which every scrape configuration claimscrub ships sets
to the service name; the services are those of helm/claimscrub/values.yaml.
tests/integration/test_prometheus.py runs every query below against a real
Prometheus scraping the running services.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import piechart, stat, table, timeseries
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders.common import ReduceDataOptions, StackingConfig
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import StackingMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    VariableOption,
    VariableRefresh,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy/grafana/dashboards"
CHART = ROOT / "helm/claimscrub"
ALERTS = ROOT / "deploy/prometheus/alerts.yml"

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
# Server-side failures (go-grpc-prometheus code names): a client's bad request
# or a missing record is not the service's fault.
SERVER_ERRORS = "Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss"

Query = tuple[str, str]  # (PromQL, legend)


def chart_services() -> list[str]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return list(values["services"])


def _queries(panel: Any, queries: Sequence[Query], *, instant: bool = False) -> Any:
    for i, (expr, legend) in enumerate(queries):
        q = prom.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + i))
        if instant:
            q = q.instant().format(PromQueryFormat.TABLE)
        panel = panel.with_target(q)
    return panel


def ts(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str = "short",
    *,
    width: int = 12,
    stacked: bool = False,
) -> timeseries.Panel:
    p = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(width)
        .height(8)
        .fill_opacity(10)
    )
    if stacked:
        p = p.stacking(StackingConfig().mode(StackingMode.NORMAL)).fill_opacity(60)
    result: timeseries.Panel = _queries(p, queries)
    return result


def single(title: str, description: str, query: Query, unit: str = "short") -> stat.Panel:
    p = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(6)
        .height(4)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
    )
    result: stat.Panel = _queries(p, [query])
    return result


def with_job_variables(d: db.Dashboard, *, job_filter: bool) -> db.Dashboard:
    d = d.with_variable(db.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    if job_filter:
        d = d.with_variable(
            db.QueryVariable("job")
            .label("Service")
            .datasource(DS)
            .query("label_values(claimscrub_build_info, job)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .multi(True)
            .include_all(True)
            .all_value(".+")
            .current(VariableOption(selected=True, text="All", value="$__all"))
        )
    return d


def base(uid: str, title: str, description: str, *, job_filter: bool) -> db.Dashboard:
    d = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["claimscrub"])
        .time("now-3h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .readonly()
    )
    return with_job_variables(d, job_filter=job_filter)


def pipeline() -> db.Dashboard:
    jobs = "|".join(chart_services())
    claims_in = (
        f"max(sum by (job) (rate(claimscrub_claims_consumed_total[{RATE}])))",
        "claims in",
    )
    results_out = (f"sum(rate(claimscrub_results_total[{RATE}]))", "results out")

    def e2e(q: str) -> Query:
        return (
            f"histogram_quantile({q}, sum by (le) "
            f"(rate(claimscrub_end_to_end_seconds_bucket[{RATE}])))",
            f"p{q[2:]}",
        )

    return (
        base(
            "claimscrub-pipeline",
            "claimscrub pipeline",
            "Throughput, verdicts, the edits behind denials, end-to-end latency. "
            "Labels carry codes only, never patient data.",
            job_filter=False,
        )
        .with_row(db.Row("Throughput and verdicts"))
        .with_panel(
            single(
                "Claims in",
                "Claims per second read from claims.submitted (every check service reads "
                "every claim; the busiest one is shown).",
                claims_in,
                "reqps",
            )
        )
        .with_panel(
            single(
                "Results out",
                "ScrubResults per second published on claims.scrubbed.",
                results_out,
                "reqps",
            )
        )
        .with_panel(
            single(
                "HOLD share",
                "Share of the results in the time range that are HOLD (an ERROR edit: "
                "the claim would be denied as is).",
                (
                    'sum(increase(claimscrub_results_total{status="HOLD"}[$__range])) '
                    "/ sum(increase(claimscrub_results_total[$__range]))",
                    "HOLD",
                ),
                "percentunit",
            )
        )
        .with_panel(
            single(
                "End-to-end p99",
                "99th percentile of submission to result.",
                e2e("0.99"),
                "s",
            )
        )
        .with_panel(
            ts(
                "Claims in vs results out",
                "A gap that lasts means claims wait in a topic or for a missing check.",
                [claims_in, results_out],
                "reqps",
            )
        )
        .with_panel(
            ts(
                "Verdict mix",
                "Results per second by status.",
                [(f"sum by (status) (rate(claimscrub_results_total[{RATE}]))", "{{status}}")],
                "reqps",
                stacked=True,
            )
        )
        .with_row(db.Row("Edits"))
        .with_panel(
            table.Panel()
            .title("Top edits with their denial codes")
            .description(
                "Edits in the published results over the time range, with the CARC a "
                "payer would most likely answer (contract §4)."
            )
            .datasource(DS)
            .span(12)
            .height(10)
            .with_target(
                prom.Dataquery()
                .expr(
                    "topk(15, sum by (code, check, severity, carc) "
                    "(increase(claimscrub_result_edits_total[$__range])))"
                )
                .instant()
                .format(PromQueryFormat.TABLE)
                .ref_id("A")
            )
        )
        .with_panel(
            piechart.Panel()
            .title("Verdicts in the time range")
            .description("Results by status over the time range.")
            .datasource(DS)
            .span(6)
            .height(10)
            .with_target(
                prom.Dataquery()
                .expr("sum by (status) (increase(claimscrub_results_total[$__range]))")
                .legend_format("{{status}}")
                .instant()
                .ref_id("A")
            )
        )
        .with_panel(
            ts(
                "Edits by check",
                "Edits per second in published results, by the check that reported them.",
                [
                    (
                        f"sum by (check) (rate(claimscrub_result_edits_total[{RATE}]))",
                        "{{check}}",
                    )
                ],
                "reqps",
                width=6,
                stacked=True,
            )
        )
        .with_panel(
            ts(
                "ERROR edits by code",
                "The ten ERROR codes (the ones that put a claim on HOLD) seen most often.",
                [
                    (
                        "topk(10, sum by (code) (rate(claimscrub_result_edits_total"
                        f'{{severity="ERROR"}}[{RATE}])))',
                        "{{code}}",
                    )
                ],
                "reqps",
            )
        )
        .with_panel(
            ts(
                "CHECK_INCOMPLETE share",
                "Results closed by the aggregator's timeout instead of every check's verdict.",
                [
                    (
                        "sum(rate(claimscrub_result_edits_total"
                        f'{{code="CHECK_INCOMPLETE"}}[{RATE}])) '
                        f"/ sum(rate(claimscrub_results_total[{RATE}]))",
                        "CHECK_INCOMPLETE",
                    )
                ],
                "percentunit",
            )
        )
        .with_row(db.Row("Latency, lag and health"))
        .with_panel(
            ts(
                "End-to-end latency",
                "Claim submission (the claims.submitted record's time) to ScrubResult publication.",
                [e2e("0.5"), e2e("0.9"), e2e("0.99")],
                "s",
            )
        )
        .with_panel(
            ts(
                "Consumer lag by service",
                "Records not yet committed, summed over partitions.",
                [("sum by (job, topic) (claimscrub_consumer_lag)", "{{job}} {{topic}}")],
            )
        )
        .with_panel(
            ts(
                "Dead-lettered events",
                "Events per second sent to claims.dlq, by reason kind.",
                [
                    (
                        f"sum by (job, reason) (rate(claimscrub_dlq_total[{RATE}]))",
                        "{{job}} {{reason}}",
                    )
                ],
                "reqps",
            )
        )
        .with_panel(
            ts(
                "X12 intake",
                "837P interchanges read from claims.x12 per second, by outcome, and the "
                "claims of their accepted transaction sets published on claims.submitted.",
                [
                    (
                        f"sum by (outcome) (rate(claimscrub_x12_interchanges_total[{RATE}]))",
                        "interchanges {{outcome}}",
                    ),
                    (f"sum(rate(claimscrub_x12_claims_total[{RATE}]))", "claims published"),
                ],
                "reqps",
            )
        )
        .with_panel(
            ts(
                "Instances up",
                "Scrape targets answering, per service.",
                [(f'sum by (job) (up{{job=~"{jobs}"}})', "{{job}}")],
            )
        )
    )


def service() -> db.Dashboard:
    sel = 'job=~"$job"'
    return (
        base(
            "claimscrub-service",
            "claimscrub service",
            "One service (or several): consumer lag, throughput, latency, errors, "
            "restarts and process resources.",
            job_filter=True,
        )
        .with_row(db.Row("Kafka"))
        .with_panel(
            ts(
                "Consumer lag by partition",
                "End offset minus committed offset of each assigned partition "
                "(KEDA scales on the same lag).",
                [
                    (
                        f"sum by (job, topic, partition) (claimscrub_consumer_lag{{{sel}}})",
                        "{{job}} {{topic}}/{{partition}}",
                    )
                ],
            )
        )
        .with_panel(
            ts(
                "Records committed",
                "Records per second the consumer group commits, per topic: its throughput.",
                [
                    (
                        "sum by (job, topic) "
                        f"(deriv(claimscrub_consumer_committed_offset{{{sel}}}[{RATE}]))",
                        "{{job}} {{topic}}",
                    )
                ],
                "reqps",
            )
        )
        .with_panel(
            ts(
                "Assigned partitions",
                "Partitions each instance holds; an instance with none is idle.",
                [
                    (
                        "sum by (job, instance) "
                        f"(claimscrub_consumer_assigned_partitions{{{sel}}})",
                        "{{instance}}",
                    )
                ],
                width=6,
            )
        )
        .with_panel(
            ts(
                "Table keys",
                "Keys held in each stream table (aggregator claim state, ...).",
                [
                    (
                        f"sum by (job, table) (claimscrub_table_keys{{{sel}}})",
                        "{{job}} {{table}}",
                    )
                ],
                width=6,
            )
        )
        .with_row(db.Row("Work and latency"))
        .with_panel(
            ts(
                "Checks per second",
                "Check results produced (agent and gRPC).",
                [
                    (
                        "sum by (job, service, check) "
                        f"(rate(claimscrub_checks_total{{{sel}}}[{RATE}]))",
                        "{{service}} {{check}}",
                    )
                ],
                "reqps",
                width=8,
            )
        )
        .with_panel(
            ts(
                "Check latency",
                "Time to run one check's rules on one claim.",
                [
                    (
                        f"histogram_quantile({q}, sum by (job, check, le) "
                        f"(rate(claimscrub_check_duration_seconds_bucket{{{sel}}}[{RATE}])))",
                        f"{{{{check}}}} p{q[2:]}",
                    )
                    for q in ("0.5", "0.99")
                ],
                "s",
                width=8,
            )
        )
        .with_panel(
            ts(
                "Edits reported",
                "Edits per second this service reported, by code.",
                [
                    (
                        f"sum by (job, code) (rate(claimscrub_edits_total{{{sel}}}[{RATE}]))",
                        "{{code}}",
                    )
                ],
                "reqps",
                width=8,
            )
        )
        .with_row(db.Row("Errors and restarts"))
        .with_panel(
            ts(
                "Dead-lettered",
                "Events per second sent to claims.dlq, by reason kind.",
                [
                    (
                        f"sum by (job, reason) (rate(claimscrub_dlq_total{{{sel}}}[{RATE}]))",
                        "{{job}} {{reason}}",
                    )
                ],
                "reqps",
                width=6,
            )
        )
        .with_panel(
            ts(
                "gRPC errors",
                "Calls per second that ended with a status other than OK.",
                [
                    (
                        "sum by (job, grpc_code) (rate(grpc_server_handled_total"
                        f'{{{sel},grpc_code!="OK"}}[{RATE}]))',
                        "{{job}} {{grpc_code}}",
                    )
                ],
                "reqps",
                width=6,
            )
        )
        .with_panel(
            ts(
                "Redelivered verdicts",
                "Check results the aggregator ignored as already counted "
                "(at-least-once redelivery).",
                [
                    (
                        "sum by (job, check) "
                        f"(rate(claimscrub_redelivered_total{{{sel}}}[{RATE}]))",
                        "{{check}}",
                    )
                ],
                "reqps",
                width=6,
            )
        )
        .with_panel(
            ts(
                "Restarts (1 h)",
                "Process starts in the last hour, per instance.",
                [
                    (
                        "sum by (job, instance) "
                        f"(changes(process_start_time_seconds{{{sel}}}[1h]))",
                        "{{instance}}",
                    )
                ],
                width=6,
            )
        )
        .with_row(db.Row("Process"))
        .with_panel(
            ts(
                "Up",
                "1 while Prometheus can scrape the instance.",
                [(f"up{{{sel}}}", "{{instance}}")],
                width=6,
            )
        )
        .with_panel(
            ts(
                "CPU",
                "CPU seconds per second, per instance.",
                [
                    (
                        f"rate(process_cpu_seconds_total{{{sel}}}[{RATE}])",
                        "{{instance}}",
                    )
                ],
                "percentunit",
                width=6,
            )
        )
        .with_panel(
            ts(
                "Resident memory",
                "Resident set size per instance.",
                [(f"process_resident_memory_bytes{{{sel}}}", "{{instance}}")],
                "bytes",
                width=6,
            )
        )
        .with_panel(
            ts(
                "Open file descriptors",
                "Share of the descriptor limit in use.",
                [
                    (
                        f"process_open_fds{{{sel}}} / process_max_fds{{{sel}}}",
                        "{{instance}}",
                    )
                ],
                "percentunit",
                width=6,
            )
        )
    )


def grpc() -> db.Dashboard:
    sel = 'job=~"$job"'
    by = "job, grpc_service, grpc_method"
    return (
        base(
            "claimscrub-grpc",
            "claimscrub gRPC",
            "The services' gRPC servers, from go-grpc-prometheus-compatible metrics.",
            job_filter=True,
        )
        .with_panel(
            ts(
                "Requests",
                "Calls started per second, by method.",
                [
                    (
                        f"sum by ({by}) (rate(grpc_server_started_total{{{sel}}}[{RATE}]))",
                        "{{grpc_service}}/{{grpc_method}}",
                    )
                ],
                "reqps",
            )
        )
        .with_panel(
            ts(
                "Responses by status",
                "Calls completed per second, by status code.",
                [
                    (
                        f"sum by (grpc_code) (rate(grpc_server_handled_total{{{sel}}}[{RATE}]))",
                        "{{grpc_code}}",
                    )
                ],
                "reqps",
                stacked=True,
            )
        )
        .with_panel(
            ts(
                "Server error ratio",
                f"Share of calls ending {SERVER_ERRORS.replace('|', ', ')}, by method.",
                [
                    (
                        f"sum by ({by}) (rate(grpc_server_handled_total"
                        f'{{{sel},grpc_code=~"{SERVER_ERRORS}"}}[{RATE}])) '
                        f"/ sum by ({by}) (rate(grpc_server_handled_total{{{sel}}}[{RATE}]))",
                        "{{grpc_service}}/{{grpc_method}}",
                    )
                ],
                "percentunit",
            )
        )
        .with_panel(
            ts(
                "Latency",
                "Handling time percentiles, by method.",
                [
                    (
                        f"histogram_quantile({q}, sum by ({by}, le) "
                        f"(rate(grpc_server_handling_seconds_bucket{{{sel}}}[{RATE}])))",
                        f"{{{{grpc_method}}}} p{q[2:]}",
                    )
                    for q in ("0.5", "0.99")
                ],
                "s",
            )
        )
        .with_panel(
            ts(
                "Messages",
                "Stream messages per second received and sent, by method.",
                [
                    (
                        f"sum by ({by}) (rate(grpc_server_msg_received_total{{{sel}}}[{RATE}]))",
                        "received {{grpc_method}}",
                    ),
                    (
                        f"sum by ({by}) (rate(grpc_server_msg_sent_total{{{sel}}}[{RATE}]))",
                        "sent {{grpc_method}}",
                    ),
                ],
                "reqps",
            )
        )
        .with_panel(
            ts(
                "In flight",
                "Calls started and not yet completed (open Watch streams count).",
                [
                    (
                        f"sum by ({by}) (grpc_server_started_total{{{sel}}}) "
                        f"- sum by ({by}) (grpc_server_handled_total{{{sel}}})",
                        "{{grpc_service}}/{{grpc_method}}",
                    )
                ],
            )
        )
    )


BUILDERS: dict[str, Callable[[], db.Dashboard]] = {
    "claimscrub-pipeline.json": pipeline,
    "claimscrub-service.json": service,
    "claimscrub-grpc.json": grpc,
}


def render(build: Callable[[], db.Dashboard]) -> str:
    dashboard: dict[str, Any] = json.loads(json.dumps(build().build(), cls=JSONEncoder))
    # Stable ids in layout order, so a regenerated file diffs only where it changed.
    for i, panel in enumerate(panels_of(dashboard), start=1):
        panel["id"] = i
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


def outputs() -> dict[Path, str]:
    """Every file this script owns, with its content."""
    files: dict[Path, str] = {}
    for name, build in BUILDERS.items():
        text = render(build)
        files[DASHBOARDS / name] = text
        files[CHART / "files/dashboards" / name] = text
    files[CHART / "files/alerts.yml"] = ALERTS.read_text()
    return files


def panels_of(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those nested in collapsed rows included."""
    found: list[dict[str, Any]] = []
    for p in dashboard.get("panels", []):
        found.append(p)
        found.extend(p.get("panels", []))
    return found


def lint(name: str, dashboard: dict[str, Any]) -> list[str]:
    """Structural checks a reviewer would otherwise do by eye."""
    problems: list[str] = []
    ids = [p.get("id") for p in panels_of(dashboard)]
    if len(ids) != len(set(ids)):
        problems.append(f"{name}: duplicate panel ids")
    variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
    for p in panels_of(dashboard):
        if p.get("type") == "row":
            continue
        title = p.get("title") or "?"
        grid = p.get("gridPos", {})
        if grid.get("x", 0) + grid.get("w", 0) > 24:
            problems.append(f"{name}: {title}: wider than the 24-column grid")
        if not p.get("description"):
            problems.append(f"{name}: {title}: no description")
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"{name}: {title}: not on the datasource variable")
        targets = p.get("targets", [])
        if not targets or not all(t.get("expr") for t in targets):
            problems.append(f"{name}: {title}: a target without a PromQL expression")
        for t in targets:
            if "$job" in t.get("expr", "") and "job" not in variables:
                problems.append(f"{name}: {title}: uses $job without a job variable")
    if not dashboard.get("uid") or not dashboard.get("title"):
        problems.append(f"{name}: no uid or title")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate claimscrub's Grafana dashboards.")
    parser.add_argument("--check", action="store_true", help="fail if committed files differ")
    args = parser.parse_args(argv)
    problems: list[str] = []
    files = outputs()
    for path, text in files.items():
        if path.suffix == ".json" and path.parent == DASHBOARDS:
            problems.extend(lint(path.name, json.loads(text)))
    uids = [json.loads(t)["uid"] for p, t in files.items() if p.parent == DASHBOARDS]
    if len(uids) != len(set(uids)):
        problems.append("two dashboards share a uid")
    if args.check:
        for path, text in files.items():
            if not path.is_file() or path.read_text() != text:
                problems.append(
                    f"{path.relative_to(ROOT)} is not what generate.py makes: "
                    "run `python deploy/grafana/generate.py` and commit"
                )
        stale = {p for p in DASHBOARDS.glob("*.json")} - set(files)
        stale |= {p for p in (CHART / "files/dashboards").glob("*.json")} - set(files)
        problems.extend(f"{p.relative_to(ROOT)} is not generated any more" for p in stale)
    else:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        print(f"generate.py: wrote {len(files)} files")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

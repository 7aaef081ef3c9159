"""``python -m claimscrub.bench [--quick]`` (``make bench``, ``make bench QUICK=1``).

1. in-process: the `claimscrub scrub` rule path vs a decode-only baseline;
2. pipeline: every service on a private local Kafka, sustained claims/s;
   CPU s per 1,000 claims and peak RSS per service once every consumer group
   has caught up; then latency percentiles at a fixed offered rate;
3. skeleton: the pipeline's hops (five processes, the same topics) on the
   same engine and broker doing no work (bench/skeleton.py);
4. passthrough: the same engine forwarding claims to results with no checks;
5. 837P intake in-process: parse, validate and map (claimscrub.x12.bench);
6. without --quick (or with --full-ptp): a synthetic full-size PTP file
   (1.5 million rows, bench/ptp_file_gen.py): its load in a fresh process
   (seconds, RSS added), and the in-process scrub with it beside the sample
   table, in alternating passes;
7. state at scale (also alone: --state-only, make bench-state): 2,000,000
   beneficiaries' histories in necessity's state and 5,000,000 fingerprints
   in the aggregator's ledger (a tenth of each with --quick), written to
   their changelog topics (bench/state.py); the pipeline started on an empty
   state directory restores them, then scrubs claims against them: claims/s,
   peak RSS per service, seconds from start to the first answer.
Ends with one JSON line holding every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claimscrub.bench import procstat, skeleton
from claimscrub.bench.claims import make_claims
from claimscrub.bench.load import LoadRun, Record, claim_records, drive, percentile, wait_idle
from claimscrub.bench.profile import Profiler
from claimscrub.runtime.pipeline import PIPELINE
from claimscrub.runtime.testing import REPO_ROOT, LocalKafka, ServiceProcess, free_port
from claimscrub.x12.bench import x12_claims_per_s

if TYPE_CHECKING:
    from claimscrub.necessity.ptp_file import PtpTable

# Between the sustained run and the latency run: every consumer group caught
# up (at most IDLE_TIMEOUT_S), then a pause.
IDLE_TIMEOUT_S = 300.0
SETTLE_S = 2.0
WARM_UP_CLAIMS = 500
IN_PROCESS_PASSES = 3


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _bar(label: str, done: int, total: int) -> None:
    if not sys.stderr.isatty():
        return
    width = 30
    filled = width * done // max(1, total)
    sys.stderr.write(f"\r{label:<28} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _drain_bar() -> Callable[[int], None]:
    """A progress bar over the records the consumers still have to read."""
    most = 0

    def show(lag: int) -> None:
        nonlocal most
        most = max(most, lag)
        _bar("draining the backlog", most - lag, most)

    return show


def _timed(n: int, label: str, fn: Any, claims: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for i, c in enumerate(claims, start=1):
        fn(c, i)
        if i % 200 == 0 or i == n:
            _bar(label, i, n)
    return n / (time.perf_counter() - start)


def _scrubber_factory(ptp: PtpTable | None = None) -> Callable[[], Any]:
    """Fresh scrubbers (empty histories) on the example reference data, with ``ptp``
    as NECESSITY's PTP table when given (loaded once, shared by the scrubbers)."""
    from argparse import Namespace

    from claimscrub.cli.checks import build_checks
    from claimscrub.cli.scrub import Scrubber
    from claimscrub.necessity.check import BatchRules

    examples = REPO_ROOT / "examples"
    args = Namespace(
        mue=None,
        payers=examples / "payers.json",
        enrollment=examples / "enrollment.json",
        ptp=[],
        coverage=[],
    )

    def scrubber() -> Scrubber:
        checks = build_checks(args)
        for check in checks:
            if ptp is not None and isinstance(check.rules, BatchRules):
                check.rules.ref = dataclasses.replace(check.rules.ref, ptp=ptp)
        return Scrubber(checks, dt.date(2026, 6, 1))

    # Steady state, as in a long `claimscrub scrub` run: other claims first,
    # through a scrubber of their own (the timed one starts with no history),
    # so that first-use costs (compiled patterns, loaded tables) are not timed.
    warm = scrubber()
    for i, claim in enumerate(make_claims(WARM_UP_CLAIMS, "IW", seed=7), start=1):
        warm.scrub(claim, i)
    return scrubber


def in_process(n: int) -> dict[str, float]:
    from claimscrub.cli.scrub import decode_input

    claims = make_claims(n, "IP")

    def decode_only(claim: dict[str, Any], i: int) -> None:
        decode_input(claim, i)

    scrubber = _scrubber_factory()
    for i, claim in enumerate(make_claims(WARM_UP_CLAIMS, "IW", seed=7), start=1):
        decode_only(claim, i)
    # Best of IN_PROCESS_PASSES for both loops, each scrub pass with a fresh
    # scrubber: on a shared machine a pass is slowed by others' work, never sped
    # up (timeit's reasoning), and both loops are treated alike.
    decode_rate = max(
        _timed(n, "in-process decode only", decode_only, claims) for _ in range(IN_PROCESS_PASSES)
    )
    rules_rate = max(
        _timed(n, "in-process scrub", scrubber().scrub, claims) for _ in range(IN_PROCESS_PASSES)
    )
    return {"decode_claims_per_s": decode_rate, "inprocess_claims_per_s": rules_rate}


def full_size_ptp(n: int, rows: int | None = None) -> dict[str, float]:
    """A synthetic full-size PTP file: its load, and the in-process scrub with it beside
    the sample table (alternating passes, best of each)."""
    from claimscrub.bench.ptp_file_gen import FULL_SIZE_ROWS, generate
    from claimscrub.bench.ptp_table import load_in_subprocess
    from claimscrub.necessity.ptp_file import load_ptp_files

    with tempfile.TemporaryDirectory(prefix="claimscrub-bench-ptp-") as tmp:
        rows = FULL_SIZE_ROWS if rows is None else rows
        _say(f"writing a synthetic {rows:,}-row PTP file")
        paths = generate(Path(tmp), rows)
        _say("loading it in a fresh process")
        load = load_in_subprocess(paths)
        full = load_ptp_files(paths)
    scrubbers = {"sample": _scrubber_factory(), "full": _scrubber_factory(full)}
    claims = make_claims(n, "IP")
    rates: dict[str, float] = {}
    for _ in range(IN_PROCESS_PASSES):
        for name, scrubber in scrubbers.items():
            rate = _timed(n, f"in-process scrub, {name} PTP", scrubber().scrub, claims)
            rates[name] = max(rates.get(name, 0.0), rate)
    return {
        "ptp_rows": load["rows"],
        "ptp_load_s": load["load_s"],
        "ptp_load_cpu_s": load["load_cpu_s"],
        "ptp_rss_added_mb": load["rss_added_mb"],
        "inprocess_sample_ptp_claims_per_s": rates["sample"],
        "inprocess_full_ptp_claims_per_s": rates["full"],
    }


def _start(procs: list[ServiceProcess]) -> None:
    for p in procs:
        p.start()


def _stop(procs: list[ServiceProcess]) -> None:
    for p in procs:
        p.terminate()


def _phase(kafka: LocalKafka, label: str, records: list[Record], rate: float | None) -> LoadRun:
    run = drive(
        kafka.bootstrap,
        records,
        rate=rate,
        timeout_s=300,
        on_progress=lambda sent, got: _bar(label, got, len(records)),
    )
    missing = len(records) - len([k for k in run.sent if k in run.received])
    if missing:
        _say(f"warning: {label}: {missing} claims got no result within the timeout")
    return run


def _warm_up(kafka: LocalKafka, label: str, prefix: str) -> None:
    """Send small batches until the consumers are assigned and answering."""
    deadline = time.monotonic() + 120
    batch = 0
    while time.monotonic() < deadline:
        batch += 1
        records = claim_records(100, f"{prefix}{batch}")
        run = drive(kafka.bootstrap, records, rate=None, timeout_s=5)
        _bar(label, len(run.received), len(records))
        if len(run.received) == len(records):
            return
    _say(f"warning: {label}: the services did not answer every claim within 120 s")


def bench_kafka() -> LocalKafka:
    """The bench's private broker (port CLAIMSCRUB_BENCH_KAFKA_PORT, default 47092)."""
    port = int(os.environ.get("CLAIMSCRUB_BENCH_KAFKA_PORT", "47092"))
    return LocalKafka(port=port, run_dir=REPO_ROOT / ".run" / f"bench-kafka-{port}")


def bench_env() -> dict[str, str]:
    return {
        "CLAIMSCRUB_PAYERS_FILE": str(REPO_ROOT / "examples" / "payers.json"),
        "CLAIMSCRUB_LOG_LEVEL": "WARNING",
    }


def start_pipeline(kafka: LocalKafka, work: Path, env: dict[str, str]) -> list[ServiceProcess]:
    """The example enrollment records on the broker, then every PIPELINE service
    running (``env`` gains the enrollment address); none left running on failure."""
    from claimscrub.cli.enrollment import publish_records
    from claimscrub.enrollment.records import read_records

    publish_records(read_records(REPO_ROOT / "examples" / "enrollment.json"), kafka.bootstrap)
    ports = {name: (free_port(), free_port()) for name, _ in PIPELINE}
    env["CLAIMSCRUB_ENROLLMENT_ADDR"] = f"127.0.0.1:{ports['enrollment'][0]}"
    procs = [
        ServiceProcess(name, module, *ports[name], kafka, work, env) for name, module in PIPELINE
    ]
    try:
        _start(procs)
    except Exception:
        _stop(procs)
        raise
    return procs


def _cpu(pid: int | None) -> float:
    return procstat.cpu_seconds(pid) if pid is not None else 0.0


def _per_1000(cpu_s: float, claims: int) -> float:
    return 1000 * cpu_s / max(1, claims)


def pipeline_and_passthrough(
    sustained: int, latency_s: float, rate: float, profile_dir: Path | None = None
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="claimscrub-bench-"))
    kafka = bench_kafka()
    env = bench_env()
    # The engine's state of this broker only: none left by an earlier run.
    env["CLAIMSCRUB_STATE_DIR"] = str(work / "state")
    figures: dict[str, Any] = {}
    _say(f"starting a private Kafka on {kafka.bootstrap}")
    try:
        # Inside: a broker that started but failed its topics step is stopped too.
        kafka.start()
        procs = start_pipeline(kafka, work, env)
        try:
            _warm_up(kafka, "pipeline warm-up", "WU")
            cpu0 = {p.name: procstat.cpu_seconds(p.proc.pid) for p in procs if p.proc}
            broker0 = _cpu(kafka.pid())
            profiler = Profiler(profile_dir) if profile_dir is not None else None
            if profiler is not None:
                for p in procs:
                    if p.proc:
                        profiler.start(p.name, p.proc.pid)
            run = _phase(kafka, "pipeline sustained", claim_records(sustained, "PS"), None)
            if profiler is not None:
                for top in profiler.stop():
                    _say(f"profile: {top}")
            figures["pipeline_claims_per_s"] = run.throughput()
            # Every service's work for these claims, the backlog of the ones
            # downstream of the results (redaction) included: CPU is read once
            # no consumer group lags. That is also the steady state the latency
            # run starts from.
            waited = wait_idle(kafka.bootstrap, IDLE_TIMEOUT_S, on_progress=_drain_bar())
            if waited is None:
                _say(f"warning: consumers still lagging after {IDLE_TIMEOUT_S:.0f} s")
            figures["drained_after_s"] = waited
            figures["per_service"] = {
                p.name: {
                    "cpu_s_per_1000": 1000
                    * (procstat.cpu_seconds(p.proc.pid) - cpu0[p.name])
                    / max(1, len(run.received)),
                    "peak_rss_mb": procstat.peak_rss_mb(p.proc.pid),
                }
                for p in procs
                if p.proc
            }
            figures["broker_cpu_s_per_1000"] = _per_1000(
                _cpu(kafka.pid()) - broker0, len(run.received)
            )
            time.sleep(SETTLE_S)
            n_lat = int(rate * latency_s)
            lat = _phase(kafka, f"pipeline at {rate:g}/s", claim_records(n_lat, "PL"), rate)
            ms = lat.latencies_ms()
            figures.update(
                offered_rate=rate,
                p50_ms=percentile(ms, 0.50),
                p95_ms=percentile(ms, 0.95),
                p99_ms=percentile(ms, 0.99),
                duplicates=run.duplicates + lat.duplicates,
            )
            figures["max_rss_mb"] = max(s["peak_rss_mb"] for s in figures["per_service"].values())
        finally:
            _stop(procs)
        figures.update(_skeleton(kafka, work, env, sustained))
        passthrough = ServiceProcess(
            "passthrough",
            "claimscrub.bench.passthrough",
            free_port(),
            free_port(),
            kafka,
            work,
            env,
        )
        passthrough.start()
        try:
            _warm_up(kafka, "passthrough warm-up", "WP")
            assert passthrough.proc is not None
            own0, broker0 = _cpu(passthrough.proc.pid), _cpu(kafka.pid())
            run = _phase(kafka, "passthrough sustained", claim_records(sustained, "PP"), None)
            figures["passthrough_claims_per_s"] = run.throughput()
            n = len(run.received)
            figures["passthrough_cpu_s_per_1000"] = _per_1000(_cpu(passthrough.proc.pid) - own0, n)
            figures["passthrough_broker_cpu_s_per_1000"] = _per_1000(_cpu(kafka.pid()) - broker0, n)
        finally:
            passthrough.terminate()
    finally:
        kafka.stop()
    return figures


def _skeleton(kafka: LocalKafka, work: Path, env: dict[str, str], sustained: int) -> dict[str, Any]:
    """The pipeline's hops doing no work (bench/skeleton.py), on the same broker."""
    procs = skeleton.processes(kafka, work, env)
    try:
        _start(procs)
        _warm_up(kafka, "skeleton warm-up", "WK")
        cpu0 = {p.name: _cpu(p.proc.pid if p.proc else None) for p in procs}
        broker0 = _cpu(kafka.pid())
        run = _phase(kafka, "skeleton sustained", claim_records(sustained, "PK"), None)
        # Its redaction, like the pipeline's, may still be reading: count that too.
        wait_idle(kafka.bootstrap, IDLE_TIMEOUT_S, prefix=skeleton.GROUP_PREFIX)
        n = len(run.received)
        own = sum(_cpu(p.proc.pid if p.proc else None) - cpu0[p.name] for p in procs)
        return {
            "skeleton_claims_per_s": run.throughput(),
            "skeleton_cpu_s_per_1000": _per_1000(own, n),
            "skeleton_broker_cpu_s_per_1000": _per_1000(_cpu(kafka.pid()) - broker0, n),
        }
    finally:
        _stop(procs)


def _first_answer(kafka: LocalKafka, prefix: str, deadline_s: float) -> float | None:
    """Seconds until a batch of claims is answered whole (the services have
    their partitions and their state), or None after ``deadline_s``."""
    start = time.monotonic()
    batch = 0
    while time.monotonic() - start < deadline_s:
        batch += 1
        records = claim_records(20, f"{prefix}{batch}-")
        run = drive(kafka.bootstrap, records, rate=None, timeout_s=5)
        if len(run.received) == len(records):
            return time.monotonic() - start
    return None


def _partitions(bootstrap: str, topic: str) -> int:
    from confluent_kafka.admin import AdminClient

    from claimscrub.runtime.kafka_config import client_config

    return len(
        AdminClient(client_config(bootstrap))
        .list_topics(topic, timeout=30)
        .topics[topic]
        .partitions
    )


def state_at_scale(histories: int, fingerprints: int, claims: int) -> dict[str, Any]:
    """make bench-state: necessity's histories and the aggregator's ledger
    written to their changelogs (bench/state.py), the pipeline started on an
    empty state directory (so it restores them), then claims scrubbed
    against them."""
    from claimscrub.bench.state import ledger_records, necessity_records, produce_changelog
    from claimscrub.necessity.beneficiary import hmac_key
    from claimscrub.runtime.topics import AGGREGATOR_LEDGER_CHANGELOG, NECESSITY_HISTORY_CHANGELOG

    work = Path(tempfile.mkdtemp(prefix="claimscrub-bench-state-"))
    kafka = bench_kafka()
    env = bench_env()
    env["CLAIMSCRUB_STATE_DIR"] = str(work / "state")
    raw = make_claims(claims, "SS", seed=zlib.crc32(b"SS"))
    records = claim_records(claims, "SS")
    figures: dict[str, Any] = {}
    _say(f"state at scale: a private Kafka on {kafka.bootstrap}")
    try:
        # Inside: a broker that started but failed its topics step is stopped too.
        kafka.start()
        key, _ = hmac_key(env)  # the services' own (the development key in the bench)
        history_parts = _partitions(kafka.bootstrap, NECESSITY_HISTORY_CHANGELOG.name)
        ledger_parts = _partitions(kafka.bootstrap, AGGREGATOR_LEDGER_CHANGELOG.name)
        loads = (
            (
                NECESSITY_HISTORY_CHANGELOG.name,
                histories,
                necessity_records(raw, histories, key, history_parts),
            ),
            (
                AGGREGATOR_LEDGER_CHANGELOG.name,
                fingerprints,
                ledger_records(fingerprints, ledger_parts, int(time.time() * 1000)),
            ),
        )
        for topic, total, rows in loads:
            start = time.monotonic()
            n = produce_changelog(
                kafka.bootstrap,
                topic,
                rows,
                on_progress=partial(_bar, f"loading {topic}"[:28], total=total),
            )
            _say(f"wrote {n:,} records to {topic} in {time.monotonic() - start:.0f} s")
        started = time.monotonic()
        procs = start_pipeline(kafka, work, env)
        try:
            restored = _first_answer(kafka, "SR", IDLE_TIMEOUT_S * 4)
            if restored is None:
                _say("warning: state at scale: no answer after the restore's deadline")
            figures["state_restore_s"] = (
                float("nan") if restored is None else time.monotonic() - started
            )
            run = _phase(kafka, f"scrub against state ({claims:,} claims)", records, None)
            figures["state_claims_per_s"] = run.throughput()
            wait_idle(kafka.bootstrap, IDLE_TIMEOUT_S)
            rss = {p.name: procstat.peak_rss_mb(p.proc.pid) for p in procs if p.proc}
            figures["state_rss_mb"] = rss
            figures["state_max_rss_mb"] = max(rss.values())
        finally:
            _stop(procs)
    finally:
        kafka.stop()
    figures.update(state_histories=histories, state_fingerprints=fingerprints)
    return figures


#: make bench-state's sizes: beneficiaries' histories, fingerprints, claims scrubbed.
STATE_FULL = (2_000_000, 5_000_000, 20_000)
STATE_QUICK = (200_000, 500_000, 2_000)
STATE_KEYS = ("state_claims_per_s", "state_max_rss_mb", "state_restore_s")


def _state_rows(figures: dict[str, Any], small_state: float | None) -> list[tuple[str, str]]:
    beside = "" if small_state is None else f" (small state: {small_state:,.0f})"
    rows = [
        (
            f"pipeline against {figures['state_histories']:,} histories, "
            f"{figures['state_fingerprints']:,} fingerprints",
            f"{figures['state_claims_per_s']:,.0f} claims/s{beside}",
        ),
        (
            "  start to first answer, state restored from changelogs",
            f"{figures['state_restore_s']:.1f} s",
        ),
    ]
    rows += [(f"  {name}", f"peak RSS {mb:.0f} MB") for name, mb in figures["state_rss_mb"].items()]
    return rows


def _print_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def _summary(figures: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: round(float(figures[k]), 2) for k in keys if k in figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("QUICK", "") not in ("", "0"),
        help="a smaller run that finishes in about two minutes (QUICK=1)",
    )
    parser.add_argument("--rate", type=float, default=300.0, help="offered rate for latency")
    parser.add_argument(
        "--profile",
        type=Path,
        default=Path(os.environ["PROFILE"]) if os.environ.get("PROFILE") else None,
        metavar="DIR",
        help="sample every service with py-spy during the sustained phase and write "
        "DIR/<service>.raw (collapsed stacks) and DIR/<service>.top.txt (PROFILE=DIR)",
    )
    parser.add_argument(
        "--full-ptp",
        action="store_true",
        help="the full-size PTP part (6. above) in a --quick run too",
    )
    parser.add_argument(
        "--state-only",
        action="store_true",
        help="only the state at scale (make bench-state; 7. above)",
    )
    args = parser.parse_args(argv)
    n_in, sustained, latency_s = (2_000, 5_000, 10.0) if args.quick else (10_000, 50_000, 30.0)
    state_size = STATE_QUICK if args.quick else STATE_FULL
    if args.state_only:
        state = state_at_scale(*state_size)
        _print_rows(_state_rows(state, None))
        print(json.dumps({**_summary(state, STATE_KEYS), "quick": args.quick}))
        return 0

    figures: dict[str, Any] = in_process(n_in)
    _say("in-process 837P intake (parse, validate, map)")
    figures["x12_claims_per_s"] = x12_claims_per_s(n_in // 5)
    if args.full_ptp or not args.quick:
        figures.update(full_size_ptp(n_in))
    figures.update(pipeline_and_passthrough(sustained, latency_s, args.rate, args.profile))
    figures.update(state_at_scale(*state_size))
    ratio_in = figures["inprocess_claims_per_s"] / figures["decode_claims_per_s"]
    ratio_pipe = figures["pipeline_claims_per_s"] / max(1e-9, figures["passthrough_claims_per_s"])
    ratio_skeleton = figures["pipeline_claims_per_s"] / max(1e-9, figures["skeleton_claims_per_s"])
    rows = [
        ("in-process scrub", f"{figures['inprocess_claims_per_s']:,.0f} claims/s"),
        ("in-process decode only (baseline)", f"{figures['decode_claims_per_s']:,.0f} claims/s"),
        ("  ratio scrub / decode", f"{ratio_in:.2f}"),
        ("837P intake: parse, validate, map", f"{figures['x12_claims_per_s']:,.0f} claims/s"),
    ]
    if "ptp_rows" in figures:
        rows += [
            (
                f"full-size PTP table ({figures['ptp_rows']:,.0f} rows): load",
                f"{figures['ptp_load_s']:.1f} s ({figures['ptp_load_cpu_s']:.1f} CPU s), "
                f"RSS +{figures['ptp_rss_added_mb']:.0f} MB",
            ),
            (
                "  in-process scrub, full-size / sample PTP",
                f"{figures['inprocess_full_ptp_claims_per_s']:,.0f} / "
                f"{figures['inprocess_sample_ptp_claims_per_s']:,.0f} claims/s",
            ),
        ]
    rows += [
        (
            f"pipeline sustained ({sustained:,} claims)",
            f"{figures['pipeline_claims_per_s']:,.0f} claims/s",
        ),
        ("passthrough (baseline)", f"{figures['passthrough_claims_per_s']:,.0f} claims/s"),
        ("  ratio pipeline / passthrough", f"{ratio_pipe:.2f}"),
        (
            "skeleton: the pipeline's hops, no work (baseline)",
            f"{figures['skeleton_claims_per_s']:,.0f} claims/s",
        ),
        ("  ratio pipeline / skeleton", f"{ratio_skeleton:.2f}"),
        (
            f"latency at {args.rate:g}/s offered p50/p95/p99",
            f"{figures['p50_ms']:.0f} / {figures['p95_ms']:.0f} / {figures['p99_ms']:.0f} ms",
        ),
    ]
    drained = figures.get("drained_after_s")
    rows.append(
        (
            "  backlog drained after the sustained run",
            "not within the timeout" if drained is None else f"{drained:.1f} s",
        )
    )
    for name, s in figures["per_service"].items():
        rows.append(
            (
                f"  {name}",
                f"{s['cpu_s_per_1000']:.2f} CPU s/1000 claims, peak RSS {s['peak_rss_mb']:.0f} MB",
            )
        )
    rows.append(
        (
            "  kafka broker",
            f"{figures['broker_cpu_s_per_1000']:.2f} CPU s/1000 claims "
            f"(passthrough run: {figures['passthrough_broker_cpu_s_per_1000']:.2f}, "
            f"passthrough service {figures['passthrough_cpu_s_per_1000']:.2f})",
        )
    )
    rows.append(
        (
            "  skeleton run",
            f"{figures['skeleton_cpu_s_per_1000']:.2f} CPU s/1000 claims in its five processes, "
            f"{figures['skeleton_broker_cpu_s_per_1000']:.2f} in the broker",
        )
    )
    rows += _state_rows(figures, figures["pipeline_claims_per_s"])
    _print_rows(rows)
    keys = (
        "inprocess_claims_per_s",
        "decode_claims_per_s",
        "x12_claims_per_s",
        "pipeline_claims_per_s",
        "passthrough_claims_per_s",
        "skeleton_claims_per_s",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "offered_rate",
        "max_rss_mb",
        *STATE_KEYS,
    )
    ptp_keys = (
        "ptp_load_s",
        "ptp_rss_added_mb",
        "inprocess_full_ptp_claims_per_s",
        "inprocess_sample_ptp_claims_per_s",
    )
    summary = {k: round(float(figures[k]), 2) for k in (*keys, *ptp_keys) if k in figures}
    summary["quick"] = args.quick
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

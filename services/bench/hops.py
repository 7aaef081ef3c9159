"""Where a claim's latency goes: ``python -m claimscrub.bench.hops``.

Runs the pipeline on a private broker (like ``make bench``), optionally
preloads claims at full speed (state as after a busy hour), then offers
claims at a fixed rate and reads every topic back: each record's producer
timestamp gives the time a claim took from one stage to the next. Prints
p50/p95/p99 per hop and end to end (docs/performance.md, "Latency").
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from claimscrub.aggregator.clock import is_tick
from claimscrub.bench.__main__ import _warm_up, bench_env, bench_kafka, start_pipeline
from claimscrub.bench.load import claim_records, drive, percentile
from claimscrub.core.codec import decode_check_result, decode_scrub_result
from claimscrub.necessity.topology import CLAIM_KEY_HEADER
from claimscrub.runtime.testing import consume_all
from claimscrub.runtime.topics import (
    AGGREGATOR_BY_FINGERPRINT,
    CLAIMS_CHECKS,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
    NECESSITY_BY_BENEFICIARY,
)

PREFIX = "HOP"
#: The topics whose records' timestamps give the hops.
MEASURED = (
    CLAIMS_SUBMITTED,
    NECESSITY_BY_BENEFICIARY,
    CLAIMS_CHECKS,
    AGGREGATOR_BY_FINGERPRINT,
    CLAIMS_SCRUBBED,
)


def stamp_on_append(bootstrap: str) -> None:
    """The measured topics of this private broker stamp each record with the
    time the broker appended it: the engine's outputs carry their input's
    timestamp (runtime.engine.guarded), so producer timestamps tell no hop."""
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

    from claimscrub.runtime.kafka_config import client_config

    admin = AdminClient(client_config(bootstrap))
    entry = ConfigEntry(
        "message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET
    )
    resources = [
        ConfigResource("topic", spec.name, incremental_configs=[entry]) for spec in MEASURED
    ]
    # Incremental: the topics' other settings (retention, message size) stay.
    for future in admin.incremental_alter_configs(resources).values():
        future.result()


def _timestamps(bootstrap: str, topic: str) -> list[Any]:
    return consume_all(bootstrap, topic, until=1, settle_s=2, timeout_s=120)


def hops(bootstrap: str) -> dict[str, list[float]]:
    """Per claim of this run, the ms between its records on consecutive topics."""
    submitted = {
        r.key.decode(): r.timestamp
        for r in _timestamps(bootstrap, CLAIMS_SUBMITTED.name)
        if r.key.startswith(PREFIX.encode())
    }
    routed: dict[str, int] = {}
    for r in _timestamps(bootstrap, NECESSITY_BY_BENEFICIARY.name):
        claim = dict(r.headers).get(CLAIM_KEY_HEADER, b"").decode()
        routed.setdefault(claim, r.timestamp)
    verdicts: dict[tuple[str, str], int] = {}
    for r in _timestamps(bootstrap, CLAIMS_CHECKS.name):
        if r.key.startswith(PREFIX.encode()):
            verdicts.setdefault(
                (r.key.decode(), decode_check_result(r.value).check.value), r.timestamp
            )
    forwarded: dict[str, int] = {}
    for r in _timestamps(bootstrap, AGGREGATOR_BY_FINGERPRINT.name):
        if is_tick(list(r.headers or ())):
            continue  # the aggregator's clock (aggregator/clock.py)
        claim = decode_scrub_result(r.value).claim_id
        forwarded.setdefault(claim, r.timestamp)
    scrubbed: dict[str, int] = {}
    for r in _timestamps(bootstrap, CLAIMS_SCRUBBED.name):
        scrubbed.setdefault(r.key.decode(), r.timestamp)
    out: dict[str, list[float]] = collections.defaultdict(list)
    for claim, t0 in submitted.items():
        checks = {c: verdicts.get((claim, c)) for c in ("UNITS", "ENROLLMENT", "NECESSITY")}
        for check, t in checks.items():
            if t is not None:
                out[f"submitted -> {check} verdict"].append(t - t0)
        if claim in routed:
            out["submitted -> necessity router"].append(routed[claim] - t0)
            if checks["NECESSITY"] is not None:
                out["necessity router -> verdict"].append(checks["NECESSITY"] - routed[claim])
        last = max((t for t in checks.values() if t is not None), default=None)
        if last is not None and claim in forwarded:
            out["last verdict -> aggregator collect"].append(forwarded[claim] - last)
        if claim in forwarded and claim in scrubbed:
            out["collect -> published"].append(scrubbed[claim] - forwarded[claim])
        if claim in scrubbed:
            out["submitted -> published"].append(scrubbed[claim] - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m claimscrub.bench.hops", description=__doc__)
    parser.add_argument("--rate", type=float, default=300.0, help="claims per second offered")
    parser.add_argument("--claims", type=int, default=6000, help="claims offered at --rate")
    parser.add_argument(
        "--preload", type=int, default=0, help="claims sent at full speed first (state to hold)"
    )
    args = parser.parse_args(argv)
    kafka = bench_kafka()
    work = Path(tempfile.mkdtemp(prefix="claimscrub-hops-"))
    print(f"starting a private Kafka on {kafka.bootstrap}", file=sys.stderr)
    try:
        # Inside: a broker that started but failed its topics step is stopped too.
        kafka.start()
        stamp_on_append(kafka.bootstrap)
        procs = start_pipeline(kafka, work, bench_env())
        try:
            _warm_up(kafka, "warm-up", "HW")
            if args.preload:
                pre = drive(
                    kafka.bootstrap, claim_records(args.preload, "HP"), rate=None, timeout_s=600
                )
                print(f"preload: {pre.throughput():,.0f} claims/s", file=sys.stderr)
                time.sleep(5)
            run = drive(
                kafka.bootstrap, claim_records(args.claims, PREFIX), rate=args.rate, timeout_s=300
            )
            ms = run.latencies_ms()
            print(
                f"end to end at {args.rate:g}/s (submit to result, as the client sees it): "
                f"p50 {percentile(ms, 0.5):.0f} / p95 {percentile(ms, 0.95):.0f} / "
                f"p99 {percentile(ms, 0.99):.0f} ms"
            )
            for name, values in hops(kafka.bootstrap).items():
                values.sort()
                p50, p95, p99 = (percentile(values, q) for q in (0.5, 0.95, 0.99))
                figures = f"p50 {p50:>5.0f}  p95 {p95:>5.0f}  p99 {p99:>5.0f} ms"
                print(f"  {name:<36} n={len(values):<6} {figures}")
        finally:
            for p in procs:
                p.terminate()
    finally:
        kafka.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

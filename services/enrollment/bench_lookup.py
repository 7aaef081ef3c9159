"""Latency of GetEnrollment as a caller sees it.

    python -m claimscrub.enrollment.bench_lookup --target 127.0.0.1:50053 \\
        --calls 10000 --records examples/enrollment.json

One blocking channel built by :mod:`claimscrub.enrollment.client` (the retry
service config other services use), unary calls one after another, each timed
on the client with ``time.perf_counter_ns`` from the call to its reply, after
``--warmup`` untimed calls (connection set-up, first-call allocation). The
requests cycle through the providers of ``--records`` with dates inside and
outside their windows, plus an NPI with no record, so the answers are a mix of
enrolled, not enrolled and not found. Percentiles are nearest-rank.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import sys
import time
from pathlib import Path

import grpc

from claimscrub.enrollment.client import channel
from claimscrub.enrollment.records import read_records
from claimscrub.v1 import enrollment_service_pb2 as pb
from claimscrub.v1 import enrollment_service_pb2_grpc as rpc

# Valid check digit, listed in no example file: exercises the "no record" path.
_UNKNOWN_NPI = "1999999992"


def percentile(sorted_ns: list[int], p: float) -> int:
    """Nearest-rank percentile of sorted samples."""
    rank = max(1, math.ceil(p / 100 * len(sorted_ns)))
    return sorted_ns[rank - 1]


def requests_for(records_file: Path | None) -> list[pb.GetEnrollmentRequest]:
    if records_file is None:
        return [pb.GetEnrollmentRequest(npi="1234567893", payer_id="MEDICARE", date="2026-05-04")]
    out: list[pb.GetEnrollmentRequest] = []
    for r in read_records(records_file):
        base = r.effective_date or dt.date(2026, 5, 4)
        for on in (base, base - dt.timedelta(days=31), dt.date(2026, 5, 4)):
            out.append(pb.GetEnrollmentRequest(npi=r.npi, payer_id=r.payer_id, date=on.isoformat()))
    out.append(pb.GetEnrollmentRequest(npi=_UNKNOWN_NPI, payer_id="MEDICARE", date="2026-05-04"))
    return out


def run(target: str, calls: int, warmup: int, timeout_s: float, records: Path | None) -> int:
    reqs = requests_for(records)
    samples: list[int] = []
    enrolled = 0
    with channel(target) as ch:
        stub = rpc.EnrollmentServiceStub(ch)
        try:
            for i in range(warmup):
                stub.GetEnrollment(reqs[i % len(reqs)], timeout=timeout_s)
            for i in range(calls):
                req = reqs[i % len(reqs)]
                started = time.perf_counter_ns()
                reply = stub.GetEnrollment(req, timeout=timeout_s)
                samples.append(time.perf_counter_ns() - started)
                enrolled += reply.enrolled_on_date
        except grpc.RpcError as exc:
            print(f"bench_lookup: call failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    samples.sort()

    def ms(ns: float) -> str:
        return f"{ns / 1e6:.3f} ms"

    total_s = sum(samples) / 1e9
    print(f"GetEnrollment on {target}: {calls} sequential unary calls after {warmup} warm-up")
    print(f"  {len(reqs)} distinct requests cycled; {enrolled} answers enrolled_on_date=true")
    print(
        f"  p50 {ms(percentile(samples, 50))}  p90 {ms(percentile(samples, 90))}  "
        f"p99 {ms(percentile(samples, 99))}  p99.9 {ms(percentile(samples, 99.9))}"
    )
    print(
        f"  min {ms(samples[0])}  mean {ms(sum(samples) / len(samples))}  max {ms(samples[-1])}  "
        f"({calls / total_s:.0f} calls/s)"
    )
    print(
        f"  client: Python {platform.python_version()}, grpcio {grpc.__version__}, "
        f"{os.cpu_count()} CPUs"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m claimscrub.enrollment.bench_lookup")
    parser.add_argument("--target", default="127.0.0.1:50053", help="HOST:PORT of the service")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=2.0, help="deadline per call, seconds")
    parser.add_argument("--records", type=Path, help="enrollment file whose providers to ask for")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.warmup < 0:
        parser.error("--calls must be at least 1 and --warmup at least 0")
    return run(args.target, args.calls, args.warmup, args.timeout, args.records)


if __name__ == "__main__":
    sys.exit(main())

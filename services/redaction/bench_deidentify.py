"""Claims per second through ``Deidentifier.deidentify``, in this process.

    python -m claimscrub.redaction.bench_deidentify [--claims 2000] [--repeat 3]

The claims are the bench generator's (``claimscrub.bench.claims``, as ``make
bench`` sends them) plus ``examples/claims.json``; the Deidentifier is built
as the service builds it (``main.py``: default config, a findings callback).
Prints the best of ``--repeat`` timed passes, after one warm-up pass, so that
caches filled by earlier claims (per-date finders) count as they do in a
long-running service.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from claimscrub.bench.claims import make_claims
from claimscrub.redaction.config import RedactionConfig
from claimscrub.redaction.deidentify import Deidentifier
from claimscrub.runtime.testing import REPO_ROOT


def bench_claims(n: int) -> list[Any]:
    examples: list[Any] = json.loads((REPO_ROOT / "examples/claims.json").read_text())
    return [*make_claims(n, "BENCH-DEID", seed=2026), *examples]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m claimscrub.redaction.bench_deidentify")
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    claims = bench_claims(args.claims)
    findings: Counter[str] = Counter()

    def count(counts: Mapping[str, int]) -> None:
        findings.update(counts)

    deid = Deidentifier(RedactionConfig(), on_redacted=count)
    for claim in claims:  # warm-up
        deid.deidentify(claim, fallback_id="bench")
    best = float("inf")
    for _ in range(max(1, args.repeat)):
        started = time.perf_counter()
        for claim in claims:
            deid.deidentify(claim, fallback_id="bench")
        best = min(best, time.perf_counter() - started)
    print(
        f"Deidentifier.deidentify: {len(claims)} claims ({args.claims} generated + examples), "
        f"best of {args.repeat}: {len(claims) / best:.0f} claims/s, "
        f"{best / len(claims) * 1e6:.0f} µs/claim"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

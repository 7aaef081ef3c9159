"""The aggregator's own work per claim, without Kafka or the stream engine.

``python -m claimscrub.aggregator.bench_steps [N]`` folds three CheckResults per
claim (decode, :func:`~claimscrub.aggregator.state.collect`, the JSON of the
state a changelog write serialises) and decides and encodes its publication
(:func:`~claimscrub.aggregator.ledger.decide`), for N claims with distinct
fingerprints, and prints the time per claim. The engine's own cost per
consumed event comes on top, four events per claim.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from claimscrub.aggregator.ledger import Trust, decide
from claimscrub.aggregator.state import collect
from claimscrub.core.codec import decode_check_result, encode_check_result, encode_scrub_result
from claimscrub.core.edits import CheckName, edit
from claimscrub.core.results import CheckResult

REQUIRED = ("UNITS", "NECESSITY", "ENROLLMENT")


def run(n: int) -> float:
    """Seconds per claim."""
    units_edit = edit("UNITS_EXCEED_TIME", 1, "97110 billed 3 units; 30 timed minutes support 2")
    events = [
        encode_check_result(
            CheckResult(
                f"B-{i:07d}",
                CheckName(check),
                (units_edit,) if check == "UNITS" else (),
                claim_version=f"{i:032x}",
                fingerprint=f"{i:032d}",
            )
        )
        for i in range(n)
        for check in REQUIRED
    ]
    states: dict[str, Any] = {}
    ledger: dict[str, Any] = {}
    trust = Trust("bench")
    started = time.perf_counter()
    for value in events:
        incoming = decode_check_result(value)
        step = collect(
            states.get(incoming.claim_id),
            incoming,
            REQUIRED,
            now_ms=0,
            partition=0,
            incarnation="bench",
        )
        states[incoming.claim_id] = step.state
        json.dumps(step.state)
        if step.forward is not None:
            c = step.forward
            encode_scrub_result(c.result, c.version)
            decision = decide(
                ledger.get(c.fingerprint),
                c.claim_id,
                c.version,
                fingerprinted=True,
                now_ms=0,
                partition=0,
                trust=trust,
            )
            ledger[c.fingerprint] = decision.entry
            json.dumps(decision.entry)
    return (time.perf_counter() - started) / n


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 20_000
    per_claim = run(n)
    print(f"{n} claims: {per_claim * 1e6:.0f} us per claim (3 verdicts folded, 1 publication)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

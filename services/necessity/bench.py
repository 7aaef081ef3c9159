"""Claims per second of the NECESSITY rules in one process, on realistic claims.

    python -m claimscrub.necessity.bench [--claims 20000] [--beneficiaries 4000]

The claims are the bundled examples (examples/claims.json, every NECESSITY
edit and the clean cases; the malformed one left out), copied with new claim
ids and spread over a pool of beneficiaries so histories build up as in a
real batch. Two figures, best of three runs each:

* ``rules``: the pure function ``check_necessity`` on parsed claims, each
  with its beneficiary's history as the batch had built it and the role from
  the claim's taxonomy;
* ``check``: what `claimscrub scrub` does per parsed claim for this check:
  claim-level edits, beneficiary token (HMAC), role, rules, and recording the
  claim in the in-memory history (``Check.run`` with :class:`BatchRules`).

Parsing and JSON decoding are left out of both: they are shared by every check.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claimscrub.core.claim import Claim, ParsedClaim, parse_claim
from claimscrub.necessity.beneficiary import beneficiary_token
from claimscrub.necessity.check import BatchRules, load_reference, necessity_check
from claimscrub.necessity.history import History, record_claim
from claimscrub.necessity.roles import resolve_role_sync
from claimscrub.necessity.rules import check_necessity

_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def realistic_claims(n: int, beneficiaries: int) -> list[dict[str, Any]]:
    examples = json.loads((_EXAMPLES / "claims.json").read_text(encoding="utf-8"))
    usable = [c for c in examples if parse_claim(c).ok]
    out = []
    for i in range(n):
        c = copy.deepcopy(usable[i % len(usable)])
        c["claimId"] = f"BENCH-{i:07d}"
        c.setdefault("patient", {})["memberId"] = f"BM{i % beneficiaries:08d}"
        out.append(c)
    return out


def _best_of(runs: int, work: Callable[[], int]) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(runs):
        started = time.perf_counter()
        count = work()
        best = min(best, time.perf_counter() - started)
    return best, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m claimscrub.necessity.bench")
    parser.add_argument("--claims", type=int, default=20000)
    parser.add_argument("--beneficiaries", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    ref = load_reference(payers_file=_EXAMPLES / "payers.json")
    raw = realistic_claims(args.claims, args.beneficiaries)
    parsed: list[ParsedClaim] = [parse_claim(c) for c in raw]
    claims: list[Claim] = [p.claim for p in parsed if p.claim is not None]
    key = b"bench-key"

    # Each claim's history as the batch had built it when the claim came.
    snapshots: list[History | None] = []
    histories: dict[str, History] = {}
    for claim in claims:
        token = beneficiary_token(claim, key)
        snapshots.append(histories.get(token))
        histories[token] = record_claim(histories.get(token), claim, ref)
    roles = [resolve_role_sync(c, ref, None) for c in claims]

    def rules_only() -> int:
        edits = 0
        for claim, history, role in zip(claims, snapshots, roles, strict=True):
            edits += len(check_necessity(claim, ref=ref, history=history, role=role))
        return edits

    def whole_check() -> int:
        check = necessity_check(ref, BatchRules(ref, key))
        today = dt.date(2026, 6, 1)
        return sum(len(check.run(p, today).edits) for p in parsed)

    rules_s, rules_edits = _best_of(args.runs, rules_only)
    check_s, check_edits = _best_of(args.runs, whole_check)
    n = len(claims)
    print(
        f"python {platform.python_version()} on {platform.machine()}, {n} claims, "
        f"{args.beneficiaries} beneficiaries, best of {args.runs}"
    )
    print(
        f"rules  {n / rules_s:9.0f} claims/s  ({rules_s * 1e6 / n:6.1f} us/claim, "
        f"{rules_edits} edits)"
    )
    print(
        f"check  {n / check_s:9.0f} claims/s  ({check_s * 1e6 / n:6.1f} us/claim, "
        f"{check_edits} edits)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

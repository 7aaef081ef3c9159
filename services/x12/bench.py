"""``x12_claims_per_s`` for ``make bench``: 837P parse + 005010X222A1 validation
+ mapping to claims, in this process (no checks: those are timed apart)."""

from __future__ import annotations

import time

from claimscrub.bench.claims import make_claims
from claimscrub.x12.compose import interchange
from claimscrub.x12.intake import intake


def x12_claims_per_s(n: int) -> float:
    data = interchange(make_claims(n, "X12"), claims_per_set=1000).encode()
    intake(interchange(make_claims(5, "X12W")).encode())  # loads the maps: not timed
    start = time.perf_counter()
    claims, _ack = intake(data)
    elapsed = time.perf_counter() - start
    if len(claims) != n:
        raise RuntimeError(f"x12 bench: {len(claims)} of {n} generated claims were accepted")
    return n / elapsed

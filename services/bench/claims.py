"""Realistic generated claims: 1-6 lines, timed and untimed codes, some with edits."""

from __future__ import annotations

import random
from typing import Any

from claimscrub.units.rules import allocate_units

_TIMED = ["97110", "97112", "97140", "97530", "97116", "97035"]
_UNTIMED = ["97161", "97150", "G0283"]
#: Every procedure code the generated claims carry.
CODES = frozenset(_TIMED + _UNTIMED)
_FIRST = ["Avery", "Jordan", "Morgan", "Riley", "Casey", "Quinn", "Harper", "Rowan"]
_LAST = ["Benchley", "Loadman", "Throughput", "Sample", "Synthetic", "Fakename"]


def make_claim(rng: random.Random, claim_id: str) -> dict[str, Any]:
    n_lines = rng.randint(1, 6)
    n_untimed = min(n_lines - 1, rng.choice([0, 0, 1])) if n_lines > 1 else 0
    timed = rng.sample(_TIMED, min(n_lines - n_untimed, len(_TIMED)))
    minutes = {i: rng.randint(8, 40) for i in range(1, len(timed) + 1)}
    units = allocate_units(minutes)
    if rng.random() < 0.2:  # about one claim in five carries a units edit
        k = rng.choice(list(units))
        units[k] = max(0, units[k] + rng.choice([-1, 1]))
    lines: list[dict[str, Any]] = []
    # Billers mark distinct services of one day with 59; most claims do.
    distinct = ["GP", "59"] if rng.random() < 0.9 else ["GP"]
    for i, code in enumerate(timed, start=1):
        lines.append(
            {
                "lineNumber": i,
                "dateOfService": "2026-05-04",
                "procedureCode": code,
                "modifiers": ["GP"] if i == 1 else distinct,
                "units": units[i],
                "minutes": minutes[i],
                "chargeAmount": f"{30 * max(1, units[i])}.00",
                "diagnosisPointers": [1],
                "placeOfService": "11",
            }
        )
    for code in rng.sample(_UNTIMED, n_untimed):
        lines.append(
            {
                "lineNumber": len(lines) + 1,
                "dateOfService": "2026-05-04",
                "procedureCode": code,
                "modifiers": ["GP"],
                "units": 1,
                "chargeAmount": "95.00",
                "diagnosisPointers": [1],
                "placeOfService": "11",
            }
        )
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return {
        "claimId": claim_id,
        "payerId": "MEDICARE",
        "submissionDate": "2026-06-01",
        "patient": {
            "memberId": f"9BN{rng.randint(10**6, 10**7 - 1)}",
            "firstName": first,
            "lastName": last,
            "birthDate": "1950-01-01",
            "sex": "F",
        },
        "billingProvider": {"npi": "1558598797", "name": "Harbor PT Group"},
        "renderingProvider": {
            "npi": "1234567893",
            "name": "J. Rivera, PT",
            "taxonomy": "225100000X",
        },
        "diagnoses": ["M62.81", "R26.89"],
        "serviceLines": lines,
        "therapy": {
            "discipline": "PT",
            "planOfCare": {
                "certifiedDate": "2026-04-20",
                "startDate": "2026-04-20",
                "endDate": "2026-07-18",
            },
            "treatmentDaysSinceProgressReport": rng.randint(0, 9),
            "amountUsedYtd": f"{rng.randint(0, 1500)}.00",
        },
        "note": f"{first} {last}: therapeutic activities, sit-to-stand transfers x10 with "
        "min assist to address difficulty with transfers; 25 min direct one-on-one. "
        "Patient tolerated well. Progress: transfers improved from mod assist to min "
        "assist. Skilled cueing required for safe sequencing.",
    }


def make_claims(n: int, prefix: str, seed: int = 2026) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [make_claim(rng, f"{prefix}-{i:07d}") for i in range(n)]

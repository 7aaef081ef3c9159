"""The bundled example claims (examples/claims.json) show the UNITS edits they claim to show.

Expectations are worked out from the domain rules (shared/domain/therapy-billing.md
§1.1–1.3, §2), with examples/payers.json and the bundled sample MUE table.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from claimscrub.core.claim import parse_claim
from claimscrub.core.payers import TimelyFiling
from claimscrub.units.reference import UnitsReference
from claimscrub.units.rules import check_units

#: a date of service for looking a payer policy up
DOS = dt.date(2026, 5, 4)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# claimId → expected (edit code, line number) from the UNITS check; None: the
# parser rejects the claim (MALFORMED_CLAIM is reported by the claim check).
EXPECTED: dict[str, list[tuple[str, int]] | None] = {
    # CMS example 1: 97112 24 min ×2, 97110 23 min ×1 (47 → 3).
    "EX-001": [],
    # 97530 30 min → 2 units; 3 billed.
    "EX-002": [("UNITS_EXCEED_TIME", 1)],
    # 97110 40 min → 3 units; 2 billed.
    "EX-003": [("UNITS_BELOW_TIME", 1)],
    # CMS example 1 with the units swapped: total 3 is right, both codes wrong.
    "EX-004": [("UNITS_ALLOCATION", 1), ("UNITS_ALLOCATION", 2)],
    # 97161 (untimed, its 40 min not counted) + 97110 6 min ×1: day total 6 < 8.
    "EX-005": [("TIMED_UNDER_8_MINUTES", 2)],
    # 97530 ×2 with no minutes.
    "EX-006": [("TIMED_MINUTES_MISSING", 1)],
    # 97150 (untimed) ×2; 97110 23 min ×2 is right because 97150's 45 min don't count.
    "EX-007": [("UNTIMED_MULTIPLE_UNITS", 1)],
    # 97035 75 min ×5 fits the time (75 → 5) but passes the sample MUE of 4 (MAI 3).
    "EX-008": [("MUE_EXCEEDED", 1)],
    # PER_CODE payer: 97110 33 min ×2 is right, 97140 7 min ×1 is under 8 on its own
    # (Medicare's total-time rule would accept this billing: CMS example 3).
    "EX-009": [("TIMED_UNDER_8_MINUTES", 2)],
    # Units are right (97110 30 min ×2); it shows TIMELY_FILING from the claim check.
    "EX-010": [],
    # serviceLines[0].units missing.
    "EX-011": None,
    # EX-012..EX-020 show the ENROLLMENT edits (tests/unit/test_enrollment_examples.py);
    # their units are right: 97110 30 min ×2 on each date of service.
    **{f"EX-0{n}": [] for n in range(12, 21)},
    # EX-021..EX-037 show one NECESSITY edit each (tests/unit/test_necessity_examples.py);
    # their units are right: 30 min ×2, 40 min (untimed evaluation) ×1, 15 + 30 min → 1 + 2.
    **{f"EX-{n:03d}": [] for n in range(21, 38)},
    # EX-038..EX-040 show payer policy edits. PER_CODE: 97110 60 min → 4 units, as billed;
    # the payer's own 3-unit cap is a NECESSITY edit. 97110 30 min ×2 on the others.
    **{f"EX-{n:03d}": [] for n in range(38, 41)},
}


def _claims() -> list[dict[str, Any]]:
    data = json.loads((EXAMPLES / "claims.json").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


@pytest.fixture(scope="module")
def ref() -> UnitsReference:
    return UnitsReference.load(payers_path=EXAMPLES / "payers.json")


def test_every_example_has_an_expectation() -> None:
    assert [c["claimId"] for c in _claims()] == list(EXPECTED)


@pytest.mark.parametrize("raw", _claims(), ids=lambda c: str(c["claimId"]))
def test_example_units_edits(raw: dict[str, Any], ref: UnitsReference) -> None:
    expected = EXPECTED[raw["claimId"]]
    parsed = parse_claim(raw)
    if expected is None:
        assert not parsed.ok
        assert parsed.problems == ["serviceLines[0].units: missing"]
        return
    assert parsed.ok, parsed.problems
    assert parsed.claim is not None
    edits = check_units(parsed.claim, ref)
    assert [(e.code, e.line_number) for e in edits] == expected


def test_examples_use_the_agreed_dates() -> None:
    for raw in _claims():
        assert raw["submissionDate"] == "2026-06-01"
        dates = {line["dateOfService"] for line in raw["serviceLines"]}
        if raw["claimId"] == "EX-010":
            # more than a calendar year before submission: the timely filing example
            assert all(d < "2025-06-01" for d in dates)
        else:
            assert all(d.startswith("2026-05-") for d in dates)


def test_payer_rules_of_the_examples(ref: UnitsReference) -> None:
    assert ref.payers.for_payer("ACME-COMMERCIAL", DOS).unit_rule == "PER_CODE"
    assert ref.payers.for_payer("ACME-COMMERCIAL", DOS).timely_filing == TimelyFiling(days=180)
    assert not ref.payers.for_payer("ACME-COMMERCIAL", DOS).medicare_rules
    assert ref.payers.for_payer("MEDICARE", DOS).unit_rule == "TOTAL_TIME"
    assert ref.payers.for_payer("MEDICARE", DOS).timely_filing == TimelyFiling(calendar_years=1)

"""The example claims with examples/enrollment.json: each shows the edit it claims to.

ENROLLMENT expectations are worked out from the domain rules (§6) and the
records in examples/enrollment.json; the claims are submitted 2026-06-01.
The whole-result check proves the enrollment data keeps every earlier example
at its single intended edit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from claimscrub.cli.checks import build_checks
from claimscrub.cli.scrub import Scrubber
from claimscrub.core.claim import parse_claim
from claimscrub.core.edits import EDIT_CODES, CheckName
from claimscrub.core.payers import PayerPolicies
from claimscrub.enrollment.records import read_records
from claimscrub.enrollment.reference import EnrollmentReference
from claimscrub.enrollment.rules import check_enrollment
from claimscrub.enrollment.table import EnrollmentTable

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
AS_OF = dt.date(2026, 6, 1)

# claimId → expected ENROLLMENT (code, line); None: the claim is malformed.
ENROLLMENT: dict[str, list[tuple[str, int]] | None] = {
    **{f"EX-00{n}": [] for n in range(1, 10)},
    "EX-010": [],  # DOS 2025-04-28, enrolled since 2019
    "EX-011": None,
    # rendering NPI 1234567890: check digit should be 3
    "EX-012": [("NPI_INVALID", 0)],
    # rendering provider has an ACME-COMMERCIAL record only; the claim is MEDICARE
    "EX-013": [("PROVIDER_NOT_ENROLLED", 0)],
    # effective 2026-06-15: line 1 is 31 days before (outside), line 2 30 days (inside)
    "EX-014": [("PROVIDER_NOT_ENROLLED", 1)],
    # terminated 2026-05-10: line 1 on that date (inside), line 2 eight days after
    "EX-015": [("PROVIDER_NOT_ENROLLED", 2)],
    "EX-016": [("PROVIDER_NOT_ENROLLED", 0)],  # PENDING
    "EX-017": [("PROVIDER_NOT_ENROLLED", 0)],  # REVOKED
    "EX-018": [("CREDENTIAL_EXPIRED", 1)],  # licence expired 2026-04-30, DOS 2026-05-19
    "EX-019": [("PROVIDER_EXCLUDED", 0)],
    "EX-020": [("TAXONOMY_MISMATCH", 1)],  # OT taxonomy 225X00000X on a GP line
    # EX-021..EX-037 show NECESSITY edits; their providers are enrolled.
    **{f"EX-{n:03d}": [] for n in range(21, 38)},
    # EX-038..EX-040 show payer policy edits; their providers are enrolled with the payer.
    **{f"EX-{n:03d}": [] for n in range(38, 41)},
}

# The NECESSITY edit each of EX-021..EX-040 shows (tests/unit/test_necessity_examples.py).
NECESSITY_CODES: dict[str, list[str]] = {
    "EX-021": ["THERAPY_MODIFIER_MISSING"],
    "EX-022": ["THERAPY_MODIFIER_CONFLICT"],
    "EX-023": ["ASSISTANT_MODIFIER_MISSING"],
    "EX-024": ["KX_MODIFIER_REQUIRED"],
    "EX-025": ["MEDICAL_REVIEW_THRESHOLD"],
    "EX-026": ["PTP_CONFLICT"],
    "EX-027": ["DIAGNOSIS_MISSING"],
    "EX-028": ["DIAGNOSIS_NOT_SUPPORTED"],
    "EX-029": ["PLAN_OF_CARE_MISSING"],
    "EX-030": ["PLAN_OF_CARE_EXPIRED"],
    "EX-031": ["PROGRESS_REPORT_OVERDUE"],
    "EX-032": ["DOCUMENTATION_INCOMPLETE"],
    "EX-033": ["CODE_CHOICE_REVIEW"],
    "EX-034": ["PLAN_OF_CARE_CERT_LATE"],
    "EX-035": ["PROCEDURE_NOT_VALID_FOR_PAYER"],
    "EX-036": ["PROCEDURE_BUNDLED"],
    "EX-037": ["NCCI_MODIFIER_MISUSE"],
    "EX-038": ["PAYER_RULE"],
    "EX-039": ["VISIT_LIMIT_EXCEEDED"],
    "EX-040": ["AUTHORIZATION_MISSING"],
}

# claimId → every edit code of the combined result (every check + claim checks).
ALL_CODES: dict[str, list[str]] = {
    "EX-001": [],
    "EX-002": ["UNITS_EXCEED_TIME"],
    "EX-003": ["UNITS_BELOW_TIME"],
    "EX-004": ["UNITS_ALLOCATION", "UNITS_ALLOCATION"],
    "EX-005": ["TIMED_UNDER_8_MINUTES"],
    "EX-006": ["TIMED_MINUTES_MISSING"],
    "EX-007": ["UNTIMED_MULTIPLE_UNITS"],
    "EX-008": ["MUE_EXCEEDED"],
    "EX-009": ["TIMED_UNDER_8_MINUTES"],
    "EX-010": ["TIMELY_FILING"],
    "EX-011": ["MALFORMED_CLAIM"],
    **{
        claim_id: [code for code, _ in expected or []]
        for claim_id, expected in ENROLLMENT.items()
        if "EX-012" <= claim_id <= "EX-020"
    },
    **NECESSITY_CODES,
}


def _claims() -> list[dict[str, Any]]:
    data = json.loads((EXAMPLES / "claims.json").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


@pytest.fixture(scope="module")
def table() -> EnrollmentTable:
    return EnrollmentTable(read_records(EXAMPLES / "enrollment.json"))


def test_every_example_has_an_expectation() -> None:
    assert [c["claimId"] for c in _claims()] == list(ENROLLMENT) == list(ALL_CODES)


@pytest.mark.parametrize("raw", _claims(), ids=lambda c: str(c["claimId"]))
def test_example_enrollment_edits(raw: dict[str, Any], table: EnrollmentTable) -> None:
    expected = ENROLLMENT[raw["claimId"]]
    parsed = parse_claim(raw)
    if expected is None:
        assert not parsed.ok
        return
    assert parsed.claim is not None
    edits = check_enrollment(
        parsed.claim,
        ref=EnrollmentReference.load(),
        payers=PayerPolicies.load(EXAMPLES / "payers.json"),
        table=table,
    )
    assert [(e.code, e.line_number) for e in edits] == expected


def test_each_example_shows_only_its_intended_edit() -> None:
    args = argparse.Namespace(
        mue=None,
        payers=EXAMPLES / "payers.json",
        enrollment=EXAMPLES / "enrollment.json",
        ptp=[],
        coverage=[],
    )
    results = list(Scrubber(build_checks(args), AS_OF).scrub_all(_claims()))
    got = {r.claim_id: [e.code for e in r.edits] for r in results}
    assert got == ALL_CODES
    assert all(r.checks == ("UNITS", "NECESSITY", "ENROLLMENT") for r in results)


def test_every_enrollment_edit_code_has_an_example() -> None:
    shown = {code for expected in ENROLLMENT.values() for code, _ in expected or []}
    assert shown == {s.code for s in EDIT_CODES.values() if s.check is CheckName.ENROLLMENT}

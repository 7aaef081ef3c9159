"""The bundled example claims show the NECESSITY edits examples/README.md says they show.

Run the way `claimscrub scrub` runs them (one batch, input order, bundled
SAMPLE PTP pairs and coverage policy, examples/payers.json). Expected values
come from the domain reference: 2026 KX threshold $2,480 [secondary], review
threshold $3,000, 90-day certification, 10 treatment days, the 97530 elements.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from claimscrub.cli.scrub import Scrubber
from claimscrub.necessity.check import load_batch_check

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

EXPECTED: dict[str, list[tuple[str, int]]] = {
    # EX-001..EX-010 show a UNITS or CLAIM edit and nothing from NECESSITY.
    **{f"EX-{n:03d}": [] for n in range(1, 11)},
    # Malformed: the claim check answers, the rules do not run.
    "EX-011": [("MALFORMED_CLAIM", 0)],
    # EX-012..EX-020 show ENROLLMENT edits and nothing from NECESSITY.
    **{f"EX-{n:03d}": [] for n in range(12, 21)},
    # 97110 (always therapy) with no GP/GO/GN.
    "EX-021": [("THERAPY_MODIFIER_MISSING", 1)],
    # 97161 is a PT evaluation: GP, not GO.
    "EX-022": [("THERAPY_MODIFIER_CONFLICT", 1)],
    # Rendering taxonomy 225200000X (PT assistant) and no CQ on the GP line.
    "EX-023": [("ASSISTANT_MODIFIER_MISSING", 1)],
    # 2,410.00 used + 84.00 = 2,494.00 > 2,480 (2026), no KX.
    "EX-024": [("KX_MODIFIER_REQUIRED", 1)],
    # 2,950.00 used + 84.00 = 3,034.00 > 3,000, KX present.
    "EX-025": [("MEDICAL_REVIEW_THRESHOLD", 1)],
    # 97140 with 97530 on one day, no 59/X modifier: the edit sits on 97530 (column 2
    # in the bundled sample table).
    "EX-026": [("PTP_CONFLICT", 2)],
    # No diagnosis on the claim.
    "EX-027": [("DIAGNOSIS_MISSING", 0)],
    # J30.1 is not on the SAMPLE policy's list for 97110.
    "EX-028": [("DIAGNOSIS_NOT_SUPPORTED", 1)],
    # Therapy line, no plan of care.
    "EX-029": [("PLAN_OF_CARE_MISSING", 0)],
    # Initial treatment (and certification) 2026-01-20, DOS 2026-05-22: 122 days > 90.
    "EX-030": [("PLAN_OF_CARE_EXPIRED", 1)],
    # 10 treatment days before this claim; this one is the 11th.
    "EX-031": [("PROGRESS_REPORT_OVERDUE", 1)],
    # The 97530 note shows no assistance level and no objective progress.
    "EX-032": [("DOCUMENTATION_INCOMPLETE", 1)],
    # The 97530 note describes leg press and ROM exercises, no functional task.
    "EX-033": [("CODE_CHOICE_REVIEW", 1)],
    # Certified 2026-05-25, 35 days after the initial treatment 2026-04-20 (at most 30).
    "EX-034": [("PLAN_OF_CARE_CERT_LATE", 0)],
    # 97014: PFS status I, Medicare pays G0283 instead (sample code statuses).
    "EX-035": [("PROCEDURE_NOT_VALID_FOR_PAYER", 1)],
    # 97010: PFS status B, bundled (sample code statuses).
    "EX-036": [("PROCEDURE_BUNDLED", 1)],
    # 59 and XU on one line.
    "EX-037": [("NCCI_MODIFIER_MISUSE", 1)],
    # ACME-COMMERCIAL caps 97110 at 3 units a day (its rule ACME-97110-CAP); 4 billed.
    "EX-038": [("PAYER_RULE", 1)],
    # SUMMIT-HEALTH allows 20 visits a year: 20 used, this is the 21st. Its authorization
    # (needed after 12 visits) covers the date and 24 visits: this is its 9th.
    "EX-039": [("VISIT_LIMIT_EXCEEDED", 1)],
    # SUMMIT-HEALTH: 12 visits used, this 13th needs an authorization; the claim has none.
    "EX-040": [("AUTHORIZATION_MISSING", 1)],
}


def _claims() -> list[dict[str, Any]]:
    data = json.loads((EXAMPLES / "claims.json").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def test_every_example_shows_its_necessity_edits() -> None:
    check = load_batch_check((), (), EXAMPLES / "payers.json", key=b"examples")
    claims = _claims()
    assert [c["claimId"] for c in claims] == list(EXPECTED)
    results = Scrubber([check], dt.date(2026, 6, 1)).scrub_all(claims)
    got = {
        r.claim_id: [(e.code, e.line_number) for e in r.edits if e.code != "TIMELY_FILING"]
        for r in results
    }
    assert got == EXPECTED


def test_every_necessity_edit_code_has_an_example() -> None:
    from claimscrub.core.edits import EDIT_CODES, CheckName

    shown = {code for edits in EXPECTED.values() for code, _ in edits}
    necessity = {c for c, spec in EDIT_CODES.items() if spec.check is CheckName.NECESSITY}
    assert necessity <= shown

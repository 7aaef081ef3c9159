"""Claims and reference data for the NECESSITY rule tests.

``base_claim`` is a Medicare PT claim that passes every NECESSITY rule: one
97110 line with GP and two valid diagnoses, a certified plan of care, few
treatment days and a low year-to-date amount. Each test changes what its
rule looks at and states the expected edits from the domain reference.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from claimscrub.core.claim import Claim, parse_claim
from claimscrub.core.edits import Edit
from claimscrub.necessity.history import History
from claimscrub.necessity.reference import NecessityReference
from claimscrub.necessity.roles import ProviderRole, resolve_role_sync
from claimscrub.necessity.rules import check_necessity

DOS = "2026-05-04"
PT = ProviderRole("PT", False, "taxonomy")

FULL_97530_NOTE = (
    "Therapeutic activities 30 min direct one-on-one: sit-to-stand transfers x10 and "
    "floor-to-waist lifting of a 5 lb box to address difficulty with transfers; min assist, "
    "verbal cues for hip hinge. Patient response good; transfers now with contact guard. "
    "Skilled facilitation needed for safe body mechanics."
)

_BASE: dict[str, Any] = {
    "claimId": "N-1",
    "payerId": "MEDICARE",
    "submissionDate": "2026-06-01",
    "patient": {"memberId": "1EG4TE5MK73", "firstName": "Ada", "lastName": "Lovelace"},
    "billingProvider": {"npi": "1558598797"},
    "renderingProvider": {"npi": "1234567893", "taxonomy": "225100000X"},
    "diagnoses": ["M62.81", "R26.89"],
    "serviceLines": [
        {
            "lineNumber": 1,
            "dateOfService": DOS,
            "procedureCode": "97110",
            "modifiers": ["GP"],
            "units": 2,
            "minutes": 30,
            "chargeAmount": "84.00",
            "diagnosisPointers": [1, 2],
        }
    ],
    "therapy": {
        "discipline": "PT",
        "planOfCare": {
            "certifiedDate": "2026-04-20",
            "startDate": "2026-04-20",
            "endDate": "2026-07-18",
        },
        "treatmentDaysSinceProgressReport": 3,
        "amountUsedYtd": "640.00",
    },
    "note": "Therapeutic exercise 30 min: hip strengthening. Tolerated well.",
}


def base_claim(**top: Any) -> dict[str, Any]:
    data = copy.deepcopy(_BASE)
    data.update(top)
    return data


def line(number: int, code: str, *modifiers: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "lineNumber": number,
        "dateOfService": DOS,
        "procedureCode": code,
        "modifiers": list(modifiers),
        "units": 1,
        "minutes": 15,
        "chargeAmount": "42.00",
        "diagnosisPointers": [1],
    }
    out.update(fields)
    return out


def therapy(**fields: Any) -> dict[str, Any]:
    out = copy.deepcopy(_BASE["therapy"])
    out.update(fields)
    return {k: v for k, v in out.items() if v is not None}


def parse(data: dict[str, Any]) -> Claim:
    parsed = parse_claim(data)
    assert parsed.ok, parsed.problems
    assert parsed.claim is not None
    return parsed.claim


_REF: NecessityReference | None = None


def bundled_ref() -> NecessityReference:
    global _REF
    if _REF is None:
        _REF = NecessityReference.load()
    return _REF


def ref_with(
    tmp: Path,
    *,
    ptp_text: str | None = None,
    ptp_suffix: str = ".txt",
    coverage: Any = None,
    payers: Any = None,
    code_status: str | None = None,
    fee_schedule: Any = None,
) -> NecessityReference:
    ptp_paths = []
    if ptp_text is not None:
        ptp = tmp / f"ptp{ptp_suffix}"
        ptp.write_text(ptp_text, encoding="utf-8")
        ptp_paths.append(ptp)
    coverage_paths = []
    if coverage is not None:
        cov = tmp / "coverage.json"
        cov.write_text(json.dumps(coverage), encoding="utf-8")
        coverage_paths.append(cov)
    payers_path = None
    if payers is not None:
        payers_path = tmp / "payers.json"
        payers_path.write_text(json.dumps(payers), encoding="utf-8")
    status_paths = []
    if code_status is not None:
        status = tmp / "code_status.csv"
        status.write_text(code_status, encoding="utf-8")
        status_paths.append(status)
    fee_paths = []
    if fee_schedule is not None:
        fees = tmp / "fee_schedule.json"
        fees.write_text(json.dumps(fee_schedule), encoding="utf-8")
        fee_paths.append(fees)
    return NecessityReference.load(
        ptp_paths=ptp_paths,
        coverage_paths=coverage_paths,
        payers_path=payers_path,
        code_status_paths=status_paths,
        fee_schedule_paths=fee_paths,
    )


def run(
    data: dict[str, Any],
    *,
    ref: NecessityReference | None = None,
    history: History | None = None,
    role: ProviderRole | None = None,
) -> list[Edit]:
    r = ref or bundled_ref()
    claim = parse(data)
    resolved = role if role is not None else resolve_role_sync(claim, r, None)
    return check_necessity(claim, ref=r, history=history, role=resolved)


def codes(edits: list[Edit]) -> list[tuple[str, int]]:
    return [(e.code, e.line_number) for e in edits]


COMMERCIAL = [
    {"payerId": "ACME", "unitRule": "PER_CODE", "medicareRules": False, "timelyFilingDays": 180}
]

"""Three claims of one beneficiary for the cross-claim parity tests (issue 15 items 7-9).

With the bundled sample tables (MUE 97110: 6 per day, MAI 3; PTP 97140 column
1 over 97530 column 2, indicator 1):

* ``A`` is clean of cross-claim edits: nothing came before it.
* ``B`` comes second: its 3 units of 97110 with A's 4 pass the MUE of 6 (line
  1); its 97530 is the column 2 code of A's 97140 with no bypass modifier
  (line 2); its 97112 line repeats A's line 3 (line 3).
* ``C`` repeats A entirely under another claimId: one DUPLICATE_CLAIM on line
  0, and its lines, being repeats, add no units and pair with nothing.

The providers are enrolled with MEDICARE in examples/enrollment.json.
"""

from __future__ import annotations

import copy
from typing import Any

DOS = "2026-05-04"

EXPECTED_B = [("MUE_EXCEEDED", 1), ("PTP_CONFLICT", 2), ("DUPLICATE_CLAIM", 3)]
CROSS_CLAIM_CODES = {"MUE_EXCEEDED", "PTP_CONFLICT", "DUPLICATE_CLAIM"}


def _line(number: int, code: str, units: int) -> dict[str, Any]:
    return {
        "lineNumber": number,
        "dateOfService": DOS,
        "procedureCode": code,
        "modifiers": ["GP"],
        "units": units,
        "minutes": 15 * units,
        "chargeAmount": f"{21 * units}.00",
        "diagnosisPointers": [1],
    }


def _claim(claim_id: str, member: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "claimId": claim_id,
        "payerId": "MEDICARE",
        "submissionDate": "2026-06-01",
        "patient": {"memberId": member},
        "billingProvider": {"npi": "1558598797"},
        "renderingProvider": {"npi": "1234567893", "taxonomy": "225100000X"},
        "diagnoses": ["M62.81"],
        "serviceLines": lines,
        "therapy": {
            "discipline": "PT",
            "planOfCare": {"certifiedDate": "2026-04-20", "endDate": "2026-07-18"},
            "treatmentDaysSinceProgressReport": 1,
            "amountUsedYtd": "100.00",
        },
    }


def cross_claim_sequence(tag: str) -> list[dict[str, Any]]:
    """A, B and C under claim and member IDs made from ``tag`` (new to a running pipeline)."""
    member = f"{tag}MBR"
    a = _claim(
        f"{tag}-A", member, [_line(1, "97110", 4), _line(2, "97140", 1), _line(3, "97112", 1)]
    )
    b = _claim(
        f"{tag}-B", member, [_line(1, "97110", 3), _line(2, "97530", 1), _line(3, "97112", 1)]
    )
    c = copy.deepcopy(a)
    c["claimId"] = f"{tag}-C"
    return [a, b, c]


def cross_edits(result: dict[str, Any]) -> list[tuple[str, int]]:
    """The cross-claim codes of a contract-JSON result, as (code, lineNumber)."""
    return [(e["code"], e["lineNumber"]) for e in result["edits"] if e["code"] in CROSS_CLAIM_CODES]

"""The example claim of the public contract (spec/contract.md §1), every field set.

Tests that start from it call :func:`contract_example` for a copy of their
own to change.
"""

from __future__ import annotations

import copy
from typing import Any

_EXAMPLE: dict[str, Any] = {
    "claimId": "CLM-2026-000123",
    "payerId": "MEDICARE",
    "submissionDate": "2026-06-01",
    "patient": {
        "memberId": "1EG4TE5MK73",
        "mrn": "MRN-88123",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "birthDate": "1950-03-02",
        "sex": "F",
        "address": {"line1": "12 Elm St", "city": "Hempstead", "state": "NY", "zip": "11550"},
        "phone": "516-555-0143",
        "email": "ada@example.org",
        "ssn": "123-45-6789",
    },
    "billingProvider": {"npi": "1558598797", "name": "Harbor PT Group", "taxId": "12-3456789"},
    "renderingProvider": {"npi": "1234567893", "name": "J. Rivera, PT", "taxonomy": "225100000X"},
    "diagnoses": ["M62.81", "R26.89"],
    "serviceLines": [
        {
            "lineNumber": 1,
            "dateOfService": "2026-05-04",
            "procedureCode": "97530",
            "modifiers": ["GP"],
            "units": 2,
            "minutes": 30,
            "chargeAmount": "120.00",
            "diagnosisPointers": [1, 2],
            "placeOfService": "11",
            "allowedAmount": "98.40",
        }
    ],
    "therapy": {
        "discipline": "PT",
        "planOfCare": {
            "certifiedDate": "2026-04-20",
            "startDate": "2026-04-20",
            "endDate": "2026-07-18",
        },
        "treatmentDaysSinceProgressReport": 4,
        "amountUsedYtdPtSlp": "1210.00",
        "amountUsedYtdOt": "0.00",
        "visitsUsedYtd": 11,
    },
    "priorAuthorization": {
        "number": "PA-77812",
        "startDate": "2026-04-20",
        "endDate": "2026-07-18",
        "visits": 24,
    },
    "note": "Sit-to-stand transfers x10 with min assist ...",
}


#: The line fields :func:`units_example` keeps of the example.
_UNITS_FIELDS = ("lineNumber", "dateOfService", "procedureCode", "modifiers", "minutes")


def contract_example() -> dict[str, Any]:
    return copy.deepcopy(_EXAMPLE)


def units_example(claim_id: str) -> dict[str, Any]:
    """§3's example edit: the example's line billed 3 units for its 30 timed
    minutes, which support 2 (UNITS_EXCEED_TIME on line 1); of the rest only
    the payer and the submission date."""
    line = {k: _EXAMPLE["serviceLines"][0][k] for k in _UNITS_FIELDS}
    claim = {k: _EXAMPLE[k] for k in ("payerId", "submissionDate")}
    return copy.deepcopy({"claimId": claim_id, **claim, "serviceLines": [{**line, "units": 3}]})

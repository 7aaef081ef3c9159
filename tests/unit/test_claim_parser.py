"""The claim parser: required fields, clear problems, and no exception for any input."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from claimscrub.core.claim import PriorAuthorization, parse_claim
from tests.contract_example import contract_example

CONTRACT_EXAMPLE = contract_example()


def test_the_contract_example_parses_with_every_field() -> None:
    parsed = parse_claim(CONTRACT_EXAMPLE)
    assert parsed.ok and parsed.claim is not None
    claim = parsed.claim
    assert claim.claim_id == "CLM-2026-000123"
    line = claim.service_lines[0]
    assert (line.procedure_code, line.units, line.minutes) == ("97530", 2, 30)
    assert line.date_of_service == dt.date(2026, 5, 4)
    assert line.charge_amount == Decimal("120.00")
    assert line.allowed_amount == Decimal("98.40")
    therapy = claim.therapy
    assert therapy is not None and therapy.amount_used_ytd is None
    assert therapy.amount_used_ytd_pt_slp == Decimal("1210.00")
    assert therapy.amount_used_ytd_ot == Decimal("0.00")
    assert therapy.visits_used_ytd == 11
    assert claim.prior_authorization == PriorAuthorization(
        "PA-77812", dt.date(2026, 4, 20), dt.date(2026, 7, 18), 24
    )
    assert claim.patient is not None and claim.patient.birth_date == dt.date(1950, 3, 2)


def test_the_older_single_ytd_amount_still_parses() -> None:
    claim = contract_example()
    claim["therapy"] = {"amountUsedYtd": "640.00"}
    parsed = parse_claim(claim)
    assert parsed.claim is not None and parsed.claim.therapy is not None
    assert parsed.claim.therapy.amount_used_ytd == Decimal("640.00")
    assert parsed.claim.therapy.amount_used_ytd_pt_slp is None


def test_the_new_fields_are_validated_by_path() -> None:
    claim = contract_example()
    claim["serviceLines"][0]["allowedAmount"] = "98.4.0"
    claim["therapy"].update(amountUsedYtdPtSlp="x", amountUsedYtdOt="1e3", visitsUsedYtd=-1)
    claim["priorAuthorization"].update(startDate="2026-02-30", endDate="7/18/2026", visits=-2)
    parsed = parse_claim(claim)
    assert parsed.problems == [
        "serviceLines[0].allowedAmount: must be a decimal amount",
        "therapy.amountUsedYtdPtSlp: must be a decimal amount",
        "therapy.amountUsedYtdOt: must be a decimal amount",
        "therapy.visitsUsedYtd: must be at least 0",
        "priorAuthorization.startDate: must be a date YYYY-MM-DD",
        "priorAuthorization.endDate: must be a date YYYY-MM-DD",
        "priorAuthorization.visits: must be at least 0",
    ]
    claim = contract_example()
    claim["priorAuthorization"] = "PA-77812"
    assert parse_claim(claim).problems == ["priorAuthorization: must be an object"]


def test_missing_required_fields_are_each_named() -> None:
    parsed = parse_claim({"serviceLines": [{"lineNumber": 1}]})
    assert not parsed.ok
    joined = " | ".join(parsed.problems)
    for path in (
        "claimId",
        "payerId",
        "serviceLines[0].dateOfService",
        "serviceLines[0].procedureCode",
        "serviceLines[0].units",
    ):
        assert path in joined


def test_no_service_lines_is_malformed() -> None:
    parsed = parse_claim({"claimId": "A", "payerId": "P", "serviceLines": []})
    assert parsed.problems == ["serviceLines: at least one service line is required"]


def test_invalid_values_are_reported_without_echoing_them() -> None:
    claim = json.loads(json.dumps(CONTRACT_EXAMPLE))
    claim["serviceLines"][0]["units"] = "Lovelace"
    claim["patient"]["birthDate"] = "02/03/1950"
    claim["serviceLines"][0]["dateOfService"] = "2026-02-30"
    parsed = parse_claim(claim)
    assert not parsed.ok
    text = " ".join(parsed.problems)
    assert "serviceLines[0].units" in text and "patient.birthDate" in text
    assert "serviceLines[0].dateOfService" in text
    for value in ("Lovelace", "02/03/1950", "2026-02-30"):
        assert value not in text


def test_duplicate_line_numbers_and_negative_units_are_malformed() -> None:
    line = {"lineNumber": 1, "dateOfService": "2026-05-04", "procedureCode": "97110", "units": 1}
    parsed = parse_claim(
        {"claimId": "A", "payerId": "P", "serviceLines": [line, line | {"units": -1}]}
    )
    text = " ".join(parsed.problems)
    assert "serviceLines[1].lineNumber: duplicated" in text
    assert "serviceLines[1].units: must be at least 0" in text


def test_a_json_boolean_is_not_a_count() -> None:
    line = {"lineNumber": 1, "dateOfService": "2026-05-04", "procedureCode": "97110", "units": True}
    parsed = parse_claim({"claimId": "A", "payerId": "P", "serviceLines": [line]})
    assert "serviceLines[0].units: must be an integer" in parsed.problems


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "claimId",
                    "payerId",
                    "serviceLines",
                    "lineNumber",
                    "units",
                    "minutes",
                    "dateOfService",
                    "procedureCode",
                    "patient",
                    "therapy",
                    "planOfCare",
                    "diagnoses",
                    "modifiers",
                    "diagnosisPointers",
                    "chargeAmount",
                    "amountUsedYtd",
                    "amountUsedYtdPtSlp",
                    "visitsUsedYtd",
                    "allowedAmount",
                    "priorAuthorization",
                    "visits",
                    "x",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_value_gets_a_claim_or_problems_never_an_exception(data: Any) -> None:
    parsed = parse_claim(data)
    assert parsed.ok or parsed.problems

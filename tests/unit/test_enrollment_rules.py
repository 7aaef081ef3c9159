"""The ENROLLMENT rules against the domain reference (shared/domain/therapy-billing.md §6)
and the contract's edit table (§4).

Boundaries: 42 CFR 424.521(a) lets services up to 30 days before the effective
date be billed, so 29 and 30 days before are inside and 31 outside; service
*after* termination is outside, so the termination date itself is inside.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimscrub.core.claim import Claim, parse_claim
from claimscrub.core.edits import Severity
from claimscrub.core.payers import PayerPolicies
from claimscrub.enrollment.records import parse_record
from claimscrub.enrollment.reference import EnrollmentReference
from claimscrub.enrollment.rules import check_enrollment, provider_standing
from claimscrub.enrollment.table import EnrollmentTable

REF = EnrollmentReference.load()
PAYERS = PayerPolicies.defaults()
GROUP = "1558598797"
PT = "1234567893"
OTHER = "1000000004"  # valid check digit
EFFECTIVE = dt.date(2026, 6, 15)


def _record(npi: str, **fields: Any) -> dict[str, Any]:
    base = {"npi": npi, "payerId": "MEDICARE", "status": "ACTIVE", "effectiveDate": "2019-01-01"}
    return base | fields


def _table(*records: dict[str, Any]) -> EnrollmentTable:
    return EnrollmentTable(parse_record(r) for r in records)


BASE = _table(_record(GROUP), _record(PT, taxonomy="225100000X"))


def _claim(
    dates: list[str] | None = None,
    *,
    modifiers: list[str] | None = None,
    billing: dict[str, Any] | None = None,
    rendering: dict[str, Any] | None = None,
    referring: dict[str, Any] | None = None,
    omit: tuple[str, ...] = (),
) -> Claim:
    raw: dict[str, Any] = {
        "claimId": "R-1",
        "payerId": "MEDICARE",
        "billingProvider": billing or {"npi": GROUP},
        "renderingProvider": rendering or {"npi": PT, "taxonomy": "225100000X"},
        "serviceLines": [
            {
                "lineNumber": i,
                "dateOfService": d,
                "procedureCode": "97110",
                "modifiers": ["GP"] if modifiers is None else modifiers,
                "units": 1,
                "minutes": 15,
            }
            for i, d in enumerate(dates or ["2026-05-04"], start=1)
        ],
    }
    if referring is not None:
        raw["referringProvider"] = referring
    for key in omit:
        raw.pop(key)
    parsed = parse_claim(raw)
    assert parsed.claim is not None and parsed.ok, parsed.problems
    return parsed.claim


def _codes(claim: Claim, table: EnrollmentTable = BASE) -> list[tuple[str, int]]:
    return [
        (e.code, e.line_number)
        for e in check_enrollment(claim, ref=REF, payers=PAYERS, table=table)
    ]


def test_enrolled_providers_on_a_covered_date_pass() -> None:
    assert _codes(_claim()) == []


# --- enrollment window ---------------------------------------------------------


@pytest.mark.parametrize(
    ("days_before", "enrolled"),
    [(0, True), (1, True), (29, True), (30, True), (31, False), (60, False)],
)
def test_thirty_day_look_back_before_the_effective_date(days_before: int, enrolled: bool) -> None:
    table = _table(_record(GROUP), _record(PT, effectiveDate=EFFECTIVE.isoformat()))
    dos = EFFECTIVE - dt.timedelta(days=days_before)
    edits = check_enrollment(_claim([dos.isoformat()]), ref=REF, payers=PAYERS, table=table)
    assert [(e.code, e.line_number) for e in edits] == (
        [] if enrolled else [("PROVIDER_NOT_ENROLLED", 1)]
    )
    if not enrolled:
        assert edits[0].message == (
            f"date of service is {days_before} days before the rendering provider's "
            "enrollment takes effect; billing is allowed from 30 days before"
        )
        assert (edits[0].severity, edits[0].carc) == (Severity.ERROR, "CO-B7")


@pytest.mark.parametrize("status", ["ACTIVE", "TERMINATED"])
@pytest.mark.parametrize(
    ("dos", "enrolled"),
    [("2026-05-09", True), ("2026-05-10", True), ("2026-05-11", False), ("2026-06-30", False)],
)
def test_dos_on_the_termination_date_is_covered_and_after_it_is_not(
    status: str, dos: str, enrolled: bool
) -> None:
    table = _table(_record(GROUP), _record(PT, status=status, terminationDate="2026-05-10"))
    assert _codes(_claim([dos]), table) == ([] if enrolled else [("PROVIDER_NOT_ENROLLED", 1)])


def test_the_termination_boundary_follows_the_policy_data() -> None:
    strict = dataclasses.replace(REF, termination_date_covered=False)
    table = _table(_record(GROUP), _record(PT, terminationDate="2026-05-10"))
    edits = check_enrollment(_claim(["2026-05-10"]), ref=strict, payers=PAYERS, table=table)
    assert [e.message for e in edits] == [
        "date of service is on the day the rendering provider's enrollment ended"
    ]


def test_each_line_is_judged_on_its_own_date() -> None:
    table = _table(_record(GROUP), _record(PT, effectiveDate=EFFECTIVE.isoformat()))
    claim = _claim(["2026-05-15", "2026-05-16", "2026-05-14"])  # 31, 30, 32 days before
    assert _codes(claim, table) == [("PROVIDER_NOT_ENROLLED", 1), ("PROVIDER_NOT_ENROLLED", 3)]


@given(st.integers(min_value=-90, max_value=90))
def test_covered_exactly_from_thirty_days_before_the_effective_date(offset: int) -> None:
    table = _table(_record(GROUP), _record(PT, effectiveDate=EFFECTIVE.isoformat()))
    dos = EFFECTIVE + dt.timedelta(days=offset)
    standing = provider_standing(PT, "MEDICARE", dos, ref=REF, table=table, payers=PAYERS)
    assert standing.enrolled_on_date is (offset >= -30)


# --- statuses and records ----------------------------------------------------------


@pytest.mark.parametrize("status", ["PENDING", "REVOKED"])
def test_pending_and_revoked_never_cover_a_date(status: str) -> None:
    table = _table(_record(GROUP), _record(PT, status=status))
    edits = check_enrollment(_claim(), ref=REF, payers=PAYERS, table=table)
    assert [(e.code, e.line_number, e.message) for e in edits] == [
        (
            "PROVIDER_NOT_ENROLLED",
            0,
            f"rendering provider's enrollment with this payer is {status}",
        )
    ]


def test_no_record_is_never_a_pass() -> None:
    edits = check_enrollment(_claim(), ref=REF, payers=PAYERS, table=_table(_record(GROUP)))
    assert [(e.code, e.line_number, e.message) for e in edits] == [
        ("PROVIDER_NOT_ENROLLED", 0, "rendering provider has no enrollment record with this payer")
    ]
    empty = check_enrollment(_claim(), ref=REF, payers=PAYERS, table=EnrollmentTable())
    assert [e.code for e in empty] == ["PROVIDER_NOT_ENROLLED", "PROVIDER_NOT_ENROLLED"]


def test_enrollment_with_another_payer_only() -> None:
    table = _table(_record(GROUP), _record(PT, payerId="ACME"), _record(PT, payerId="OTHER"))
    edits = check_enrollment(_claim(), ref=REF, payers=PAYERS, table=table)
    assert [(e.code, e.line_number, e.message) for e in edits] == [
        (
            "PROVIDER_NOT_ENROLLED",
            0,
            "rendering provider is enrolled with 2 other payers "
            "but has no enrollment record with this payer",
        )
    ]


def test_the_billing_provider_must_be_enrolled_too() -> None:
    table = _table(_record(PT))
    assert [e.message for e in check_enrollment(_claim(), ref=REF, payers=PAYERS, table=table)] == [
        "billing provider has no enrollment record with this payer"
    ]


def test_a_solo_practitioner_in_both_roles_is_reported_once() -> None:
    claim = _claim(billing={"npi": PT}, rendering={"npi": PT})
    edits = check_enrollment(claim, ref=REF, payers=PAYERS, table=EnrollmentTable())
    assert [e.message for e in edits] == [
        "billing and rendering provider has no enrollment record with this payer"
    ]


# --- licence, exclusion -------------------------------------------------------


@pytest.mark.parametrize(
    ("dos", "codes"),
    [
        ("2026-05-30", []),
        ("2026-05-31", []),
        ("2026-06-01", [("CREDENTIAL_EXPIRED", 1)]),
    ],
)
def test_licence_valid_through_its_expiry_date(dos: str, codes: list[tuple[str, int]]) -> None:
    table = _table(_record(GROUP), _record(PT, licenseExpires="2026-05-31"))
    assert _codes(_claim([dos]), table) == codes


def test_expired_licence_message_counts_days() -> None:
    table = _table(_record(GROUP), _record(PT, licenseExpires="2026-04-30"))
    edits = check_enrollment(_claim(["2026-05-19"]), ref=REF, payers=PAYERS, table=table)
    assert [(e.code, e.severity, e.carc, e.message) for e in edits] == [
        (
            "CREDENTIAL_EXPIRED",
            Severity.ERROR,
            "CO-B7",
            "rendering provider's licence expired 19 days before the date of service",
        )
    ]


def test_exclusion_is_reported_whatever_the_dates() -> None:
    table = _table(_record(GROUP), _record(PT, excluded=True))
    edits = check_enrollment(_claim(), ref=REF, payers=PAYERS, table=table)
    assert [(e.code, e.line_number, e.severity, e.carc) for e in edits] == [
        ("PROVIDER_EXCLUDED", 0, Severity.ERROR, "CO-B7")
    ]


# --- NPIs ----------------------------------------------------------------------------


def test_invalid_npis_in_each_role() -> None:
    claim = _claim(
        billing={"npi": "155859879"},
        rendering={"npi": "1234567890", "taxonomy": "225100000X"},
        referring={"npi": "3234567893"},
    )
    edits = check_enrollment(claim, ref=REF, payers=PAYERS, table=BASE)
    assert [(e.code, e.line_number, e.message) for e in edits] == [
        ("NPI_INVALID", 0, "billing provider NPI must be 10 digits starting with 1 or 2"),
        (
            "NPI_INVALID",
            0,
            "rendering provider NPI fails the check digit (Luhn with prefix 80840)",
        ),
        ("NPI_INVALID", 0, "referring provider NPI must be 10 digits starting with 1 or 2"),
    ]
    assert all(e.carc == "CO-16/N290" for e in edits)


def test_a_missing_billing_provider_is_a_missing_npi() -> None:
    claim = _claim(omit=("billingProvider",))
    assert [e.message for e in check_enrollment(claim, ref=REF, payers=PAYERS, table=BASE)] == [
        "billing provider NPI is missing"
    ]


def test_a_named_rendering_provider_without_npi_is_reported() -> None:
    claim = _claim(rendering={"name": "Someone", "taxonomy": "225100000X"})
    assert [e.message for e in check_enrollment(claim, ref=REF, payers=PAYERS, table=BASE)] == [
        "rendering provider NPI is missing"
    ]


def test_a_valid_referring_npi_needs_no_enrollment_record() -> None:
    assert _codes(_claim(referring={"npi": OTHER})) == []


# --- taxonomy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("taxonomy", "modifiers", "mismatch"),
    [
        ("225100000X", ["GP"], False),
        ("225100000X", ["GO"], True),
        ("225200000X", ["GP", "CQ"], False),  # PT assistant on a PT line
        ("225200000X", ["GO"], True),
        ("225X00000X", ["GP"], True),
        ("225X00000X", ["GO"], False),
        ("224Z00000X", ["GO", "CO"], False),  # OT assistant on an OT line
        ("235Z00000X", ["GN"], False),
        ("235Z00000X", ["GP"], True),
        ("207Q00000X", ["GP"], False),  # not a therapy taxonomy the data lists
        ("225100000X", [], False),  # no therapy modifier: NECESSITY's concern
        ("225100000X", ["GP", "GO"], False),  # several: NECESSITY's conflict
    ],
)
def test_taxonomy_discipline_against_the_therapy_modifier(
    taxonomy: str, modifiers: list[str], mismatch: bool
) -> None:
    claim = _claim(modifiers=modifiers, rendering={"npi": PT, "taxonomy": taxonomy})
    edits = check_enrollment(claim, ref=REF, payers=PAYERS, table=BASE)
    assert [(e.code, e.line_number, e.severity) for e in edits] == (
        [("TAXONOMY_MISMATCH", 1, Severity.WARNING)] if mismatch else []
    )


def test_taxonomy_mismatch_message() -> None:
    claim = _claim(rendering={"npi": PT, "taxonomy": "225x00000x"})
    assert [e.message for e in check_enrollment(claim, ref=REF, payers=PAYERS, table=BASE)] == [
        "line billed with GP (PT) but the rendering provider's taxonomy 225X00000X is OT"
    ]


def test_the_enrolled_taxonomy_stands_in_when_the_claim_has_none() -> None:
    table = _table(_record(GROUP), _record(PT, taxonomy="224Z00000X"))
    claim = _claim(rendering={"npi": PT})
    assert [e.message for e in check_enrollment(claim, ref=REF, payers=PAYERS, table=table)] == [
        "line billed with GP (PT) but the rendering provider's taxonomy 224Z00000X is OT assistant"
    ]


def test_without_a_rendering_provider_the_billing_provider_rendered() -> None:
    table = _table(_record(PT, taxonomy="225X00000X"))
    claim = _claim(billing={"npi": PT}, omit=("renderingProvider",))
    assert [e.message for e in check_enrollment(claim, ref=REF, payers=PAYERS, table=table)] == [
        "line billed with GP (PT) but the billing provider's taxonomy 225X00000X is OT"
    ]


# --- no PHI ----------------------------------------------------------------------------


def test_messages_carry_no_phi_dates_or_npis() -> None:
    raw = {
        "claimId": "PHI-1",
        "payerId": "MEDICARE",
        "patient": {
            "firstName": "Zebulon",
            "lastName": "Quartermaine",
            "memberId": "ZQ99887766",
            "birthDate": "1944-02-29",
        },
        "billingProvider": {"npi": "12345", "name": "Quartermaine Rehab"},
        "renderingProvider": {"npi": PT, "name": "Zebulon Q, PT", "taxonomy": "225X00000X"},
        "referringProvider": {"npi": "ZQ99887766"},
        "serviceLines": [
            {"lineNumber": 1, "dateOfService": "2026-05-11", "procedureCode": "97110",
             "modifiers": ["GP"], "units": 1, "minutes": 15},
        ],
        "note": "Zebulon Quartermaine, DOB 1944-02-29",
    }  # fmt: skip
    table = _table(
        _record(PT, status="TERMINATED", terminationDate="2026-05-10", licenseExpires="2026-01-31")
        | {"excluded": True}
    )
    parsed = parse_claim(raw)
    assert parsed.claim is not None
    edits = check_enrollment(parsed.claim, ref=REF, payers=PAYERS, table=table)
    assert {e.code for e in edits} == {
        "NPI_INVALID",
        "PROVIDER_NOT_ENROLLED",
        "CREDENTIAL_EXPIRED",
        "PROVIDER_EXCLUDED",
        "TAXONOMY_MISMATCH",
    }
    text = " ".join(e.message for e in edits)
    for phi in ("Zebulon", "Quartermaine", "ZQ99887766", "1944", "2026", "12345", PT):
        assert phi not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)


# --- the lookup -------------------------------------------------------------------------


def test_standing_of_an_enrolled_assistant() -> None:
    table = _table(_record(OTHER, taxonomy="225200000X"))
    s = provider_standing(
        OTHER, "medicare", dt.date(2026, 5, 4), ref=REF, table=table, payers=PAYERS
    )
    assert s.record is not None and s.record.status == "ACTIVE"
    assert s.enrolled_on_date and s.reasons == ()
    assert s.taxonomy is not None
    assert (s.taxonomy.discipline, s.taxonomy.assistant) == ("PT", True)


def test_standing_gives_the_reasons_the_claim_rule_would() -> None:
    table = _table(_record(PT, licenseExpires="2026-01-31", excluded=True))
    s = provider_standing(PT, "MEDICARE", dt.date(2026, 5, 4), ref=REF, table=table, payers=PAYERS)
    assert not s.enrolled_on_date
    assert [(r.code, r.line_number) for r in s.reasons] == [
        ("PROVIDER_EXCLUDED", 0),
        ("CREDENTIAL_EXPIRED", 0),
    ]


def test_standing_of_an_unknown_or_invalid_npi() -> None:
    on = dt.date(2026, 5, 4)
    missing = provider_standing(OTHER, "MEDICARE", on, ref=REF, table=BASE, payers=PAYERS)
    assert missing.record is None and not missing.enrolled_on_date
    assert [r.message for r in missing.reasons] == [
        "provider has no enrollment record with this payer"
    ]
    bad = provider_standing("1234567890", "MEDICARE", on, ref=REF, table=BASE, payers=PAYERS)
    assert [r.code for r in bad.reasons] == ["NPI_INVALID"] and not bad.enrolled_on_date

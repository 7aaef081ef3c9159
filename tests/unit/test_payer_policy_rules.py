"""Each payer policy field applied by the rule that owns it, at its boundary (contract §2, §4).

visitLimitPerYear → VISIT_LIMIT_EXCEEDED, authorizationRequired →
AUTHORIZATION_MISSING (NECESSITY), planOfCareRequired (plan-of-care rules),
therapyModifiersRequired (THERAPY_MODIFIER_MISSING), retroactiveEnrollmentDays
(PROVIDER_NOT_ENROLLED). A visit is a distinct date of service with a therapy
line, numbered in its calendar year from ``therapy.visitsUsedYtd``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from claimscrub.core.claim import parse_claim
from claimscrub.core.not_checked import NotChecked
from claimscrub.core.payers import PayerPolicies
from claimscrub.enrollment.records import parse_record
from claimscrub.enrollment.reference import EnrollmentReference
from claimscrub.enrollment.rules import check_enrollment, provider_standing
from claimscrub.enrollment.table import EnrollmentTable
from claimscrub.necessity.reference import NecessityReference
from claimscrub.necessity.roles import NOT_NEEDED
from claimscrub.necessity.rules import check_necessity
from tests.unit.necessity_support import (
    PT,
    base_claim,
    bundled_ref,
    codes,
    line,
    parse,
    run,
    therapy,
)


def _ref(*records: dict[str, Any]) -> NecessityReference:
    return dataclasses.replace(
        bundled_ref(), payers=PayerPolicies.from_records(list(records), "payers.json")
    )


def _commercial(**fields: Any) -> dict[str, Any]:
    return {"payerId": "MEDICARE", "medicareRules": False} | fields


def _visits(*dates: str) -> list[dict[str, Any]]:
    return [
        line(i + 1, "97110", "GP", units=2, minutes=30, dateOfService=d)
        for i, d in enumerate(dates)
    ]


def _only(edits: list[Any], *wanted: str) -> list[tuple[str, int]]:
    return [c for c in codes(edits) if c[0] in wanted]


VISIT_CODES = ("VISIT_LIMIT_EXCEEDED", "CHECK_INCOMPLETE")
AUTH_CODES = ("AUTHORIZATION_MISSING", "CHECK_INCOMPLETE")


# --- visitLimitPerYear ------------------------------------------------------------


@pytest.mark.parametrize(("used", "expected"), [(19, []), (20, [("VISIT_LIMIT_EXCEEDED", 1)])])
def test_the_visit_at_the_limit_passes_and_one_over_does_not(
    used: int, expected: list[tuple[str, int]]
) -> None:
    ref = _ref(_commercial(visitLimitPerYear=20))
    edits = run(base_claim(therapy=therapy(visitsUsedYtd=used)), ref=ref, role=PT)
    assert _only(edits, *VISIT_CODES) == expected


def test_each_visit_over_the_limit_is_flagged_and_one_date_is_one_visit() -> None:
    ref = _ref(_commercial(visitLimitPerYear=20))
    lines = [*_visits("2026-05-04", "2026-05-04", "2026-05-05", "2026-05-06")]
    edits = run(base_claim(serviceLines=lines, therapy=therapy(visitsUsedYtd=18)), ref=ref, role=PT)
    # visits 19 (lines 1-2, one date), 20 (line 3), 21 (line 4)
    assert _only(edits, *VISIT_CODES) == [("VISIT_LIMIT_EXCEEDED", 4)]
    [e] = _only_edits(edits, "VISIT_LIMIT_EXCEEDED")
    assert e.message == "visit 21 of the calendar year; the payer allows 20 a year"
    assert (e.carc, e.severity.value) == ("CO-119", "ERROR")


def _only_edits(edits: list[Any], code: str) -> list[Any]:
    return [e for e in edits if e.code == code]


def test_a_visit_in_a_later_year_counts_from_one() -> None:
    ref = _ref(_commercial(visitLimitPerYear=1))
    lines = _visits("2025-12-30", "2026-01-02")
    edits = run(base_claim(serviceLines=lines, therapy=therapy(visitsUsedYtd=1)), ref=ref, role=PT)
    assert _only(edits, *VISIT_CODES) == [("VISIT_LIMIT_EXCEEDED", 1)]


def test_without_visits_used_the_limit_is_reported_unverified_never_passed() -> None:
    ref = _ref(_commercial(visitLimitPerYear=1))
    edits = run(base_claim(serviceLines=_visits("2026-05-04")), ref=ref, role=PT)
    [e] = _only_edits(edits, "CHECK_INCOMPLETE")
    assert e.line_number == 0 and "therapy.visitsUsedYtd" in e.message
    # the claim's own second visit passes a limit of 1 whatever came before
    two = run(base_claim(serviceLines=_visits("2026-05-04", "2026-05-05")), ref=ref, role=PT)
    assert _only(two, *VISIT_CODES) == [("CHECK_INCOMPLETE", 0), ("VISIT_LIMIT_EXCEEDED", 2)]
    [over] = _only_edits(two, "VISIT_LIMIT_EXCEEDED")
    assert over.message.startswith("visit 2 or later of the calendar year")


def test_an_837p_without_visits_used_lists_the_rule_as_not_checked() -> None:
    ref = _ref(_commercial(visitLimitPerYear=1))
    claim = dataclasses.replace(
        parse(base_claim(serviceLines=_visits("2026-05-04"))),
        not_checked=frozenset({NotChecked.VISIT_LIMIT, NotChecked.AUTHORIZATION}),
    )
    assert not check_necessity(claim, ref=ref, history=None, role=PT)


def test_no_limit_needs_no_visit_count() -> None:
    assert not run(base_claim(), ref=_ref(_commercial()), role=PT)


# --- authorizationRequired ----------------------------------------------------------

AUTH = {"number": "PA-1", "startDate": "2026-05-04", "endDate": "2026-05-31", "visits": 10}


def _auth_claim(dos: str, used: int | None = 0, **auth: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "serviceLines": _visits(dos),
        "therapy": therapy(visitsUsedYtd=used),
    }
    if auth.get("none") is None:
        fields["priorAuthorization"] = {k: v for k, v in (AUTH | auth).items() if v is not None}
    return base_claim(**fields)


@pytest.mark.parametrize(
    ("dos", "expected"),
    [
        ("2026-05-03", "the date of service is 1 day before it starts"),
        ("2026-05-04", None),
        ("2026-05-31", None),
        ("2026-06-01", "the date of service is 1 day after it ends"),
    ],
)
def test_the_authorization_covers_its_first_and_last_day(dos: str, expected: str | None) -> None:
    ref = _ref(_commercial(authorizationRequired=True))
    edits = _only_edits(run(_auth_claim(dos), ref=ref, role=PT), "AUTHORIZATION_MISSING")
    if expected is None:
        assert edits == []
    else:
        [e] = edits
        assert e.message.endswith(expected) and (e.line_number, e.carc) == (1, "CO-197")


def test_no_authorization_when_one_is_required() -> None:
    ref = _ref(_commercial(authorizationRequired=True))
    [e] = _only_edits(
        run(_auth_claim("2026-05-04", none=True), ref=ref, role=PT), "AUTHORIZATION_MISSING"
    )
    assert e.message == (
        "visit 1 of the calendar year needs a prior authorization (the payer requires one "
        "for every visit); the claim has none"
    )


@pytest.mark.parametrize(("used", "flagged"), [(9, False), (10, True)])
def test_the_authorization_covers_its_visit_count(used: int, flagged: bool) -> None:
    # every visit counts against it: visit 10 is its 10th (covered), visit 11 is not
    ref = _ref(_commercial(authorizationRequired=True))
    edits = _only_edits(
        run(_auth_claim("2026-05-10", used), ref=ref, role=PT), "AUTHORIZATION_MISSING"
    )
    assert bool(edits) is flagged
    if flagged:
        assert edits[0].message.endswith("this is its visit 11 and it covers 10")


@pytest.mark.parametrize(("used", "flagged"), [(11, False), (12, True)])
def test_after_visits_n_needs_none_up_to_n(used: int, flagged: bool) -> None:
    ref = _ref(_commercial(authorizationRequired={"afterVisits": 12}))
    edits = run(_auth_claim("2026-05-10", used, none=True), ref=ref, role=PT)
    assert _only(edits, *AUTH_CODES) == ([("AUTHORIZATION_MISSING", 1)] if flagged else [])


@pytest.mark.parametrize(("used", "flagged"), [(16, False), (17, True)])
def test_after_visits_n_the_authorization_counts_from_visit_n_plus_1(
    used: int, flagged: bool
) -> None:
    # afterVisits 12, 5 authorized: visits 13..17 are covered, 18 is its 6th
    ref = _ref(_commercial(authorizationRequired={"afterVisits": 12}))
    claim = _auth_claim("2026-05-10", used, visits=5)
    assert _only(run(claim, ref=ref, role=PT), *AUTH_CODES) == (
        [("AUTHORIZATION_MISSING", 1)] if flagged else []
    )


@pytest.mark.parametrize(
    ("missing", "named"),
    [("endDate", "endDate"), ("startDate", "startDate"), ("visits", "visit count")],
)
def test_an_authorization_lacking_a_bound_does_not_cover(missing: str, named: str) -> None:
    ref = _ref(_commercial(authorizationRequired=True))
    claim = _auth_claim("2026-05-10", **{missing: None})
    [e] = _only_edits(run(claim, ref=ref, role=PT), "AUTHORIZATION_MISSING")
    assert named in e.message


def test_without_visits_used_an_after_visits_rule_is_unverified() -> None:
    ref = _ref(_commercial(authorizationRequired={"afterVisits": 12}))
    edits = run(_auth_claim("2026-05-10", None, none=True), ref=ref, role=PT)
    assert _only(edits, *AUTH_CODES) == [("CHECK_INCOMPLETE", 0)]
    assert "prior authorization" in _only_edits(edits, "CHECK_INCOMPLETE")[0].message


def test_an_837p_without_an_authorization_is_still_flagged() -> None:
    # the 837P would carry REF*G1 had there been one; its dates it cannot carry
    ref = _ref(_commercial(authorizationRequired=True))
    gaps = frozenset({NotChecked.VISIT_LIMIT, NotChecked.AUTHORIZATION})
    none = dataclasses.replace(parse(_auth_claim("2026-05-10", None, none=True)), not_checked=gaps)
    numbered = dataclasses.replace(
        parse(_auth_claim("2026-05-10", None, startDate=None, endDate=None, visits=None)),
        not_checked=gaps,
    )
    assert codes(check_necessity(none, ref=ref, history=None, role=PT)) == [
        ("AUTHORIZATION_MISSING", 1)
    ]
    assert not check_necessity(numbered, ref=ref, history=None, role=PT)


# --- planOfCareRequired, therapyModifiersRequired, medicareRules ------------------


def test_plan_of_care_required_false_skips_the_plan_rules() -> None:
    no_plan = base_claim(therapy=therapy(planOfCare=None))
    assert codes(run(no_plan, ref=_ref({"payerId": "MEDICARE"}), role=PT)) == [
        ("PLAN_OF_CARE_MISSING", 0)
    ]
    off = _ref({"payerId": "MEDICARE", "planOfCareRequired": False})
    assert not run(no_plan, ref=off, role=PT)
    # a commercial payer needs none by default, unless its policy says so
    assert not run(no_plan, ref=_ref(_commercial()), role=PT)
    on = _ref(_commercial(planOfCareRequired=True))
    assert codes(run(no_plan, ref=on, role=PT)) == [("PLAN_OF_CARE_MISSING", 0)]


def test_therapy_modifiers_required_false_skips_missing_but_not_conflict() -> None:
    bare = base_claim(serviceLines=[line(1, "97110", units=2, minutes=30)])
    both = base_claim(serviceLines=[line(1, "97110", "GP", "GO", units=2, minutes=30)])
    on = _ref({"payerId": "MEDICARE"})
    off = _ref({"payerId": "MEDICARE", "therapyModifiersRequired": False})
    assert _only(run(bare, ref=on, role=PT), "THERAPY_MODIFIER_MISSING") == [
        ("THERAPY_MODIFIER_MISSING", 1)
    ]
    assert _only(run(bare, ref=off, role=PT), "THERAPY_MODIFIER_MISSING") == []
    assert _only(run(both, ref=off, role=PT), "THERAPY_MODIFIER_CONFLICT") == [
        ("THERAPY_MODIFIER_CONFLICT", 1)
    ]


def test_kx_and_pfs_status_follow_medicare_rules_per_line() -> None:
    # 97010 has PFS status B (bundled) in the bundled sample; medicareRules ends on 07-01
    ref = _ref(
        {"payerId": "MEDICARE", "effectiveDate": "2026-01-01"},
        _commercial(effectiveDate="2026-07-01"),
    )
    lines = [
        line(1, "97010", "GP", dateOfService="2026-06-30", minutes=None),
        line(2, "97010", "GP", dateOfService="2026-07-01", minutes=None),
    ]
    plan = {"certifiedDate": "2026-06-20", "startDate": "2026-06-20", "endDate": "2026-08-18"}
    claim = base_claim(serviceLines=lines, therapy=therapy(planOfCare=plan))
    assert _only(run(claim, ref=ref, role=NOT_NEEDED), "PROCEDURE_BUNDLED") == [
        ("PROCEDURE_BUNDLED", 1)
    ]
    kx = base_claim(
        serviceLines=[
            line(1, "97110", "GP", dateOfService="2026-06-30", units=2, minutes=30,
                 chargeAmount="84.00"),
            line(2, "97110", "GP", dateOfService="2026-07-01", units=2, minutes=30,
                 chargeAmount="84.00"),
        ],
        therapy=therapy(planOfCare=plan, amountUsedYtd="2470.00"),
    )  # fmt: skip
    # 2,470 + 84 passes the 2026 threshold on line 1; line 2 is under a commercial version
    assert _only(run(kx, ref=ref, role=PT), "KX_MODIFIER_REQUIRED") == [("KX_MODIFIER_REQUIRED", 1)]


# --- retroactiveEnrollmentDays ------------------------------------------------------

GROUP, RENDERING = "1558598797", "1234567893"
EFFECTIVE = dt.date(2026, 6, 15)


def _enrollment(days_before: int, *policy: dict[str, Any]) -> list[tuple[str, int]]:
    table = EnrollmentTable(
        parse_record(r)
        for r in (
            {"npi": GROUP, "payerId": "COMM", "status": "ACTIVE", "effectiveDate": "2019-01-01"},
            {"npi": RENDERING, "payerId": "COMM", "status": "ACTIVE",
             "effectiveDate": EFFECTIVE.isoformat()},
        )
    )  # fmt: skip
    dos = EFFECTIVE - dt.timedelta(days=days_before)
    parsed = parse_claim(
        base_claim(
            payerId="COMM", serviceLines=[line(1, "97110", "GP", dateOfService=dos.isoformat())]
        )
    )
    assert parsed.claim is not None
    payers = PayerPolicies.from_records(list(policy), "payers.json")
    edits = check_enrollment(
        parsed.claim, ref=EnrollmentReference.load(), table=table, payers=payers
    )
    return [(e.code, e.line_number) for e in edits if e.code == "PROVIDER_NOT_ENROLLED"]


@pytest.mark.parametrize(("days_before", "enrolled"), [(0, True), (1, False)])
def test_a_commercial_payer_allows_no_days_before_the_effective_date(
    days_before: int, enrolled: bool
) -> None:
    got = _enrollment(days_before, {"payerId": "COMM", "medicareRules": False})
    assert got == ([] if enrolled else [("PROVIDER_NOT_ENROLLED", 1)])


@pytest.mark.parametrize(("days_before", "enrolled"), [(30, True), (31, False)])
def test_a_payers_own_retroactive_days_hold_at_their_boundary(
    days_before: int, enrolled: bool
) -> None:
    policy = {"payerId": "COMM", "medicareRules": False, "retroactiveEnrollmentDays": 30}
    assert _enrollment(days_before, policy) == ([] if enrolled else [("PROVIDER_NOT_ENROLLED", 1)])


def test_get_enrollment_uses_the_payers_retroactive_days() -> None:
    table = EnrollmentTable(
        [parse_record({"npi": RENDERING, "payerId": "COMM", "status": "ACTIVE",
                       "effectiveDate": EFFECTIVE.isoformat()})]
    )  # fmt: skip
    on = EFFECTIVE - dt.timedelta(days=1)
    ref = EnrollmentReference.load()
    commercial = PayerPolicies.from_records([{"payerId": "COMM", "medicareRules": False}], "p")
    medicare = PayerPolicies.defaults()
    no = provider_standing(RENDERING, "COMM", on, ref=ref, table=table, payers=commercial)
    yes = provider_standing(RENDERING, "COMM", on, ref=ref, table=table, payers=medicare)
    assert (no.enrolled_on_date, yes.enrolled_on_date) == (False, True)

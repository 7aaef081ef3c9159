"""Dated payer policy versions (contract §2 ``effectiveDate``; issue 16 item 3): each
line is judged with the version in force on its date of service, so a claim
spanning an effective date uses both."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from claimscrub.core.claim import parse_claim
from claimscrub.core.claim_checks import timely_filing_edits
from claimscrub.core.payers import PayerPolicies, UnitRule
from claimscrub.units.reference import UnitsReference
from claimscrub.units.rules import check_units
from tests.unit.necessity_support import PT, base_claim, bundled_ref, line, run

JULY = dt.date(2026, 7, 1)

VERSIONS = [
    {"payerId": "ACME", "effectiveDate": "2026-07-01", "unitRule": "PER_CODE",
     "timelyFiling": {"days": 180}},
    {"payerId": "ACME", "effectiveDate": "2026-01-01", "unitRule": "TOTAL_TIME",
     "timelyFiling": {"days": 90}},
]  # fmt: skip


def _payers(*records: dict[str, Any]) -> PayerPolicies:
    return PayerPolicies.from_records(list(records or VERSIONS), "payers.json")


def test_the_version_in_force_is_the_latest_on_or_before_the_date() -> None:
    payers = _payers()
    assert payers.for_payer("ACME", JULY - dt.timedelta(days=1)).unit_rule is UnitRule.TOTAL_TIME
    assert payers.for_payer("ACME", JULY).unit_rule is UnitRule.PER_CODE
    assert payers.for_payer("acme", dt.date(2030, 1, 1)).effective_date == JULY


def test_a_date_before_the_first_version_gets_the_first_version() -> None:
    first = _payers().for_payer("ACME", dt.date(2025, 12, 31))
    assert first.effective_date == dt.date(2026, 1, 1)
    assert first.medicare_rules is True and first.timely_filing.days == 90


def test_a_version_without_effective_date_applies_until_the_first_dated_one() -> None:
    payers = _payers(
        {"payerId": "ACME", "unitRule": "PER_CODE"},
        {"payerId": "ACME", "effectiveDate": "2026-07-01"},
    )
    assert payers.for_payer("ACME", dt.date(1999, 1, 1)).unit_rule is UnitRule.PER_CODE
    assert payers.for_payer("ACME", JULY).unit_rule is UnitRule.TOTAL_TIME


def test_an_unlisted_payer_gets_the_defaults_whatever_the_date() -> None:
    assert _payers().for_payer("OTHER", JULY) is PayerPolicies.defaults().default


def _claim(lines: list[dict[str, Any]], submitted: str = "2026-08-01") -> Any:
    parsed = parse_claim(
        {"claimId": "V-1", "payerId": "ACME", "submissionDate": submitted, "serviceLines": lines}
    )
    assert parsed.ok, parsed.problems
    return parsed


def test_units_use_each_days_unit_rule() -> None:
    # 97110 33 min ×2 + 97140 7 min ×1 on each day: total time (40 min → 3) accepts it,
    # per code 97140's 7 minutes support no unit (CMS Pub. 100-04 Ch.5 §20.2 example 3)
    day = [("97110", 33, 2), ("97140", 7, 1)]
    lines = [
        {"lineNumber": n, "dateOfService": d, "procedureCode": code, "minutes": m, "units": u}
        for n, (d, (code, m, u)) in enumerate(
            [(d, x) for d in ("2026-06-30", "2026-07-01") for x in day], start=1
        )
    ]
    parsed = _claim(lines)
    ref = dataclasses.replace(UnitsReference.load(), payers=_payers())
    edits = check_units(parsed.claim, ref)
    assert [(e.code, e.line_number) for e in edits] == [("TIMED_UNDER_8_MINUTES", 4)]


def test_timely_filing_uses_each_lines_limit() -> None:
    # submitted 2026-10-01: 93 days after 06-30 (limit 90), 92 days after 07-01 (limit 180)
    lines = [
        {"lineNumber": 1, "dateOfService": "2026-06-30", "procedureCode": "97110", "units": 1},
        {"lineNumber": 2, "dateOfService": "2026-07-01", "procedureCode": "97110", "units": 1},
    ]
    edits = timely_filing_edits(_claim(lines, "2026-10-01"), _payers(), dt.date(2026, 10, 1))
    assert [e.line_number for e in edits] == [1]
    assert "payer limit is 90 days" in edits[0].message


def test_necessity_rules_use_each_lines_version() -> None:
    rule = {"id": "CAP", "severity": "ERROR", "when": {"codes": ["97110"], "unitsOver": 1}}
    payers = _payers(
        {"payerId": "MEDICARE", "effectiveDate": "2026-01-01", "visitLimitPerYear": 10},
        {"payerId": "MEDICARE", "effectiveDate": "2026-07-01", "edits": [rule]},
    )
    ref = dataclasses.replace(bundled_ref(), payers=payers)
    plan = {"certifiedDate": "2026-06-20", "startDate": "2026-06-20", "endDate": "2026-08-18"}
    claim = base_claim(
        serviceLines=[
            line(1, "97110", "GP", units=2, minutes=30, dateOfService="2026-06-30"),
            line(2, "97110", "GP", units=2, minutes=30, dateOfService="2026-07-01"),
        ],
        therapy={"discipline": "PT", "planOfCare": plan, "visitsUsedYtd": 10,
                 "amountUsedYtd": "0.00", "treatmentDaysSinceProgressReport": 0},
    )  # fmt: skip
    edits = run(claim, ref=ref, role=PT)
    # line 1: visit 11 over the first version's 10; line 2: the second version's rule,
    # which has no visit limit
    assert [(e.code, e.line_number) for e in edits] == [
        ("VISIT_LIMIT_EXCEEDED", 1),
        ("PAYER_RULE", 2),
    ]

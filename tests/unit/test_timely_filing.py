"""TIMELY_FILING: Medicare's limit is one calendar year after the date of
service (42 CFR 424.44; Claims Processing Manual ch.1 §70): due by the same
month and day of the next year, a 29 February date of service by 28 February.
Other payers may set a number of days (contract §2, ``timelyFiling``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from claimscrub.core.claim import parse_claim
from claimscrub.core.claim_checks import timely_filing_edits
from claimscrub.core.payers import PayerPolicies, ReferenceDataError, TimelyFiling

#: a date of service for looking a payer policy up (the example files have one version)
DOS = dt.date(2026, 5, 4)

TODAY = dt.date(2027, 1, 1)


def _claim(dos: str, submitted: str, payer: str = "MEDICARE") -> Any:
    parsed = parse_claim(
        {
            "claimId": "TF-1",
            "payerId": payer,
            "submissionDate": submitted,
            "serviceLines": [
                {"lineNumber": 1, "dateOfService": dos, "procedureCode": "97110", "units": 1}
            ],
        }
    )
    assert parsed.ok, parsed.problems
    return parsed


def _late(dos: str, submitted: str, payers: PayerPolicies | None = None, payer: str = "MEDICARE"):  # type: ignore[no-untyped-def]
    edits = timely_filing_edits(
        _claim(dos, submitted, payer), payers or PayerPolicies.defaults(), TODAY
    )
    assert all(e.code == "TIMELY_FILING" and e.line_number == 1 for e in edits)
    return bool(edits)


def _payers(tmp_path: Path, *records: dict[str, Any]) -> PayerPolicies:
    path = tmp_path / "payers.json"
    path.write_text(json.dumps(list(records)))
    return PayerPolicies.load(path)


def test_the_medicare_default_is_one_calendar_year() -> None:
    assert PayerPolicies.defaults().for_payer("ANY", DOS).timely_filing == TimelyFiling(
        calendar_years=1
    )


@pytest.mark.parametrize(
    ("dos", "last_day_on_time"),
    [
        # a leap-day DOS: no 29 February next year, so 28 February
        ("2024-02-29", "2025-02-28"),
        # the year after the DOS holds a 29 February: 366 days are allowed
        ("2023-03-01", "2024-03-01"),
        ("2023-12-31", "2024-12-31"),
        # a 29 February in the due year does not extend a 28 February DOS
        ("2023-02-28", "2024-02-28"),
        ("2024-02-28", "2025-02-28"),
        ("2024-03-01", "2025-03-01"),
        ("2025-02-28", "2026-02-28"),
    ],
)
def test_due_by_the_same_month_and_day_of_the_next_year(dos: str, last_day_on_time: str) -> None:
    due = dt.date.fromisoformat(last_day_on_time)
    assert TimelyFiling(calendar_years=1).due_date(dt.date.fromisoformat(dos)) == due
    assert not _late(dos, last_day_on_time)
    assert _late(dos, (due + dt.timedelta(days=1)).isoformat())


def test_366_days_are_on_time_across_a_leap_day_and_not_otherwise() -> None:
    # 2023-03-01 -> 2024-03-01 is 366 days: on time (a 365-day limit would refuse it)
    assert not _late("2023-03-01", "2024-03-01")
    # 2024-03-01 -> 2025-03-02 is 366 days: late
    assert _late("2024-03-01", "2025-03-02")


def test_several_calendar_years_from_a_leap_day(tmp_path: Path) -> None:
    payers = _payers(tmp_path, {"payerId": "TWO", "timelyFiling": {"calendarYears": 2}})
    assert not _late("2024-02-29", "2026-02-28", payers, "TWO")
    assert _late("2024-02-29", "2026-03-01", payers, "TWO")
    # four years on, 29 February exists again
    assert TimelyFiling(calendar_years=4).due_date(dt.date(2024, 2, 29)) == dt.date(2028, 2, 29)


def test_a_days_limit_ends_that_many_days_after_the_dos(tmp_path: Path) -> None:
    payers = _payers(tmp_path, {"payerId": "ACME", "timelyFiling": {"days": 180}})
    # 2026-01-01 + 180 days = 2026-06-30
    assert not _late("2026-01-01", "2026-06-30", payers, "ACME")
    assert _late("2026-01-01", "2026-07-01", payers, "ACME")
    # a days limit counts a leap day like any other: 2024-01-01 + 180 = 2024-06-29
    assert not _late("2024-01-01", "2024-06-29", payers, "ACME")
    assert _late("2024-01-01", "2024-06-30", payers, "ACME")


def test_the_older_timely_filing_days_reads_as_days(tmp_path: Path) -> None:
    payers = _payers(tmp_path, {"payerId": "OLD", "timelyFilingDays": 365})
    assert payers.for_payer("OLD", DOS).timely_filing == TimelyFiling(days=365)
    # 365 days, not a calendar year: 2023-03-01 + 365 days = 2024-02-29
    assert not _late("2023-03-01", "2024-02-29", payers, "OLD")
    assert _late("2023-03-01", "2024-03-01", payers, "OLD")


def test_a_payer_without_a_limit_gets_the_medicare_default(tmp_path: Path) -> None:
    payers = _payers(tmp_path, {"payerId": "ACME", "unitRule": "PER_CODE"})
    assert payers.for_payer("ACME", DOS).timely_filing == TimelyFiling(calendar_years=1)


def test_the_message_holds_the_limit_and_day_counts_but_no_date(tmp_path: Path) -> None:
    [e] = timely_filing_edits(_claim("2024-02-29", "2025-03-01"), PayerPolicies.defaults(), TODAY)
    assert e.message == (
        "97110 submitted 366 days after the date of service; "
        "payer limit is 1 calendar year (365 days for this date of service)"
    )
    payers = _payers(tmp_path, {"payerId": "ACME", "timelyFiling": {"days": 180}})
    [e] = timely_filing_edits(_claim("2026-01-01", "2026-07-01", "ACME"), payers, TODAY)
    assert e.message == (
        "97110 submitted 181 days after the date of service; payer limit is 180 days"
    )


def test_the_processing_date_stands_in_for_a_missing_submission_date() -> None:
    parsed = parse_claim(
        {
            "claimId": "TF-2",
            "payerId": "MEDICARE",
            "serviceLines": [
                {
                    "lineNumber": 1,
                    "dateOfService": "2025-12-31",
                    "procedureCode": "97110",
                    "units": 1,
                }
            ],
        }
    )
    payers = PayerPolicies.defaults()
    assert not timely_filing_edits(parsed, payers, dt.date(2026, 12, 31))
    assert timely_filing_edits(parsed, payers, dt.date(2027, 1, 1))


@pytest.mark.parametrize(
    "record",
    [
        {"timelyFiling": {"days": 0}},
        {"timelyFiling": {"calendarYears": -1}},
        {"timelyFiling": {"calendarYears": True}},
        {"timelyFiling": {"weeks": 3}},
        {"timelyFiling": {"days": 90, "calendarYears": 1}},
        {"timelyFiling": 365},
        {"timelyFilingDays": "365"},
        {"timelyFiling": {"days": 90}, "timelyFilingDays": 90},
    ],
)
def test_an_invalid_limit_is_refused_with_its_record(
    tmp_path: Path, record: dict[str, Any]
) -> None:
    with pytest.raises(ReferenceDataError, match=r"record 1: .*timelyFiling"):
        _payers(tmp_path, {"payerId": "BAD", **record})

"""Plan of care (certified, 90 days from the initial treatment, end date, signed within 30
days) and progress reports every 10 treatment days (domain §5; CMS Pub. 100-02 Ch.15
§220.1.3, §220.3.D)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from claimscrub.cli.scrub import Scrubber
from claimscrub.core.edits import Severity
from claimscrub.necessity.check import load_batch_check
from tests.unit.necessity_support import base_claim, codes, line, run, therapy


def test_therapy_lines_without_a_plan_of_care() -> None:
    edits = run(base_claim(therapy=therapy(planOfCare=None)))
    assert codes(edits) == [("PLAN_OF_CARE_MISSING", 0)]


def test_a_plan_that_was_never_certified_is_missing() -> None:
    uncertified = {"startDate": "2026-04-20", "endDate": "2026-07-18"}
    assert codes(run(base_claim(therapy=therapy(planOfCare=uncertified)))) == [
        ("PLAN_OF_CARE_MISSING", 0)
    ]


def test_no_therapy_block_at_all() -> None:
    edits = run(base_claim(therapy=None))
    assert ("PLAN_OF_CARE_MISSING", 0) in codes(edits)


def test_non_therapy_lines_need_no_plan() -> None:
    data = base_claim(therapy=None, serviceLines=[line(1, "99213")])
    assert "PLAN_OF_CARE_MISSING" not in {c for c, _ in codes(run(data))}


def _plan_claim(plan: dict[str, str], dos: str = "2026-05-04") -> dict[str, Any]:
    return base_claim(
        therapy=therapy(planOfCare=plan),
        serviceLines=[line(1, "97110", "GP", dateOfService=dos)],
    )


# Certification covers the plan's duration or 90 calendar days from the initial
# treatment (startDate), whichever is less (BPM ch.15 §220.1.3). 2026-02-03 to
# 2026-05-04 is 90 days (Feb 25 + Mar 31 + Apr 30 + May 4).
@pytest.mark.parametrize(
    ("start", "certified", "end", "dos", "expired"),
    [
        ("2026-02-03", "2026-02-03", "2026-07-18", "2026-05-04", False),  # day 90 from start
        ("2026-02-02", "2026-02-02", "2026-07-18", "2026-05-04", True),  # day 91
        # 91 days from the initial treatment, 73 from the signature: the start counts.
        ("2026-02-02", "2026-02-20", "2026-07-18", "2026-05-04", True),
        # 90 days from the start, signed 20 days later: still covered.
        ("2026-02-03", "2026-02-23", "2026-07-18", "2026-05-04", False),
        ("2026-04-20", "2026-04-20", "2026-05-03", "2026-05-04", True),  # day after the end
        ("2026-04-20", "2026-04-20", "2026-05-04", "2026-05-04", False),  # on the end date
    ],
)
def test_plan_of_care_expiry(start: str, certified: str, end: str, dos: str, expired: bool) -> None:
    plan = {"startDate": start, "certifiedDate": certified, "endDate": end}
    edits = run(_plan_claim(plan, dos))
    assert codes(edits) == ([("PLAN_OF_CARE_EXPIRED", 1)] if expired else [])


def test_the_90_days_message_counts_from_the_initial_treatment() -> None:
    plan = {"startDate": "2026-02-02", "certifiedDate": "2026-02-20"}
    (expired,) = run(_plan_claim(plan))
    assert expired.message.startswith("97110 is 91 days after the plan's initial treatment")


@pytest.mark.parametrize(("certified", "expired"), [("2026-02-03", False), ("2026-02-02", True)])
def test_without_a_start_date_the_90_days_run_from_the_certification(
    certified: str, expired: bool
) -> None:
    edits = run(_plan_claim({"certifiedDate": certified}))
    assert codes(edits) == ([("PLAN_OF_CARE_EXPIRED", 1)] if expired else [])
    if expired:
        assert "certification (no initial treatment date)" in edits[0].message


def test_a_line_one_day_before_the_plan_starts_has_no_plan() -> None:
    plan = {"startDate": "2026-05-05", "certifiedDate": "2026-05-05"}
    edits = run(_plan_claim(plan, "2026-05-04"))
    assert codes(edits) == [("PLAN_OF_CARE_MISSING", 1)]
    assert edits[0].message == (
        "97110 is 1 day before the plan of care starts (its initial treatment); "
        "it is not furnished under that plan"
    )
    assert run(_plan_claim(plan, "2026-05-05")) == []  # the initial treatment itself


def test_only_the_lines_before_the_start_lack_a_plan() -> None:
    data = base_claim(
        therapy=therapy(planOfCare={"startDate": "2026-05-04", "certifiedDate": "2026-05-04"}),
        serviceLines=[
            line(1, "97110", "GP", dateOfService="2026-05-01"),
            line(2, "97110", "GP", dateOfService="2026-05-04"),
        ],
    )
    assert codes(run(data)) == [("PLAN_OF_CARE_MISSING", 1)]


# The physician/NPP certifies within 30 days of the initial treatment (§220.1.3).
# 2026-04-04 to 2026-05-04 is 30 days.
@pytest.mark.parametrize(("certified", "late"), [("2026-05-04", False), ("2026-05-05", True)])
def test_certification_more_than_30_days_after_the_initial_treatment(
    certified: str, late: bool
) -> None:
    edits = run(_plan_claim({"startDate": "2026-04-04", "certifiedDate": certified}))
    assert codes(edits) == ([("PLAN_OF_CARE_CERT_LATE", 0)] if late else [])
    if late:
        assert edits[0].severity is Severity.WARNING
        assert edits[0].carc == "CO-50"
        assert "certified 31 days after the initial treatment" in edits[0].message


def test_progress_report_due_after_10_treatment_days() -> None:
    # 10 days before this claim; this claim's date of service is the 11th.
    edits = run(base_claim(therapy=therapy(treatmentDaysSinceProgressReport=10)))
    assert codes(edits) == [("PROGRESS_REPORT_OVERDUE", 1)]
    assert "day 11" in edits[0].message
    assert run(base_claim(therapy=therapy(treatmentDaysSinceProgressReport=9))) == []  # day 10


def test_the_first_line_of_the_first_date_past_the_limit_carries_it() -> None:
    data = base_claim(
        therapy=therapy(treatmentDaysSinceProgressReport=9),
        serviceLines=[
            line(1, "97110", "GP", dateOfService="2026-05-04"),
            line(2, "97112", "GP", dateOfService="2026-05-06"),
            line(3, "97110", "GP", dateOfService="2026-05-06"),
        ],
    )
    assert codes(run(data)) == [("PROGRESS_REPORT_OVERDUE", 2)]


def _visit(n: int, day: dt.date, reported: int | None) -> dict[str, Any]:
    return base_claim(
        claimId=f"V-{n}",
        therapy=therapy(treatmentDaysSinceProgressReport=reported),
        serviceLines=[line(1, "97110", "GP", dateOfService=day.isoformat())],
    )


def _scrub(claims: list[dict[str, Any]]) -> list[list[tuple[str, int]]]:
    check = load_batch_check((), (), None, key=b"test-key")
    return [codes(list(r.edits)) for r in Scrubber([check], dt.date(2026, 6, 1)).scrub_all(claims)]


def test_without_the_field_days_are_counted_from_the_episode_start() -> None:
    start = dt.date(2026, 4, 20)  # the plan's start date
    days = [start + dt.timedelta(days=2 * i) for i in range(11)]
    results = _scrub([_visit(i, d, None) for i, d in enumerate(days)])
    assert results[:10] == [[]] * 10
    assert results[10] == [("PROGRESS_REPORT_OVERDUE", 1)]


def test_without_the_field_days_are_counted_on_from_the_last_reported_count() -> None:
    start = dt.date(2026, 4, 20)
    # The first visit reports 7 days before it: 8 through its date; two more make 10,
    # the third more is day 11.
    claims = [_visit(0, start, 7)] + [
        _visit(i, start + dt.timedelta(days=i), None) for i in range(1, 4)
    ]
    assert _scrub(claims) == [[], [], [], [("PROGRESS_REPORT_OVERDUE", 1)]]

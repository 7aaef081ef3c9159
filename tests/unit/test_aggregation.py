"""Aggregation: one result once every required check answered; redelivery is a no-op."""

from __future__ import annotations

from claimscrub.aggregator.state import apply
from claimscrub.core.edits import CheckName, edit
from claimscrub.core.results import CheckResult, Status, combine

MALFORMED = edit("MALFORMED_CLAIM", 0, "invalid claim: payerId: missing")
EXCEED = edit("UNITS_EXCEED_TIME", 2, "97110 billed 3 units; 30 timed minutes support 2")
BELOW = edit("UNITS_BELOW_TIME", 1, "97110 billed 1 unit; 40 timed minutes support 3")


def test_status_is_hold_for_errors_review_for_warnings_else_clean() -> None:
    assert combine("A", [CheckResult("A", CheckName.UNITS, ())]).status is Status.CLEAN
    assert combine("A", [CheckResult("A", CheckName.UNITS, (BELOW,))]).status is Status.REVIEW
    both = combine("A", [CheckResult("A", CheckName.UNITS, (BELOW, EXCEED))])
    assert both.status is Status.HOLD
    assert [e.line_number for e in both.edits] == [1, 2]


def test_claim_level_edits_reported_by_several_checks_appear_once() -> None:
    result = combine(
        "A",
        [
            CheckResult("A", CheckName.UNITS, (MALFORMED,)),
            CheckResult("A", CheckName.NECESSITY, (MALFORMED,)),
        ],
    )
    assert [e.code for e in result.edits] == ["MALFORMED_CLAIM"]
    assert result.checks == ("UNITS", "NECESSITY")


def test_result_waits_for_every_required_check() -> None:
    required = ("UNITS", "NECESSITY")
    step = apply(None, CheckResult("A", CheckName.UNITS, (EXCEED,)), required)
    assert step.result is None and not step.duplicate
    step = apply(step.state, CheckResult("A", CheckName.NECESSITY, ()), required)
    assert step.result is not None
    assert step.result.status is Status.HOLD
    assert step.result.edits == (EXCEED,)


def test_a_redelivered_verdict_changes_nothing() -> None:
    required = ("UNITS", "NECESSITY")
    first = apply(None, CheckResult("A", CheckName.UNITS, (EXCEED,)), required)
    again = apply(first.state, CheckResult("A", CheckName.UNITS, ()), required)
    assert again.duplicate and again.result is None and again.state == first.state


def test_nothing_is_published_twice_for_one_claim() -> None:
    done = apply(None, CheckResult("A", CheckName.UNITS, ()), ("UNITS",))
    assert done.result is not None
    again = apply(done.state, CheckResult("A", CheckName.UNITS, ()), ("UNITS",))
    assert again.duplicate and again.result is None

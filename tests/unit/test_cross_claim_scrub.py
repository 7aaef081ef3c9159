"""`claimscrub scrub` over a beneficiary's claims in input order: the cross-claim
edits land on the later claim, a whole repeat gets the one line-0 DUPLICATE_CLAIM,
and a line never gets MUE_EXCEEDED from both the UNITS check and the day total."""

from __future__ import annotations

import copy
import datetime as dt
from argparse import Namespace
from typing import Any

from claimscrub.cli.checks import build_checks
from claimscrub.cli.scrub import Scrubber
from claimscrub.runtime.testing import REPO_ROOT
from tests.cross_claim_example import EXPECTED_B, cross_claim_sequence, cross_edits

EXAMPLES = REPO_ROOT / "examples"


def _scrub(claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    checks = build_checks(
        Namespace(
            mue=None,
            payers=EXAMPLES / "payers.json",
            enrollment=EXAMPLES / "enrollment.json",
            ptp=None,
            coverage=None,
        )
    )
    scrubber = Scrubber(checks, dt.date(2026, 6, 1))
    return [r.to_json() for r in scrubber.scrub_all(claims)]


def test_the_later_claim_gets_the_cross_claim_edits_and_a_whole_repeat_line_0() -> None:
    a, b, c = _scrub(cross_claim_sequence("U"))
    assert cross_edits(a) == []
    assert cross_edits(b) == EXPECTED_B
    mue = next(e for e in b["edits"] if e["code"] == "MUE_EXCEEDED")
    assert mue["check"] == "UNITS" and mue["carc"] == "CO-96/N362"
    dup = next(e for e in b["edits"] if e["code"] == "DUPLICATE_CLAIM")
    assert dup["check"] == "CLAIM" and dup["carc"] == "CO-18"
    assert cross_edits(c) == [("DUPLICATE_CLAIM", 0)]


def test_the_order_of_input_decides_which_claim_is_flagged() -> None:
    a, b, _ = cross_claim_sequence("O")
    first, second = _scrub([b, a])
    # B first is judged alone; A second meets B's lines: 4 + 3 units of 97110
    # pass the MUE on A's line 1, A's 97112 repeats B's line 3, and A's 97140
    # is the column 1 code, which flags nothing on the later claim.
    assert cross_edits(first) == []
    assert cross_edits(second) == [("MUE_EXCEEDED", 1), ("DUPLICATE_CLAIM", 3)]


def test_one_mue_edit_when_the_claim_alone_passes_the_mue() -> None:
    a, b, _ = cross_claim_sequence("M")
    b = copy.deepcopy(b)
    # 7 units alone pass the MUE of 6: the UNITS check's edit, not a second one.
    b["serviceLines"][0].update(units=7, minutes=105)
    _, result = _scrub([a, b])
    assert [e["lineNumber"] for e in result["edits"] if e["code"] == "MUE_EXCEEDED"] == [1]
    assert "on one date of service" in next(
        e["message"] for e in result["edits"] if e["code"] == "MUE_EXCEEDED"
    )

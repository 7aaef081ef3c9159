"""The rules that read a beneficiary's earlier claims (issue 15 items 7-9).

* MUE (NCCI MUE policy, contract §4 MUE_EXCEEDED): for MAI 2 and 3 the units
  of every claim for one beneficiary, rendering provider and date of service
  add up; more units than the MUE value is the edit, exactly the value is not.
  MAI 1 caps one line and never adds across claims.
* PTP (contract §4 PTP_CONFLICT): a column 2 code on a later claim for the
  same beneficiary, provider and date as its column 1 code on an earlier claim
  conflicts on the later line (indicator 1 unless a bypass modifier).
* Duplicate lines (CMS Pub. 100-04 Ch.1 §120, contract §4 DUPLICATE_CLAIM): a
  line identical in provider, date, code, modifiers and units to a line
  already scrubbed under another claimId.

The MUE and PTP tables here are test data written in the CMS layouts, not CMS
values.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from claimscrub.core.edits import CheckName, Edit, Severity
from claimscrub.necessity.history import (
    History,
    date_shift,
    record_claim,
    seal,
    seen_lines,
    unseal,
)
from claimscrub.necessity.reference import NecessityReference
from tests.unit.necessity_support import DOS, base_claim, line, parse, run

MUE_CSV = "\n".join(
    [
        "TEST MUE VALUES",
        "HCPCS/CPT Code,Practitioner Services MUE Values,MUE Adjudication Indicator,Rationale",
        "97110,4,3 Date of Service Edit: Clinical,Clinical: Data",
        "97116,2,2 Date of Service Edit: Policy,Nature of Service/Procedure",
        "97112,4,1 Line Edit,Clinical: Data",
        "",
    ]
)

PTP_TSV = "\n".join(
    [
        "Column 1\tColumn 2\t*=prior to 1996\tEffective\tDeletion\tModifier\tRationale",
        "97140\t97530\t\t20200101\t*\t1\tMutually exclusive procedures",
        "97150\t97110\t*\t19960101\t*\t0\tCPT Manual or CMS manual coding instruction",
        "",
    ]
)

OTHER_NPI = "1245319599"


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> NecessityReference:
    tmp = tmp_path_factory.mktemp("cross")
    (tmp / "mue.csv").write_text(MUE_CSV, encoding="utf-8")
    (tmp / "ptp.txt").write_text(PTP_TSV, encoding="utf-8")
    return NecessityReference.load(ptp_paths=[tmp / "ptp.txt"], mue_path=tmp / "mue.csv")


def claim(claim_id: str, *lines: dict[str, Any], npi: str = "1234567893") -> dict[str, Any]:
    return base_claim(
        claimId=claim_id,
        serviceLines=list(lines),
        renderingProvider={"npi": npi, "taxonomy": "225100000X"},
        note=None,
    )


def after(ref: NecessityReference, *earlier: dict[str, Any]) -> History | None:
    history: History | None = None
    for data in earlier:
        history = record_claim(history, parse(data), ref)
    return history


def of(edits: list[Edit], code: str) -> list[Edit]:
    return [e for e in edits if e.code == code]


# --- MUE across claims ---------------------------------------------------------------


def test_mue_reached_exactly_across_two_claims_is_no_edit(ref: NecessityReference) -> None:
    first = claim("A-1", line(1, "97110", "GP", units=2, minutes=30))
    second = claim("B-1", line(1, "97110", "GP", units=2, minutes=30))
    assert of(run(second, ref=ref, history=after(ref, first)), "MUE_EXCEEDED") == []


def test_mue_passed_by_one_unit_across_two_claims_is_on_the_later_line(
    ref: NecessityReference,
) -> None:
    first = claim("A-1", line(1, "97110", "GP", units=2, minutes=30))
    second = claim(
        "B-1", line(1, "97112", "GP", units=1), line(2, "97110", "GP", units=3, minutes=45)
    )
    (found,) = of(run(second, ref=ref, history=after(ref, first)), "MUE_EXCEEDED")
    assert found.line_number == 2
    # The catalogue's check and severity, whichever service computes it.
    assert found.check is CheckName.UNITS and found.severity is Severity.ERROR
    assert "MUE 4 per day (MAI 3)" in found.message


def test_the_edit_sits_on_the_line_where_the_day_passes_the_mue(
    ref: NecessityReference,
) -> None:
    first = claim("A-1", line(1, "97110", "GP", units=3, minutes=45))
    # 3 earlier + 1 = 4 (reached) on line 1, + 1 = 5 (passed) on line 2.
    second = claim("B-1", line(1, "97110", "GP", units=1), line(2, "97110", "GP", "59", units=1))
    found = of(run(second, ref=ref, history=after(ref, first)), "MUE_EXCEEDED")
    assert [e.line_number for e in found] == [2]


def test_mai_2_adds_across_claims_too(ref: NecessityReference) -> None:
    first = claim("A-1", line(1, "97116", "GP", units=1))
    second = claim("B-1", line(1, "97116", "GP", units=2, minutes=30))
    assert [
        e.line_number for e in of(run(second, ref=ref, history=after(ref, first)), "MUE_EXCEEDED")
    ] == [1]


def test_mai_1_stays_per_line(ref: NecessityReference) -> None:
    first = claim("A-1", line(1, "97112", "GP", units=4, minutes=60))
    second = claim("B-1", line(1, "97112", "GP", units=4, minutes=60))
    assert of(run(second, ref=ref, history=after(ref, first)), "MUE_EXCEEDED") == []


@pytest.mark.parametrize(
    ("npi", "dos"), [(OTHER_NPI, DOS), ("1234567893", "2026-05-05")], ids=["provider", "day"]
)
def test_another_provider_or_day_does_not_add_up(
    ref: NecessityReference, npi: str, dos: str
) -> None:
    first = claim("A-1", line(1, "97110", "GP", units=3, minutes=45, dateOfService=dos), npi=npi)
    second = claim("B-1", line(1, "97110", "GP", units=3, minutes=45))
    assert of(run(second, ref=ref, history=after(ref, first)), "MUE_EXCEEDED") == []


def test_a_claim_over_the_mue_on_its_own_is_left_to_the_units_check(
    ref: NecessityReference,
) -> None:
    first = claim("A-1", line(1, "97110", "GP", units=1))
    second = claim("B-1", line(1, "97110", "GP", units=5, minutes=75))
    assert of(run(second, ref=ref, history=after(ref, first)), "MUE_EXCEEDED") == []


def test_a_redelivered_claim_does_not_count_its_own_units(ref: NecessityReference) -> None:
    first = claim("A-1", line(1, "97110", "GP", units=3, minutes=45))
    again = claim("A-1", line(1, "97110", "GP", units=3, minutes=45))
    assert of(run(again, ref=ref, history=after(ref, first)), "MUE_EXCEEDED") == []


def test_a_claim_delivered_again_after_a_later_one_is_compared_with_earlier_ones_only(
    ref: NecessityReference,
) -> None:
    first = claim("A-1", line(1, "97110", "GP", units=3, minutes=45))
    later = claim("B-1", line(1, "97110", "GP", units=2, minutes=30))
    history = after(ref, first, later, first)
    edits = run(first, ref=ref, history=history)
    assert of(edits, "MUE_EXCEEDED") == [] and of(edits, "DUPLICATE_CLAIM") == []
    assert [e.line_number for e in of(run(later, ref=ref, history=history), "MUE_EXCEEDED")] == [1]


def test_a_repeated_line_adds_no_units(ref: NecessityReference) -> None:
    first = claim("A-1", line(1, "97110", "GP", units=3, minutes=45))
    second = claim("B-1", line(1, "97110", "GP", units=3, minutes=45))
    edits = run(second, ref=ref, history=after(ref, first))
    assert of(edits, "MUE_EXCEEDED") == []
    assert [e.line_number for e in of(edits, "DUPLICATE_CLAIM")] == [1]


# --- PTP across claims ---------------------------------------------------------------


def test_a_pair_split_over_two_claims_on_one_day_conflicts_on_the_later_column_2_line(
    ref: NecessityReference,
) -> None:
    first = claim("A-1", line(1, "97110", "GP", units=2, minutes=30), line(2, "97140", "GP"))
    second = claim("B-1", line(1, "97530", "GP"))
    (found,) = of(run(second, ref=ref, history=after(ref, first)), "PTP_CONFLICT")
    assert found.line_number == 1
    assert "97140 (line 2 of an earlier claim)" in found.message
    assert "A-1" not in found.message  # the other claim's line by number only


def test_a_pair_split_over_two_claims_on_different_days_is_no_conflict(
    ref: NecessityReference,
) -> None:
    first = claim("A-1", line(1, "97140", "GP", dateOfService="2026-05-05"))
    second = claim("B-1", line(1, "97530", "GP"))
    assert of(run(second, ref=ref, history=after(ref, first)), "PTP_CONFLICT") == []


def test_column_1_on_the_later_claim_flags_nothing(ref: NecessityReference) -> None:
    first = claim("A-1", line(1, "97530", "GP"))
    second = claim("B-1", line(1, "97140", "GP"))
    assert of(run(second, ref=ref, history=after(ref, first)), "PTP_CONFLICT") == []


def test_another_provider_is_no_conflict(ref: NecessityReference) -> None:
    first = claim("A-1", line(1, "97140", "GP"), npi=OTHER_NPI)
    second = claim("B-1", line(1, "97530", "GP"))
    assert of(run(second, ref=ref, history=after(ref, first)), "PTP_CONFLICT") == []


def test_a_bypass_modifier_on_either_claim_clears_indicator_1_but_not_0(
    ref: NecessityReference,
) -> None:
    bypassed = after(ref, claim("A-1", line(1, "97140", "GP", "59")))
    assert (
        of(run(claim("B-1", line(1, "97530", "GP")), ref=ref, history=bypassed), "PTP_CONFLICT")
        == []
    )
    indicator_0 = after(ref, claim("A-1", line(1, "97150", "GP")))
    later = claim("B-1", line(1, "97110", "GP", "59", units=2, minutes=30))
    assert [
        e.line_number for e in of(run(later, ref=ref, history=indicator_0), "PTP_CONFLICT")
    ] == [1]


def test_one_edit_names_the_claims_own_and_the_earlier_column_1_lines(
    ref: NecessityReference,
) -> None:
    first = claim("A-1", line(1, "97140", "GP", units=1))
    # Line 1 differs in units, so it is another service, not a repeat.
    second = claim("B-1", line(1, "97140", "GP", units=2, minutes=30), line(2, "97530", "GP"))
    (found,) = of(run(second, ref=ref, history=after(ref, first)), "PTP_CONFLICT")
    assert found.line_number == 2
    assert "97140 (line 1), 97140 (line 1 of an earlier claim)" in found.message


# --- duplicate lines -----------------------------------------------------------------


def test_a_duplicate_line_inside_a_longer_claim_is_flagged_on_that_line(
    ref: NecessityReference,
) -> None:
    first = claim("A-1", line(1, "97110", "GP", units=2, minutes=30))
    second = claim(
        "B-1",
        line(1, "97112", "GP"),
        # Same service; modifiers listed in another order are the same modifiers.
        line(2, "97110", "GP", "KX", units=2, minutes=30),
        line(3, "97116", "GP"),
    )
    first_kx = claim("A-1", line(1, "97110", "KX", "GP", units=2, minutes=30))
    for earlier in (first, first_kx):
        found = of(run(second, ref=ref, history=after(ref, earlier)), "DUPLICATE_CLAIM")
        expected = [] if earlier is first else [2]
        assert [e.line_number for e in found] == expected
    (dup,) = of(run(second, ref=ref, history=after(ref, first_kx)), "DUPLICATE_CLAIM")
    assert dup.check is CheckName.CLAIM and dup.severity is Severity.ERROR
    assert "line 1 of claim A-1" in dup.message


@pytest.mark.parametrize(
    "changed",
    [{"units": 3, "minutes": 45}, {"dateOfService": "2026-05-05"}, {"procedureCode": "97112"}],
    ids=["units", "day", "code"],
)
def test_a_line_differing_in_one_field_is_no_duplicate(
    ref: NecessityReference, changed: dict[str, Any]
) -> None:
    first = claim("A-1", line(1, "97110", "GP", units=2, minutes=30))
    fields: dict[str, Any] = {"units": 2, "minutes": 30, **changed}
    code = fields.pop("procedureCode", "97110")
    second = claim("B-1", line(1, code, "GP", **fields))
    assert of(run(second, ref=ref, history=after(ref, first)), "DUPLICATE_CLAIM") == []


def test_another_provider_is_no_duplicate_and_a_redelivery_is_never_its_own(
    ref: NecessityReference,
) -> None:
    first = claim("A-1", line(1, "97110", "GP", units=2, minutes=30))
    other = claim("B-1", line(1, "97110", "GP", units=2, minutes=30), npi=OTHER_NPI)
    assert of(run(other, ref=ref, history=after(ref, first)), "DUPLICATE_CLAIM") == []
    assert of(run(first, ref=ref, history=after(ref, first)), "DUPLICATE_CLAIM") == []


# --- the history the rules read ------------------------------------------------------


def test_lines_are_kept_for_the_window_and_dropped_one_day_after(
    ref: NecessityReference,
) -> None:
    newest = dt.date.fromisoformat(DOS)
    edge = (newest - dt.timedelta(days=ref.line_history_days)).isoformat()
    beyond = (newest - dt.timedelta(days=ref.line_history_days + 1)).isoformat()
    old = claim(
        "A-1",
        line(1, "97110", "GP", dateOfService=edge),
        line(2, "97110", "GP", dateOfService=beyond),
    )
    history = after(ref, old, claim("B-1", line(1, "97112", "GP")))
    assert [(p.claim_id, p.line_number) for p in seen_lines(history, "C-1")] == [
        ("A-1", 1),
        ("B-1", 1),
    ]


def test_stored_lines_carry_shifted_dates_and_unseal_exactly(ref: NecessityReference) -> None:
    history = after(ref, claim("A-1", line(1, "97110", "GP", units=2, minutes=30)))
    assert history is not None
    shift = date_shift("b-token", b"key")
    stored = seal(history, shift)
    assert DOS not in repr(stored)
    assert seen_lines(unseal(stored, shift), "B-1") == seen_lines(history, "B-1")

"""The payer's own declarative edits (PAYER_RULE, docs/reference-data.md): each kind
of condition at its boundary, the rule's severity, CARC and id, and the three
worked examples of examples/payers.json."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from claimscrub.core.edits import Severity
from claimscrub.core.payers import PayerPolicies
from claimscrub.necessity.reference import NecessityReference
from tests.unit.necessity_support import PT, base_claim, bundled_ref, line, run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _ref(when: dict[str, Any], **rule: Any) -> NecessityReference:
    edit = {"id": "RULE-1", "severity": "ERROR", "carc": "CO-97", "when": when} | rule
    policy = {"payerId": "MEDICARE", "edits": [edit]}
    return dataclasses.replace(
        bundled_ref(), payers=PayerPolicies.from_records([policy], "payers.json")
    )


def _hits(lines: list[dict[str, Any]], ref: NecessityReference, **top: Any) -> list[int]:
    edits = run(base_claim(serviceLines=lines, **top), ref=ref, role=PT)
    return [e.line_number for e in edits if e.code == "PAYER_RULE"]


def test_codes_match_the_lines_code() -> None:
    ref = _ref({"codes": ["97110"]})
    lines = [line(1, "97110", "GP"), line(2, "97112", "GP")]
    assert _hits(lines, ref) == [1]


def test_with_codes_needs_another_line_on_the_same_date() -> None:
    ref = _ref({"codes": ["97150"], "withCodes": ["97530"]})
    same_day = [line(1, "97530", "GP", minutes=30, units=2), line(2, "97150", "GP")]
    assert _hits(same_day, ref) == [2]
    other_day = [
        line(1, "97530", "GP", minutes=30, units=2),
        line(2, "97150", "GP", dateOfService="2026-05-05"),
    ]
    assert _hits(other_day, ref) == []
    # a line is not its own companion
    assert _hits([line(1, "97150", "GP")], _ref({"codes": ["97150"], "withCodes": ["97150"]})) == []


def test_modifiers_present_needs_one_of_them() -> None:
    ref = _ref({"codes": ["97110"], "modifiersPresent": ["KX", "59"]})
    assert _hits([line(1, "97110", "GP", "59")], ref) == [1]
    assert _hits([line(1, "97110", "GP")], ref) == []


def test_modifiers_absent_needs_none_of_them() -> None:
    ref = _ref({"codes": ["97140"], "modifiersAbsent": ["59", "XS"]})
    assert _hits([line(1, "97140", "GP")], ref) == [1]
    assert _hits([line(1, "97140", "GP", "XS")], ref) == []


def test_places_of_service() -> None:
    ref = _ref({"placesOfService": ["02", "10"]})
    assert _hits([line(1, "97110", "GP", placeOfService="02")], ref) == [1]
    assert _hits([line(1, "97110", "GP", placeOfService="11")], ref) == []
    assert _hits([line(1, "97110", "GP")], ref) == []  # no place of service: no match


def test_diagnosis_prefixes_look_at_the_pointed_diagnoses_without_dots() -> None:
    ref = _ref({"diagnosisPrefixes": ["R26"]})
    # diagnoses M62.81, R26.89: pointer 2 is R26.89
    assert _hits([line(1, "97110", "GP", diagnosisPointers=[2])], ref) == [1]
    assert _hits([line(1, "97110", "GP", diagnosisPointers=[1])], ref) == []
    # no pointers: every diagnosis of the claim
    assert _hits([line(1, "97110", "GP", diagnosisPointers=[])], ref) == [1]
    assert _hits([line(1, "97110", "GP")], _ref({"diagnosisPrefixes": ["M6281"]})) == [1]


@pytest.mark.parametrize(("units", "hit"), [(3, False), (4, True)])
def test_units_over_is_strictly_more(units: int, hit: bool) -> None:
    ref = _ref({"codes": ["97110"], "unitsOver": 3})
    lines = [line(1, "97110", "GP", units=units, minutes=15 * units)]
    assert _hits(lines, ref) == ([1] if hit else [])


def test_day_units_over_goes_on_the_line_that_passes() -> None:
    ref = _ref({"codes": ["97110"], "dayUnitsOver": 3})
    at = [line(1, "97110", "GP", units=2, minutes=30), line(2, "97110", "GP", units=1, minutes=15)]
    assert _hits(at, ref) == []
    over = [*at, line(3, "97110", "GP", units=1, minutes=15)]
    assert _hits(over, ref) == [3]
    # another date is another day
    apart = [*at, line(3, "97110", "GP", units=1, minutes=15, dateOfService="2026-05-05")]
    assert _hits(apart, ref) == []


def test_every_condition_must_hold() -> None:
    ref = _ref({"codes": ["97140"], "modifiersAbsent": ["59"], "placesOfService": ["11"]})
    assert _hits([line(1, "97140", "GP", placeOfService="11")], ref) == [1]
    assert _hits([line(1, "97140", "GP", placeOfService="12")], ref) == []


def test_severity_carc_and_reference_come_from_the_rule() -> None:
    ref = _ref({"codes": ["97110"]}, id="ACME-WARN-7", severity="WARNING", carc="PR-204")
    [e] = [e for e in run(base_claim(), ref=ref, role=PT) if e.code == "PAYER_RULE"]
    assert (e.severity, e.carc, e.reference, e.check.value) == (
        Severity.WARNING,
        "PR-204",
        "ACME-WARN-7",
        "NECESSITY",
    )
    no_carc = _ref({"codes": ["97110"]}, carc="")
    [e] = [e for e in run(base_claim(), ref=no_carc, role=PT) if e.code == "PAYER_RULE"]
    assert (e.severity, e.carc) == (Severity.ERROR, "")


def test_the_message_holds_no_unknown_claim_text() -> None:
    ref = _ref({"placesOfService": ["11"]})
    lines = [line(1, "ZZ999", placeOfService="11", minutes=None)]
    [e] = [
        e for e in run(base_claim(serviceLines=lines), ref=ref, role=PT) if e.code == "PAYER_RULE"
    ]
    assert "ZZ999" not in e.message
    assert e.message == "the procedure in place of service 11: the payer's rule does not allow it"


# --- the three examples of examples/payers.json ---------------------------------------

EXAMPLE_REF = dataclasses.replace(
    bundled_ref(), payers=PayerPolicies.load(EXAMPLES / "payers.json")
)


def _example(payer: str, lines: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    edits = run(
        base_claim(payerId=payer, serviceLines=lines, therapy={"visitsUsedYtd": 0}),
        ref=EXAMPLE_REF,
        role=PT,
    )
    return [(e.code, e.line_number, e.reference) for e in edits if e.code == "PAYER_RULE"]


def test_example_a_payer_that_denies_97530_and_97150_on_one_day() -> None:
    lines = [line(1, "97530", "GP", units=2, minutes=30), line(2, "97150", "GP", minutes=None)]
    assert _example("SUMMIT-HEALTH", lines) == [("PAYER_RULE", 2, "SUMMIT-97530-97150")]


def test_example_a_payer_that_wants_59_on_97140_with_97530() -> None:
    lines = [line(1, "97140", "GP"), line(2, "97530", "GP", units=2, minutes=30)]
    assert _example("ACME-COMMERCIAL", lines) == [("PAYER_RULE", 1, "ACME-97140-59")]
    with_59 = [line(1, "97140", "GP", "59"), line(2, "97530", "GP", units=2, minutes=30)]
    assert _example("ACME-COMMERCIAL", with_59) == []


def test_example_a_payer_that_caps_97110_at_3_units() -> None:
    three = [line(1, "97110", "GP", units=3, minutes=45)]
    four = [line(1, "97110", "GP", units=4, minutes=60)]
    assert _example("ACME-COMMERCIAL", three) == []
    assert _example("ACME-COMMERCIAL", four) == [("PAYER_RULE", 1, "ACME-97110-CAP")]

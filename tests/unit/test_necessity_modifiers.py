"""Therapy modifiers GP/GO/GN and assistant modifiers CQ/CO (domain §4, CR10176)."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimscrub.necessity.roles import ProviderRole
from tests.unit.necessity_support import COMMERCIAL, PT, base_claim, codes, line, ref_with, run

PTA = {"npi": "1245319599", "taxonomy": "225200000X"}
OTA = {"npi": "1245319599", "taxonomy": "224Z00000X"}


def test_the_base_claim_is_clean() -> None:
    assert run(base_claim()) == []


def test_always_therapy_code_without_a_therapy_modifier() -> None:
    edits = run(base_claim(serviceLines=[line(1, "97110")]))
    assert codes(edits) == [("THERAPY_MODIFIER_MISSING", 1)]


def test_an_evaluation_without_a_modifier_is_told_its_own() -> None:
    edits = run(base_claim(serviceLines=[line(1, "97165", units=1)]))
    assert codes(edits) == [("THERAPY_MODIFIER_MISSING", 1)]
    assert "needs GO" in edits[0].message


@pytest.mark.parametrize(
    ("code", "modifiers"),
    [
        ("97110", ["GP", "GO"]),  # one therapy modifier per line
        ("97110", ["GP", "GN"]),
        ("97165", ["GP"]),  # OT evaluation with PT's modifier
        ("97161", ["GO"]),  # PT evaluation with OT's modifier
        ("97168", ["GP"]),  # OT re-evaluation
        ("97110", ["GO", "CQ"]),  # CQ only with GP
        ("97110", ["GN", "CQ"]),  # never on GN lines
        ("97110", ["GP", "CO"]),  # CO only with GO
        ("97110", ["GN", "CO"]),
    ],
)
def test_modifier_conflicts(code: str, modifiers: list[str]) -> None:
    edits = run(base_claim(serviceLines=[line(1, code, *modifiers, units=1)]), role=PT)
    assert ("THERAPY_MODIFIER_CONFLICT", 1) in codes(edits)


@pytest.mark.parametrize(
    ("code", "modifiers"),
    [("97161", ["GP"]), ("97164", ["GP"]), ("97165", ["GO"]), ("97110", ["GP", "CQ"])],
)
def test_right_modifiers_do_not_conflict(code: str, modifiers: list[str]) -> None:
    data = base_claim(serviceLines=[line(1, code, *modifiers, units=1)], renderingProvider=PTA)
    assert "THERAPY_MODIFIER_CONFLICT" not in {c for c, _ in codes(run(data))}


def test_pt_assistant_lines_need_cq() -> None:
    data = base_claim(
        renderingProvider=PTA,
        serviceLines=[line(1, "97110", "GP", units=2, minutes=30), line(2, "97112", "GP", "CQ")],
    )
    assert codes(run(data)) == [("ASSISTANT_MODIFIER_MISSING", 1)]


def test_ot_assistant_lines_need_co() -> None:
    data = base_claim(
        renderingProvider=OTA,
        therapy={"discipline": "OT", "planOfCare": {"certifiedDate": "2026-04-20"}},
        serviceLines=[line(1, "97530", "GO", "CO"), line(2, "97535", "GO")],
        note=None,
    )
    edits = run(data)
    assert ("ASSISTANT_MODIFIER_MISSING", 2) in codes(edits)
    assert ("ASSISTANT_MODIFIER_MISSING", 1) not in codes(edits)
    assert "need CO" in next(e.message for e in edits if e.code == "ASSISTANT_MODIFIER_MISSING")


def test_a_therapist_needs_no_assistant_modifier() -> None:
    assert run(base_claim()) == []


def test_assistant_modifiers_are_a_medicare_rule(tmp_path: Path) -> None:
    ref = ref_with(tmp_path, payers=COMMERCIAL)
    assert run(base_claim(payerId="ACME", renderingProvider=PTA), ref=ref) == []


def test_unknown_role_is_reported_not_passed() -> None:
    # No taxonomy on the claim and no enrollment lookup: CQ/CO cannot be verified.
    data = base_claim(renderingProvider={"npi": "1234567893"})
    edits = run(data)
    assert codes(edits) == [("CHECK_INCOMPLETE", 0)]
    assert edits[0].message.startswith("NECESSITY could not verify CQ/CO")
    assert "no enrollment lookup" in edits[0].message


def test_unknown_role_does_not_matter_when_every_line_has_cq() -> None:
    data = base_claim(
        renderingProvider={"npi": "1234567893"},
        serviceLines=[line(1, "97110", "GP", "CQ", units=2, minutes=30)],
    )
    assert run(data) == []


def test_role_from_the_enrollment_lookup_is_used() -> None:
    data = base_claim(renderingProvider={"npi": "1234567893"})
    edits = run(data, role=ProviderRole("PT", True, "enrollment"))
    assert codes(edits) == [("ASSISTANT_MODIFIER_MISSING", 1)]


# CR10176: 92521, 92522, 92523, 92524, 92597 and 92607 take GN only.
GN_ONLY = ["92521", "92522", "92523", "92524", "92597", "92607"]
_MODIFIER_EDITS = {"THERAPY_MODIFIER_MISSING", "THERAPY_MODIFIER_CONFLICT"}


def _modifier_edits(code: str, *modifiers: str) -> list[tuple[str, int]]:
    data = base_claim(serviceLines=[line(1, code, *modifiers, units=1)], note=None)
    return [c for c in codes(run(data, role=PT)) if c[0] in _MODIFIER_EDITS]


@pytest.mark.parametrize("code", GN_ONLY)
@pytest.mark.parametrize("other", ["GP", "GO"])
def test_a_gn_only_code_with_another_disciplines_modifier_conflicts(code: str, other: str) -> None:
    assert _modifier_edits(code, other) == [("THERAPY_MODIFIER_CONFLICT", 1)]


@pytest.mark.parametrize("code", GN_ONLY)
def test_a_gn_only_code_without_a_therapy_modifier_needs_gn(code: str) -> None:
    data = base_claim(serviceLines=[line(1, code, units=1)], note=None)
    edits = [e for e in run(data, role=PT) if e.code in _MODIFIER_EDITS]
    assert [(e.code, e.line_number) for e in edits] == [("THERAPY_MODIFIER_MISSING", 1)]
    assert edits[0].message.endswith("needs GN")


@pytest.mark.parametrize("code", GN_ONLY)
def test_a_gn_only_code_with_gn_is_right(code: str) -> None:
    assert _modifier_edits(code, "GN") == []


@pytest.mark.parametrize(
    "code", ["92507", "92508", "92526", "92608", "92609", "92610", "97129", "97130"]
)
def test_the_other_slp_codes_are_always_therapy(code: str) -> None:
    assert _modifier_edits(code) == [("THERAPY_MODIFIER_MISSING", 1)]
    assert _modifier_edits(code, "GN") == []


# Assistants do not evaluate (BPM ch.15 §230.1): CQ/CO on an evaluation conflicts.
@pytest.mark.parametrize(
    ("code", "modifiers"),
    [("97161", ["GP", "CQ"]), ("97164", ["GP", "CQ"]), ("97165", ["GO", "CO"])],
)
def test_an_assistant_modifier_on_an_evaluation_conflicts(code: str, modifiers: list[str]) -> None:
    data = base_claim(serviceLines=[line(1, code, *modifiers, units=1)], note=None)
    edits = [e for e in run(data, role=PT) if e.code in _MODIFIER_EDITS]
    assert [(e.code, e.line_number) for e in edits] == [("THERAPY_MODIFIER_CONFLICT", 1)]
    assert "assistants do not evaluate" in edits[0].message
    assert edits[0].reference == "CMS Pub. 100-02 Ch.15 §230.1"


def test_cq_on_a_treatment_code_is_right() -> None:
    assert _modifier_edits("97110", "GP", "CQ") == []


def test_an_assistant_rendering_an_evaluation_is_told_assistants_do_not_evaluate() -> None:
    data = base_claim(renderingProvider=PTA, serviceLines=[line(1, "97161", "GP", units=1)])
    edits = run(data)
    assert codes(edits) == [("ASSISTANT_MODIFIER_MISSING", 1)]
    assert "assistants do not evaluate" in edits[0].message

"""Diagnoses: present, pointers valid, ICD-10-CM form, coverage policy support."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimscrub.core.payers import ReferenceDataError
from claimscrub.necessity.coverage import DiagnosisRange, normalise_diagnosis
from tests.unit.necessity_support import base_claim, codes, line, ref_with, run


def test_no_diagnosis_at_all_is_one_claim_level_edit() -> None:
    data = base_claim(diagnoses=[], serviceLines=[line(1, "97110", "GP", diagnosisPointers=[])])
    assert codes(run(data)) == [("DIAGNOSIS_MISSING", 0)]


def test_a_line_without_pointers() -> None:
    data = base_claim(serviceLines=[line(1, "97110", "GP", diagnosisPointers=[])])
    assert codes(run(data)) == [("DIAGNOSIS_MISSING", 1)]


@pytest.mark.parametrize("pointers", [[3], [1, 3], [0]])
def test_a_pointer_to_no_diagnosis(pointers: list[int]) -> None:
    data = base_claim(serviceLines=[line(1, "97110", "GP", diagnosisPointers=pointers)])
    edits = run(data)
    assert codes(edits) == [("DIAGNOSIS_MISSING", 1)]
    assert "(the claim has 2)" in edits[0].message


@pytest.mark.parametrize("bad", ["12345", "M6", "MM2.81", "M62.81234", "M62."])
def test_a_diagnosis_not_in_icd10cm_form(bad: str) -> None:
    data = base_claim(diagnoses=["M62.81", bad])
    edits = run(data)
    assert codes(edits) == [("DIAGNOSIS_MISSING", 0)]
    assert edits[0].message == "diagnosis 2 is not an ICD-10-CM code"
    assert bad not in edits[0].message


@pytest.mark.parametrize("good", ["M6281", "Z96.651", "S72.001A", "R26.89", "G20"])
def test_icd10cm_codes_with_or_without_the_dot(good: str) -> None:
    assert run(base_claim(diagnoses=[good, "R26.89"])) == []


def test_sample_policy_flags_an_unrelated_diagnosis() -> None:
    data = base_claim(diagnoses=["J30.1"], serviceLines=[line(1, "97110", "GP")])
    edits = run(data)
    assert codes(edits) == [("DIAGNOSIS_NOT_SUPPORTED", 1)]
    assert "J30" not in edits[0].message
    assert edits[0].message.endswith("(sample coverage policy)")


def test_one_supporting_pointed_diagnosis_is_enough() -> None:
    lines = [line(1, "97110", "GP", diagnosisPointers=[1, 2])]
    data = base_claim(diagnoses=["J30.1", "M62.81"], serviceLines=lines)
    assert run(data) == []


def test_a_supporting_diagnosis_the_line_does_not_point_at_does_not_count() -> None:
    data = base_claim(
        diagnoses=["J30.1", "M62.81"], serviceLines=[line(1, "97110", "GP", diagnosisPointers=[1])]
    )
    assert codes(run(data)) == [("DIAGNOSIS_NOT_SUPPORTED", 1)]


def test_only_procedures_a_loaded_policy_covers_are_judged() -> None:
    # The sample policy does not name 97035: no verdict on its diagnosis.
    data = base_claim(diagnoses=["J30.1"], serviceLines=[line(1, "97035", "GP")])
    assert run(data) == []


POLICY = {
    "policies": [
        {
            "id": "L-TEST",
            "payers": ["MEDICARE"],
            "procedures": ["97110"],
            "supportingDiagnoses": ["M25.511-M25.519", "Z96.6"],
        }
    ]
}


def test_a_user_policy_replaces_the_sample_and_applies_to_its_payers(tmp_path: Path) -> None:
    ref = ref_with(tmp_path, coverage=POLICY)
    assert not ref.coverage.is_sample
    ok = base_claim(diagnoses=["M25.512"], serviceLines=[line(1, "97110", "GP")])
    assert run(ok, ref=ref) == []
    outside = base_claim(diagnoses=["M25.521"], serviceLines=[line(1, "97110", "GP")])
    edits = run(outside, ref=ref)
    assert codes(edits) == [("DIAGNOSIS_NOT_SUPPORTED", 1)]
    assert "L-TEST" in edits[0].message and "sample" not in edits[0].message
    other_payer = outside | {"payerId": "OTHERPAYER"}
    assert run(other_payer, ref=ref) == []


@pytest.mark.parametrize(
    ("entry", "code", "covered"),
    [
        (("M00", "M99"), "M62.81", True),
        (("M00", "M99"), "N18.3", False),
        (("Z966", "Z966"), "Z96.651", True),
        (("Z966", "Z966"), "Z96.7", False),
        (("M25511", "M25519"), "M25.519", True),
        (("M25511", "M25519"), "M25.52", False),
    ],
)
def test_diagnosis_ranges(entry: tuple[str, str], code: str, covered: bool) -> None:
    assert DiagnosisRange(*entry).covers(normalise_diagnosis(code)) is covered


def test_an_invalid_policy_file_is_refused(tmp_path: Path) -> None:
    bad = {"policies": [{"id": "X", "procedures": ["97110"], "supportingDiagnoses": ["M99-M00"]}]}
    with pytest.raises(ReferenceDataError, match="START-END"):
        ref_with(tmp_path, coverage=bad)

"""MUE: the CMS-layout CSV loader and the MUE_EXCEEDED rule (MAI 1 per line, 2/3 per day).

The rule tests use a small CSV written to tmp_path, so they do not depend on the
bundled sample values.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from claimscrub.core.claim import Claim, parse_claim
from claimscrub.core.edits import Edit, Severity
from claimscrub.core.payers import PayerPolicies, ReferenceDataError
from claimscrub.units.reference import (
    MueEntry,
    UnitsReference,
    load_code_lists,
    load_mue_csv,
)
from claimscrub.units.rules import check_units

#: a date of service for looking a payer policy up (the example files have one version)
DOS = dt.date(2026, 5, 4)

PREAMBLE = (
    '"CPT codes, descriptions and other data only are copyright 2026 American Medical '
    'Association.\nAll Rights Reserved.\nApplicable FARS/DFARS Apply."\n'
    "Medically Unlikely Edits, practitioner services, effective 2026-07-01\n"
    '"A quoted line, with commas, and a ""quoted"" word",second cell\n'
    "\n"
)
HEADER = (
    "HCPCS/CPT Code,Practitioner Services MUE Values,MUE Adjudication Indicator,MUE Rationale\n"
)
ROWS = (
    "97110,4,1 Line Edit,Clinical: Data\n"
    "97112,2,2 Date of Service Edit: Policy,CMS Policy\n"
    "\n"
    "97140 , 3 ,3 Date of Service Edit: Clinical  ,Clinical: Data   \n"
    "97530,,3 Date of Service Edit: Clinical,Clinical: Data\n"
    "97535,Confidential,3 Date of Service Edit: Clinical,Clinical: Data\n"
    "97161,1,2 Date of Service Edit: Policy,Code Descriptor / CPT Instruction\n"
)
EXPECTED = {
    "97110": MueEntry("97110", 4, 1, "Clinical: Data"),
    "97112": MueEntry("97112", 2, 2, "CMS Policy"),
    "97140": MueEntry("97140", 3, 3, "Clinical: Data"),
    "97161": MueEntry("97161", 1, 2, "Code Descriptor / CPT Instruction"),
}


@pytest.fixture
def mue_file(tmp_path: Path) -> Path:
    path = tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv"
    path.write_text(PREAMBLE + HEADER + ROWS, encoding="utf-8")
    return path


def write(tmp_path: Path, text: str, name: str = "mue.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --------------------------------------------------------------------------- loader


def test_loads_cms_layout(mue_file: Path) -> None:
    assert load_mue_csv(mue_file) == EXPECTED


def test_confidential_values_are_skipped(mue_file: Path) -> None:
    table = load_mue_csv(mue_file)
    assert "97530" not in table
    assert "97535" not in table


def test_bom_crlf_and_windows_1252(tmp_path: Path) -> None:
    text = (PREAMBLE + "Copyright © AMA\n" + HEADER + ROWS).replace("\n", "\r\n")
    assert load_mue_csv(write(tmp_path, "\ufeff" + text, "bom.csv", "utf-8")) == EXPECTED
    assert load_mue_csv(write(tmp_path, text, "cp.csv", "cp1252")) == EXPECTED


def test_header_first_without_preamble(tmp_path: Path) -> None:
    assert load_mue_csv(write(tmp_path, "\ufeff" + HEADER + ROWS)) == EXPECTED


def test_no_header_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, PREAMBLE + ROWS, "noheader.csv")
    with pytest.raises(ReferenceDataError) as info:
        load_mue_csv(path)
    message = str(info.value)
    assert "noheader.csv" in message
    assert "HCPCS/CPT Code" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("97110,4,Line Edit,Clinical: Data", "Adjudication Indicator"),
        ("97110,4,7 Something,Clinical: Data", "Adjudication Indicator"),
        ("97110,4", "too few columns"),
        ("97-10,4,1 Line Edit,Clinical: Data", "code"),
        ("97112,5,1 Line Edit,Clinical: Data", "twice"),
    ],
)
def test_invalid_row_is_an_error_with_its_line(tmp_path: Path, row: str, reason: str) -> None:
    text = PREAMBLE + HEADER + ROWS + row + "\n"
    line_no = len((PREAMBLE + HEADER + ROWS).splitlines()) + 1
    path = write(tmp_path, text, "bad.csv")
    with pytest.raises(ReferenceDataError) as info:
        load_mue_csv(path)
    message = str(info.value)
    assert message.startswith(f"bad.csv line {line_no}:")
    assert reason in message
    assert "\n" not in message


def test_header_without_mai_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "HCPCS/CPT Code,Practitioner Services MUE Values\n97110,4\n")
    with pytest.raises(ReferenceDataError, match=r"mue\.csv line 1"):
        load_mue_csv(path)


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ReferenceDataError, match=r"missing\.csv: cannot read"):
        load_mue_csv(tmp_path / "missing.csv")


def test_bundled_sample_loads_and_is_labelled_sample() -> None:
    ref = UnitsReference.load()
    assert ref.mue_is_sample
    assert "sample" in ref.mue_source
    timed, untimed = load_code_lists()
    assert ref.timed_codes == timed
    assert ref.untimed_codes == untimed
    # A row for every therapy code, with all three MAIs used.
    assert set(ref.mue) == timed | untimed
    assert {entry.mai for entry in ref.mue.values()} == {1, 2, 3}
    text = resources.files("claimscrub.units").joinpath("data/mue_sample.csv").read_text()
    preamble = text.split("HCPCS/CPT Code")[0]
    assert "SAMPLE" in preamble
    assert "NOT the current CMS values" in preamble
    assert "--mue FILE" in preamble
    assert "CLAIMSCRUB_MUE_FILE" in preamble


def test_copy_of_sample_stays_labelled_sample(tmp_path: Path) -> None:
    copy = tmp_path / "copy.csv"
    with resources.as_file(
        resources.files("claimscrub.units").joinpath("data/mue_sample.csv")
    ) as src:
        shutil.copyfile(src, copy)
    ref = UnitsReference.load(copy)
    assert ref.mue_is_sample
    assert ref.mue_source == "copy.csv"


def test_user_file_is_not_sample(mue_file: Path) -> None:
    ref = UnitsReference.load(mue_file)
    assert not ref.mue_is_sample
    assert ref.mue_source == mue_file.name
    assert dict(ref.mue) == EXPECTED


def test_load_with_payers_file(tmp_path: Path, mue_file: Path) -> None:
    payers = tmp_path / "payers.json"
    payers.write_text('[{"payerId": "ACME", "unitRule": "PER_CODE"}]')
    ref = UnitsReference.load(mue_file, payers)
    assert ref.payers.for_payer("acme", DOS).unit_rule == "PER_CODE"
    assert ref.payers.for_payer("MEDICARE", DOS).unit_rule == "TOTAL_TIME"


# --------------------------------------------------------------------------- rule


def make_ref(mue_file: Path, *, sample: bool = False) -> UnitsReference:
    timed, untimed = load_code_lists()
    return UnitsReference(
        timed_codes=timed,
        untimed_codes=untimed,
        mue=load_mue_csv(mue_file),
        mue_is_sample=sample,
        mue_source=mue_file.name,
        payers=PayerPolicies.defaults(),
    )


def make_claim(lines: Sequence[tuple[str, int, int, str]]) -> Claim:
    data: dict[str, Any] = {
        "claimId": "MUE-1",
        "payerId": "MEDICARE",
        "serviceLines": [
            {
                "lineNumber": i,
                "dateOfService": dos,
                "procedureCode": code,
                "units": units,
                "minutes": minutes,
                "modifiers": ["GP"],
            }
            for i, (code, minutes, units, dos) in enumerate(lines, start=1)
        ],
    }
    parsed = parse_claim(data)
    assert parsed.ok, parsed.problems
    assert parsed.claim is not None
    return parsed.claim


def mue_edits(ref: UnitsReference, lines: Sequence[tuple[str, int, int, str]]) -> list[Edit]:
    return [e for e in check_units(make_claim(lines), ref) if e.code == "MUE_EXCEEDED"]


D1, D2 = "2026-05-04", "2026-05-05"


def test_mai_1_is_per_line(mue_file: Path) -> None:
    ref = make_ref(mue_file)
    # 97110 MUE 4, MAI 1: 3 + 3 units on one day are fine, line by line.
    assert mue_edits(ref, [("97110", 45, 3, D1), ("97110", 45, 3, D1)]) == []
    edits = mue_edits(ref, [("97110", 45, 3, D1), ("97110", 75, 5, D1)])
    assert [(e.line_number, e.severity) for e in edits] == [(2, Severity.ERROR)]
    message = edits[0].message
    assert "97110" in message and "5 units" in message
    assert "per line" in message and "MAI 1" in message and "MUE 4" in message
    assert "sample" not in message
    assert edits[0].carc == "CO-96/N362"


def test_mai_2_is_per_day(mue_file: Path) -> None:
    ref = make_ref(mue_file)
    # 97112 MUE 2, MAI 2: 2 + 1 on one day passes the value on the second line.
    edits = mue_edits(ref, [("97112", 30, 2, D1), ("97112", 15, 1, D1)])
    assert [e.line_number for e in edits] == [2]
    message = edits[0].message
    assert "per day" in message and "MAI 2" in message and "MUE 2" in message
    assert "3 units" in message
    # The same units split over two days are within the value.
    assert mue_edits(ref, [("97112", 30, 2, D1), ("97112", 15, 1, D2)]) == []


def test_mai_3_is_per_day_reported_once(mue_file: Path) -> None:
    ref = make_ref(mue_file)
    # 97140 MUE 3, MAI 3: 2 + 2 + 2 passes at line 2 and is reported once.
    lines = [("97140", 30, 2, D1), ("97140", 30, 2, D1), ("97140", 30, 2, D1)]
    edits = mue_edits(ref, lines)
    assert [e.line_number for e in edits] == [2]
    assert "MAI 3" in edits[0].message and "per day" in edits[0].message


def test_untimed_code_over_mue_and_untimed_rule(mue_file: Path) -> None:
    ref = make_ref(mue_file)
    edits = check_units(make_claim([("97161", 45, 1, D1), ("97161", 30, 1, D1)]), ref)
    assert [(e.code, e.line_number) for e in edits] == [
        ("MUE_EXCEEDED", 2),
        ("UNTIMED_MULTIPLE_UNITS", 2),
    ]


def test_code_without_mue_row_is_not_checked(mue_file: Path) -> None:
    ref = make_ref(mue_file)
    # 97530's value is blank (confidential) in the file: no MUE edit either way.
    assert mue_edits(ref, [("97530", 120, 8, D1)]) == []


def test_sample_values_are_labelled_in_the_message(mue_file: Path) -> None:
    ref = make_ref(mue_file, sample=True)
    edits = mue_edits(ref, [("97110", 75, 5, D1)])
    assert edits
    assert edits[0].message.endswith("(sample MUE value)")

"""NCCI PTP pairs (domain §3) and the CMS practitioner PTP file layout.

The test table below is written in the layout of CMS's tab-separated text
files: a notice, a header wrapped over lines, then column 1, column 2, the
pre-1996 flag (*), effective date, deletion date (* for none), modifier
indicator and rationale, with YYYYMMDD dates. Its pairs and dates are test
data, not CMS values.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from claimscrub.core.edits import Edit, Severity
from claimscrub.core.payers import ReferenceDataError
from claimscrub.necessity.ptp_file import PtpEdit, load_ptp_files, parse_ptp_text
from claimscrub.necessity.reference import NecessityReference
from tests.unit.necessity_support import base_claim, bundled_ref, codes, line, ref_with, run

TSV = "\n".join(
    [
        "CPT only copyright 2025 American Medical Association. All rights reserved.\u00ae",
        "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale",
        "\t\tprior to 1996\tDate\tDate\t0=not allowed\t",
        "\t\t\t\t*=no data\t1=allowed\t",
        "\t\t\t\t\t9=not applicable\t",
        "97140\t97530\t\t20200101\t*\t1\tMutually exclusive procedures",
        "97150\t97110\t*\t19960101\t*\t0\tCPT Manual or CMS manual coding instruction",
        "97161\t97530\t\t20200101\t20200101\t9\tHCPCS/CPT procedure code definition",
        "97164\t97530\t\t20210101\t20231231\t1\tStandards of medical / surgical practice",
        "97164\t97530\t\t20240401\t*\t1\tStandards of medical / surgical practice",
        "",
    ]
)


@pytest.fixture
def ref(tmp_path: Path) -> NecessityReference:
    return ref_with(tmp_path, ptp_text=TSV)


def _pair(
    first: tuple[str, ...], second: tuple[str, ...], dos: str = "2026-05-04"
) -> dict[str, Any]:
    return base_claim(
        serviceLines=[
            line(1, first[0], *first[1:], dateOfService=dos),
            line(2, second[0], *second[1:], dateOfService=dos),
        ],
        note=None,
    )


def _ptp(edits: list[Edit]) -> list[tuple[str, int]]:
    return [c for c in codes(edits) if c[0] == "PTP_CONFLICT"]


def test_indicator_1_without_a_bypass_modifier_conflicts_on_column_2(
    ref: NecessityReference,
) -> None:
    edits = run(_pair(("97140", "GP"), ("97530", "GP")), ref=ref)
    assert _ptp(edits) == [("PTP_CONFLICT", 2)]
    message = next(e.message for e in edits if e.code == "PTP_CONFLICT")
    assert message.startswith("97530 is the column 2 code")
    assert "sample" not in message


def test_the_edit_sits_on_column_2_whatever_the_line_order(ref: NecessityReference) -> None:
    assert _ptp(run(_pair(("97530", "GP"), ("97140", "GP")), ref=ref)) == [("PTP_CONFLICT", 1)]


# For therapy codes only 59, XE, XS, XP, XU and the anatomic modifiers bypass (NCCI
# policy manual ch.1, contract §4 PTP_CONFLICT).
@pytest.mark.parametrize("bypass", ["59", "XU", "XS", "XE", "XP", "LT", "RT", "F1"])
def test_indicator_1_is_bypassed_by_an_ncci_modifier_on_either_line(
    ref: NecessityReference, bypass: str
) -> None:
    assert _ptp(run(_pair(("97140", "GP", bypass), ("97530", "GP")), ref=ref)) == []
    assert _ptp(run(_pair(("97140", "GP"), ("97530", "GP", bypass)), ref=ref)) == []


def test_a_modifier_outside_the_ncci_list_does_not_bypass(ref: NecessityReference) -> None:
    assert _ptp(run(_pair(("97140", "GP", "KX"), ("97530", "GP")), ref=ref)) == [
        ("PTP_CONFLICT", 2)
    ]


def test_indicator_0_conflicts_even_with_59(ref: NecessityReference) -> None:
    edits = run(_pair(("97150", "GP", "59"), ("97110", "GP", "59")), ref=ref)
    assert _ptp(edits) == [("PTP_CONFLICT", 2)]
    assert "modifier indicator 0" in next(e.message for e in edits if e.code == "PTP_CONFLICT")


def test_indicator_9_never_applies(ref: NecessityReference) -> None:
    assert _ptp(run(_pair(("97161", "GP"), ("97530", "GP")), ref=ref)) == []


@pytest.mark.parametrize(
    ("dos", "conflict"),
    [
        ("2020-12-31", False),  # before the first row's effective date
        ("2021-01-01", True),  # effective date itself
        ("2023-12-31", True),  # deletion date: the last date in force
        ("2024-01-01", False),  # deleted, and the next row not yet effective
        ("2024-03-31", False),
        ("2024-04-01", True),  # the later row takes effect
    ],
)
def test_effective_and_deletion_dates_against_the_dos(
    ref: NecessityReference, dos: str, conflict: bool
) -> None:
    edits = run(_pair(("97164", "GP"), ("97530", "GP"), dos=dos), ref=ref)
    assert _ptp(edits) == ([("PTP_CONFLICT", 2)] if conflict else [])


def test_pairs_on_different_dates_do_not_conflict(ref: NecessityReference) -> None:
    data = base_claim(
        serviceLines=[
            line(1, "97140", "GP", dateOfService="2026-05-04"),
            line(2, "97530", "GP", dateOfService="2026-05-05"),
        ],
        note=None,
    )
    assert _ptp(run(data, ref=ref)) == []


def test_bundled_sample_pairs_say_they_are_samples() -> None:
    ref = bundled_ref()
    assert ref.ptp.is_sample
    edits = run(_pair(("97140", "GP"), ("97530", "GP")), ref=ref)
    message = next(e.message for e in edits if e.code == "PTP_CONFLICT")
    assert message.endswith("(sample PTP pair)")


def test_the_tab_separated_layout_parses_every_field() -> None:
    edits, notice = parse_ptp_text(TSV, "ccipra-test.txt")
    assert edits[1] == PtpEdit(
        "97150",
        "97110",
        dt.date(1996, 1, 1),
        None,
        0,
        "CPT Manual or CMS manual coding instruction",
    )
    assert edits[3].deletion == dt.date(2023, 12, 31)
    assert len(edits) == 5
    assert "Column 1" in notice


def test_the_csv_layout_parses_the_same(tmp_path: Path) -> None:
    csv_text = TSV.replace("\t", ",")
    path = tmp_path / "ptp.csv"
    path.write_text(csv_text)
    table = load_ptp_files([path])
    assert not table.is_sample
    assert table.edit_for("97150", "97110", dt.date(2026, 5, 4)) is not None
    assert table.edit_for("97110", "97150", dt.date(2026, 5, 4)) is None


def test_a_quarter_in_several_files_and_windows_1252_text(tmp_path: Path) -> None:
    rows = TSV.splitlines()
    f1, f2 = tmp_path / "f1.txt", tmp_path / "f2.txt"
    f1.write_bytes("\n".join(rows[:6]).encode("cp1252"))
    f2.write_bytes("\n".join(rows[:5] + rows[6:]).encode("cp1252"))
    table = load_ptp_files([f1, f2])
    assert {pair for pair in table.pairs} == {
        ("97140", "97530"),
        ("97150", "97110"),
        ("97161", "97530"),
        ("97164", "97530"),
    }


def test_a_bad_row_after_the_header_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(TSV + "97140\t97530\t\t20200101\t*\t7\tbad indicator\n")
    with pytest.raises(ReferenceDataError, match=r"bad.txt line 11: modifier indicator"):
        load_ptp_files([path])


def test_a_file_without_edits_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("just a notice\n")
    with pytest.raises(ReferenceDataError, match="no PTP edit rows"):
        load_ptp_files([path])


@pytest.mark.parametrize("modifier", ["25", "57", "24", "58", "78", "79", "91", "27"])
def test_global_and_other_modifiers_do_not_bypass_a_therapy_pair(
    ref: NecessityReference, modifier: str
) -> None:
    assert _ptp(run(_pair(("97140", "GP", modifier), ("97530", "GP")), ref=ref)) == [
        ("PTP_CONFLICT", 2)
    ]
    assert _ptp(run(_pair(("97140", "GP"), ("97530", "GP", modifier)), ref=ref)) == [
        ("PTP_CONFLICT", 2)
    ]


NON_THERAPY = (
    "Column 1\tColumn 2\t*\tEffective\tDeletion\tModifier\tRationale\n"
    "20552\t20610\t\t20200101\t*\t1\tTest pair of two non-therapy codes\n"
)


def test_25_still_bypasses_a_pair_of_two_non_therapy_codes(tmp_path: Path) -> None:
    ref = ref_with(tmp_path, ptp_text=NON_THERAPY)
    assert _ptp(run(_pair(("20552", "25"), ("20610",)), ref=ref)) == []
    assert _ptp(run(_pair(("20552",), ("20610",)), ref=ref)) == [("PTP_CONFLICT", 2)]


MANY = "\n".join(
    [
        "Column 1\tColumn 2\t*\tEffective\tDeletion\tModifier\tRationale",
        "97530\t97110\t\t20200101\t*\t1\tTest pair",
        "97150\t97110\t\t20200101\t*\t0\tTest pair",
        "97140\t97110\t\t20200101\t*\t1\tTest pair",
        "",
    ]
)


def _day(*lines: tuple[str, ...]) -> dict[str, Any]:
    return base_claim(
        serviceLines=[line(n, code, *mods) for n, (code, *mods) in enumerate(lines, start=1)],
        note=None,
    )


def test_three_lines_pairing_with_one_column_2_line_give_one_edit(tmp_path: Path) -> None:
    ref = ref_with(tmp_path, ptp_text=MANY.replace("\t0\t", "\t1\t"))
    data = _day(("97530", "GP"), ("97110", "GP"), ("97150", "GP"), ("97140", "GP"))
    edits = [e for e in run(data, ref=ref) if e.code == "PTP_CONFLICT"]
    assert [(e.code, e.line_number) for e in edits] == [("PTP_CONFLICT", 2)]
    assert edits[0].message.startswith(
        "97110 is the column 2 code of NCCI pairs with 97530 (line 1), 97150 (line 3), "
        "97140 (line 4) on one date of service; modifier indicator 1"
    )


def test_a_bypassed_pair_is_left_out_of_the_edit(tmp_path: Path) -> None:
    ref = ref_with(tmp_path, ptp_text=MANY.replace("\t0\t", "\t1\t"))
    data = _day(("97530", "GP", "XU"), ("97110", "GP"), ("97140", "GP"))
    (edit,) = [e for e in run(data, ref=ref) if e.code == "PTP_CONFLICT"]
    assert "with 97140 (line 3) on one date" in edit.message
    assert "97530" not in edit.message


def test_mixed_indicators_are_named_per_pair(tmp_path: Path) -> None:
    ref = ref_with(tmp_path, ptp_text=MANY)
    data = _day(("97110", "GP", "59"), ("97150", "GP"), ("97530", "GP"))
    (edit,) = [e for e in run(data, ref=ref) if e.code == "PTP_CONFLICT"]
    # 59 bypasses 97530's indicator 1 pair, never 97150's indicator 0 one.
    assert "with 97150 (line 2) on one date" in edit.message
    assert "indicator 0" in edit.message
    data = _day(("97110", "GP"), ("97150", "GP"), ("97530", "GP"))
    (edit,) = [e for e in run(data, ref=ref) if e.code == "PTP_CONFLICT"]
    assert "97150 (line 2, indicator 0), 97530 (line 3, indicator 1)" in edit.message


def test_the_named_pairs_are_capped(tmp_path: Path) -> None:
    ref = ref_with(tmp_path, ptp_text=MANY)
    data = _day(*[("97140", "GP")] * 7, ("97110", "GP"))
    (edit,) = [e for e in run(data, ref=ref) if e.code == "PTP_CONFLICT"]
    assert edit.line_number == 8
    assert "97140 (line 5) and 2 more on one date" in edit.message
    assert "(line 6)" not in edit.message


# Never 59 and an X modifier on one line (NCCI policy manual ch.1).
@pytest.mark.parametrize(
    ("modifiers", "misuse"),
    [(("59", "XU"), True), (("XE", "59"), True), (("59",), False), (("XU",), False)],
)
def test_59_with_an_x_modifier_on_one_line(modifiers: tuple[str, ...], misuse: bool) -> None:
    data = _day(("97110", "GP"), ("97140", "GP", *modifiers))
    edits = [e for e in run(data) if e.code == "NCCI_MODIFIER_MISUSE"]
    assert [(e.code, e.line_number) for e in edits] == (
        [("NCCI_MODIFIER_MISUSE", 2)] if misuse else []
    )
    if misuse:
        assert edits[0].severity is Severity.WARNING
        assert edits[0].carc == ""

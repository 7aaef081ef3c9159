"""Codes Medicare does not pay: PFS status indicators (domain §1.3; contract §4).

Medicare does not recognise 97014 (status I; it pays G0283) and never pays
97010 separately (status B). The status table is reference data: the tests
with a loaded file use test rows, not CMS values.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from claimscrub.core.edits import Severity
from claimscrub.core.payers import ReferenceDataError
from claimscrub.necessity.code_status import load_code_status_files
from claimscrub.necessity.settings import NecessitySettings
from tests.unit.necessity_support import COMMERCIAL, base_claim, bundled_ref, line, ref_with, run

_STATUS_EDITS = {"PROCEDURE_NOT_VALID_FOR_PAYER", "PROCEDURE_BUNDLED"}


def _claim(code: str, payer: str = "MEDICARE", dos: str = "2026-05-04") -> dict[str, Any]:
    return base_claim(
        payerId=payer, serviceLines=[line(1, code, "GP", dateOfService=dos)], note=None
    )


def _status_edits(data: dict[str, Any], **kw: Any) -> list[tuple[str, int]]:
    return [(e.code, e.line_number) for e in run(data, **kw) if e.code in _STATUS_EDITS]


def test_medicare_does_not_recognise_97014() -> None:
    edits = [e for e in run(_claim("97014")) if e.code in _STATUS_EDITS]
    assert [(e.code, e.line_number) for e in edits] == [("PROCEDURE_NOT_VALID_FOR_PAYER", 1)]
    assert edits[0].severity is Severity.ERROR
    assert edits[0].carc == "CO-181"
    assert edits[0].message.startswith("97014 has Medicare PFS status I")
    assert edits[0].message.endswith("(sample PFS status)")


def test_97014_under_a_payer_without_medicare_rules(tmp_path: Path) -> None:
    ref = ref_with(tmp_path, payers=COMMERCIAL)
    assert _status_edits(_claim("97014", payer="ACME"), ref=ref) == []


def test_97010_is_bundled() -> None:
    edits = [e for e in run(_claim("97010")) if e.code in _STATUS_EDITS]
    assert [(e.code, e.line_number) for e in edits] == [("PROCEDURE_BUNDLED", 1)]
    assert edits[0].severity is Severity.WARNING
    assert edits[0].carc == "CO-97"


@pytest.mark.parametrize("code", ["G0283", "97110"])
def test_an_active_or_unlisted_code_is_not_judged(code: str) -> None:
    assert _status_edits(_claim(code)) == []


PPRRVU_LIKE = "\n".join(
    [
        "Test status file for claimscrub's tests; not CMS values.",
        "HCPCS,MOD,DESCRIPTION,STATUS CODE,NOT USED FOR MEDICARE PAYMENT,EFFECTIVE DATE,END DATE",
        "97014,,Electric stimulation therapy,I,,20260101,",
        "97010,,Hot or cold packs therapy,B,,,20251231",
        "97010,26,Hot or cold packs therapy,I,,,",
        "",
    ]
)


@pytest.mark.parametrize(
    ("code", "dos", "expected"),
    [
        ("97014", "2025-12-31", []),  # before the row's effective date
        ("97014", "2026-01-01", [("PROCEDURE_NOT_VALID_FOR_PAYER", 1)]),
        ("97010", "2025-12-31", [("PROCEDURE_BUNDLED", 1)]),  # the end date is included
        ("97010", "2026-01-01", []),
    ],
)
def test_a_loaded_file_applies_its_rows_by_date(
    tmp_path: Path, code: str, dos: str, expected: list[tuple[str, int]]
) -> None:
    ref = ref_with(tmp_path, code_status=PPRRVU_LIKE)
    assert not ref.code_status.is_sample
    assert _status_edits(_claim(code, dos=dos), ref=ref) == expected


def test_columns_are_found_by_name_and_modifier_rows_skipped(tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    path.write_text(PPRRVU_LIKE)
    table = load_code_status_files([path])
    assert [r.status for r in table.by_code["97010"]] == ["B"]  # the 26 row is skipped
    assert table.status_on("97014", dt.date(2026, 5, 4)) == "I"
    assert table.source == "status.csv"


def test_the_latest_effective_row_wins(tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    path.write_text("HCPCS,STATUS CODE,EFFECTIVE DATE\n97014,A,20200101\n97014,I,20260101\n")
    table = load_code_status_files([path])
    assert table.status_on("97014", dt.date(2025, 12, 31)) == "A"
    assert table.status_on("97014", dt.date(2026, 1, 1)) == "I"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a notice only\n", r"s\.csv: no header row naming HCPCS and STATUS CODE"),
        ("HCPCS,STATUS CODE\n97014,IX\n", r"s\.csv line 2: STATUS CODE must be one letter"),
        ("HCPCS,STATUS CODE\n9701,I\n", r"s\.csv line 2: HCPCS must be a 5-character code"),
        (
            "HCPCS,STATUS CODE,EFFECTIVE DATE\n97014,I,2026-13-01\n",
            r"s\.csv line 2: EFFECTIVE DATE must be YYYYMMDD",
        ),
    ],
)
def test_a_bad_file_names_file_and_line(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(ReferenceDataError, match=error):
        load_code_status_files([path])


def test_the_bundled_table_is_a_labelled_sample() -> None:
    table = bundled_ref().code_status
    assert table.is_sample
    assert table.source == "bundled sample pfs_status_sample.csv"


def test_the_service_reads_the_file_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    path.write_text(PPRRVU_LIKE)
    own = NecessitySettings.from_env({"CLAIMSCRUB_CODE_STATUS_FILE": str(path)})
    assert own.code_status_files == (path,)

"""KX by threshold group and by allowed amount (domain §4, contract §2).

The KX threshold ($2,480 for 2026 in thresholds.json [secondary]) and the
$3,000 review threshold are per beneficiary, calendar year and group: PT and
SLP together, OT apart. Amounts are allowed amounts: a line's
``allowedAmount``, else the loaded fee schedule's amount per unit times its
units, else its charge. "Passes" means strictly over.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from claimscrub.cli.scrub import Scrubber
from claimscrub.core.edits import Edit
from claimscrub.core.not_checked import NotChecked
from claimscrub.core.payers import ReferenceDataError
from claimscrub.necessity.check import load_batch_check
from claimscrub.necessity.fee_schedule import load_fee_schedule_files
from claimscrub.necessity.roles import resolve_role_sync
from claimscrub.necessity.rules import check_necessity
from claimscrub.necessity.settings import NecessitySettings
from claimscrub.runtime.settings import SettingsError
from claimscrub.runtime.testing import REPO_ROOT
from tests.unit.necessity_support import (
    base_claim,
    bundled_ref,
    codes,
    line,
    parse,
    ref_with,
    run,
    therapy,
)

SAMPLE_FEES = REPO_ROOT / "examples" / "fee_schedule_sample.json"
KX_2026 = "2,480.00"
#: modifier -> a code of that discipline
CODE = {"GP": "97110", "GN": "92507", "GO": "97535"}


def _claim(ytd: dict[str, Any], *lines: dict[str, Any]) -> dict[str, Any]:
    return base_claim(therapy=therapy(**{"amountUsedYtd": None, **ytd}), serviceLines=list(lines))


def _line(number: int, modifier: str, *more: str, **fields: Any) -> dict[str, Any]:
    return line(number, CODE[modifier], modifier, *more, **fields)


def _kx(edits: list[Edit]) -> list[tuple[str, int]]:
    return [c for c in codes(edits) if c[0] == "KX_MODIFIER_REQUIRED"]


# --- exact boundaries per group ---------------------------------------------------------


@pytest.mark.parametrize(
    ("modifier", "own", "other"),
    [
        ("GP", "amountUsedYtdPtSlp", "amountUsedYtdOt"),
        ("GO", "amountUsedYtdOt", "amountUsedYtdPtSlp"),
    ],
)
def test_reaching_the_threshold_exactly_passes_and_one_cent_more_needs_kx(
    modifier: str, own: str, other: str
) -> None:
    # the other group's amount, far over, never counts for this one
    at = _claim({own: "2396.00", other: "9000.00"}, _line(1, modifier, allowedAmount="84.00"))
    assert run(at) == []  # 2,480.00 is not over 2,480.00
    over = _claim({own: "2396.01", other: "9000.00"}, _line(1, modifier, allowedAmount="84.00"))
    edits = run(over)
    assert codes(edits) == [("KX_MODIFIER_REQUIRED", 1)]
    assert "2,480.01" in edits[0].message and KX_2026 in edits[0].message


def test_pt_and_slp_accrue_together() -> None:
    at = _claim(
        {"amountUsedYtdPtSlp": "2400.00"},
        _line(1, "GP", allowedAmount="40.00"),
        _line(2, "GN", allowedAmount="40.00"),
    )
    assert run(at) == []  # 2,400 + 40 + 40 = 2,480
    over = _claim(
        {"amountUsedYtdPtSlp": "2400.00"},
        _line(1, "GP", allowedAmount="40.00"),
        _line(2, "GN", allowedAmount="40.01"),
    )
    edits = run(over)
    assert _kx(edits) == [("KX_MODIFIER_REQUIRED", 2)]
    assert "PT/SLP" in edits[0].message


def test_ot_accrues_apart() -> None:
    data = _claim(
        {"amountUsedYtdPtSlp": "2400.00", "amountUsedYtdOt": "0.00"},
        _line(1, "GO", allowedAmount="2480.00"),  # OT: exactly 2,480
        _line(2, "GP", allowedAmount="80.01"),  # PT/SLP: 2,480.01
    )
    edits = run(data)
    assert _kx(edits) == [("KX_MODIFIER_REQUIRED", 2)]


def test_review_threshold_per_group_at_its_boundary() -> None:
    at = _claim({"amountUsedYtdOt": "2999.99"}, _line(1, "GO", "KX", allowedAmount="0.01"))
    assert run(at) == []  # 3,000.00 is not over 3,000.00
    over = _claim({"amountUsedYtdOt": "2999.99"}, _line(1, "GO", "KX", allowedAmount="0.02"))
    edits = run(over)
    assert codes(edits) == [("MEDICAL_REVIEW_THRESHOLD", 1)]
    assert "OT therapy amount for 2026 to 3,000.01" in edits[0].message
    assert "allowed amount 0.02" in edits[0].message


# --- the older single amountUsedYtd --------------------------------------------------------


def test_the_single_amount_counts_for_the_one_group_of_the_lines() -> None:
    ot_only = _claim({"amountUsedYtd": "2396.01"}, _line(1, "GO", allowedAmount="84.00"))
    assert _kx(run(ot_only)) == [("KX_MODIFIER_REQUIRED", 1)]
    pt_slp = _claim(
        {"amountUsedYtd": "2396.00"},
        _line(1, "GP", allowedAmount="42.00"),
        _line(2, "GN", allowedAmount="42.00"),
    )
    assert run(pt_slp) == []


def test_the_single_amount_over_both_groups_is_unknown_for_each_and_said_so() -> None:
    data = _claim(
        {"amountUsedYtd": "2400.00"},
        _line(1, "GP", allowedAmount="84.00"),
        _line(2, "GO", allowedAmount="2500.00"),  # over on its own: still flagged
    )
    found = {e.code: e for e in run(data)}
    assert sorted(codes(list(found.values()))) == [
        ("CHECK_INCOMPLETE", 0),
        ("KX_MODIFIER_REQUIRED", 2),
    ]
    assert "at least 2,500.00" in found["KX_MODIFIER_REQUIRED"].message
    assert "amountUsedYtd cannot be attributed to one group" in found["CHECK_INCOMPLETE"].message


def test_a_group_figure_beats_the_single_amount() -> None:
    data = _claim(
        {"amountUsedYtd": "2470.00", "amountUsedYtdPtSlp": "0.00"},
        _line(1, "GP", allowedAmount="84.00"),
    )
    assert run(data) == []


def test_the_group_figure_of_one_group_and_the_single_amount_over_both() -> None:
    # PT/SLP is known from its own field; OT only from the single amount,
    # which cannot be split: OT is unknown.
    data = _claim(
        {"amountUsedYtd": "100.00", "amountUsedYtdPtSlp": "2400.00"},
        _line(1, "GP", allowedAmount="80.01"),
        _line(2, "GO", allowedAmount="10.00"),
    )
    found = {e.code: e for e in run(data)}
    assert sorted(codes(list(found.values()))) == [
        ("CHECK_INCOMPLETE", 0),
        ("KX_MODIFIER_REQUIRED", 1),
    ]
    assert "cannot be attributed" in found["CHECK_INCOMPLETE"].message


def test_a_missing_group_figure_is_named() -> None:
    edits = run(_claim({"amountUsedYtdPtSlp": "0.00"}, _line(1, "GO", allowedAmount="1.00")))
    assert codes(edits) == [("CHECK_INCOMPLETE", 0)]
    assert "therapy.amountUsedYtdOt (or amountUsedYtd) missing" in edits[0].message


# --- which amount a line accrues ---------------------------------------------------------


def test_allowed_amount_is_preferred_to_the_charge() -> None:
    data = _claim(
        {"amountUsedYtdPtSlp": "2396.00"},
        _line(1, "GP", allowedAmount="84.00", chargeAmount="500.00"),
    )
    assert run(data) == []  # at the charge it would be 2,896
    data["serviceLines"][0]["allowedAmount"] = "84.01"
    edits = run(data)
    assert "this line counted at its allowed amount 84.01" in edits[0].message


def _fees(code: str, amount: str, **more: Any) -> dict[str, Any]:
    return {"fees": [{"code": code, "allowedAmount": amount, **more}]}


def test_the_fee_schedule_is_preferred_to_the_charge_and_counts_per_unit(tmp_path: Path) -> None:
    ref = ref_with(tmp_path, fee_schedule=_fees("97110", "42.00"))
    at = _claim({"amountUsedYtdPtSlp": "2396.00"}, _line(1, "GP", units=2, chargeAmount="500.00"))
    assert run(at, ref=ref) == []  # 2 x 42.00 = 84.00: exactly 2,480
    over = _claim({"amountUsedYtdPtSlp": "2396.01"}, _line(1, "GP", units=2, chargeAmount="500.00"))
    edits = run(over, ref=ref)
    assert codes(edits) == [("KX_MODIFIER_REQUIRED", 1)]
    assert "this line counted at its fee schedule amount 84.00" in edits[0].message


def test_allowed_amount_is_preferred_to_the_fee_schedule(tmp_path: Path) -> None:
    ref = ref_with(tmp_path, fee_schedule=_fees("97110", "400.00"))
    data = _claim({"amountUsedYtdPtSlp": "2396.00"}, _line(1, "GP", allowedAmount="84.00"))
    assert run(data, ref=ref) == []


def test_the_charge_counts_where_the_schedule_has_no_fee_in_force(tmp_path: Path) -> None:
    ref = ref_with(
        tmp_path,
        fee_schedule=_fees("97110", "1.00", effectiveDate="2025-01-01", endDate="2025-12-31"),
    )
    data = _claim({"amountUsedYtdPtSlp": "2396.01"}, _line(1, "GP", chargeAmount="84.00"))
    edits = run(data, ref=ref)
    assert codes(edits) == [("KX_MODIFIER_REQUIRED", 1)]
    assert "this line counted at its charge 84.00" in edits[0].message


def test_a_payers_own_fee_wins_over_a_fee_for_every_payer(tmp_path: Path) -> None:
    fees = {
        "fees": [
            {"code": "97110", "allowedAmount": "1.00"},
            {"code": "97110", "allowedAmount": "84.01", "payers": ["MEDICARE"]},
        ]
    }
    ref = ref_with(tmp_path, fee_schedule=fees)
    data = _claim({"amountUsedYtdPtSlp": "2396.00"}, _line(1, "GP", units=1))
    assert _kx(run(data, ref=ref)) == [("KX_MODIFIER_REQUIRED", 1)]


def test_a_sample_fee_schedule_says_so(tmp_path: Path) -> None:
    ref = ref_with(tmp_path, fee_schedule=json.loads(SAMPLE_FEES.read_text()))
    assert ref.fee_schedule is not None and ref.fee_schedule.is_sample
    data = _claim({"amountUsedYtdPtSlp": "2470.00"}, _line(1, "GP", units=1))
    edits = run(data, ref=ref)
    assert "sample fee schedule amount" in edits[0].message


@pytest.mark.parametrize(
    "fee",
    [
        {"code": "97110"},
        {"code": "9711", "allowedAmount": "1.00"},
        {"code": "97110", "allowedAmount": "-1.00"},
        {"code": "97110", "allowedAmount": 30},
        {"code": "97110", "allowedAmount": "1.00", "effectiveDate": "2026-13-01"},
        {"code": "97110", "allowedAmount": "1.00", "effectiveDate": 2026},
        {"code": "97110", "allowedAmount": "1.00", "payers": "MEDICARE"},
        {
            "code": "97110",
            "allowedAmount": "1.00",
            "effectiveDate": "2026-02-01",
            "endDate": "2026-01-31",
        },
    ],
)
def test_an_invalid_fee_is_refused_with_its_position(tmp_path: Path, fee: dict[str, Any]) -> None:
    path = tmp_path / "fees.json"
    path.write_text(json.dumps({"fees": [fee]}))
    with pytest.raises(ReferenceDataError, match=r"fees\.json fee 1"):
        load_fee_schedule_files([path])


def test_no_fee_schedule_is_loaded_by_default() -> None:
    assert load_fee_schedule_files([]) is None


def test_the_service_reads_the_fee_schedule_files_from_the_environment(tmp_path: Path) -> None:
    assert NecessitySettings.from_env({}).fee_schedule_files == ()
    own = NecessitySettings.from_env({"CLAIMSCRUB_FEE_SCHEDULE_FILE": str(SAMPLE_FEES)})
    assert own.fee_schedule_files == (SAMPLE_FEES,)
    with pytest.raises(SettingsError, match="CLAIMSCRUB_FEE_SCHEDULE_FILE"):
        NecessitySettings.from_env({"CLAIMSCRUB_FEE_SCHEDULE_FILE": str(tmp_path / "none.json")})


# --- the beneficiary history, per group ----------------------------------------------------


def _scrub(claims: list[dict[str, Any]], fee_files: tuple[Path, ...] = ()) -> list[list[Edit]]:
    check = load_batch_check((), (), None, key=b"test-key", fee_schedule_files=fee_files)
    scrubber = Scrubber([check], dt.date(2026, 6, 1))
    return [list(r.edits) for r in scrubber.scrub_all(claims)]


def _visit(claim_id: str, dos: str, ytd: dict[str, Any], *lines: dict[str, Any]) -> Any:
    data = _claim(ytd, *(dict(ln, dateOfService=dos) for ln in lines))
    data["claimId"] = claim_id
    return data


def test_the_history_keeps_allowed_amounts_per_group() -> None:
    ytd = {"amountUsedYtdPtSlp": "2300.00", "amountUsedYtdOt": "2300.00"}
    first, second, third = _scrub(
        [
            # OT 100 allowed (charge 900): counted for OT only, at its allowed amount
            _visit(
                "A",
                "2026-05-04",
                ytd,
                _line(1, "GO", allowedAmount="100.00", chargeAmount="900.00"),
            ),
            # PT/SLP: 2,300 + 180 = 2,480, the OT claim does not count here
            _visit("B", "2026-05-05", ytd, _line(1, "GP", allowedAmount="180.00")),
            # OT: 2,300 + 100 (claim A) + 80.01 = 2,480.01
            _visit("C", "2026-05-06", ytd, _line(1, "GO", allowedAmount="80.01")),
        ]
    )
    assert first == [] and second == []
    assert codes(third) == [("KX_MODIFIER_REQUIRED", 1)]
    assert "2,480.01" in third[0].message


def test_the_history_counts_fee_schedule_amounts_as_the_rule_does(tmp_path: Path) -> None:
    fees = tmp_path / "fees.json"
    fees.write_text(json.dumps(_fees("97110", "40.00")))
    ytd = {"amountUsedYtdPtSlp": "2400.00"}
    first, second = _scrub(
        [
            _visit("A", "2026-05-04", ytd, _line(1, "GP", units=1, chargeAmount="300.00")),
            _visit("B", "2026-05-05", ytd, _line(1, "GP", units=1, chargeAmount="300.00")),
        ],
        (fees,),
    )
    # 2,400 + 40 (A at its fee) + 40 = 2,480: not over; at the charges it would be
    assert first == [] and second == []


def test_an_earlier_claim_line_with_no_amount_leaves_the_group_unverified() -> None:
    ytd = {"amountUsedYtdPtSlp": "2000.00"}
    first, second = _scrub(
        [
            _visit("A", "2026-05-04", ytd, _line(1, "GP", chargeAmount=None)),
            _visit("B", "2026-05-05", ytd, _line(1, "GP", allowedAmount="10.00")),
        ]
    )
    assert codes(first) == [("CHECK_INCOMPLETE", 0)]
    assert codes(second) == [("CHECK_INCOMPLETE", 0)]
    assert "an earlier PT/SLP claim of 2026 had a line with no amount" in second[0].message


# --- a source that cannot carry the year to date (an 837P: notChecked) -------------------


def _from_837(data: dict[str, Any]) -> list[Edit]:
    """The NECESSITY edits of a claim whose source has no year-to-date amounts."""
    ref = bundled_ref()
    claim = dataclasses.replace(parse(data), not_checked=frozenset({NotChecked.KX_THRESHOLD}))
    return check_necessity(claim, ref=ref, history=None, role=resolve_role_sync(claim, ref, None))


def test_an_unknown_year_to_date_the_source_cannot_carry_is_not_reported_unverified() -> None:
    edits = _from_837(_claim({}, _line(1, "GP", chargeAmount="100.00")))
    assert "CHECK_INCOMPLETE" not in [code for code, _ in codes(edits)]
    assert _kx(edits) == []


def test_a_line_with_no_amount_is_still_unverified_when_the_year_to_date_is_not_carried() -> None:
    edits = _from_837(_claim({}, _line(1, "GP", chargeAmount=None)))
    assert ("CHECK_INCOMPLETE", 0) in codes(edits)


def test_a_claim_over_the_threshold_on_its_own_amounts_needs_kx_whatever_it_cannot_carry() -> None:
    # 2,480.01 on this claim alone passes the 2026 threshold, whatever was used before.
    edits = _from_837(_claim({}, _line(1, "GP", chargeAmount="2480.01")))
    assert _kx(edits) == [("KX_MODIFIER_REQUIRED", 1)]

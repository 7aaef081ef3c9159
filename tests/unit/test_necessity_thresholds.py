"""KX threshold and targeted medical review threshold (domain §4).

Thresholds: 2024 $2,330 [confirmed], 2025 $2,410 and 2026 $2,480 [secondary];
PT and SLP combined, OT separate; review threshold $3,000 per group through 2028.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from claimscrub.cli.scrub import Scrubber
from claimscrub.core.edits import Edit
from claimscrub.necessity.check import load_batch_check
from tests.unit.necessity_support import COMMERCIAL, base_claim, codes, line, ref_with, run, therapy


def _one_line(ytd: str | None, charge: str, *mods: str, dos: str = "2026-05-04") -> dict[str, Any]:
    # A plan that starts two weeks before the DOS, whatever its year.
    start = (dt.date.fromisoformat(dos) - dt.timedelta(days=14)).isoformat()
    plan = {"certifiedDate": start, "startDate": start}
    return base_claim(
        therapy=therapy(amountUsedYtd=ytd, planOfCare=plan),
        serviceLines=[
            line(
                1, "97110", "GP", *mods, units=2, minutes=30, chargeAmount=charge, dateOfService=dos
            )
        ],
    )


def test_the_line_that_passes_the_2026_threshold_needs_kx() -> None:
    edits = run(_one_line("2400.00", "84.00"))  # 2,484 > 2,480
    assert codes(edits) == [("KX_MODIFIER_REQUIRED", 1)]
    assert "2,484.00" in edits[0].message
    assert "2,480.00 (secondary source)" in edits[0].message


def test_reaching_the_threshold_exactly_is_not_passing_it() -> None:
    assert run(_one_line("2396.00", "84.00")) == []  # 2,480 is not over 2,480


def test_kx_on_the_line_satisfies_the_rule() -> None:
    assert run(_one_line("2400.00", "84.00", "KX")) == []


def test_2024_and_2025_thresholds() -> None:
    edits = run(_one_line("2300.00", "42.00", dos="2024-05-06"))  # 2,342 > 2,330
    assert codes(edits) == [("KX_MODIFIER_REQUIRED", 1)]
    assert "(secondary source)" not in edits[0].message  # 2024 is confirmed
    assert run(_one_line("2360.00", "42.00", dos="2025-05-05")) == []  # 2,402 <= 2,410
    assert codes(run(_one_line("2370.00", "42.00", dos="2025-05-05"))) == [
        ("KX_MODIFIER_REQUIRED", 1)
    ]  # 2,412 > 2,410


def test_the_crossing_line_and_every_later_line_without_kx() -> None:
    data = base_claim(
        therapy=therapy(amountUsedYtd="2400.00"),
        serviceLines=[
            line(1, "97112", "GP", chargeAmount="40.00"),  # 2,440
            line(2, "97110", "GP", chargeAmount="42.00"),  # 2,482: crosses
            line(3, "97116", "GP", "KX", chargeAmount="42.00"),  # has KX
            line(4, "97140", "GP", chargeAmount="40.00"),  # later, no KX
        ],
    )
    assert [c for c in codes(run(data)) if c[0] == "KX_MODIFIER_REQUIRED"] == [
        ("KX_MODIFIER_REQUIRED", 2),
        ("KX_MODIFIER_REQUIRED", 4),
    ]


def test_lines_are_added_in_date_order_not_line_order() -> None:
    data = base_claim(
        therapy=therapy(amountUsedYtd="2400.00"),
        serviceLines=[
            line(1, "97110", "GP", chargeAmount="60.00", dateOfService="2026-05-06"),
            line(2, "97110", "GP", chargeAmount="60.00", dateOfService="2026-05-04"),
        ],
    )
    # 2,460 on 05-04 (line 2), then 2,520 on 05-06 (line 1).
    assert codes(run(data)) == [("KX_MODIFIER_REQUIRED", 1)]


def test_ot_counts_separately_from_pt_and_slp() -> None:
    data = base_claim(
        therapy=therapy(
            amountUsedYtd=None, amountUsedYtdPtSlp="2400.00", amountUsedYtdOt="2400.00"
        ),
        serviceLines=[
            line(1, "97110", "GP", chargeAmount="60.00"),  # PT/SLP: 2,460
            line(2, "97535", "GO", chargeAmount="60.00"),  # OT: 2,460 on its own
            line(3, "97110", "GN", chargeAmount="60.00"),  # PT/SLP: 2,520
        ],
    )
    kx = [c for c in codes(run(data)) if c[0] == "KX_MODIFIER_REQUIRED"]
    assert kx == [("KX_MODIFIER_REQUIRED", 3)]


def test_kx_is_a_medicare_rule(tmp_path: Path) -> None:
    ref = ref_with(tmp_path, payers=COMMERCIAL)
    assert run(_one_line("2900.00", "200.00") | {"payerId": "ACME"}, ref=ref) == []


def test_missing_year_to_date_amount_is_not_a_pass() -> None:
    edits = run(_one_line(None, "84.00"))
    assert codes(edits) == [("CHECK_INCOMPLETE", 0)]
    assert "therapy.amountUsedYtdPtSlp (or amountUsedYtd) missing" in edits[0].message


def test_a_line_with_no_amount_at_all_is_not_a_pass() -> None:
    data = base_claim(
        therapy=therapy(amountUsedYtd="2400.00"),
        serviceLines=[line(1, "97110", "GP", chargeAmount=None)],
    )
    edits = run(data)
    assert codes(edits) == [("CHECK_INCOMPLETE", 0)]
    assert "no allowedAmount, fee schedule amount or chargeAmount on line 1" in edits[0].message


def test_a_year_without_a_threshold_on_file_is_not_a_pass() -> None:
    data = _one_line("100.00", "84.00", dos="2027-05-03")
    data["therapy"]["planOfCare"] = {"certifiedDate": "2027-04-19", "endDate": "2027-07-17"}
    edits = run(data)
    assert codes(edits) == [("CHECK_INCOMPLETE", 0)]
    assert "no KX threshold on file for 2027" in edits[0].message


def test_review_threshold_warns_once_per_group() -> None:
    data = base_claim(
        therapy=therapy(amountUsedYtd="2950.00"),
        serviceLines=[
            line(1, "97110", "GP", "KX", chargeAmount="84.00"),  # 3,034 > 3,000
            line(2, "97112", "GP", "KX", chargeAmount="40.00"),
        ],
    )
    edits = run(data)
    assert codes(edits) == [("MEDICAL_REVIEW_THRESHOLD", 1)]
    assert edits[0].severity.value == "WARNING"


def test_review_threshold_not_reached() -> None:
    assert run(_one_line("2900.00", "84.00", "KX")) == []  # 2,984


def _scrub(claims: list[dict[str, Any]]) -> list[list[Edit]]:
    check = load_batch_check((), (), None, key=b"test-key")
    scrubber = Scrubber([check], dt.date(2026, 6, 1))
    return [list(r.edits) for r in scrubber.scrub_all(claims)]


NEXT_DAY = "2026-05-05"


def _kx_claim(
    claim_id: str, ytd: str, charge: str, member: str = "1EG4TE5MK73", dos: str = "2026-05-04"
) -> dict[str, Any]:
    data = _one_line(ytd, charge, dos=dos)
    data["claimId"] = claim_id
    data["patient"] = {"memberId": member}
    return data


def test_two_claims_of_one_beneficiary_only_the_second_crosses() -> None:
    # Eligibility still says 2,300 when the second claim is scrubbed: the first
    # claim's 150 is only known to this check. 2,300 + 150 = 2,450; then + 100 = 2,550.
    first, second = _scrub(
        # B is the next visit: the same services on the same day would be a
        # DUPLICATE_CLAIM of A.
        [_kx_claim("A", "2300.00", "150.00"), _kx_claim("B", "2300.00", "100.00", dos=NEXT_DAY)]
    )
    assert first == []
    assert codes(second) == [("KX_MODIFIER_REQUIRED", 1)]
    assert "2,550.00" in second[0].message
    # Alone, the second claim stays under: 2,300 + 100 = 2,400.
    assert _scrub([_kx_claim("B", "2300.00", "100.00")]) == [[]]


def test_other_beneficiaries_and_payers_do_not_accumulate() -> None:
    results = _scrub(
        [
            _kx_claim("A", "2300.00", "150.00"),
            _kx_claim("B", "2300.00", "100.00", member="OTHER-MEMBER"),
        ]
    )
    assert results == [[], []]


def test_a_redelivered_claim_is_counted_once() -> None:
    # 2,100 + 200 = 2,300; again the same claim: still 2,300; + 150 = 2,450 <= 2,480.
    # Counted twice it would be 2,650 and need KX.
    results = _scrub(
        [
            _kx_claim("A", "2100.00", "200.00"),
            _kx_claim("A", "2100.00", "200.00"),
            _kx_claim("B", "2100.00", "150.00", dos=NEXT_DAY),
        ]
    )
    assert results == [[], [], []]

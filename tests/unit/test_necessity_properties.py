"""Properties of the whole NECESSITY rule function over generated claims: it never
raises, reports only its own codes (plus CHECK_INCOMPLETE for what it cannot verify,
and the cross-claim MUE_EXCEEDED and DUPLICATE_CLAIM against the beneficiary's
history), and never puts claim text into a message."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from claimscrub.core.edits import EDIT_CODES, CheckName
from claimscrub.necessity.history import record_claim
from tests.unit.necessity_support import bundled_ref, parse, run

CODES = ["97110", "97112", "97140", "97150", "97161", "97165", "97530", "97035", "99213"]
MODIFIERS = ["GP", "GO", "GN", "CQ", "CO", "KX", "59", "XU", "LT"]
TAXONOMIES = ["225100000X", "225200000X", "225X00000X", "224Z00000X", "235Z00000X", "999"]
SECRET = "Zanzibar-Quillfeather"

lines = st.lists(
    st.fixed_dictionaries(
        {
            "dateOfService": st.sampled_from(["2026-05-04", "2026-05-05", "2025-12-30"]),
            "procedureCode": st.sampled_from(CODES),
            "modifiers": st.lists(st.sampled_from(MODIFIERS), max_size=3),
            "units": st.integers(0, 4),
            "chargeAmount": st.one_of(st.none(), st.sampled_from(["0.00", "42.00", "900.00"])),
            "diagnosisPointers": st.lists(st.integers(0, 4), max_size=3),
        }
    ),
    min_size=1,
    max_size=5,
)

claims = st.fixed_dictionaries(
    {
        "claimId": st.just("P-1"),
        "payerId": st.sampled_from(["MEDICARE", "ACME"]),
        "patient": st.just({"memberId": SECRET, "firstName": SECRET}),
        "renderingProvider": st.fixed_dictionaries(
            {"npi": st.just("1234567893"), "taxonomy": st.sampled_from(TAXONOMIES)}
        ),
        "diagnoses": st.lists(st.sampled_from(["M62.81", "J30.1", "BAD", SECRET]), max_size=3),
        "serviceLines": lines,
        "therapy": st.fixed_dictionaries(
            {
                "discipline": st.sampled_from(["PT", "OT", "SLP"]),
                "planOfCare": st.one_of(
                    st.just({}),
                    st.just({"certifiedDate": "2026-01-02", "endDate": "2026-05-04"}),
                ),
                "treatmentDaysSinceProgressReport": st.integers(0, 20),
                "amountUsedYtd": st.sampled_from(["0.00", "2400.00", "3100.00"]),
            }
        ),
        "note": st.sampled_from(
            [f"{SECRET} did sit-to-stand transfers 30 min", f"leg press for {SECRET}"]
        ),
    }
)

ALLOWED = {c for c, s in EDIT_CODES.items() if s.check is CheckName.NECESSITY} | {
    "CHECK_INCOMPLETE",
    "MUE_EXCEEDED",
    "DUPLICATE_CLAIM",
}


@settings(max_examples=300, deadline=None)
@given(claims, st.booleans())
def test_any_claim_gets_only_necessity_edits_without_claim_text(
    data: dict[str, Any], with_history: bool
) -> None:
    for i, line in enumerate(data["serviceLines"], start=1):
        line["lineNumber"] = i
        if line["chargeAmount"] is None:
            del line["chargeAmount"]
    history = None
    if with_history:
        history = record_claim(None, parse(data | {"claimId": "P-0"}), bundled_ref())
    edits = run(data, history=history)
    assert {e.code for e in edits} <= ALLOWED
    for e in edits:
        assert SECRET not in e.message
        assert "2026-05" not in e.message and "2025-12" not in e.message
        assert e.line_number in {0, *range(1, len(data["serviceLines"]) + 1)}

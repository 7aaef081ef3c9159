"""The beneficiary token and the per-beneficiary history the KX and progress rules read."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

from claimscrub.necessity.beneficiary import (
    DEV_HMAC_KEY,
    beneficiary_token,
    hmac_key,
    unlinked_token,
)
from claimscrub.necessity.history import MAX_CLAIMS, record_claim, seen_amount, seen_days
from tests.unit.necessity_support import base_claim, bundled_ref, line, parse, therapy

KEY = b"unit-test-key"


def test_the_token_is_a_keyed_hash_not_the_member_id() -> None:
    claim = parse(base_claim())
    token = beneficiary_token(claim, KEY)
    assert "1EG4TE5MK73" not in token and "MEDICARE" not in token
    assert token == beneficiary_token(parse(base_claim(claimId="other")), KEY)
    assert token != beneficiary_token(claim, b"another-key")
    # The same member ID with another payer is another beneficiary record.
    assert token != beneficiary_token(parse(base_claim(payerId="ACME")), KEY)
    # Case and surrounding blanks of the member ID do not split a beneficiary.
    same = parse(base_claim(patient={"memberId": " 1eg4te5mk73 "}))
    assert beneficiary_token(same, KEY) == token


def test_a_claim_without_member_id_is_not_linked_to_others() -> None:
    a = parse(base_claim(claimId="A", patient={}))
    b = parse(base_claim(claimId="B", patient={}))
    assert beneficiary_token(a, KEY) == unlinked_token("A", KEY)
    assert beneficiary_token(a, KEY) != beneficiary_token(b, KEY)


def test_the_development_key_is_labelled_and_replaceable() -> None:
    assert hmac_key({}) == (DEV_HMAC_KEY, True)
    assert b"DEVELOPMENT" in DEV_HMAC_KEY
    assert hmac_key({"CLAIMSCRUB_HMAC_KEY": "s3cret"}) == (b"s3cret", False)


def test_history_records_amounts_by_year_and_group_and_is_json() -> None:
    ref = bundled_ref()
    claim = parse(
        base_claim(
            claimId="A",
            serviceLines=[
                line(1, "97110", "GP", chargeAmount="84.00"),
                line(2, "97535", "GO", chargeAmount="50.00", dateOfService="2026-05-05"),
                line(3, "99213", chargeAmount="100.00"),  # not therapy: not counted
            ],
        )
    )
    recorded = record_claim(None, claim, ref)
    # Lives in the stream's state as JSON: read back from it, it says the same.
    for history in (recorded, json.loads(json.dumps(recorded))):
        assert seen_amount(history, 2026, "PT_SLP", "B") == Decimal("84.00")
        assert seen_amount(history, 2026, "OT", "B") == Decimal("50.00")
        assert seen_amount(history, 2026, "PT_SLP", "A") == Decimal(0)  # its own claim excluded
        assert {d.isoformat() for d in seen_days(history, "OT", "B")} == {"2026-05-05"}


def test_recording_a_claim_again_replaces_it() -> None:
    ref = bundled_ref()
    first = parse(base_claim(claimId="A"))
    corrected = parse(
        base_claim(claimId="A", serviceLines=[line(1, "97110", "GP", chargeAmount="10.00")])
    )
    history = record_claim(record_claim(None, first, ref), corrected, ref)
    assert seen_amount(history, 2026, "PT_SLP", "B") == Decimal("10.00")


def test_old_years_and_excess_claims_are_pruned() -> None:
    ref = bundled_ref()
    history = None
    for year in (2024, 2025, 2026):
        c = base_claim(
            claimId=f"Y{year}",
            therapy=therapy(planOfCare=None),
            serviceLines=[line(1, "97110", "GP", dateOfService=f"{year}-03-02")],
        )
        history = record_claim(history, parse(c), ref)
    assert history is not None
    assert set(history["claims"]) == {"Y2025", "Y2026"}
    for i in range(MAX_CLAIMS + 5):
        history = record_claim(history, parse(base_claim(claimId=f"N{i}")), ref)
    assert len(history["claims"]) == MAX_CLAIMS


def test_the_stored_history_carries_no_real_date_and_unseals_exactly() -> None:
    from claimscrub.necessity.history import date_shift, seal, unseal

    history = {
        "v": 1,
        "claims": {
            "A": {"amounts": {"2026/PT_SLP": "84.00"}, "days": {"PT": ["2026-05-04", "2026-05-06"]}}
        },
        "progress": {"PT": {"through": "2026-05-06", "days": 3, "claim": "A"}},
    }
    shift = date_shift("b-token", b"a key")
    stored = seal(history, shift)
    text = repr(stored)
    assert "2026-05-04" not in text and "2026-05-06" not in text
    assert stored["claims"]["A"]["amounts"] == {"2026/PT_SLP": "84.00"}
    # Stored as JSON (the state and its changelog): read back and unsealed, the same history.
    assert json.loads(json.dumps(unseal(json.loads(json.dumps(stored)), shift))) == history
    # Keyed per beneficiary: another token or another key moves dates differently.
    assert date_shift("b-other", b"a key") != shift or date_shift("b-token", b"b key") != shift
    assert shift >= 365


def test_recording_a_line_near_year_one_keeps_it_instead_of_overflowing() -> None:
    # The rules answer any Claim value, not only parsed ones (tests/unit/test_fuzz.py
    # found this): the line window reaching before year 1 must not raise.
    ref = bundled_ref()
    claim = parse(base_claim(claimId="A", serviceLines=[line(1, "97110", "GP")]))
    ancient = dataclasses.replace(
        claim,
        service_lines=tuple(
            dataclasses.replace(sl, date_of_service=dt.date(2, 1, 1)) for sl in claim.service_lines
        ),
    )
    history = record_claim(None, ancient, ref)
    later = record_claim(history, dataclasses.replace(claim, claim_id="B"), ref)
    assert set(later["claims"]) >= {"B"}


# The v1 layout (necessity/history.py's docstring) as the changelog holds it:
# JSON arrays. Histories already stored in changelogs must keep loading.
_NPI = "1234567893"
V1_CLAIM_A = {
    "amounts": {"2026/PT_SLP": "84.00"},
    "incomplete": ["2026/OT"],
    "days": {"OT": ["2026-05-04"], "PT": ["2026-05-04"]},
    "lines": [
        [1, _NPI, "2026-05-04", "97110", ["GP"], 2],
        [2, _NPI, "2026-05-04", "97535", ["GO"], 1],
    ],
}
V1_TEXT = json.dumps(
    {
        "v": 1,
        "claims": {"A": V1_CLAIM_A},
        "progress": {"PT": {"through": "2026-05-04", "days": 4, "claim": "A"}},
    }
)


def test_a_v1_encoded_history_still_loads_and_reads_as_written() -> None:
    from claimscrub.necessity.history import (
        PastLine,
        progress_anchor,
        seen_incomplete,
        seen_lines,
    )

    history = json.loads(V1_TEXT)
    may4 = dt.date(2026, 5, 4)
    assert seen_amount(history, 2026, "PT_SLP", "B") == Decimal("84.00")
    assert seen_incomplete(history, 2026, "OT", "B")
    assert not seen_incomplete(history, 2026, "PT_SLP", "B")
    assert seen_days(history, "PT", "B") == {may4}
    assert seen_lines(history, "B") == [
        PastLine("A", 1, _NPI, may4, "97110", ("GP",), 2),
        PastLine("A", 2, _NPI, may4, "97535", ("GO",), 1),
    ]
    assert progress_anchor(history, "PT", "B") == (may4, 4)
    # Another claim recorded on top keeps A's entry, whose JSON is still v1's.
    ref = bundled_ref()
    later = parse(
        base_claim(claimId="B", serviceLines=[line(1, "97110", "GP", dateOfService="2026-05-06")])
    )
    updated = json.loads(json.dumps(record_claim(history, later, ref)))
    assert updated["v"] == 1
    assert updated["claims"]["A"] == V1_CLAIM_A
    assert list(updated["claims"]) == ["A", "B"]


def test_a_recorded_claim_is_stored_in_the_v1_layout() -> None:
    ref = bundled_ref()
    claim = parse(
        base_claim(
            claimId="A",
            serviceLines=[
                line(1, "97110", "GP", units=2, chargeAmount="84.00"),
                # No amount at all: the group's sum is a lower bound ("incomplete").
                line(2, "97535", "GO", chargeAmount=None),
            ],
        )
    )
    history = json.loads(json.dumps(record_claim(None, claim, ref)))
    assert history["claims"]["A"] == V1_CLAIM_A

"""Key rotation of necessity's state: chained tokens with key ids, a history carried
to the next key's token, and the rule that adopts it (necessity/rekey.py)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from claimscrub.core.claim import Claim
from claimscrub.necessity.beneficiary import (
    beneficiary_token,
    chain_token,
    token_key_id,
    unlinked_token,
)
from claimscrub.necessity.history import (
    History,
    date_shift,
    progress_anchor,
    record_claim,
    seal,
    seen_amount,
    seen_days,
    seen_lines,
    unseal,
)
from claimscrub.necessity.rekey import (
    MIGRATION_HEADER,
    REKEY_REQUEST_HEADER,
    StepOutcome,
    adopt,
    adopt_sealed,
    after_record,
    migration_record,
    on_migration,
    on_rekey_request,
    read_migration,
    rekey_action,
    rekey_history,
    rekey_request,
    target_key_id,
    tokens_in,
)
from claimscrub.runtime.keyring import HmacKey, Keyring, UnknownKeyId
from claimscrub.runtime.secrets import Secret
from tests.unit.necessity_support import base_claim, bundled_ref, line, parse

K1 = b"first-key-0123456789-0123456789-01"
K2 = b"second-key-0123456789-0123456789-2"
K3 = b"third-key-0123456789-0123456789-33"


def ring(current: str, *ids: str) -> Keyring:
    secrets = {"k1": K1, "k2": K2, "k3": K3}
    return Keyring(tuple(HmacKey(i, Secret(secrets[i])) for i in ids), current)


ONE = ring("k1", "k1")
OVERLAP = ring("k1", "k1", "k2")  # k2 added beside k1, not yet current
ROTATED = ring("k2", "k1", "k2")  # k2 current, k1 kept


def claim(cid: str, dos: str, charge: str = "84.00", *, member: str | None = None) -> Claim:
    extra = {"patient": {"memberId": member}} if member else {}
    return parse(
        base_claim(
            claimId=cid,
            serviceLines=[line(1, "97110", "GP", chargeAmount=charge, dateOfService=dos)],
            **extra,
        )
    )


def history_of(*claims: Claim) -> History:
    ref = bundled_ref()
    h: History | None = None
    for c in claims:
        h = record_claim(h, c, ref)
    assert h is not None
    return h


# --- tokens ------------------------------------------------------------------------


def test_a_one_key_ring_gives_the_tokens_of_the_plain_key() -> None:
    c = parse(base_claim())
    assert beneficiary_token(c, ONE) == beneficiary_token(c, K1)
    assert unlinked_token("X", ONE) == unlinked_token("X", K1)
    # An upcoming key changes nothing until it is current.
    assert beneficiary_token(c, OVERLAP) == beneficiary_token(c, K1)


def test_a_rotated_token_names_its_key_and_chains_from_the_old_one() -> None:
    c = parse(base_claim())
    old = beneficiary_token(c, K1)
    new = beneficiary_token(c, ROTATED)
    assert new.startswith("b-k2-") and len(new.split("-")[2]) == 64
    assert new == chain_token(old, ROTATED)
    assert token_key_id(new, ROTATED) == "k2"
    assert token_key_id(old, ROTATED) == "k1"  # an unlabelled token is the root key's
    assert unlinked_token("X", ROTATED).startswith("c-k2-")
    # Only the secret key makes the link: the same chain with another k2 differs.
    other = Keyring((ROTATED.keys[0], HmacKey("k2", Secret(K3))), "k2")
    assert beneficiary_token(c, other) != new


def test_a_token_is_carried_forward_only() -> None:
    three = ring("k3", "k1", "k2", "k3")
    old = beneficiary_token(parse(base_claim()), K1)
    mid = chain_token(old, three, through="k2")
    assert (
        chain_token(mid, three)
        == chain_token(old, three)
        == beneficiary_token(parse(base_claim()), three)
    )
    assert chain_token(mid, three, through="k2") == mid
    with pytest.raises(ValueError, match="carried back"):
        chain_token(mid, three, through="k1")
    with pytest.raises(UnknownKeyId):
        chain_token("b-k9-" + "0" * 64, three)


def test_the_date_shift_of_a_ring_uses_the_key_the_token_names() -> None:
    old = "b-" + "a" * 64
    new = chain_token(old, ROTATED)
    assert date_shift(old, ROTATED) == date_shift(old, K1)
    assert date_shift(new, ROTATED) == date_shift(new, K2)


# --- rekey of a sealed history ------------------------------------------------------


def test_rekey_keeps_amounts_days_lines_and_progress_and_unshifts_exactly() -> None:
    ref = bundled_ref()
    a = claim("A", "2026-03-02", "100.00")
    b = claim("B", "2026-05-04", "84.50")
    history = history_of(a, b)
    old = beneficiary_token(a, K1)
    sealed_old = seal(history, date_shift(old, ONE))
    new, sealed_new = rekey_history(old, sealed_old, OVERLAP)
    assert new == chain_token(old, OVERLAP, through="k2")
    # The stored dates move with the new token's shift, not the old one's.
    assert date_shift(new, OVERLAP) != date_shift(old, OVERLAP)
    assert sealed_new != sealed_old
    back = unseal(sealed_new, date_shift(new, OVERLAP))
    assert back == history
    # What the rules read is the same: year-to-date amount, days, lines, progress.
    assert seen_amount(back, 2026, "PT_SLP", "C") == Decimal("184.50")
    assert seen_days(back, "PT", "C") == {dt.date(2026, 3, 2), dt.date(2026, 5, 4)}
    assert seen_lines(back, "C") == seen_lines(history, "C")
    assert progress_anchor(back, "PT", "C") == progress_anchor(history, "PT", "C")
    assert ref.line_history_days > 0


def test_a_new_claim_after_the_rotation_finds_the_migrated_year_to_date() -> None:
    """The issue's test: a rotation in the middle of a beneficiary's year keeps the amount."""
    ref = bundled_ref()
    before = claim("A", "2026-03-02", "640.00")
    token_old = beneficiary_token(before, OVERLAP)
    sealed_old = seal(history_of(before), date_shift(token_old, OVERLAP))
    record = migration_record(token_old, sealed_old, OVERLAP)
    assert record is not None
    # After the switch the router keys the next claim by the new token: the same one.
    after = claim("B", "2026-07-01")
    token_new = beneficiary_token(after, ROTATED)
    assert record.key == token_new.encode()
    stored = adopt_sealed(None, record.value, token_new, ROTATED, ref.line_history_days)
    past = unseal(stored, date_shift(token_new, ROTATED))
    assert seen_amount(past, 2026, "PT_SLP", "B") == Decimal("640.00")


def test_the_migration_record_names_both_keys_and_carries_no_real_date() -> None:
    history = history_of(claim("A", "2026-03-02"))
    old = "b-" + "1" * 64
    record = migration_record(old, seal(history, date_shift(old, OVERLAP)), OVERLAP)
    assert record is not None
    assert dict(record.headers)[MIGRATION_HEADER] == b"k1>k2"
    assert b"2026-03-02" not in record.value
    assert read_migration(record.value)["claims"].keys() == {"A"}
    # A token of the newest key is where it belongs: no record.
    new = chain_token(old, OVERLAP, through="k2")
    assert migration_record(new, history, OVERLAP) is None


def test_read_migration_refuses_what_is_not_a_history() -> None:
    for value in (b"", b"\xff", b"[]", json.dumps({"v": 1}).encode()):
        with pytest.raises(ValueError, match="migration record"):
            read_migration(value)


# --- when to forward, when to drop -------------------------------------------------


def test_rekey_actions_during_and_after_the_rotation() -> None:
    old = "b-" + "2" * 64
    assert target_key_id(old, ONE) is None
    assert rekey_action(old, ONE) == (False, False)
    # Overlap: the old key is still current: copy, keep (claims still come here).
    assert target_key_id(old, OVERLAP) == "k2"
    assert rekey_action(old, OVERLAP) == (True, False)
    # Switched: nothing is routed to the old token any more: copy, then drop.
    assert rekey_action(old, ROTATED) == (True, True)
    new = chain_token(old, ROTATED)
    assert rekey_action(new, ROTATED) == (False, False)


def test_a_rekey_request_is_keyed_by_the_old_token_and_holds_no_history() -> None:
    req = rekey_request("b-" + "3" * 64)
    assert req.key == b"b-" + b"3" * 64 and json.loads(req.value) == {"rekey": True}
    assert dict(req.headers) == {REKEY_REQUEST_HEADER: b"1"}


def test_tokens_are_found_in_changelog_keys_of_either_transport() -> None:
    token = "b-k2-" + "ab" * 32
    assert tokens_in(token.encode()) == token
    assert tokens_in(b"c-" + b"0" * 64 + b"|__history__") == "c-" + "0" * 64
    assert tokens_in(b'"' + token.encode() + b'"') == token
    assert tokens_in(b"claim-17") is None


# --- the adoption rule ----------------------------------------------------------


def test_an_empty_state_adopts_the_migrated_history_whole() -> None:
    days = bundled_ref().line_history_days
    migrated = history_of(claim("A", "2026-03-02"), claim("B", "2026-04-01"))
    out = adopt(None, migrated, days)
    assert list(out["claims"]) == ["A", "B"]
    assert out["migrated"] == ["A", "B"]
    assert adopt({"v": 1, "claims": {}, "progress": {}}, migrated, days)["claims"] == out["claims"]


def test_a_claim_recorded_under_the_new_token_is_newer_than_any_copy() -> None:
    ref = bundled_ref()
    days = ref.line_history_days
    copy1 = history_of(claim("A", "2026-03-02", "100.00"))
    held = adopt(None, copy1, days)
    # A corrected A arrives under the new token: recorded here, no longer a copy.
    held = record_claim(held, claim("A", "2026-03-02", "10.00"), ref)
    assert "migrated" not in held
    # A late copy still carrying the old A does not replace it; its B is taken.
    late = history_of(claim("A", "2026-03-02", "100.00"), claim("B", "2026-04-01", "5.00"))
    out = adopt(held, late, days)
    assert seen_amount(out, 2026, "PT_SLP", "C") == Decimal("15.00")
    assert list(out["claims"]) == ["A", "B"]
    assert out["migrated"] == ["B"]


def test_a_later_copy_replaces_an_earlier_copy_in_its_place() -> None:
    days = bundled_ref().line_history_days
    first = history_of(claim("A", "2026-03-02", "100.00"), claim("B", "2026-04-01", "20.00"))
    held = adopt(None, first, days)
    # A claim recorded directly after the copy keeps its place after it.
    held = record_claim(held, claim("C", "2026-05-01", "1.00"), bundled_ref())
    assert held["migrated"] == ["A", "B"]
    # The old token's owner corrected A and sent the history again.
    second = history_of(claim("A", "2026-03-02", "50.00"), claim("B", "2026-04-01", "20.00"))
    out = adopt(held, second, days)
    assert list(out["claims"]) == ["A", "B", "C"]
    assert seen_amount(out, 2026, "PT_SLP", "X") == Decimal("71.00")
    assert out["migrated"] == ["A", "B"]


def test_the_progress_anchor_of_a_claim_recorded_here_wins() -> None:
    ref = bundled_ref()
    days = ref.line_history_days
    migrated = history_of(claim("A", "2026-03-02"))
    held = record_claim(None, claim("B", "2026-06-01"), ref)
    out = adopt(held, migrated, days)
    assert out["progress"]["PT"]["claim"] == "B"
    # An anchor from an earlier copy is replaced by the later copy's.
    copy_only = adopt(None, migrated, days)
    newer = history_of(claim("A", "2026-03-02"), claim("D", "2026-04-02"))
    assert adopt(copy_only, newer, days)["progress"]["PT"]["claim"] == "D"


def test_adopting_prunes_like_recording() -> None:
    days = bundled_ref().line_history_days
    # Claims two years before the newest one fall out (history.YEARS_KEPT), copies too.
    held = record_claim(None, claim("N", "2026-06-01"), bundled_ref())
    old = history_of(claim("O", "2024-06-01"))
    out = adopt(held, old, days)
    assert list(out["claims"]) == ["N"] and "migrated" not in out


def test_migrated_survives_sealing() -> None:
    held = adopt(None, history_of(claim("A", "2026-03-02")), bundled_ref().line_history_days)
    assert unseal(seal(held, 400), 400) == held


# --- a whole rotation through the step's three cases ------------------------------


class Step:
    """The stateful step as the topology runs it, on a dict state and a FIFO topic
    (Kafka keeps the order per key, which is all the rotation relies on)."""

    def __init__(self) -> None:
        self.state: dict[str, History] = {}
        self.topic: list[tuple[str, object, list[tuple[str, bytes]]]] = []
        self.seen: dict[str, Decimal] = {}

    def route(self, c: Claim, router_ring: Keyring) -> None:
        self.topic.append((beneficiary_token(c, router_ring), c, []))

    def request(self, token: str) -> None:
        req = rekey_request(token)
        self.topic.append((req.key.decode(), req.value, req.headers))

    def drain(self, ring: Keyring) -> None:
        ref = bundled_ref()
        while self.topic:
            token, value, headers = self.topic.pop(0)
            names = dict(headers)
            held = self.state.get(token)
            if MIGRATION_HEADER in names:
                assert isinstance(value, bytes)
                out = on_migration(token, held, value, ring, ref.line_history_days)
            elif REKEY_REQUEST_HEADER in names:
                out = on_rekey_request(token, held, ring)
            else:
                assert isinstance(value, Claim)
                shift = date_shift(token, ring)
                past = unseal(held, shift)
                self.seen[value.claim_id] = seen_amount(past, 2026, "PT_SLP", value.claim_id)
                stored = seal(record_claim(past, value, ref), shift)
                out = StepOutcome(stored, False, after_record(token, stored, ring))
            if out.store is not None:
                self.state[token] = out.store
            if out.forward is not None:
                f = out.forward
                self.topic.append((f.key.decode(), f.value, f.headers))
            if out.delete:
                del self.state[token]


def test_a_rotation_in_the_middle_of_the_year_keeps_every_amount() -> None:
    step = Step()
    other = "9ZZ9ZZ9ZZ99"
    # Before: one key.
    step.route(claim("A", "2026-03-02", "640.00"), ONE)
    step.route(claim("B", "2026-04-01", "100.00"), ONE)
    step.route(claim("X", "2026-04-02", "30.00", member=other), ONE)
    step.drain(ONE)
    t1 = beneficiary_token(claim("A", "2026-03-02"), ONE)
    t1_other = beneficiary_token(claim("X", "2026-04-02", member=other), ONE)
    # Step 2: k2 added. A claim is recorded under t1 and copied to its k2 token.
    step.route(claim("C", "2026-05-04", "50.00"), OVERLAP)
    step.drain(OVERLAP)
    assert step.seen["C"] == Decimal("740.00")
    # Step 3: `keys rotate --apply` copies the idle beneficiary too; nothing dropped.
    step.request(t1)
    step.request(t1_other)
    step.drain(OVERLAP)
    assert t1 in step.state and t1_other in step.state
    # Step 4: k2 current. The first claim under the new token sees the whole year.
    step.route(claim("D", "2026-06-01", "20.00"), ROTATED)
    step.drain(ROTATED)
    assert step.seen["D"] == Decimal("790.00")
    # During the roll-out an old instance still routes by t1: copied on to t2.
    step.route(claim("E", "2026-06-02", "7.00"), OVERLAP)
    # C corrected, routed by a new instance: recorded under t2, newer than any copy.
    step.route(claim("C", "2026-05-04", "5.00"), ROTATED)
    step.drain(ROTATED)
    # A + B + D: E's copy was sent behind the corrected C.
    assert step.seen["C"] == Decimal("760.00")
    # Step 5: the second --apply moves what is left under old tokens, then drops it.
    step.request(t1)
    step.request(t1_other)
    step.drain(ROTATED)
    assert t1 not in step.state and t1_other not in step.state
    step.route(claim("F", "2026-07-01", "1.00"), ROTATED)
    step.route(claim("Y", "2026-07-01", "1.00", member=other), ROTATED)
    step.drain(ROTATED)
    assert step.seen["F"] == Decimal("772.00")  # A 640 + B 100 + C 5 + D 20 + E 7
    assert step.seen["Y"] == Decimal("30.00")
    assert set(step.state) == {
        beneficiary_token(claim("F", "2026-07-01"), ROTATED),
        beneficiary_token(claim("Y", "2026-07-01", member=other), ROTATED),
    }


def test_a_request_for_a_token_holding_nothing_does_nothing() -> None:
    assert on_rekey_request("b-" + "5" * 64, None, ROTATED) == (None, False, None)

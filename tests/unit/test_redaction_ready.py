"""The ready stage's decisions (contract §3 revision, §6 claims.ready): a claim
version goes out once, as submitted, when its highest revision's status is a
ready one; the claim is kept only while a verdict may still make it ready."""

from __future__ import annotations

import pytest

from claimscrub.redaction.ready import (
    DEFAULT_READY_STATUSES,
    ReadyState,
    Verdict,
    on_claim,
    on_verdict,
    ready_statuses,
)
from claimscrub.runtime.env import SettingsError

CLEAN_ONLY = frozenset({"CLEAN"})
CLEAN_REVIEW = frozenset({"CLEAN", "REVIEW"})
VALUE = b'{"claimId": "C-1", "patient": {"firstName": "Zebulon"}}'
HEADERS = [("content-type", b"application/json")]


def verdict(
    status: str, revision: int = 1, incomplete: bool = False, version: str = "v1"
) -> Verdict:
    return Verdict(version, status, revision, incomplete)


def test_a_clean_claim_goes_out_once_as_submitted_whichever_side_comes_first() -> None:
    first = on_claim(None, "v1", VALUE, HEADERS, CLEAN_ONLY)
    assert first.ready is None
    second = on_verdict(first.state, verdict("CLEAN"), CLEAN_ONLY)
    assert second.ready is not None
    assert second.ready.value == VALUE and second.ready.headers == HEADERS
    assert second.state["claims"] == {}, "the claim is not kept once it went out"

    before = on_verdict(None, verdict("CLEAN"), CLEAN_ONLY)
    assert before.ready is None
    after = on_claim(before.state, "v1", VALUE, HEADERS, CLEAN_ONLY)
    assert after.ready is not None and after.ready.value == VALUE
    assert after.state["claims"] == {}


def test_redeliveries_after_it_went_out_send_nothing() -> None:
    state = on_claim(None, "v1", VALUE, HEADERS, CLEAN_ONLY).state
    state = on_verdict(state, verdict("CLEAN"), CLEAN_ONLY).state
    again = on_claim(state, "v1", VALUE, HEADERS, CLEAN_ONLY)
    assert again.ready is None and again.duplicate
    assert again.state["claims"] == {}
    result_again = on_verdict(state, verdict("CLEAN"), CLEAN_ONLY)
    assert result_again.ready is None and result_again.duplicate


@pytest.mark.parametrize("status", ["HOLD", "REVIEW"])
def test_a_claim_not_ready_is_dropped_and_never_sent(status: str) -> None:
    state = on_claim(None, "v1", VALUE, HEADERS, CLEAN_ONLY).state
    step = on_verdict(state, verdict(status), CLEAN_ONLY)
    assert step.ready is None
    assert step.state["claims"] == {}, "no PHI kept for a claim that cannot become ready"
    late = on_claim(step.state, "v1", VALUE, HEADERS, CLEAN_ONLY)
    assert late.ready is None and late.state["claims"] == {}


def test_review_goes_out_when_the_ready_statuses_say_so() -> None:
    state = on_claim(None, "v1", VALUE, HEADERS, CLEAN_REVIEW).state
    step = on_verdict(state, verdict("REVIEW"), CLEAN_REVIEW)
    assert step.ready is not None and step.ready.value == VALUE
    hold = on_verdict(
        on_claim(None, "v1", VALUE, HEADERS, CLEAN_REVIEW).state, verdict("HOLD"), CLEAN_REVIEW
    )
    assert hold.ready is None


def test_a_clean_revision_2_sends_the_claim_revision_1_held() -> None:
    state = on_claim(None, "v1", VALUE, HEADERS, CLEAN_ONLY).state
    held = on_verdict(state, verdict("HOLD", 1, incomplete=True), CLEAN_ONLY)
    assert held.ready is None
    assert "v1" in held.state["claims"], "kept: revision 2 may still make it ready"
    late = on_verdict(held.state, verdict("CLEAN", 2), CLEAN_ONLY)
    assert late.ready is not None and late.ready.value == VALUE
    assert on_verdict(late.state, verdict("CLEAN", 2), CLEAN_ONLY).ready is None


def test_revision_2_before_the_claim_and_a_stale_revision_1_after_it() -> None:
    state = on_verdict(None, verdict("CLEAN", 2), CLEAN_ONLY).state
    # Revision 1 redelivered after revision 2: the highest revision counts.
    state = on_verdict(state, verdict("HOLD", 1, incomplete=True), CLEAN_ONLY).state
    step = on_claim(state, "v1", VALUE, HEADERS, CLEAN_ONLY)
    assert step.ready is not None


def test_a_hold_revision_2_drops_the_waiting_claim() -> None:
    state = on_claim(None, "v1", VALUE, HEADERS, CLEAN_ONLY).state
    state = on_verdict(state, verdict("HOLD", 1, incomplete=True), CLEAN_ONLY).state
    step = on_verdict(state, verdict("HOLD", 2), CLEAN_ONLY)
    assert step.ready is None and step.state["claims"] == {}


def test_each_version_of_a_claim_goes_out_once() -> None:
    state: ReadyState | None = None
    sent = []
    for version, value in (("v1", b"first"), ("v2", b"second")):
        step = on_claim(state, version, value, HEADERS, CLEAN_ONLY)
        step = on_verdict(step.state, verdict("CLEAN", version=version), CLEAN_ONLY)
        assert step.ready is not None
        sent.append(step.ready.value)
        state = step.state
    assert sent == [b"first", b"second"]
    assert on_claim(state, "v1", b"first", HEADERS, CLEAN_ONLY).ready is None


def test_a_verdict_for_another_version_does_not_send_the_claim() -> None:
    state = on_claim(None, "v2", VALUE, HEADERS, CLEAN_ONLY).state
    step = on_verdict(state, verdict("CLEAN", version="v1"), CLEAN_ONLY)
    assert step.ready is None and "v2" in step.state["claims"]


def test_ready_statuses_default_to_clean_and_read_a_comma_list() -> None:
    assert ready_statuses({}) == DEFAULT_READY_STATUSES == frozenset({"CLEAN"})
    assert ready_statuses({"CLAIMSCRUB_READY_STATUSES": " clean, REVIEW "}) == CLEAN_REVIEW
    for bad in ("CLEAN,READY", ",", "OK"):
        with pytest.raises(SettingsError):
            ready_statuses({"CLAIMSCRUB_READY_STATUSES": bad})

"""The duplicate ledger across an HMAC key rotation (issue 20 item 4).

Contract §4 DUPLICATE_CLAIM: the same patient, providers, dates of service,
codes, modifiers and units under another claimId. A rotation changes every
fingerprint, so the check services stamp the fingerprints under the ring's
earlier keys too and the aggregator's ledger looks under each of them, current
first, and records under the current one (docs/aggregator.md)."""

from __future__ import annotations

from claimscrub.aggregator.ledger import Trust, decide, lookup, routing_key
from claimscrub.aggregator.state import Completed, collect
from claimscrub.aggregator.topology import FINGERPRINTS_HEADER, forward_record, lookup_keys
from claimscrub.core.claim import parse_claim
from claimscrub.core.codec import decode_check_result, encode_check_result
from claimscrub.core.edits import CheckName
from claimscrub.core.fingerprint import duplicate_fingerprint, earlier_keys_from_env, stamp
from claimscrub.core.results import CheckResult, ScrubResult, Status
from claimscrub.runtime.engine import Record
from tests.unit.necessity_support import base_claim, parse
from tests.unit.test_cli_keys import NEW, OLD, ring_text

ME = "inc-me"
K1, K2 = OLD.encode(), NEW.encode()


def _decide(entry: dict[str, object] | None, claim_id: str, version: str) -> list[str]:
    d = decide(entry, claim_id, version, fingerprinted=True, now_ms=5, partition=0, trust=Trust(ME))
    assert d.edits is not None
    return [e.code for e in d.edits]


def test_after_the_rotation_the_verdict_carries_the_fingerprint_under_the_earlier_key() -> None:
    parsed = parse_claim(base_claim())
    claim = parse(base_claim())
    earlier = earlier_keys_from_env({"CLAIMSCRUB_HMAC_KEYS": ring_text("k2")})
    assert earlier == (K1,)
    assert earlier_keys_from_env({"CLAIMSCRUB_HMAC_KEYS": ring_text("k1")}) == ()
    assert earlier_keys_from_env({"CLAIMSCRUB_HMAC_KEY": OLD}) == ()
    verdict = CheckResult(claim.claim_id, CheckName.UNITS, ())
    stamped = stamp(verdict, parsed, None, K2, earlier)
    assert stamped.fingerprint == duplicate_fingerprint(claim, K2)
    assert stamped.earlier_fingerprints == (duplicate_fingerprint(claim, K1),)
    # It survives claims.checks.
    assert decode_check_result(encode_check_result(stamped)) == stamped
    # Without a rotation there is nothing earlier.
    assert stamp(verdict, parsed, None, K1).earlier_fingerprints == ()


def test_a_claim_seen_under_the_old_key_is_the_owner_of_its_duplicate_after_the_rotation() -> None:
    before = decide(None, "CLM-1", "v1", fingerprinted=True, now_ms=1, partition=0, trust=Trust(ME))
    old_entry = before.entry
    # After the rotation nothing is under the current key's fingerprint yet.
    base = lookup(None, [old_entry])
    assert base is not None and base["owner"] == "CLM-1"
    assert _decide(base, "CLM-2", "v2") == ["DUPLICATE_CLAIM"]
    # The owner itself resubmitted after the rotation is not its own duplicate.
    assert _decide(base, "CLM-1", "v3") == []
    # Without the lookup under the earlier key it would not be found.
    assert _decide(lookup(None, []), "CLM-2", "v2") == []


def test_the_entry_under_the_current_key_comes_first_and_is_the_one_written() -> None:
    old_entry = decide(
        None, "CLM-OLD", "v1", fingerprinted=True, now_ms=1, partition=0, trust=Trust(ME)
    ).entry
    current = decide(
        None, "CLM-NEW", "v2", fingerprinted=True, now_ms=2, partition=0, trust=Trust(ME)
    ).entry
    assert lookup(current, [old_entry]) is current
    # Newest earlier key first: an entry under a key between wins over the oldest.
    middle = {**old_entry, "owner": "CLM-MID"}
    found = lookup(None, [None, middle, old_entry])
    assert found is not None and found["owner"] == "CLM-MID"
    assert found["published"] == {}  # keyed versions never match across keys


def test_a_version_travels_to_the_publish_step_under_the_oldest_key_s_fingerprint() -> None:
    assert routing_key("fp2", ("fp1",), "CLM-1") == "fp1"
    assert routing_key("fp3", ("fp2", "fp1"), "CLM-1") == "fp1"
    assert routing_key("fp1", (), "CLM-1") == "fp1"
    assert routing_key("", ("fp1",), "CLM-1") == "claim:CLM-1"
    result = ScrubResult("CLM-1", Status.CLEAN, (CheckName.UNITS,), ())
    out = forward_record(Completed("CLM-1", "v", "fp3", result, 0, (), ("fp2", "fp1")))
    assert out.key == b"fp1"
    rec = Record(out.key, out.value, out.headers, "t", 0, 0, 0)
    assert lookup_keys(rec) == [b"fp3", b"fp2", b"fp1"]
    single = forward_record(Completed("CLM-1", "v", "fp1", result))
    assert single.key == b"fp1"
    assert FINGERPRINTS_HEADER not in dict(single.headers)
    assert lookup_keys(Record(single.key, single.value, single.headers, "t", 0, 0, 0)) == [b"fp1"]


def test_the_collect_step_hands_the_earlier_fingerprints_on() -> None:
    verdicts = [
        CheckResult("A", c, (), claim_version="v", fingerprint="fp2", earlier_fingerprints=("fp1",))
        for c in (CheckName.UNITS, CheckName.NECESSITY)
    ]
    step = collect(None, verdicts[0], ("UNITS", "NECESSITY"), now_ms=1, partition=0, incarnation=ME)
    step = collect(
        step.state, verdicts[1], ("UNITS", "NECESSITY"), now_ms=2, partition=0, incarnation=ME
    )
    assert step.forward is not None
    assert step.forward.fingerprint == "fp2"
    assert step.forward.earlier_fingerprints == ("fp1",)

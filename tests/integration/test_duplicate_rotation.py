"""DUPLICATE_CLAIM across an HMAC key rotation, on the real broker.

Contract §4 DUPLICATE_CLAIM: the same patient, providers, dates of service,
codes, modifiers and units under another claimId. A claim scrubbed while key
k1 is current and a duplicate of it sent after the ring's current key became
k2 must still get the edit (docs/operations.md, "Rotating the HMAC key").

The aggregator's ledger does not use the key: the check services stamp the
fingerprints. So the verdicts of each required check are stamped here exactly
as a check service with each ring stamps them (ClaimJudge: core.fingerprint
with key_from_env and earlier_keys_from_env) and sent to claims.checks, and a
real aggregator process publishes the results."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claimscrub.core.claim import parse_claim
from claimscrub.core.codec import encode_check_result
from claimscrub.core.edits import CheckName
from claimscrub.core.fingerprint import earlier_keys_from_env, key_from_env, stamp
from claimscrub.core.results import CheckResult, ScrubResult
from claimscrub.runtime.registry import required_checks
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, free_port, produce
from claimscrub.runtime.topics import CLAIMS_CHECKS
from tests.integration.helpers import base_claim, results, service_line

pytestmark = pytest.mark.kafka

OLD = "dup-old-secret-0123456789-0123456789"
NEW = "dup-new-secret-0123456789-0123456789"


def _ring(current: str) -> dict[str, str]:
    keys = [{"id": "k1", "secret": OLD}, {"id": "k2", "secret": NEW}]
    return {"CLAIMSCRUB_HMAC_KEYS": json.dumps({"current": current, "keys": keys})}


@pytest.fixture()
def aggregator(kafka: LocalKafka, tmp_path: Path) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        "aggregator",
        "claimscrub.aggregator.main",
        free_port(),
        free_port(),
        kafka,
        tmp_path / "aggregator",
        _ring("k2"),
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.terminate()


def _claim(claim_id: str, member_id: str) -> dict[str, Any]:
    return base_claim(claim_id, {"memberId": member_id}, service_line(chargeAmount="84.00"))


def _send_verdicts(kafka: LocalKafka, claim: dict[str, Any], env: dict[str, str]) -> None:
    """Every required check's verdict (no edits), stamped as a check service
    running with ``env``'s ring stamps it."""
    raw = json.dumps(claim).encode()
    parsed = parse_claim(claim)
    key, earlier = key_from_env(env), earlier_keys_from_env(env)
    records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = []
    for name in required_checks():
        verdict = CheckResult(claim["claimId"], CheckName(name), (), submitted_at_ms=1)
        stamped = stamp(verdict, parsed, raw, key, earlier)
        records.append((claim["claimId"].encode(), encode_check_result(stamped), []))
    produce(kafka.bootstrap, CLAIMS_CHECKS.name, records)


def _result(kafka: LocalKafka, claim_id: str) -> ScrubResult:
    return results(kafka, claim_id)[claim_id]


def test_a_duplicate_sent_after_the_rotation_of_a_claim_scrubbed_before_it_is_found(
    kafka: LocalKafka, aggregator: ServiceProcess
) -> None:
    run = uuid.uuid4().hex[:8].upper()
    member = f"9DR{run}"
    first, again, other = f"DR-{run}-1", f"DR-{run}-2", f"DR-{run}-3"
    before, after = _ring("k1"), _ring("k2")
    assert earlier_keys_from_env(before) == () and len(earlier_keys_from_env(after)) == 1

    _send_verdicts(kafka, _claim(first, member), before)
    assert [e.code for e in _result(kafka, first).edits] == []

    _send_verdicts(kafka, _claim(again, member), after)
    dup = _result(kafka, again)
    assert [(e.code, e.line_number) for e in dup.edits] == [("DUPLICATE_CLAIM", 0)]
    assert first in dup.edits[0].message

    # Another patient with the same services is not a duplicate.
    _send_verdicts(kafka, _claim(other, f"8DR{run}"), after)
    assert [e.code for e in _result(kafka, other).edits] == []

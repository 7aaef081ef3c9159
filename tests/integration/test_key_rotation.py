"""Rotating the HMAC key on the real broker.

`claimscrub keys rotate --apply` sends a rekey request on necessity's
repartition topic for each live history of an older key than the ring's
newest, read from the compacted history changelog's keys; and a rotation
done as docs/operations.md's runbook "Rotating the HMAC key" says, with the
running necessity service, keeps a beneficiary's year-to-date amount."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from quixstreams.state.metadata import CHANGELOG_CF_MESSAGE_HEADER

from claimscrub.bench.load import wait_idle
from claimscrub.core.claim import parse_claim
from claimscrub.core.codec import decode_check_result
from claimscrub.core.results import CheckResult
from claimscrub.necessity.beneficiary import DEV_HMAC_KEY, beneficiary_token
from claimscrub.necessity.rekey import REKEY_REQUEST_HEADER, tokens_in
from claimscrub.necessity.topology import CLAIM_KEY_HEADER, STORE_NAME
from claimscrub.runtime.kafka_io import Tail
from claimscrub.runtime.keyring import Keyring, derived_id, load_keyring
from claimscrub.runtime.testing import (
    REPO_ROOT,
    LocalKafka,
    ServiceProcess,
    consume_all,
    produce,
)
from claimscrub.runtime.topics import (
    CLAIMS_CHECKS,
    NECESSITY_BY_BENEFICIARY,
    NECESSITY_GROUP,
    NECESSITY_HISTORY_CHANGELOG,
)
from tests.brokers import own_broker
from tests.integration.helpers import base_claim, send_claims, service_line, therapy

pytestmark = pytest.mark.kafka

#: What Quix writes on every changelog record: a record without it stops the
#: restore of the running necessity service.
CHANGELOG_HEADERS = [(CHANGELOG_CF_MESSAGE_HEADER, STORE_NAME.encode())]

OLD = "old-secret-0123456789-0123456789-abc"
NEW = "new-secret-0123456789-0123456789-xyz"
RING = json.dumps(
    {"current": "k1", "keys": [{"id": "k1", "secret": OLD}, {"id": "k2", "secret": NEW}]}
)


@pytest.fixture(scope="module")
def own_kafka() -> Iterator[LocalKafka]:
    """A broker of this test's own: `keys rotate --apply` reads every history of
    the changelog, and the shared broker's hold other tests' beneficiaries."""
    with own_broker(50, "keys") as broker:
        yield broker


def test_apply_requests_a_rekey_for_each_live_token_of_an_older_key(
    own_kafka: LocalKafka,
) -> None:
    kafka = own_kafka
    live = "b-" + "a1" * 32
    dropped = "b-" + "b2" * 32
    done = "b-k2-" + "c3" * 32  # already the newest key's
    prefixed = "c-" + "d4" * 32  # as the state store prefixes it
    history = json.dumps({"v": 1, "claims": {}, "progress": {}}).encode()
    produce(
        kafka.bootstrap,
        NECESSITY_HISTORY_CHANGELOG.name,
        [
            (live.encode(), history, CHANGELOG_HEADERS),
            (dropped.encode(), history, CHANGELOG_HEADERS),
            (done.encode(), history, CHANGELOG_HEADERS),
            (prefixed.encode() + b'|"history"', history, CHANGELOG_HEADERS),
            # A tombstone: that history was deleted.
            (dropped.encode(), None, CHANGELOG_HEADERS),
        ],
    )

    assert "sent 2 rekey request(s) towards key k2" in _apply(kafka, RING, OLD, NEW)

    records = consume_all(kafka.bootstrap, NECESSITY_BY_BENEFICIARY.name, until=2, settle_s=2)
    requests = [r for r in records if dict(r.headers).get(REKEY_REQUEST_HEADER) == b"1"]
    assert sorted(r.key for r in requests) == sorted([live.encode(), prefixed.encode()])
    assert all(json.loads(r.value) == {"rekey": True} for r in requests)


# --- a rotation with the running necessity service, step by step -------------------

#: The shared pipeline's necessity runs with the development key (no key set):
#: step 1 moves that key to a ring, keeping its id.
OLD_ID = derived_id(DEV_HMAC_KEY)
NEW_ID = "k2027"
NEW_SECRET = "rotation-test-secret-0123456789-0123456789"
MEMBER = "KR77700123"


def _ring(current: str, *ids: str) -> str:
    secrets = {OLD_ID: DEV_HMAC_KEY.decode(), NEW_ID: NEW_SECRET}
    return json.dumps({"current": current, "keys": [{"id": i, "secret": secrets[i]} for i in ids]})


def _claim(claim_id: str, charge: str, dos: str) -> dict[str, Any]:
    # Eligibility says 2,300 used of the 2026 PT/SLP KX threshold ($2,480,
    # docs/necessity.md); every claim of this beneficiary adds its charge.
    line = service_line(dateOfService=dos, chargeAmount=charge)
    used = therapy(treatmentDaysSinceProgressReport=1, amountUsedYtd="2300.00")
    return base_claim(claim_id, {"memberId": MEMBER}, line, therapy=used)


def _necessity_verdict(kafka: LocalKafka, claim: dict[str, Any]) -> CheckResult:
    """Submit ``claim``; necessity's result for it on claims.checks."""
    results = Tail(kafka.bootstrap, None, [CLAIMS_CHECKS.name], client_id="test-keys")
    try:
        send_claims(kafka, claim)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for r in results.records():
                if r.key == claim["claimId"].encode():
                    result = decode_check_result(r.value)
                    if result.check.value == "NECESSITY":
                        return result
    finally:
        results.close()
    raise AssertionError(f"no necessity result for {claim['claimId']}")


def _wait_for_lag_zero(kafka: LocalKafka) -> None:
    """The runbook's "wait until necessity's consumer lag is 0": its group has
    committed up to the end of both topics it reads."""
    waited = wait_idle(kafka.bootstrap, 120, prefix=NECESSITY_GROUP)
    assert waited is not None, "necessity's consumer lag did not reach 0"


def _apply(kafka: LocalKafka, ring: str, *secrets: str) -> str:
    """`claimscrub keys rotate --apply` as an operator runs it, with the ring;
    its output, which holds none of ``secrets``."""
    env = {
        "PATH": "/usr/bin:/bin",
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CLAIMSCRUB_HMAC_KEYS": ring,
    }
    run = subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "keys", "rotate", "--apply"],
        env=env, capture_output=True, text=True, timeout=180, cwd=REPO_ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert not any(secret in run.stdout + run.stderr for secret in secrets)
    return run.stdout


def _live_histories(kafka: LocalKafka) -> dict[str, dict[str, Any]]:
    """The changelog's latest history per token (a deleted one absent)."""
    latest: dict[str, bytes | None] = {}
    for r in consume_all(kafka.bootstrap, NECESSITY_HISTORY_CHANGELOG.name, until=1, settle_s=1):
        token = tokens_in(r.key)
        if token is not None and r.key.endswith(b'|"history"'):
            latest[token] = r.value
    # A tombstone reads as an empty value (runtime/kafka_io.Received).
    return {t: json.loads(v) for t, v in latest.items() if v}


def test_a_rotation_by_the_runbook_keeps_a_beneficiary_s_year_to_date_amount(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    shared = services["necessity"]
    running: list[ServiceProcess] = []

    def roll_out(ring: str) -> None:
        # One necessity instance: rolling out is restarting it with the ring.
        for p in running:
            assert p.terminate() == 0
        running.clear()
        if shared.proc is not None and shared.proc.poll() is None:
            assert shared.terminate() == 0
        p = dataclasses.replace(shared, env={**shared.env, "CLAIMSCRUB_HMAC_KEYS": ring}, proc=None)
        running.append(p)
        p.start()

    parsed = parse_claim(_claim("KR-0", "1.00", "2026-05-01"))
    assert parsed.claim is not None
    rotated = load_keyring({"CLAIMSCRUB_HMAC_KEYS": _ring(NEW_ID, OLD_ID, NEW_ID)}, b"")
    old_token = beneficiary_token(parsed.claim, Keyring.single(DEV_HMAC_KEY))
    new_token = beneficiary_token(parsed.claim, rotated)
    assert new_token != old_token and new_token.startswith(f"b-{NEW_ID}-")
    try:
        # Step 1: the single key as a one-key ring. 2,300 + 100 = 2,400.
        roll_out(_ring(OLD_ID, OLD_ID))
        assert _necessity_verdict(kafka, _claim("KR-1", "100.00", "2026-05-04")).edits == ()
        # Step 2: the new key added, not current. A claim recorded meanwhile:
        # 2,300 + 100 + 50 = 2,450, still under the threshold.
        roll_out(_ring(OLD_ID, OLD_ID, NEW_ID))
        assert _necessity_verdict(kafka, _claim("KR-2", "50.00", "2026-05-05")).edits == ()
        # Step 3: apply, then wait for necessity's lag to reach 0.
        assert f"rekey request(s) towards key {NEW_ID}" in _apply(
            kafka, _ring(OLD_ID, OLD_ID, NEW_ID), NEW_SECRET
        )
        _wait_for_lag_zero(kafka)
        # Step 4: the new key current. The next claim is routed under the new
        # token and sees both earlier ones: 2,300 + 100 + 50 + 100 = 2,550 > 2,480.
        roll_out(_ring(NEW_ID, OLD_ID, NEW_ID))
        result = _necessity_verdict(kafka, _claim("KR-3", "100.00", "2026-05-06"))
        assert [(e.code, e.line_number) for e in result.edits] == [("KX_MODIFIER_REQUIRED", 1)]
        assert "2,550.00" in result.edits[0].message
        routed = consume_all(kafka.bootstrap, NECESSITY_BY_BENEFICIARY.name, until=1, settle_s=1)
        assert [r.key for r in routed if (CLAIM_KEY_HEADER, b"KR-3") in r.headers] == [
            new_token.encode()
        ]
        _wait_for_lag_zero(kafka)
        histories = _live_histories(kafka)
        assert set(histories[new_token]["claims"]) == {"KR-1", "KR-2", "KR-3"}
        assert old_token in histories  # copied, not moved, until step 5
        # Step 5: apply again; the old token's history is moved, then gone.
        assert f"rekey request(s) towards key {NEW_ID}" in _apply(
            kafka, _ring(NEW_ID, OLD_ID, NEW_ID), NEW_SECRET
        )
        _wait_for_lag_zero(kafka)
        histories = _live_histories(kafka)
        assert old_token not in histories
        assert set(histories[new_token]["claims"]) == {"KR-1", "KR-2", "KR-3"}
    finally:
        for p in running:
            p.terminate()
        # The shared pipeline's necessity as the other tests know it.
        if shared.proc is None or shared.proc.poll() is not None:
            shared.start()

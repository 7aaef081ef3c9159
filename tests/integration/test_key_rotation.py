"""`claimscrub keys rotate --apply` on the real broker: a rekey request on
necessity's repartition topic for each live history of an older key than the
ring's newest, read from the compacted history changelog's keys."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from claimscrub.necessity.rekey import REKEY_REQUEST_HEADER
from claimscrub.runtime.testing import REPO_ROOT, LocalKafka, consume_all, produce
from claimscrub.runtime.topics import NECESSITY_BY_BENEFICIARY, NECESSITY_HISTORY_CHANGELOG

pytestmark = pytest.mark.kafka

OLD = "old-secret-0123456789-0123456789-abc"
NEW = "new-secret-0123456789-0123456789-xyz"
RING = json.dumps(
    {"current": "k1", "keys": [{"id": "k1", "secret": OLD}, {"id": "k2", "secret": NEW}]}
)


def test_apply_requests_a_rekey_for_each_live_token_of_an_older_key(kafka: LocalKafka) -> None:
    live = "b-" + "a1" * 32
    dropped = "b-" + "b2" * 32
    done = "b-k2-" + "c3" * 32  # already the newest key's
    prefixed = "c-" + "d4" * 32  # as a state store prefixes it
    history = json.dumps({"v": 1, "claims": {}, "progress": {}}).encode()
    produce(
        kafka.bootstrap,
        NECESSITY_HISTORY_CHANGELOG.name,
        [
            (live.encode(), history, []),
            (dropped.encode(), history, []),
            (done.encode(), history, []),
            (prefixed.encode() + b"|history", history, []),
        ],
    )
    # A tombstone: that history was deleted.
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    producer.send(NECESSITY_HISTORY_CHANGELOG.name, key=dropped.encode(), value=None).get(30)
    producer.close()

    env = {
        "PATH": "/usr/bin:/bin",
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CLAIMSCRUB_HMAC_KEYS": RING,
    }
    run = subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "keys", "rotate", "--apply"],
        env=env, capture_output=True, text=True, timeout=180, cwd=REPO_ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "sent 2 rekey request(s) towards key k2" in run.stdout
    assert OLD not in run.stdout + run.stderr and NEW not in run.stdout + run.stderr

    records = consume_all(kafka.bootstrap, NECESSITY_BY_BENEFICIARY.name, until=2, settle_s=2)
    requests = [r for r in records if dict(r.headers).get(REKEY_REQUEST_HEADER) == b"1"]
    assert sorted(r.key for r in requests) == sorted([live.encode(), prefixed.encode()])
    assert all(json.loads(r.value) == {"rekey": True} for r in requests)

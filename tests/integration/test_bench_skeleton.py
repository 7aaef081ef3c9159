"""make bench's skeleton baseline (bench/skeleton.py) on a real broker: the
pipeline's hops doing no work still answer every claim once, and join it.

The skeleton writes placeholders (verdicts that are not CheckResults, claim
keys on necessity's re-keying topic) to the pipeline's topics, as it does on
make bench's private broker, so it gets a broker of its own here too: the
session broker's topics stay the real services' (the pipeline tests read
them whole).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from claimscrub.bench import skeleton
from claimscrub.bench.load import claim_records, drive
from claimscrub.runtime.testing import REPO_ROOT, LocalKafka
from claimscrub.runtime.topics import CLAIMS_DEIDENTIFIED
from tests.brokers import own_broker


def _deidentified(bootstrap: str, keys: set[bytes], timeout_s: float) -> Counter[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-skeleton-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([CLAIMS_DEIDENTIFIED.name])
    seen: Counter[bytes] = Counter()

    def poll(timeout_s: float) -> None:
        for msg in consumer.consume(num_messages=1000, timeout=timeout_s):
            if msg.error() is None and msg.key() in keys:
                seen[msg.key()] += 1

    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and set(seen) < keys:
            poll(0.5)
        # A little longer: a second record for a key would show up now.
        settle = time.monotonic() + 2.0
        while time.monotonic() < settle:
            poll(0.5)
    finally:
        consumer.close()
    return seen


@pytest.fixture(scope="module")
def own_kafka() -> Iterator[LocalKafka]:
    # Beside the session's brokers (+0 plain, +10 secure, +20 the fault tests').
    with own_broker(30, "skeleton") as broker:
        yield broker


def test_the_skeleton_answers_and_joins_every_claim_once(
    own_kafka: LocalKafka, tmp_path: Path
) -> None:
    kafka = own_kafka
    procs = skeleton.processes(kafka, tmp_path, {})
    run_id = uuid.uuid4().hex[:6]
    try:
        for p in procs:
            p.start()
        # Its groups start from the end of each topic once assigned: send
        # small batches until one is answered whole, as make bench does.
        for attempt in range(24):
            warm = claim_records(5, f"SKW{run_id}{attempt}-")
            if len(drive(kafka.bootstrap, warm, rate=None, timeout_s=5).received) == len(warm):
                break
        else:
            raise AssertionError("the skeleton never answered a warm-up batch")
        records = claim_records(60, f"SK{run_id}-")
        keys = {key for key, _, _ in records}
        run = drive(kafka.bootstrap, records, rate=None, timeout_s=60)
        assert set(run.received) == keys
        assert run.duplicates == 0
        joined = _deidentified(kafka.bootstrap, keys, 60)
        assert set(joined) == keys and set(joined.values()) == {1}
    finally:
        for p in procs:
            p.terminate()


def test_an_unknown_role_is_refused_with_the_roles() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "claimscrub.bench.skeleton"],
        env={"PATH": "/usr/bin:/bin", skeleton.ROLE_VARIABLE: "checks"},
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert done.returncode == 1
    assert "must be one of units, enrollment, necessity, aggregator, redaction" in done.stderr

"""The operator's tools on the real broker: `claimscrub dlq list` (metadata,
never the value), `claimscrub dlq replay` (a fixed claim back on
claims.submitted, refusals first), and `kafka.sh groups` / `reset-offsets`
(kafka-tools' ConsumerGroupCommand fetched with the broker)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from claimscrub.cli.dlq import REPLAY_HEADER
from claimscrub.core.codec import CONTENT_TYPE, decode_claim
from claimscrub.runtime.guard import dlq_headers
from claimscrub.runtime.kafka_io import partitions, reader, received
from claimscrub.runtime.testing import REPO_ROOT, LocalKafka, produce
from claimscrub.runtime.topics import CLAIMS_DLQ, CLAIMS_SUBMITTED

pytestmark = pytest.mark.kafka

PHI_VALUE = b'{"claimId": "broken", "patient": {"lastName": "Quartermaine", "birthDate": "1951-'


def _cli(kafka: LocalKafka, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap}
    return subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip


def _dead_letter(kafka: LocalKafka, key: str, source: str = "claims.submitted") -> None:
    headers = dlq_headers("units", "invalid JSON (JSONDecodeError)", source, 3, 42)
    produce(kafka.bootstrap, CLAIMS_DLQ.name, [(key.encode(), PHI_VALUE, headers)])


def _listed(kafka: LocalKafka, key: str) -> dict[str, Any]:
    done = _cli(kafka, "dlq", "list", "--json", "--limit", "1000")
    assert done.returncode == 0, done.stderr
    assert "Quartermaine" not in done.stdout and "1951" not in done.stdout
    return next(e for e in map(json.loads, done.stdout.splitlines()) if e["key"] == key)


def test_dlq_list_prints_metadata_and_never_the_value(kafka: LocalKafka) -> None:
    key = f"DLQ-{uuid.uuid4().hex[:8]}"
    _dead_letter(kafka, key)
    entry = _listed(kafka, key)
    assert entry["service"] == "units"
    assert entry["source"] == "claims.submitted/3@42"
    assert entry["reason"] == "invalid JSON (JSONDecodeError)"
    assert entry["time"].endswith("Z")
    table = _cli(kafka, "dlq", "list")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:3] == ["PARTITION", "OFFSET", "TIME"]
    assert "Quartermaine" not in table.stdout


def _fixed_claim(tmp_path: Path, claim_id: str) -> Path:
    claim = json.loads((REPO_ROOT / "examples/claims.json").read_text())[0]
    claim["claimId"] = claim_id
    path = tmp_path / f"{claim_id}.json"
    path.write_text(json.dumps(claim))
    return path


def _submitted_record(kafka: LocalKafka, partition: int, offset: int) -> Any:
    from confluent_kafka import TopicPartition

    consumer = reader(kafka.bootstrap, None, client_id="test")
    try:
        consumer.assign([TopicPartition(CLAIMS_SUBMITTED.name, partition, offset)])
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                return received(msg)
    finally:
        consumer.close()
    raise AssertionError("the replayed record is not on claims.submitted")


def test_dlq_replay_publishes_the_fixed_claim_under_the_records_key(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    key = f"DLQ-{uuid.uuid4().hex[:8]}"
    _dead_letter(kafka, key)
    entry = _listed(kafka, key)
    where = ["--partition", str(entry["partition"]), "--offset", str(entry["offset"])]
    done = _cli(kafka, "dlq", "replay", *where, "--file", str(_fixed_claim(tmp_path, key)))
    assert done.returncode == 0, done.stderr
    target = done.stdout.strip().rsplit(" ", 1)[1]
    assert target.startswith("claims.submitted/")
    partition, offset = target.removeprefix("claims.submitted/").split("@")
    rec = _submitted_record(kafka, int(partition), int(offset))
    assert rec.key == key.encode()
    headers = dict(rec.headers)
    assert headers[REPLAY_HEADER] == f"claims.dlq/{entry['partition']}@{entry['offset']}".encode()
    parsed = decode_claim(rec.value, content_type=headers[CONTENT_TYPE])
    assert parsed.claim_id == key and parsed.ok


def test_dlq_replay_refuses_another_claim_id_another_source_and_a_bad_offset(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    key = f"DLQ-{uuid.uuid4().hex[:8]}"
    _dead_letter(kafka, key)
    entry = _listed(kafka, key)
    where = ["--partition", str(entry["partition"]), "--offset", str(entry["offset"])]
    other = _cli(kafka, "dlq", "replay", *where, "--file", str(_fixed_claim(tmp_path, "OTHER-1")))
    assert other.returncode == 2 and f"the record's key {key!r}" in other.stderr
    verdict_key = f"DLQ-{uuid.uuid4().hex[:8]}"
    _dead_letter(kafka, verdict_key, source="claims.checks")
    verdict = _listed(kafka, verdict_key)
    checks = _cli(
        kafka, "dlq", "replay", "--partition", str(verdict["partition"]),
        "--offset", str(verdict["offset"]), "--file", str(_fixed_claim(tmp_path, verdict_key)),
    )  # fmt: skip
    assert checks.returncode == 2 and "only submitted claims are replayed" in checks.stderr
    missing = _cli(
        kafka, "dlq", "replay", "--partition", str(entry["partition"]),
        "--offset", "99999999", "--file", str(_fixed_claim(tmp_path, key)),
    )  # fmt: skip
    assert missing.returncode == 2 and "has no offset 99999999" in missing.stderr


def _committed(kafka: LocalKafka, group: str, topic: str) -> int:
    """The group's committed offsets on ``topic``, summed over its partitions."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group})
    try:
        parts = partitions(consumer, topic)
        found = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=30)
        return sum(max(0, tp.offset) for tp in found)
    finally:
        consumer.close()


def test_groups_shows_lag_and_reset_offsets_moves_a_group_back(kafka: LocalKafka) -> None:
    from confluent_kafka import Consumer, TopicPartition

    topic, group = f"ops-test-{uuid.uuid4().hex[:8]}", f"ops-group-{uuid.uuid4().hex[:8]}"
    produce(kafka.bootstrap, topic, [(b"k", b"v%d" % i, []) for i in range(5)])
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})  # fmt: skip
    consumer.subscribe([topic])
    seen = 0
    for _ in range(60):
        seen += sum(1 for m in consumer.consume(10, 0.5) if m.error() is None)
        if seen >= 5:
            break
    # Every assigned partition's offset, the empty ones' too (0), so the group
    # has a row for each partition.
    positions = consumer.position(consumer.assignment())
    consumer.commit(
        offsets=[TopicPartition(tp.topic, tp.partition, max(0, tp.offset)) for tp in positions],
        asynchronous=False,
    )
    consumer.close()
    assert _committed(kafka, group, topic) == 5
    produce(kafka.bootstrap, topic, [(b"k", b"late", []) for _ in range(3)])

    listed = kafka._script("groups")
    assert listed.returncode == 0, listed.stderr
    assert group in listed.stdout.split("\n\n", 1)[0].split()
    described = kafka._script("groups", group)
    assert described.returncode == 0, described.stderr
    # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ..., one row per
    # partition; one key, so every record is in one partition.
    rows = [line.split() for line in described.stdout.splitlines() if topic in line]
    assert len(rows) == 6
    assert sorted(r[3:6] for r in rows) == [["0", "0", "0"]] * 5 + [["5", "8", "3"]]

    before = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000")
    plan = kafka._script("reset-offsets", group, topic, "--to-datetime", before)
    assert plan.returncode != 0 and "not applied" in plan.stderr
    assert "plan (dry run)" in plan.stdout
    assert _committed(kafka, group, topic) == 5  # the dry run moved nothing
    done = kafka._script("reset-offsets", group, topic, "--to-datetime", before, "--yes")
    assert done.returncode == 0, done.stderr
    assert _committed(kafka, group, topic) == 0

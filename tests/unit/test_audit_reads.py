"""The consumer read audit (runtime.audit.TopicReads): issue 20 item 2, by volume.

One event per principal, topic and partition per interval, with the first and
last offset read and the record count, for the topics inside the clinical
boundary only; never a claim's content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from claimscrub.runtime.audit import (
    AccessEvent,
    KafkaAuditSink,
    TopicReads,
    kafka_principal,
    phi_topics,
    read_interval_s,
)
from claimscrub.runtime.env import SettingsError
from claimscrub.runtime.kafka_config import KafkaSecurity
from claimscrub.runtime.topics import (
    CLAIMS_CHECKS,
    CLAIMS_DLQ,
    CLAIMS_READY,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
    CLAIMS_X12,
    NECESSITY_BY_BENEFICIARY,
    REDACTION_BY_CLAIM,
)

SUBMITTED = CLAIMS_SUBMITTED.name


class FakeSink:
    recorded_by = "units"

    def __init__(self) -> None:
        self.events: list[AccessEvent] = []
        self.counts = {"written": 0, "dropped": 0, "failed": 0}

    def record(self, event: AccessEvent) -> None:
        self.events.append(event)

    def close(self, timeout_s: float = 5.0) -> int:
        return 0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _reads(interval_s: float = 10.0) -> tuple[TopicReads, FakeSink, Clock]:
    sink, clock = FakeSink(), Clock()
    reads = TopicReads(
        cast(KafkaAuditSink, sink), "units", interval_s=interval_s, clock=clock, timer=False
    )
    return reads, sink, clock


def _ranges(sink: FakeSink) -> list[tuple[str | None, int | None, int | None, int | None, Any]]:
    return [(e.topic, e.partition, e.first_offset, e.last_offset, e.records) for e in sink.events]


def test_the_phi_topics_are_the_ones_the_issue_names() -> None:
    assert phi_topics() >= {
        CLAIMS_SUBMITTED.name,
        CLAIMS_READY.name,
        CLAIMS_X12.name,
        CLAIMS_DLQ.name,
        NECESSITY_BY_BENEFICIARY.name,
        REDACTION_BY_CLAIM.name,
    }
    assert CLAIMS_CHECKS.name not in phi_topics()
    assert CLAIMS_SCRUBBED.name not in phi_topics()


def test_one_event_per_partition_per_interval_with_the_offsets_read() -> None:
    reads, sink, clock = _reads(10.0)
    for offset in (5, 6, 7):
        reads.observe(SUBMITTED, 0, offset)
    reads.observe(SUBMITTED, 1, 40)
    assert sink.events == []  # the interval has not passed
    clock.now += 10.0
    reads.observe(SUBMITTED, 0, 9)  # offset 8 was not this consumer's to read
    assert _ranges(sink) == [(SUBMITTED, 0, 5, 9, 4)]
    reads.flush()
    assert _ranges(sink)[1:] == [(SUBMITTED, 1, 40, 40, 1)]
    assert all(e.outcome == "read" and e.principal == "units" for e in sink.events)


def test_the_interval_boundary_is_inclusive_and_the_next_window_starts_fresh() -> None:
    reads, sink, clock = _reads(10.0)
    reads.observe(SUBMITTED, 0, 1)
    clock.now += 9.999
    reads.observe(SUBMITTED, 0, 2)
    assert sink.events == []
    clock.now += 0.001
    reads.observe(SUBMITTED, 0, 3)
    reads.observe(SUBMITTED, 0, 4)
    reads.flush()
    assert _ranges(sink) == [(SUBMITTED, 0, 1, 3, 3), (SUBMITTED, 0, 4, 4, 1)]


def test_the_same_record_seen_by_a_second_step_counts_once_and_a_replay_opens_a_window() -> None:
    reads, sink, _ = _reads()
    reads.observe(SUBMITTED, 0, 10)
    reads.observe(SUBMITTED, 0, 10)
    reads.observe(SUBMITTED, 0, 11)
    reads.observe(SUBMITTED, 0, 8)  # replayed after a restart: read again
    reads.observe(SUBMITTED, 0, 9)
    reads.flush()
    assert _ranges(sink) == [(SUBMITTED, 0, 10, 11, 2), (SUBMITTED, 0, 8, 9, 2)]


def test_topics_outside_the_clinical_boundary_are_not_recorded() -> None:
    reads, sink, clock = _reads()
    reads.observe(CLAIMS_CHECKS.name, 0, 1)
    reads.observe(CLAIMS_SCRUBBED.name, 0, 1)
    clock.now += 100
    reads.flush()
    assert sink.events == []


def test_due_only_flush_leaves_young_windows_open() -> None:
    reads, sink, clock = _reads(10.0)
    reads.observe(SUBMITTED, 0, 1)
    clock.now += 5
    reads.observe(CLAIMS_DLQ.name, 2, 7)
    clock.now += 5
    reads.flush(due_only=True)
    assert _ranges(sink) == [(SUBMITTED, 0, 1, 1, 1)]
    assert reads.close() == 0
    assert _ranges(sink)[1:] == [(CLAIMS_DLQ.name, 2, 7, 7, 1)]


def test_the_event_value_holds_names_and_numbers_only() -> None:
    reads, sink, _ = _reads()
    reads.observe(SUBMITTED, 3, 12)
    reads.flush()
    (event,) = sink.events
    value = json.loads(event.value())
    assert event.key() == b"units"
    assert set(value) == {
        "time",
        "principal",
        "topic",
        "partition",
        "firstOffset",
        "lastOffset",
        "records",
        "readFrom",
        "outcome",
        "recordedBy",
    }
    assert (value["firstOffset"], value["lastOffset"], value["records"]) == (12, 12, 1)


def test_the_interval_setting() -> None:
    assert read_interval_s({}) == 60.0
    assert read_interval_s({"CLAIMSCRUB_AUDIT_READ_INTERVAL_SECONDS": "2.5"}) == 2.5
    for bad in ("0", "-1", "3601", "soon"):
        with pytest.raises(SettingsError):
            read_interval_s({"CLAIMSCRUB_AUDIT_READ_INTERVAL_SECONDS": bad})


def test_the_principal_is_the_sasl_user_or_the_certificate_common_name(tmp_path: Path) -> None:
    """Issue 20 item 2 keys each event by who read: on a secured broker that
    is the identity the broker itself authorises, not a name from settings."""
    from claimscrub.runtime import devcerts
    from claimscrub.runtime.secrets import Secret

    ca_key, ca_cert = devcerts.make_ca()
    _key, cert = devcerts.issue(ca_key, ca_cert, "necessity")
    cert_file = tmp_path / "necessity.pem"
    cert_file.write_bytes(devcerts._pem_cert(cert))
    claimed = {"CLAIMSCRUB_AUDIT_PRINCIPAL": "someone-else"}

    sasl = KafkaSecurity(
        protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", username="units", password=Secret(b"x")
    )
    assert kafka_principal(sasl, claimed) == "units"
    assert (
        kafka_principal(KafkaSecurity(protocol="SSL", cert_file=cert_file), claimed) == "necessity"
    )
    assert kafka_principal(KafkaSecurity(), claimed) == "someone-else"
    assert kafka_principal(KafkaSecurity(), {}) == "anonymous"

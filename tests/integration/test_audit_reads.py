"""The consumer read audit of PHI topics on the real broker (issue 20 item 2).

A service that consumes claims.submitted (units, on the stream engine) and a
CLI reader of claims.dlq (`claimscrub dlq list`) write audit.access events
whose offset ranges cover exactly the records they read; a health check
writes none; no event holds PHI. Read back with `claimscrub audit query`.
On a broker of this test's own: the units consumer group then reads every
partition of claims.submitted from its beginning, nobody else's claims."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from claimscrub.core.codec import encode_claim_json
from claimscrub.runtime.kafka_io import Tail
from claimscrub.runtime.testing import (
    REPO_ROOT,
    LocalKafka,
    ServiceProcess,
    end_offsets,
    free_port,
    produce,
)
from claimscrub.runtime.topics import AUDIT_ACCESS, CLAIMS_CHECKS, CLAIMS_DLQ, CLAIMS_SUBMITTED
from tests.brokers import own_broker
from tests.integration.helpers import base_claim, send_claims, service_line

pytestmark = pytest.mark.kafka

RUN = uuid.uuid4().hex[:8]
#: Seeded PHI: none of it may reach audit.access.
PHI = [f"Zelda{RUN}", f"Quartermain{RUN}", f"9AU{RUN.upper()}", "1931-07-14", "555-0147"]


@pytest.fixture(scope="module")
def own_kafka() -> Iterator[LocalKafka]:
    with own_broker(60, "audit") as broker:
        yield broker


def _claim(n: int) -> dict[str, Any]:
    patient = {
        "memberId": PHI[2],
        "firstName": PHI[0],
        "lastName": PHI[1],
        "dateOfBirth": PHI[3],
        "phone": PHI[4],
    }
    note = f"{PHI[0]} {PHI[1]} did sit-to-stand transfers"
    return base_claim(f"AU-{RUN}-{n}", patient, service_line(chargeAmount="84.00"), note=note)


def _env(kafka: LocalKafka, principal: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CLAIMSCRUB_AUDIT": "true",
        "CLAIMSCRUB_AUDIT_READ_INTERVAL_SECONDS": "1",
        "CLAIMSCRUB_AUDIT_PRINCIPAL": principal,
    }


def _query(kafka: LocalKafka, principal: str, since: str) -> list[dict[str, Any]]:
    run = subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "audit", "query",
         "--principal", principal, "--since", since],
        env=_env(kafka, "auditor"), capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


def _covered(events: list[dict[str, Any]], topic: str) -> dict[int, list[tuple[int, int, int]]]:
    out: dict[int, list[tuple[int, int, int]]] = {}
    for e in events:
        assert e["topic"] == topic and e["outcome"] == "read"
        out.setdefault(e["partition"], []).append((e["firstOffset"], e["lastOffset"], e["records"]))
    return {p: sorted(r) for p, r in out.items()}


def _assert_exactly(ranges: dict[int, list[tuple[int, int, int]]], ends: dict[int, int]) -> None:
    """Every record of each partition, 0..end-1, in exactly one event; the
    offsets are contiguous on this broker (no transactions, no compaction)."""
    assert set(ranges) == {p for p, end in ends.items() if end > 0}
    for p, rs in ranges.items():
        expect = 0
        for first, last, count in rs:
            assert first == expect and count == last - first + 1
            expect = last + 1
        assert expect == ends[p]


def _wait_events(
    kafka: LocalKafka, principal: str, since: str, topic: str, ends: dict[int, int]
) -> list[dict[str, Any]]:
    total = sum(ends.values())
    deadline = time.monotonic() + 90
    while True:
        events = _query(kafka, principal, since)
        if sum(e.get("records", 0) for e in events if e.get("topic") == topic) >= total:
            return events
        assert time.monotonic() < deadline, f"read events of {topic} missing: {events}"
        time.sleep(1)


def _no_phi(kafka: LocalKafka) -> None:
    tail = Tail(kafka.bootstrap, None, [AUDIT_ACCESS.name], client_id="t", from_beginning=True)
    try:
        raw = b"".join(r.key + r.value for r in tail.records(2.0))
    finally:
        tail.close()
    assert raw, "audit.access is empty"
    for value in [*PHI, f"AU-{RUN}-1"]:
        assert value.encode() not in raw


def test_a_service_and_a_cli_reader_record_which_offsets_of_a_phi_topic_they_read(
    own_kafka: LocalKafka, tmp_path: Path
) -> None:
    kafka = own_kafka
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    claims = [_claim(n) for n in range(12)]
    send_claims(kafka, *claims)
    submitted_ends = end_offsets(kafka.bootstrap, CLAIMS_SUBMITTED.name)
    assert sum(submitted_ends.values()) == len(claims)

    # A service on the stream engine.
    service_principal = f"units-{RUN}"
    units = ServiceProcess(
        "units",
        "claimscrub.units.main",
        free_port(),
        free_port(),
        kafka,
        tmp_path / "units",
        {
            "CLAIMSCRUB_AUDIT": "true",
            "CLAIMSCRUB_AUDIT_READ_INTERVAL_SECONDS": "1",
            "CLAIMSCRUB_AUDIT_PRINCIPAL": service_principal,
        },
    )
    units.start()
    try:
        wanted = {c["claimId"].encode() for c in claims}
        tail = Tail(kafka.bootstrap, None, [CLAIMS_CHECKS.name], client_id="t", from_beginning=True)
        try:
            deadline = time.monotonic() + 120
            while wanted and time.monotonic() < deadline:
                wanted -= {r.key for r in tail.records()}
        finally:
            tail.close()
        assert not wanted, "units did not answer every claim"
        # A health check reads nothing: it must write no event.
        with grpc.insecure_channel(f"127.0.0.1:{units.grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
        events = _wait_events(
            kafka, service_principal, since, CLAIMS_SUBMITTED.name, submitted_ends
        )
    finally:
        assert units.terminate() == 0
    # Only reads of claims.submitted: no event for the health check.
    _assert_exactly(_covered(events, CLAIMS_SUBMITTED.name), submitted_ends)
    assert all("method" not in e and e["recordedBy"] == "units" for e in events)

    # A CLI reader of claims.dlq.
    produce(
        kafka.bootstrap,
        CLAIMS_DLQ.name,
        [
            (c["claimId"].encode(), encode_claim_json(c)[0], [("claimscrub-dlq-reason", b"test")])
            for c in claims[:5]
        ],
    )
    dlq_ends = end_offsets(kafka.bootstrap, CLAIMS_DLQ.name)
    cli_principal = f"cli-{RUN}"
    run = subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "dlq", "list", "--limit", "50"],
        env=_env(kafka, cli_principal), capture_output=True, text=True, timeout=120,
        cwd=REPO_ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    cli_events = _wait_events(kafka, cli_principal, since, CLAIMS_DLQ.name, dlq_ends)
    _assert_exactly(_covered(cli_events, CLAIMS_DLQ.name), dlq_ends)
    assert {e["principal"] for e in cli_events} == {cli_principal}

    _no_phi(kafka)

"""Poison records on the real broker: each kind the issue's tester found, and
the undecodable kinds, queued ahead of 50 valid claims on the same partition.

Given the session's pipeline, when the bad records and then the valid claims
arrive on one partition of claims.submitted, then every valid claim gets one
result, each bad record gets a MALFORMED_CLAIM result or a claims.dlq entry
from every check service (contract §1), no service process has died, and no
service's peak resident memory reached 1 GiB.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from claimscrub.core.codec import CONTENT_TYPE, JSON, PROTOBUF, decode_scrub_result
from claimscrub.runtime.kafka_config import producer_config
from claimscrub.runtime.kafka_io import Tail
from claimscrub.runtime.testing import LocalKafka, ServiceProcess
from claimscrub.runtime.topics import CLAIMS_DLQ, CLAIMS_SCRUBBED, CLAIMS_SUBMITTED
from claimscrub.v1 import claim_pb2
from tests.integration.helpers import base_claim, service_line, therapy

pytestmark = pytest.mark.kafka

KEY = b"PZ-SHARED"  # one key: one partition, the valid claims queue behind the poison
CHECK_SERVICES = ("units", "enrollment", "necessity")
GIB = 1 << 30


def _claim(claim_id: str, **changes: Any) -> dict[str, Any]:
    """A claim every check passes (30 minutes, 2 units of 97110, enrolled providers)."""
    patient = {"firstName": "Zebulon", "memberId": f"PZM-{claim_id}"}
    return {**base_claim(claim_id, patient, therapy=therapy()), **changes}


def _lines(n: int) -> list[dict[str, Any]]:
    return [service_line(lineNumber=i) for i in range(1, n + 1)]


def _json(data: Any) -> bytes:
    return json.dumps(data).encode()


def _with_line(claim_id: str, **line: Any) -> dict[str, Any]:
    return _claim(claim_id, serviceLines=[service_line(**line)])


# (name, value, content type, expected: a DLQ reason prefix, or "MALFORMED" for a result)
Poison = tuple[str, bytes, bytes | None, str]


def _poison() -> list[Poison]:
    deep = b'{"claimId": "PZ-DEEP", "note": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    digits = _json(_claim("PZ-DIGITS")).replace(b'"units": 2', b'"units": ' + b"7" * 5000)
    fifty_one = json_format.ParseDict(
        _claim("PZ-LINES", serviceLines=_lines(51)), claim_pb2.Claim()
    ).SerializeToString()
    return [
        ("empty value", b"", None, "empty value"),
        ("not UTF-8", b"{\xff\xfe\xfd}", JSON, "invalid JSON"),
        ("unknown protobuf fields only", b"\x98\x06\x01", PROTOBUF, "no Claim fields"),
        ("51 lines", fifty_one, PROTOBUF, "MALFORMED"),
        ("100,000-deep nesting", deep, JSON, "JSON nested too deep"),
        ("5,000-digit units", digits, JSON, "JSON integer too long"),
        ("units 1099511627776", _json(_with_line("PZ-BIGUNITS", units=2**40)), JSON, "MALFORMED"),
        (
            "DOS 0001-01-01",
            _json(_with_line("PZ-DOS1", dateOfService="0001-01-01")),
            JSON,
            "MALFORMED",
        ),
        (
            "DOS 9999-12-31",
            _json(_with_line("PZ-DOS9", dateOfService="9999-12-31")),
            JSON,
            "MALFORMED",
        ),
    ]


def _compressed_poison() -> list[Poison]:
    """Larger than the topics' message size uncompressed: sent gzip-compressed."""
    five_mb = _claim("PZ-5MB", note="n" * (5 << 20))
    many = _claim("PZ-10000", serviceLines=_lines(10_000))
    return [
        ("5 MB claim", _json(five_mb), JSON, "claim too large"),
        ("10,000 lines", _json(many), JSON, "claim too large"),
    ]


def _send(bootstrap: str, records: list[Poison], **options: Any) -> dict[int, Poison]:
    """Produce on KEY; returns each record by its offset."""
    from confluent_kafka import Producer

    producer = Producer(producer_config(bootstrap, None, acks="all", **options))
    sent: dict[int, Poison] = {}
    failed: list[Any] = []

    def delivered(record: Poison) -> Callable[[Any, Any], None]:
        def done(error: Any, msg: Any) -> None:
            if error is not None:
                failed.append(error)
            else:
                sent[msg.offset()] = record

        return done

    for record in records:
        _, value, ctype, _ = record
        headers = [] if ctype is None else [(CONTENT_TYPE, ctype)]
        producer.produce(
            CLAIMS_SUBMITTED.name, value, KEY, headers=headers, on_delivery=delivered(record)
        )
    assert producer.flush(30) == 0 and not failed, failed
    return sent


def _read(
    bootstrap: str, topic: str, done: Callable[[list[Any]], bool], timeout_s: float
) -> list[Any]:
    """Records of ``topic`` from the start until ``done`` says so (then 2 s more,
    so a duplicate would show) or the timeout."""
    tail = Tail(bootstrap, None, [topic], client_id="test", from_beginning=True)
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            records.extend(tail.records(0.3))
            if settle_until is None and done(records):
                settle_until = time.monotonic() + 2.0
            if settle_until is not None and time.monotonic() >= settle_until:
                break
    finally:
        tail.close()
    return records


def _peak_rss(p: ServiceProcess) -> int:
    assert p.proc is not None
    for line in Path(f"/proc/{p.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_poison_records_never_stop_a_partition(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    poison = _poison()
    compressed = _compressed_poison()
    sent = _send(kafka.bootstrap, poison, linger_ms=5)
    sent |= _send(kafka.bootstrap, compressed, compression_type="gzip", message_max_bytes=64 << 20)
    valid = [f"PZ-OK-{i:02d}" for i in range(50)]
    _send(
        kafka.bootstrap,
        [(cid, _json(_claim(cid)), JSON, "") for cid in valid],
        linger_ms=5,
    )
    malformed = {
        json.loads(value)["claimId"] if ctype == JSON else "PZ-LINES": name
        for name, value, ctype, expect in poison
        if expect == "MALFORMED"
    }
    wanted = set(valid) | set(malformed)

    def all_answered(records: list[Any]) -> bool:
        return wanted <= {r.key.decode() for r in records}

    scrubbed = _read(kafka.bootstrap, CLAIMS_SCRUBBED.name, all_answered, 75)
    results: dict[str, list[Any]] = {}
    for r in scrubbed:
        if r.key.decode() in wanted:
            results.setdefault(r.key.decode(), []).append(decode_scrub_result(r.value))
    assert sorted(results) == sorted(wanted)
    assert all(len(v) == 1 for v in results.values()), "one result per claim"
    for cid in valid:
        assert results[cid][0].status.value == "CLEAN", cid
    for cid, name in malformed.items():
        [result] = results[cid]
        assert result.status.value == "HOLD", name
        assert [e.code for e in result.edits] == ["MALFORMED_CLAIM"], name

    # Each check service dead-letters each undecodable record once, with its reason.
    dead = {o: rec for o, rec in sent.items() if rec[3] != "MALFORMED"}
    expected = {(o, s) for o in dead for s in CHECK_SERVICES}
    # Redaction re-keys each claim onto its repartition topic before its join
    # (docs/redaction.md). A claim beyond that topic's message size cannot be
    # re-keyed, so redaction dead-letters it too, as output too large.
    expected |= {(o, "redaction") for o, rec in dead.items() if rec[3] == "claim too large"}

    def coordinates(r: Any) -> tuple[int, str]:
        h = dict(r.headers)
        source = h["claimscrub-source"].decode()
        return int(source.rsplit("@", 1)[1]), h["claimscrub-service"].decode()

    def all_dead_lettered(records: list[Any]) -> bool:
        return expected <= {coordinates(r) for r in records if r.key == KEY}

    dlq = [
        r for r in _read(kafka.bootstrap, CLAIMS_DLQ.name, all_dead_lettered, 30) if r.key == KEY
    ]
    got = {coordinates(r): r for r in dlq if coordinates(r)[0] in dead}
    assert set(got) == expected
    for (offset, service), r in got.items():
        name, value, _, reason = dead[offset]
        if service == "redaction":
            reason = "output too large"
        headers = dict(r.headers)
        assert headers["claimscrub-reason"].decode().startswith(reason), (name, service)
        if len(value) > 1_000_000:
            assert (
                r.value == b""
                and headers["claimscrub-value-dropped-bytes"] == str(len(value)).encode()
            )
        else:
            assert r.value == value, (name, service)

    for name, p in services.items():
        assert p.proc is not None and p.proc.poll() is None, f"{name} died"
        assert _peak_rss(p) < GIB, name
    # Counted in the DLQ metric, by reason kind.
    units = services["units"]
    page = urllib.request.urlopen(f"http://127.0.0.1:{units.metrics_port}/metrics", timeout=10)
    text = page.read().decode()
    limit = [
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("claimscrub_dlq_total{")
        and 'service="units"' in line
        and 'reason="limit"' in line
    ]
    # Nesting, digits and the two compressed claims at least (other tests may add more).
    assert limit and limit[0] >= 4, limit

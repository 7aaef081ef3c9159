"""claims.ready on the real broker (contract §6): through the whole pipeline,
each claim version whose result is CLEAN (CLEAN or REVIEW with
CLAIMSCRUB_READY_STATUSES=CLEAN,REVIEW) comes out once, its bytes as
submitted; HOLD claims never; a kill -9 of the redaction service neither
doubles nor loses one; the claims' PHI is on no other output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

from claimscrub.core.codec import CONTENT_TYPE, decode_scrub_result, encode_claim_json
from claimscrub.runtime.kafka_io import Tail
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, consume_all, produce
from claimscrub.runtime.topics import (
    CLAIMS_DEIDENTIFIED,
    CLAIMS_DLQ,
    CLAIMS_READY,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
)
from tests.integration.test_pipeline import _claim

pytestmark = pytest.mark.kafka

# The 8-minute rule (domain §1.1): 30 timed minutes support 2 units. Billing
# 2 is CLEAN, 4 is UNITS_EXCEED_TIME (ERROR: HOLD), 1 is UNITS_BELOW_TIME
# (WARNING: REVIEW).
CLEAN, HOLD, REVIEW = (30, 2), (30, 4), (30, 1)
PHI = (b"zebulon", b"quartermaine", b"zq99887766")


def _records(
    prefix: str, base: int, cases: dict[int, tuple[int, int]]
) -> dict[bytes, tuple[bytes, bytes]]:
    out = {}
    for i, (minutes, units) in cases.items():
        # A patient of its own per claim (base + i): none is a DUPLICATE_CLAIM.
        claim = _claim(base + i, minutes, units) | {"claimId": f"{prefix}-{i:05d}"}
        value, ctype = encode_claim_json(claim)
        out[claim["claimId"].encode()] = (value, ctype)
    return out


def _produce(kafka: LocalKafka, records: dict[bytes, tuple[bytes, bytes]]) -> None:
    produce(
        kafka.bootstrap,
        CLAIMS_SUBMITTED.name,
        [(k, v, [(CONTENT_TYPE, ct)]) for k, (v, ct) in records.items()],
    )


def _committed(kafka: LocalKafka, topic: str, settle_s: float = 3.0) -> list[Any]:
    """Every committed record of ``topic`` (as the next stage reads it)."""
    tail = Tail(
        kafka.bootstrap,
        None,
        [topic],
        client_id="test",
        from_beginning=True,
        isolation_level="read_committed",
    )
    try:
        got: list[Any] = []
        last = time.monotonic()
        while time.monotonic() - last < settle_s:
            batch = tail.records(0.3)
            if batch:
                got.extend(batch)
                last = time.monotonic()
        return got
    finally:
        tail.close()


def _ready(kafka: LocalKafka, prefix: bytes, expect: int) -> dict[bytes, list[Any]]:
    """claims.ready's committed records under ``prefix``, once ``expect`` keys
    arrived (then a settle time, so that a second copy would be seen)."""
    deadline = time.monotonic() + 150
    while True:
        by_key: dict[bytes, list[Any]] = {}
        for r in _committed(kafka, CLAIMS_READY.name):
            if r.key.startswith(prefix):
                by_key.setdefault(r.key, []).append(r)
        if len(by_key) >= expect or time.monotonic() > deadline:
            return by_key


def _results(kafka: LocalKafka, prefix: bytes, expect: int) -> dict[str, str]:
    deadline = time.monotonic() + 150
    while True:
        got = consume_all(kafka.bootstrap, CLAIMS_SCRUBBED.name, until=1, settle_s=1)
        statuses = {
            decode_scrub_result(r.value).claim_id: decode_scrub_result(r.value).status.value
            for r in got
            if r.key.startswith(prefix)
        }
        if len(statuses) >= expect or time.monotonic() > deadline:
            return statuses


def _assert_ready_once(
    ready: dict[bytes, list[Any]], records: dict[bytes, tuple[bytes, bytes]], keys: set[bytes]
) -> None:
    assert set(ready) == keys, (sorted(set(ready) - keys), sorted(keys - set(ready)))
    for key in keys:
        assert len(ready[key]) == 1, f"{key!r} came out {len(ready[key])} times"
        (r,) = ready[key]
        value, ctype = records[key]
        assert r.value == value
        assert dict(r.headers)[CONTENT_TYPE] == ctype


def test_clean_claims_come_out_once_as_submitted_and_held_ones_never(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    cases = {i: CLEAN if i % 3 else HOLD for i in range(60)}
    records = _records("RDY", 100_000, cases)
    _produce(kafka, records)
    statuses = _results(kafka, b"RDY-", len(cases))
    assert sorted(statuses.values()).count("CLEAN") == 40, statuses
    clean = {k for k in records if statuses[k.decode()] == "CLEAN"}
    _assert_ready_once(_ready(kafka, b"RDY-", len(clean)), records, clean)

    # The PHI of these claims is on claims.ready (and claims.submitted) only. The
    # shared broker's claims.dlq also holds other tests' undecodable records as
    # received (with the same seeded names, on purpose): only these claims' count.
    blob = b"\x00".join(
        (r.value or b"") + b"".join(v for _, v in r.headers)
        for topic in (CLAIMS_DEIDENTIFIED.name, CLAIMS_DLQ.name, CLAIMS_SCRUBBED.name)
        for r in consume_all(kafka.bootstrap, topic, until=0, settle_s=1, timeout_s=30)
        if topic != CLAIMS_DLQ.name or (r.key or b"").startswith(b"RDY-")
    ).lower()
    assert not [n for n in PHI if n in blob]
    for p in services.values():
        text = p.log_path.read_bytes().lower()
        assert not [n for n in PHI if n in text], p.name


def test_a_kill_9_of_the_redaction_service_neither_doubles_nor_loses_a_ready_claim(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    cases = {i: CLEAN if i % 4 else HOLD for i in range(400)}
    records = _records("KRD", 200_000, cases)
    first = dict(list(records.items())[:200])
    rest = dict(list(records.items())[200:])
    _produce(kafka, first)
    redaction = services["redaction"]
    # Killed while the first half is being joined and published.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        r.key.startswith(b"KRD-") for r in _committed(kafka, CLAIMS_READY.name, settle_s=0.5)
    ):
        pass
    redaction.kill()
    _produce(kafka, rest)
    redaction.start()
    statuses = _results(kafka, b"KRD-", len(cases))
    clean = {k for k in records if statuses.get(k.decode()) == "CLEAN"}
    assert len(clean) == 300
    _assert_ready_once(_ready(kafka, b"KRD-", len(clean)), records, clean)


def test_review_claims_come_out_when_the_ready_statuses_say_so(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    redaction = services["redaction"]
    redaction.terminate()
    review_env = {**redaction.env, "CLAIMSCRUB_READY_STATUSES": "CLEAN,REVIEW"}
    reviewing = ServiceProcess(
        "redaction",
        redaction.module,
        redaction.grpc_port,
        redaction.metrics_port,
        kafka,
        redaction.log_dir,
        review_env,
    )
    reviewing.start()
    try:
        cases = {i: (CLEAN, REVIEW, HOLD)[i % 3] for i in range(30)}
        records = _records("RVW", 300_000, cases)
        _produce(kafka, records)
        statuses = _results(kafka, b"RVW-", len(cases))
        ready = {k for k in records if statuses[k.decode()] in ("CLEAN", "REVIEW")}
        assert len(ready) == 20
        _assert_ready_once(_ready(kafka, b"RVW-", len(ready)), records, ready)
    finally:
        reviewing.terminate()
        redaction.start()


def _ready_cli(kafka: LocalKafka, *claim_ids: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "ready", *claim_ids, "--timeout", "5"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap},
    )


def test_the_ready_command_prints_a_clean_claim_as_submitted_and_fails_for_a_held_one(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    # Patients of their own (600_000 + i): no other test's claim is a duplicate of these.
    records = _records("CLI", 600_000, {0: CLEAN, 1: HOLD})
    _produce(kafka, records)
    statuses = _results(kafka, b"CLI-", len(records))
    assert statuses == {"CLI-00000": "CLEAN", "CLI-00001": "HOLD"}
    _assert_ready_once(_ready(kafka, b"CLI-", 1), records, {b"CLI-00000"})

    clean = _ready_cli(kafka, "CLI-00000")
    assert clean.returncode == 0, clean.stderr
    value, ctype = records[b"CLI-00000"]
    assert f"CLI-00000 ({ctype.decode()}, {len(value)} bytes)" in clean.stdout
    assert value.decode() in clean.stdout

    # A HOLD claim never reaches claims.ready: the command says so by its exit
    # status after its timeout, and still prints the clean one it was asked for.
    both = _ready_cli(kafka, "CLI-00000", "CLI-00001")
    assert both.returncode == 1
    assert "CLI-00000 (" in both.stdout
    assert "CLI-00001" not in both.stdout

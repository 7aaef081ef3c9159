"""runtime.guard: a record whose processing fails goes to claims.dlq and the
loop goes on; outputs beyond the message size are answered in a size that fits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from claimscrub.core.codec import (
    decode_check_result,
    decode_versioned_scrub_result,
    encode_check_result,
    encode_scrub_result,
)
from claimscrub.core.edits import CheckName, edit
from claimscrub.core.results import CheckResult, ScrubResult, Status
from claimscrub.runtime import metrics
from claimscrub.runtime.guard import DROPPED_HEADER, Outgoing, RecordGuard, Source
from claimscrub.runtime.topics import (
    CLAIMS_CHECKS,
    CLAIMS_DEIDENTIFIED,
    CLAIMS_DLQ,
    CLAIMS_SCRUBBED,
)

SRC = Source("claims.submitted", 3, 41, b"G-1", b"claim bytes")
LIMIT = 4096


def _guard() -> RecordGuard:
    guard = RecordGuard("units", LIMIT)
    guard._m = metrics.ServiceMetrics(CollectorRegistry())
    return guard


def _dlq_count(guard: RecordGuard, kind: str) -> float:
    return float(guard._m.dlq.labels("units", kind)._value.get())


def _headers(out: Outgoing) -> dict[str, bytes]:
    return dict(out.headers)


def test_a_failing_step_dead_letters_the_record_with_its_exception_class() -> None:
    guard = _guard()

    def step() -> list[Outgoing]:
        raise ZeroDivisionError("Ada Lovelace 1950-03-02")

    [out] = guard.run_sync(SRC, step)
    assert (out.topic, out.key, out.value) == (CLAIMS_DLQ.name, b"G-1", b"claim bytes")
    headers = _headers(out)
    assert headers["claimscrub-reason"] == b"ZeroDivisionError"
    assert headers["claimscrub-source"] == b"claims.submitted/3@41"
    assert b"Ada" not in b"".join(headers.values())
    assert _dlq_count(guard, "processing_error") == 1


def test_a_step_that_succeeds_keeps_its_outputs() -> None:
    out = Outgoing(CLAIMS_CHECKS.name, b"G-1", b"v")

    def step() -> list[Outgoing]:
        return [out]

    assert _guard().run_sync(SRC, step) == [out]


def test_the_engine_s_plain_steps_are_guarded_alike() -> None:
    guard = _guard()
    out = Outgoing(CLAIMS_CHECKS.name, b"G-1", b"v")

    def failing() -> list[Outgoing]:
        raise KeyError("G-1")

    assert guard.run_sync(SRC, lambda: [out]) == [out]
    [dead] = guard.run_sync(SRC, failing)
    assert (dead.topic, dead.value) == (CLAIMS_DLQ.name, b"claim bytes")
    assert _headers(dead)["claimscrub-reason"] == b"KeyError"
    assert _dlq_count(guard, "processing_error") == 1


def test_an_oversized_check_result_becomes_malformed_claim() -> None:
    result = CheckResult(
        "G-1",
        CheckName.UNITS,
        tuple(edit("UNITS_EXCEED_TIME", 1, "x" * 100) for _ in range(100)),
        producer="units@test",
    )
    big = Outgoing(CLAIMS_CHECKS.name, b"G-1", encode_check_result(result))
    assert big.size() > LIMIT
    fitted = _guard().fit(big, SRC)
    assert fitted.topic == CLAIMS_CHECKS.name and fitted.size() <= LIMIT
    answer = decode_check_result(fitted.value)
    assert (answer.claim_id, answer.check, answer.producer) == (
        "G-1",
        CheckName.UNITS,
        "units@test",
    )
    assert [e.code for e in answer.edits] == ["MALFORMED_CLAIM"]
    assert str(LIMIT) in answer.edits[0].message


def test_an_oversized_scrub_result_becomes_a_malformed_hold() -> None:
    result = ScrubResult(
        "G-1",
        Status.REVIEW,
        ("UNITS",),
        tuple(edit("UNITS_BELOW_TIME", 1, "y" * 100) for _ in range(100)),
    )
    big = Outgoing(CLAIMS_SCRUBBED.name, b"G-1", encode_scrub_result(result, "v1"))
    fitted = _guard().fit(big, SRC)
    answer, version = decode_versioned_scrub_result(fitted.value)
    assert (answer.status, version) == (Status.HOLD, "v1")
    assert [e.code for e in answer.edits] == ["MALFORMED_CLAIM"]


def test_an_oversized_deidentified_record_dead_letters_its_input() -> None:
    guard = _guard()
    fitted = guard.fit(Outgoing(CLAIMS_DEIDENTIFIED.name, b"t", b"z" * LIMIT), SRC)
    assert (fitted.topic, fitted.value) == (CLAIMS_DLQ.name, b"claim bytes")
    assert _headers(fitted)["claimscrub-reason"] == b"output too large"
    assert _dlq_count(guard, "limit") == 1


def test_a_dead_letter_too_large_to_keep_keeps_its_reason_not_its_value() -> None:
    src = Source("claims.submitted", 0, 7, b"G-2", b"q" * (LIMIT * 2))
    guard = _guard()
    fitted = guard.fit(guard.dead_letter(src, "claim too large"), src)
    assert (fitted.topic, fitted.key, fitted.value) == (CLAIMS_DLQ.name, b"G-2", b"")
    headers = _headers(fitted)
    assert headers["claimscrub-reason"] == b"claim too large"
    assert headers[DROPPED_HEADER] == str(LIMIT * 2).encode()
    assert _dlq_count(guard, "limit") == 1


def test_scrub_on_deeply_nested_json_exits_2_with_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"claimId": "D-1", "note": ' + "[" * 100_000 + "]" * 100_000 + "}")
    done = subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "scrub", str(deep)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "nested too deep" in done.stderr and "Traceback" not in done.stderr

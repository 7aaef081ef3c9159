"""Every output outside the clinical channel is free of PHI, proved by seeding
distinctive PHI and searching the output: log lines (the redaction library is
the log processor of every service), edit messages (written from codes and
numbers only) and dead-letter reasons."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import logging
from typing import Any

import pytest

from claimscrub.cli.scrub import Scrubber
from claimscrub.core.codec import JSON, UndecodableEvent, decode_claim
from claimscrub.runtime import logs
from claimscrub.runtime.guard import dlq_headers
from claimscrub.runtime.testing import REPO_ROOT
from claimscrub.units.check import load_units_check

SEEDS = {
    "firstName": "Zebulon",
    "lastName": "Quartermaine",
    "memberId": "ZQ99887766",
    "mrn": "MRN-55443322",
    "ssn": "078-05-1120",
    "phone": "516-555-0177",
    "email": "zebulon.q@example.org",
}
BIRTH = "1931-07-19"
DOS = "2026-02-17"


def _needles() -> list[str]:
    return [*SEEDS.values(), BIRTH, "07/19/1931", "Elmwood", DOS, "02/17/2026", "Fernhollow"]


def seeded_claims() -> list[Any]:
    base = json.loads((REPO_ROOT / "examples/claims.json").read_text())
    out: list[Any] = []
    for i, claim in enumerate(base):
        c = copy.deepcopy(claim)
        c["patient"] = {
            **c.get("patient", {}),
            **SEEDS,
            "birthDate": BIRTH,
            "address": {"line1": "7 Elmwood Lane", "city": "Fernhollow", "zip": "04619"},
        }
        for line in c["serviceLines"]:
            line["dateOfService"] = DOS
        c["note"] = f"Zebulon Quartermaine (DOB 07/19/1931) seen 02/17/2026. {c.get('note', '')}"
        c["claimId"] = f"PHI-{i}"
        out.append(c)
    # PHI where values are invalid, so it would surface in MALFORMED_CLAIM if echoed.
    bad = copy.deepcopy(out[0])
    bad["claimId"] = "PHI-BAD"
    bad["serviceLines"][0].update(
        units="Zebulon", minutes="Quartermaine", procedureCode="ZQ99887766", dateOfService="Fern"
    )
    bad["patient"]["birthDate"] = "07/19/1931"
    bad["submissionDate"] = "Quartermaine"
    bad["payerId"] = {"name": "Zebulon"}
    return [*out, bad, "Zebulon Quartermaine ZQ99887766"]


def _assert_clean(text: str, where: str) -> None:
    lowered = text.lower()
    for needle in _needles():
        assert needle.lower() not in lowered, f"{where} carries {needle!r}"


def test_edit_messages_carry_no_phi() -> None:
    scrubber = Scrubber([load_units_check(None, None)], dt.date(2026, 6, 1))
    results = list(scrubber.scrub_all(seeded_claims()))
    assert any(e.code == "MALFORMED_CLAIM" for r in results for e in r.edits)
    assert sum(len(r.edits) for r in results) >= 10
    _assert_clean(json.dumps([r.to_json() for r in results]), "edit messages")


@pytest.mark.parametrize(
    "value",
    [
        b'{"claimId": "X", "patient": {"firstName": "Zebulon", "lastName": "Quartermaine"',
        "Zebulon Quartermaine 078-05-1120".encode("utf-16"),
        b"\xffZQ99887766\x00Zebulon",
    ],
)
def test_dead_letter_reasons_carry_no_phi(value: bytes) -> None:
    with pytest.raises(UndecodableEvent) as err:
        decode_claim(value, content_type=JSON if value.startswith(b"{") else None)
    reason = str(err.value)
    headers = dlq_headers("units", reason, "claims.submitted", 3, 42)
    _assert_clean(reason + repr(headers), "DLQ reason")


@pytest.fixture
def log_stream() -> io.StringIO:
    stream = io.StringIO()
    # Every line, repeated or not: these tests are about what a line carries.
    logs.configure("test", "INFO", "json", stream, repeat_window_s=0)
    return stream


def test_log_lines_carry_no_phi_whatever_a_caller_passes(log_stream: io.StringIO) -> None:
    # Free text in a log line has no claim to say whose name is whose, so the
    # names here are ones the Census lists know; a rare name with no context
    # ("Zebulon") is only stopped by phi_guard's withheld keys, which is why
    # services log codes and counts, never claim fields.
    log = logs.get_logger("claimscrub.test")
    log.info("claim_seen", claim=seeded_claims()[0], note="Zebulon Quartermaine")
    log.warning(f"could not parse member ZQ99887766 for Maria Gonzalez, DOB {BIRTH}")
    log.info("lookup", detail="call 516-555-0177 or zebulon.q@example.org", extra=[DOS, "ok"])
    try:
        raise KeyError(f"Mr. Quartermaine seen {DOS} at 7 Elmwood Lane, Fernhollow, ME 04619")
    except KeyError:
        log.exception("failed")
    logging.getLogger("quixstreams.kafka.consumer").warning(
        "record for Robert Hughes %s", "078-05-1120"
    )
    text = log_stream.getvalue()
    assert len(text.splitlines()) == 5
    _assert_clean(text, "log")
    for name in ("Maria", "Gonzalez", "Robert", "Hughes"):
        assert name not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["claim"] == "[withheld]"
    assert "[NAME]" in lines[1]["event"] and "[MEMBER_ID]" in lines[1]["event"]
    assert "KeyError" in lines[3]["exception"]


# Class names as confluent-kafka, Quix Streams, grpc and our own code put them in messages.
LIBRARY_CLASSES = (
    "KafkaException",
    "RowConsumer",
    "KafkaConnectionError",
    "GroupCoordinator",
    "ConsumerRebalanceListener",
    "RequestTimedOutError",
    "OffsetAndMetadata",
    "AioRpcError",
    "HTTPError",
    "RocksDB",
)
# Names written run together: each has a hump that is only a name.
RUN_TOGETHER_NAMES = (
    "McDonald",
    "MacArthur",
    "DeShawn",
    "LaToya",
    "DiMaggio",
    "DeLaCruz",
    "JohnSmith",
)


def test_log_lines_keep_library_class_names(log_stream: io.StringIO) -> None:
    for cls in LIBRARY_CLASSES:
        # Mid-sentence: a capitalised word opening a sentence is not taken for a name.
        logging.getLogger("quixstreams.kafka.consumer").warning(
            "node 1 is unreachable from %s, retrying", cls
        )
    try:
        raise ConnectionError("the RowConsumer lost its connection for Maria Gonzalez")
    except ConnectionError:
        logs.get_logger("claimscrub.test").exception("fetch_failed")
    text = log_stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == len(LIBRARY_CLASSES) + 1
    for cls, line in zip(LIBRARY_CLASSES, lines, strict=False):
        assert line["event"] == f"node 1 is unreachable from {cls}, retrying"
    # The class name stays beside a name, which still goes.
    assert "the RowConsumer lost its connection for [NAME]" in lines[-1]["exception"]
    assert "Maria" not in text and "Gonzalez" not in text


def test_log_lines_still_drop_run_together_names(log_stream: io.StringIO) -> None:
    log = logs.get_logger("claimscrub.test")
    for name in RUN_TOGETHER_NAMES:
        log.warning(f"lookup failed for {name} today")
        log.warning(f"Mr. AmberMass called about {name}")
    text = log_stream.getvalue()
    for name in (*RUN_TOGETHER_NAMES, "AmberMass"):
        assert name not in text
    assert text.count("[NAME]") == 3 * len(RUN_TOGETHER_NAMES)


def test_log_redaction_keeps_operational_values(log_stream: io.StringIO) -> None:
    log = logs.get_logger("claimscrub.test")
    log.info(
        "service_starting",
        kafka="10.1.2.3:9092",
        grpc_port=50054,
        instance="redaction@host-1",
        topic="claims.submitted",
        codes=["97530", "M62.81"],
        minutes=30,
    )
    line = json.loads(log_stream.getvalue())
    assert line["kafka"] == "10.1.2.3:9092"
    assert line["topic"] == "claims.submitted"
    assert line["codes"] == ["97530", "M62.81"] and line["minutes"] == 30
    assert line["event"] == "service_starting"

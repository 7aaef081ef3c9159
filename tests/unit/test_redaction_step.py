"""The redaction service's step (redaction.topology): one record of either
input with its claimId's state -> claims.deidentified and claims.ready."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from quixstreams.models.topics import TopicConfig

from claimscrub.core.codec import CONTENT_TYPE, encode_claim_json, encode_scrub_result
from claimscrub.core.results import ScrubResult, Status
from claimscrub.redaction.config import RedactionConfig
from claimscrub.redaction.deidentify import Deidentifier, to_json
from claimscrub.redaction.topology import RedactionStep, topology
from claimscrub.runtime.engine import Record, make_application
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import (
    ALL_TOPICS,
    CLAIMS_DEIDENTIFIED,
    CLAIMS_READY,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
    REDACTION_BY_CLAIM,
    REDACTION_JOIN_CHANGELOG,
)
from claimscrub.v1 import redaction_service_pb2
from claimscrub.x12.one_claim import ONE_CLAIM_HEADER, X12_CONTENT_TYPE

DEID = Deidentifier(RedactionConfig())
CLAIM: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "examples/claims.json").read_text()
)[0]


class DictState:
    """A claimId's Quix state, as the step uses it (get/set)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        # Quix stores JSON: what comes back is a copy, never the written object.
        return json.loads(json.dumps(self.data[key])) if key in self.data else default

    def set(self, key: str, value: Any) -> None:
        self.data[key] = json.loads(json.dumps(value))


def _step(tmp_path: Path, statuses: frozenset[str] = frozenset({"CLEAN"})) -> RedactionStep:
    env = {"CLAIMSCRUB_DATA_DIR": str(tmp_path)}
    settings = Settings.from_env("redaction", grpc_port=0, metrics_port=0, env=env)
    return RedactionStep(settings, DEID, statuses, b"version-key")


def _claim_record(extra: list[tuple[str, bytes]] | None = None) -> Record:
    value, ctype = encode_claim_json(CLAIM)
    headers = [(CONTENT_TYPE, ctype), *(extra or [])]
    return Record(CLAIM["claimId"].encode(), value, headers, CLAIMS_SUBMITTED.name, 3, 0, 0)


def _result_record(step: RedactionStep, state: DictState, status: Status) -> Record:
    # The version the checks stamp on their verdicts: the step's own for this claim.
    version = state.data["ready"]["claims"] and next(iter(state.data["ready"]["claims"]))
    result = ScrubResult(CLAIM["claimId"], status, ("UNITS",))
    value = encode_scrub_result(result, version)
    return Record(CLAIM["claimId"].encode(), value, [], CLAIMS_SCRUBBED.name, 3, 0, 0)


def test_a_clean_claim_gives_its_deidentified_record_and_its_bytes_on_claims_ready(
    tmp_path: Path,
) -> None:
    step, state = _step(tmp_path), DictState()
    claim = _claim_record()
    assert step(claim, state) == []  # type: ignore[arg-type]
    outs = step(_result_record(step, state, Status.CLEAN), state)  # type: ignore[arg-type]
    by_topic = {o.topic: o for o in outs}
    assert set(by_topic) == {CLAIMS_DEIDENTIFIED.name, CLAIMS_READY.name}
    deid = by_topic[CLAIMS_DEIDENTIFIED.name]
    assert deid.key == DEID.claim_token(CLAIM["claimId"]).encode()
    record = redaction_service_pb2.DeidentifiedClaim()
    record.ParseFromString(deid.value)
    assert {k: v for k, v in to_json(record).items() if k != "result"} == to_json(
        DEID.deidentify(CLAIM)
    )
    ready = by_topic[CLAIMS_READY.name]
    assert ready.key == CLAIM["claimId"].encode()
    assert ready.value == claim.value
    assert (CONTENT_TYPE, claim.header(CONTENT_TYPE)) in ready.headers
    # Redelivered, either side: nothing more.
    assert step(claim, state) == []  # type: ignore[arg-type]
    assert state.data["ready"]["claims"] == {}


def test_a_held_claim_gives_its_deidentified_record_only_and_is_not_kept(tmp_path: Path) -> None:
    step, state = _step(tmp_path), DictState()
    step(_claim_record(), state)  # type: ignore[arg-type]
    outs = step(_result_record(step, state, Status.HOLD), state)  # type: ignore[arg-type]
    assert [o.topic for o in outs] == [CLAIMS_DEIDENTIFIED.name]
    assert state.data["ready"]["claims"] == {}


def test_an_837p_claim_is_ready_as_the_one_claim_interchange_the_intake_sent(
    tmp_path: Path,
) -> None:
    step, state = _step(tmp_path), DictState()
    interchange = b"ISA*00*...~"  # carried through untouched
    step(_claim_record([(ONE_CLAIM_HEADER, interchange)]), state)  # type: ignore[arg-type]
    outs = step(_result_record(step, state, Status.CLEAN), state)  # type: ignore[arg-type]
    (ready,) = [o for o in outs if o.topic == CLAIMS_READY.name]
    assert ready.value == interchange
    assert (CONTENT_TYPE, X12_CONTENT_TYPE) in ready.headers
    assert all(name != ONE_CLAIM_HEADER for name, _ in ready.headers)


def test_undecodable_claims_and_results_are_skipped(tmp_path: Path) -> None:
    step, state = _step(tmp_path), DictState()
    garbage = Record(b"K", b"\xff\xfe", [], CLAIMS_SUBMITTED.name, 0, 0, 0)
    assert step(garbage, state) == []  # type: ignore[arg-type]
    bad = Record(b"K", b"\xff\xfe", [], CLAIMS_SCRUBBED.name, 0, 0, 0)
    assert step(bad, state) == []  # type: ignore[arg-type]
    assert state.data == {}


def test_the_topology_reads_claims_through_its_declared_repartition_topic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Claims reach the join through the engine's own repartition topic (placed
    # by murmur2 of the claimId, like claims.scrubbed), never straight from
    # claims.submitted, whose producers may place keys by any partitioner.
    env = {"CLAIMSCRUB_DATA_DIR": str(tmp_path)}
    settings = Settings.from_env("redaction", grpc_port=0, metrics_port=0, env=env)
    app = make_application(settings, processing_guarantee="exactly-once")
    declared = {t.name for t in ALL_TOPICS}
    asked: list[str] = []

    def inspect(names: list[str], timeout: float = 30) -> dict[str, TopicConfig | None]:
        # The broker as `topics create` leaves it: every declared topic, nothing else.
        asked.extend(names)
        return {
            n: TopicConfig(6, 1, {"retention.ms": "604800000"}) if n in declared else None
            for n in names
        }

    monkeypatch.setattr(app._topic_manager._admin, "inspect_topics", inspect)
    topology(app, settings, DEID, frozenset({"CLEAN"}))
    manager = app._topic_manager
    assert set(manager.repartition_topics) == {REDACTION_BY_CLAIM.name}
    assert [t.name for t in manager.changelog_topics_list] == [REDACTION_JOIN_CHANGELOG.name]
    assert set(asked) <= declared
    assert REDACTION_BY_CLAIM.clinical and REDACTION_JOIN_CHANGELOG.clinical


def test_a_claim_read_from_the_repartition_topic_is_joined_as_a_claim(tmp_path: Path) -> None:
    step, state = _step(tmp_path), DictState()
    claim = _claim_record()
    repartitioned = Record(claim.key, claim.value, claim.headers, REDACTION_BY_CLAIM.name, 1, 0, 0)
    out = step(repartitioned, state)  # type: ignore[arg-type]
    assert [o.topic for o in out] == []  # half a join, waiting for its result
    assert set(state.data) == {"join", "ready"}
    out = step(_result_record(step, state, Status.CLEAN), state)  # type: ignore[arg-type]
    assert sorted(o.topic for o in out) == [CLAIMS_DEIDENTIFIED.name, CLAIMS_READY.name]

"""The redaction join on the batched transport: one record per claim, in
either order, with the per-partition state the changelog carries."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

from claimscrub.core.codec import CONTENT_TYPE, encode_claim_json, encode_scrub_result
from claimscrub.core.results import ScrubResult, Status
from claimscrub.redaction.agent import RedactionJoin
from claimscrub.redaction.config import RedactionConfig
from claimscrub.redaction.deidentify import Deidentifier, to_json
from claimscrub.runtime.batch_table import InRecord, PartitionState
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_DEIDENTIFIED, CLAIMS_SCRUBBED, CLAIMS_SUBMITTED
from claimscrub.v1 import redaction_service_pb2

DEID = Deidentifier(RedactionConfig())
CLAIM: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "examples/claims.json").read_text()
)[0]


def handle(join: RedactionJoin, record: InRecord, table: PartitionState) -> list[Any]:
    return asyncio.run(join.handle(record, table))


def _join(tmp_path: Path) -> RedactionJoin:
    env = {"CLAIMSCRUB_DATA_DIR": str(tmp_path)}
    return RedactionJoin(Settings.from_env("redaction", grpc_port=0, metrics_port=0, env=env), DEID)


def _claim_record(offset: int = 0) -> InRecord:
    value, ctype = encode_claim_json(CLAIM)
    return InRecord(
        CLAIMS_SUBMITTED.name,
        3,
        offset,
        CLAIM["claimId"].encode(),
        value,
        ((CONTENT_TYPE, ctype),),
        0,
        dt.date(2026, 6, 1),
    )


def _result_record(offset: int = 0) -> InRecord:
    result = ScrubResult(CLAIM["claimId"], Status.CLEAN, ("UNITS",))
    return InRecord(
        CLAIMS_SCRUBBED.name,
        3,
        offset,
        CLAIM["claimId"].encode(),
        encode_scrub_result(result),
        (),
        0,
        dt.date(2026, 6, 1),
    )


def test_the_second_side_publishes_the_record_in_either_order(tmp_path: Path) -> None:
    join = _join(tmp_path)
    for first, second in ((_claim_record, _result_record), (_result_record, _claim_record)):
        table = PartitionState(3)
        assert handle(join, first(), table) == []
        (out,) = handle(join, second(), table)
        assert out.topic == CLAIMS_DEIDENTIFIED.name
        assert out.key == DEID.claim_token(CLAIM["claimId"]).encode()
        record = redaction_service_pb2.DeidentifiedClaim()
        record.ParseFromString(out.value)
        assert {k: v for k, v in to_json(record).items() if k != "result"} == to_json(
            DEID.deidentify(CLAIM)
        )
        assert record.result.status == "CLEAN"


def test_repeats_after_publishing_publish_and_write_nothing(tmp_path: Path) -> None:
    join = _join(tmp_path)
    table = PartitionState(3)
    handle(join, _claim_record(), table)
    handle(join, _result_record(), table)
    table.take_changes()  # the batch's changelog went out
    assert handle(join, _claim_record(1), table) == []
    assert handle(join, _result_record(1), table) == []
    assert table.dirty == {}


def test_state_read_back_from_the_changelog_completes_the_join(tmp_path: Path) -> None:
    """What the batch wrote to the changelog, applied to a fresh partition
    state (a restarted instance), holds the half join."""
    join = _join(tmp_path)
    before = PartitionState(3)
    handle(join, _result_record(), before)
    restored = PartitionState(3)
    for key, value in before.dirty.items():
        restored.apply_changelog(key, json.dumps(value).encode())
    (out,) = handle(join, _claim_record(), restored)
    assert out.topic == CLAIMS_DEIDENTIFIED.name


def test_a_deleted_key_is_a_tombstone_and_reads_back_as_absent() -> None:
    table = PartitionState(0)
    table[b"k"] = {"a": 1}
    del table[b"k"]
    assert table.get(b"k") is None
    restored = PartitionState(0)
    restored.apply_changelog(b"k", b'{"a": 1}')
    restored.apply_changelog(b"k", None)
    assert restored.get(b"k") is None


def test_partition_state_reads_its_writes_and_stores_what_the_changelog_carries() -> None:
    table = PartitionState(1)
    table[b"a"] = {"n": 1}
    table[b"b"] = {"n": 2}
    assert table.get(b"a") == {"n": 1} and len(table) == 2
    changes = dict(table.take_changes())
    assert json.loads(changes[b"a"] or b"") == {"n": 1}
    assert table.dirty == {} and table.get(b"b") == {"n": 2}
    read = table.get(b"a")
    read["n"] = 99  # a value read and changed is not stored until written back
    assert table.get(b"a") == {"n": 1}
    del table[b"a"]
    assert table.get(b"a") is None and table.snapshot_keys() == [b"b"]
    assert table.take_changes() == [(b"a", None)]
    assert len(table) == 1

"""A version's chunks on reference.tables assembled and unpacked by the services
that use its kind only, a file at a time (docs/reference-data.md, docs/performance.md)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest

from claimscrub.core.versions import MUE, PAYERS, PTP
from claimscrub.reference import follower
from claimscrub.reference.follower import ReferenceState
from claimscrub.reference.kinds import read_payload, read_version
from claimscrub.reference.wire import (
    CHUNK_BYTES,
    Payload,
    TableAssembler,
    TableVersion,
    WireError,
    decode_manifest,
    encode_table_version,
)
from claimscrub.runtime.topics import REFERENCE_TABLES

PTP_SAMPLE = Path(__file__).parents[2] / "services" / "necessity" / "data" / "ptp_sample.csv"
MUE_FILE = (
    b"HCPCS/CPT Code,Practitioner Services MUE Values,MUE Adjudication Indicator,MUE Rationale\n"
    b"97110,4,1 Line Edit,Clinical: Data\n"
)


def _noise(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return rng.randbytes(n)  # incompressible: several chunks and inflate blocks


def _ptp_version() -> TableVersion:
    return TableVersion(
        PTP, "2026-10-01.test", dt.date(2026, 10, 1), (("ptp.csv", PTP_SAMPLE.read_bytes()),)
    )


def _records(v: TableVersion) -> list[tuple[bytes, bytes]]:
    return encode_table_version(v)


def test_an_assembler_holds_no_chunk_of_a_kind_it_does_not_follow() -> None:
    noise = TableVersion(PTP, "v1", None, (("ptp.csv", _noise(2 * CHUNK_BYTES, 3)),))
    chunks = _records(noise)[:-1]
    assert len(chunks) == 3
    following_all = TableAssembler()
    following_mue = TableAssembler([MUE])
    for key, value in chunks:
        assert following_mue.apply(key, value) is None
        following_all.apply(key, value)
    assert following_mue.held_bytes() == 0
    assert following_all.held_bytes() == sum(len(v) for _, v in chunks)


def test_a_service_following_reference_tables_never_builds_a_kind_it_does_not_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read: list[str] = []

    def recording(p: Payload) -> Any:
        read.append(p.kind)
        return read_payload(p)

    monkeypatch.setattr(follower, "read_payload", recording)
    records = _records(_ptp_version()) + _records(
        TableVersion(MUE, "2026-10-01.mue", dt.date(2026, 10, 1), (("mue.csv", MUE_FILE),))
    )
    units = ReferenceState([PAYERS, MUE])  # the units service's kinds
    necessity = ReferenceState([PAYERS, PTP])
    ptp_chunks = _records(_ptp_version())[:-1]
    for key, value in ptp_chunks:
        units.apply(REFERENCE_TABLES.name, key, value)
        necessity.apply(REFERENCE_TABLES.name, key, value)
    assert units.held_bytes() == 0  # passed over on their keys
    assert necessity.held_bytes() == sum(len(v) for _, v in ptp_chunks)
    changed = {
        "units": [units.apply(REFERENCE_TABLES.name, k, v) for k, v in records],
        "necessity": [necessity.apply(REFERENCE_TABLES.name, k, v) for k, v in records],
    }
    assert read == [MUE, PTP]  # each kind built once, by the service that uses it
    assert changed["units"].count(True) == 1 and changed["necessity"].count(True) == 1
    assert set(units.snapshot().tables) == {MUE}
    assert set(necessity.snapshot().tables) == {PTP}


def test_a_payload_unpacks_to_its_files_byte_for_byte_in_memory_and_on_disk(
    tmp_path: Path,
) -> None:
    # Files that end inside an inflate block and one that spans several blocks.
    files = (
        ("a/one.txt", _noise(3 * CHUNK_BYTES + 17, 1)),
        ("two.txt", b""),
        ("b/one.txt", _noise(2 * 1024 * 1024 + 5, 2)),
        ("three.txt", b"x" * 4_000_000),
    )
    version = TableVersion(PTP, "v1", None, files, "2026-12-01T00:00:00+00:00")
    assembler = TableAssembler()
    whole = [assembler.apply(k, v) for k, v in _records(version)][-1]
    assert isinstance(whole, Payload)
    assert whole.unpack() == version
    paths = whole.unpack_to(tmp_path)
    assert [p.name for p in paths] == ["one.txt", "two.txt", "one.txt", "three.txt"]
    assert [p.read_bytes() for p in paths] == [raw for _, raw in files]


@pytest.mark.parametrize(("delta", "message"), [(1, "shorter"), (-1, "longer")])
def test_a_payload_that_disagrees_with_its_manifests_sizes_is_refused(
    delta: int, message: str
) -> None:
    records = _records(TableVersion(MUE, "v1", None, (("mue.csv", MUE_FILE),)))
    manifest = decode_manifest(records[-1][1])
    wrong = dataclasses.replace(manifest, files=(("mue.csv", len(MUE_FILE) + delta),))
    with pytest.raises(WireError, match=message):
        Payload(wrong, tuple(v for _, v in records[:-1])).unpack()


def test_a_payload_that_is_not_gzip_is_refused() -> None:
    records = _records(TableVersion(MUE, "v1", None, (("mue.csv", MUE_FILE),)))
    manifest = decode_manifest(records[-1][1])
    with pytest.raises(WireError, match="not gzip"):
        Payload(manifest, (MUE_FILE,)).unpack()


def test_a_ptp_payload_reads_as_the_loader_reads_its_files() -> None:
    version = _ptp_version()
    assembler = TableAssembler()
    whole = [assembler.apply(k, v) for k, v in _records(version)][-1]
    assert isinstance(whole, Payload)
    from_topic, from_files = read_payload(whole), read_version(version)
    assert from_topic.version_id == from_files.version_id == "2026-10-01.test"
    assert len(from_topic.table) == len(from_files.table) > 0
    assert from_topic.table.codes == from_files.table.codes

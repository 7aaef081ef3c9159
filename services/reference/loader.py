"""``claimscrub reference load | list | withdraw``: publish, show and withdraw versions.

``load KIND FILE... [--effective DATE] [--version LABEL]`` reads every file
with the loader of the kind's CLI flag and publishes only when the whole
version is valid: a bad file is refused with one line naming the file, the
row or record and the field, and nothing is written, so the version in force
stays. Payer policies merge with the payer's published versions (one with the
same ``effectiveDate`` is replaced); a table version goes out in chunks with
its manifest last (reference.wire).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimscrub.core.codec import CONTENT_TYPE
from claimscrub.core.payers import PayerPolicies, ReferenceDataError, read_json_records
from claimscrub.core.versions import KINDS, PAYERS, TABLE_KINDS
from claimscrub.reference.follower import end_offsets
from claimscrub.reference.kinds import (
    merge_payer_versions,
    new_version_id,
    read_version,
    with_effective,
)
from claimscrub.reference.wire import (
    VERSION_RE,
    Manifest,
    TableVersion,
    WireError,
    decode_manifest,
    decode_payer,
    encode_payer,
    encode_table_version,
    parse_table_key,
    withdrawal_records,
)
from claimscrub.runtime.kafka_config import LIBRDKAFKA_LOG, KafkaSecurity
from claimscrub.runtime.kafka_io import produce_all
from claimscrub.runtime.topics import REFERENCE_PAYERS, REFERENCE_TABLES

_JSON = b"application/json"
_CHUNK = b"application/gzip"


class BrokerError(Exception):
    """The broker could not be reached, lacks the topics, or refused the records."""


@dataclass(frozen=True, slots=True)
class Published:
    """What the topics hold: table manifests and each payer's raw versions."""

    manifests: dict[tuple[str, str], Manifest]
    payers: dict[str, list[Any]]


def _config(bootstrap: str, security: KafkaSecurity | None) -> dict[str, Any]:
    sec = security or KafkaSecurity.from_env()
    return {"bootstrap.servers": bootstrap, "logger": LIBRDKAFKA_LOG, **sec.librdkafka_config()}


def read_published(
    bootstrap: str, *, security: KafkaSecurity | None = None, timeout_s: float = 30.0
) -> Published:
    """Every manifest and payer record the topics hold now (chunks are skipped)."""
    from confluent_kafka import (
        OFFSET_BEGINNING,
        Consumer,
        KafkaError,
        KafkaException,
        TopicPartition,
    )

    consumer = Consumer(
        {
            **_config(bootstrap, security),
            "group.id": "claimscrub-reference-loader-unused",
            "enable.auto.commit": False,
            "client.id": "claimscrub-reference-loader",
        }
    )
    manifests: dict[tuple[str, str], Manifest] = {}
    payers: dict[str, list[Any]] = {}
    try:
        metadata = consumer.list_topics(timeout=timeout_s)
        for t in (REFERENCE_PAYERS.name, REFERENCE_TABLES.name):
            if t not in metadata.topics:
                raise BrokerError(f"topic {t} does not exist (run make up)")
        partitions = [
            (t, p)
            for t in (REFERENCE_PAYERS.name, REFERENCE_TABLES.name)
            for p in sorted(metadata.topics[t].partitions)
        ]
        ends = end_offsets(consumer, partitions)
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                raise BrokerError(f"reading the reference topics at {bootstrap} timed out")
            for msg in consumer.consume(num_messages=500, timeout=0.2):
                if (error := msg.error()) is not None:
                    # assign() only, nothing committed: the group librdkafka looks
                    # up is never used, so a principal not granted it reads on.
                    if error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED:
                        continue
                    raise BrokerError(f"cannot read the reference topics: {error.name()}")
                at = (msg.topic(), msg.partition())
                if at in ends and msg.offset() + 1 >= ends[at]:
                    del ends[at]
                _collect(msg.topic(), msg.key(), msg.value(), manifests, payers)
    except KafkaException as exc:
        raise BrokerError(f"cannot read from {bootstrap}: {exc.args[0].name()}") from None
    finally:
        consumer.close()
    return Published(manifests, payers)


def _collect(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    manifests: dict[tuple[str, str], Manifest],
    payers: dict[str, list[Any]],
) -> None:
    try:
        if topic == REFERENCE_PAYERS.name:
            payer = (key or b"").decode("utf-8", "replace").strip().upper()
            if value is None:
                payers.pop(payer, None)
            else:
                payers.update([decode_payer(key, value)])
            return
        k = parse_table_key(key)
        if k.chunk is not None:
            return
        if value is None:
            manifests.pop((k.kind, k.version), None)
        else:
            manifests[(k.kind, k.version)] = decode_manifest(value)
    except WireError:
        return  # the services log what they cannot read; listing goes on


def _produce(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes, bytes | None]],
    content_type: bytes,
    *,
    security: KafkaSecurity | None,
    timeout_s: float,
) -> None:
    from confluent_kafka import KafkaException

    try:
        produce_all(
            bootstrap,
            topic,
            ((key, value, [(CONTENT_TYPE, content_type)] if value is not None else [])
             for key, value in records),
            client_id="claimscrub-reference-loader",
            timeout_s=timeout_s,
            security=security,
            linger_ms=5,
        )  # fmt: skip
    except KafkaException as exc:
        raise BrokerError(f"publishing to {topic} failed: {exc.args[0].name()}") from None


def _read_files(paths: Sequence[Path]) -> list[tuple[str, bytes]]:
    out = []
    for p in paths:
        try:
            out.append((p.name, p.read_bytes()))
        except OSError as exc:
            raise ReferenceDataError(f"{p.name}: cannot read ({exc.strerror})") from exc
    return out


@dataclass(frozen=True, slots=True)
class LoadResult:
    kind: str
    versions: tuple[str, ...]
    records: int


def validate_table(
    kind: str, paths: Sequence[Path], effective: dt.date | None, label: str | None
) -> TableVersion:
    """The version the files make, validated whole; raises ReferenceDataError."""
    if label is not None and not VERSION_RE.match(label):
        raise ReferenceDataError(f"--version {label}: letters, digits, '.', '_', '-' (64 at most)")
    files = _read_files(paths)
    vid = new_version_id(files, effective, label)
    version = TableVersion(kind, vid, effective, tuple(files), dt.datetime.now(dt.UTC).isoformat())
    read_version(version)  # the services' own parse: refused here, never published
    return version


def load(
    kind: str,
    paths: Sequence[Path],
    bootstrap: str,
    *,
    effective: dt.date | None = None,
    label: str | None = None,
    security: KafkaSecurity | None = None,
    timeout_s: float = 120.0,
) -> LoadResult:
    """Validate, then publish; raises ReferenceDataError (nothing published) or BrokerError."""
    if kind not in KINDS:
        raise ReferenceDataError(f"KIND must be one of {', '.join(KINDS)}")
    if kind == PAYERS:
        return _load_payers(paths, bootstrap, effective, security, timeout_s)
    version = validate_table(kind, paths, effective, label)
    records = encode_table_version(version)
    _produce(
        bootstrap,
        REFERENCE_TABLES.name,
        records[:-1],
        _CHUNK,
        security=security,
        timeout_s=timeout_s,
    )
    # The manifest only once every chunk is acknowledged: readers switch on it.
    _produce(
        bootstrap, REFERENCE_TABLES.name, records[-1:], _JSON, security=security, timeout_s=30.0
    )
    return LoadResult(kind, (version.version,), len(records))


def _load_payers(
    paths: Sequence[Path],
    bootstrap: str,
    effective: dt.date | None,
    security: KafkaSecurity | None,
    timeout_s: float,
) -> LoadResult:
    records: list[Any] = []
    for p in paths:
        records.extend(with_effective(read_json_records(p), effective))
    name = ", ".join(p.name for p in paths)
    PayerPolicies.from_records(records, name)  # every record valid before anything else
    published = read_published(bootstrap, security=security)
    merged = merge_payer_versions(published.payers, records)
    for payer, versions in merged.items():  # the payer's whole history, as it will be read
        PayerPolicies.from_records(versions, f"{name} with the published versions of {payer}")
    new = PayerPolicies.from_records(records, name)
    _produce(
        bootstrap,
        REFERENCE_PAYERS.name,
        [encode_payer(payer, versions) for payer, versions in merged.items()],
        _JSON,
        security=security,
        timeout_s=timeout_s,
    )
    ids = tuple(p.version_id for versions in new.by_payer.values() for p in versions)
    return LoadResult(PAYERS, ids, len(merged))


def withdraw(
    kind: str, version: str, bootstrap: str, *, security: KafkaSecurity | None = None
) -> str:
    """Withdraw a published version (the one in force before it applies again)."""
    published = read_published(bootstrap, security=security)
    if kind == PAYERS:
        payer, _, rest = version.partition("@")
        versions = published.payers.get(payer.upper())
        if not versions or not rest:
            raise ReferenceDataError(f"no published payer version {version}")
        policies = PayerPolicies.from_records(versions, REFERENCE_PAYERS.name)
        ids = [p.version_id for p in policies.by_payer.get(payer.upper(), ())]
        if version not in ids:
            raise ReferenceDataError(f"no published payer version {version}")
        kept = [raw for raw, vid in zip(versions, ids, strict=True) if vid != version]
        record: tuple[bytes, bytes | None] = (
            encode_payer(payer, kept) if kept else (payer.upper().encode(), None)
        )
        _produce(
            bootstrap, REFERENCE_PAYERS.name, [record], _JSON, security=security, timeout_s=30.0
        )
        return f"withdrew {version}; {len(kept)} published versions of {payer.upper()} remain"
    if kind not in TABLE_KINDS:
        raise ReferenceDataError(f"KIND must be one of {', '.join(KINDS)}")
    manifest = published.manifests.get((kind, version))
    if manifest is None:
        raise ReferenceDataError(f"no published {kind} version {version}")
    _produce(
        bootstrap,
        REFERENCE_TABLES.name,
        withdrawal_records(manifest),
        _JSON,
        security=security,
        timeout_s=30.0,
    )
    return f"withdrew {kind} version {version}"


def listing(published: Published) -> list[dict[str, Any]]:
    """One row per published version, per kind in contract order, oldest first."""
    rows: list[dict[str, Any]] = []
    for payer in sorted(published.payers):
        try:
            policies = PayerPolicies.from_records(published.payers[payer], payer)
        except ReferenceDataError:
            continue
        for p in policies.by_payer.get(payer, ()):
            rows.append(
                {
                    "kind": PAYERS,
                    "version": p.version_id,
                    "inForce": True,
                    "effectiveDate": p.effective_date.isoformat() if p.effective_date else None,
                }
            )
    by_kind = sorted(
        published.manifests.values(),
        key=lambda m: (KINDS.index(m.kind), m.effective or dt.date.min, m.version),
    )
    # Of versions with one effective date the one published last is in force
    # (as the services choose, reference.follower).
    latest: dict[tuple[str, dt.date | None], Manifest] = {}
    for m in by_kind:
        seen = latest.get((m.kind, m.effective))
        if seen is None or (m.published_at, m.version) > (seen.published_at, seen.version):
            latest[(m.kind, m.effective)] = m
    for m in by_kind:
        rows.append(
            {
                "kind": m.kind,
                "version": m.version,
                "inForce": latest[(m.kind, m.effective)] is m,
                "effectiveDate": m.effective.isoformat() if m.effective else None,
                "files": [name for name, _ in m.files],
                "bytes": sum(size for _, size in m.files),
                "publishedAt": m.published_at,
            }
        )
    return rows


def dumps(rows: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(r) for r in rows)

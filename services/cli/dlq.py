"""``claimscrub dlq list|replay``: what is on claims.dlq, and a fixed claim sent again.

``list`` prints each dead-lettered record's metadata only: partition, offset,
time, the service that dead-lettered it, where it came from and why (the
headers of :func:`claimscrub.runtime.guard.dlq_headers`) and its key.
Never the value: it is the event as received and may hold PHI.

``replay`` re-submits one dead-lettered claim after the operator fixed it:
the record at ``--partition/--offset`` must have come from claims.submitted,
the fixed claim (a JSON file with one claim) must carry the record's key as
its claimId and must decode, and it goes to claims.submitted under that key
with a ``claimscrub-replay-of`` header naming the DLQ record. The pipeline
then scrubs it as any new claim version.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from claimscrub.cli.claims_input import InputError, read_claims
from claimscrub.core.claim import claim_id_of
from claimscrub.core.codec import CONTENT_TYPE, UndecodableEvent, decode_claim, encode_claim_json
from claimscrub.runtime.kafka_config import KafkaSecurity
from claimscrub.runtime.kafka_io import (
    OnRead,
    Received,
    TopicMissing,
    partitions,
    produce_all,
    read_failures,
    read_to_end,
    reader,
    received,
)
from claimscrub.runtime.topics import CLAIMS_DLQ, CLAIMS_SUBMITTED

REPLAY_HEADER = "claimscrub-replay-of"


class DlqError(Exception):
    """The DLQ could not be read, or a replay was refused (the reason, no claim content)."""


@dataclass(frozen=True, slots=True)
class DlqEntry:
    partition: int
    offset: int
    time: str
    service: str
    source: str
    reason: str
    key: str


def _header(headers: Any, name: str) -> str:
    for k, v in headers or ():
        if k == name:
            return bytes(v or b"").decode("utf-8", "replace")
    return ""


def _entry(rec: Any) -> DlqEntry:
    when = dt.datetime.fromtimestamp(rec.timestamp / 1000, dt.UTC)
    return DlqEntry(
        partition=rec.partition,
        offset=rec.offset,
        time=when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        service=_header(rec.headers, "claimscrub-service"),
        source=_header(rec.headers, "claimscrub-source"),
        reason=_header(rec.headers, "claimscrub-reason"),
        key=(rec.key or b"").decode("utf-8", "replace"),
    )


def list_entries(
    bootstrap: str,
    security: KafkaSecurity,
    *,
    limit: int,
    timeout_s: float,
    on_read: OnRead | None = None,
) -> list[DlqEntry]:
    """The newest ``limit`` records of claims.dlq (as of now), oldest first
    (``on_read``: told of each record read, the PHI read audit)."""
    with read_failures(CLAIMS_DLQ.name, timeout_s, DlqError):
        # The last `limit` of each partition is enough for the newest `limit` overall.
        found = list(
            read_to_end(
                bootstrap,
                CLAIMS_DLQ.name,
                client_id="claimscrub-dlq",
                timeout_s=timeout_s,
                last=limit,
                security=security,
                on_read=on_read,
            )
        )
    found.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
    return [_entry(r) for r in found[-limit:]]


def print_entries(entries: list[DlqEntry], out: TextIO, *, as_json: bool) -> None:
    if as_json:
        for e in entries:
            print(json.dumps(asdict(e)), file=out)
        return
    print(
        "PARTITION OFFSET TIME                 SERVICE     SOURCE                     KEY  REASON",
        file=out,
    )
    for e in entries:
        print(
            f"{e.partition:>9} {e.offset:>6} {e.time:<20} {e.service:<11} {e.source:<26} "
            f"{e.key}  {e.reason}",
            file=out,
        )


def _record_at(
    bootstrap: str,
    security: KafkaSecurity,
    partition: int,
    offset: int,
    on_read: OnRead | None = None,
) -> Received:
    from confluent_kafka import TopicPartition

    consumer = reader(bootstrap, security, client_id="claimscrub-dlq")
    try:
        if partition not in partitions(consumer, CLAIMS_DLQ.name):
            raise DlqError(f"{CLAIMS_DLQ.name} has no partition {partition}")
        tp = TopicPartition(CLAIMS_DLQ.name, partition)
        start, end = consumer.get_watermark_offsets(tp, timeout=30)
        if not start <= offset < end:
            raise DlqError(
                f"{CLAIMS_DLQ.name}/{partition} has no offset {offset} "
                f"(it holds {start}..{end - 1})"
            )
        consumer.assign([TopicPartition(CLAIMS_DLQ.name, partition, offset)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None and msg.offset() == offset:
                if on_read is not None:
                    on_read(msg.topic(), msg.partition(), msg.offset())
                return received(msg)
        raise DlqError(f"timed out reading {CLAIMS_DLQ.name}/{partition}@{offset}")
    except TopicMissing:
        raise DlqError(f"topic {CLAIMS_DLQ.name} does not exist") from None
    finally:
        consumer.close()


def replay(
    bootstrap: str,
    security: KafkaSecurity,
    *,
    partition: int,
    offset: int,
    fixed: Path,
    on_read: OnRead | None = None,
) -> tuple[DlqEntry, int, int]:
    """Publish the fixed claim for the DLQ record at ``partition@offset``;
    returns the record's metadata and where the claim went on claims.submitted."""
    from confluent_kafka import KafkaException

    try:
        claims = read_claims(str(fixed))
    except InputError as exc:
        raise DlqError(str(exc)) from None
    if len(claims) != 1:
        raise DlqError(f"{fixed} must hold one claim, not {len(claims)}")
    claim = claims[0]
    try:
        entry = _entry(_record_at(bootstrap, security, partition, offset, on_read))
        if not entry.source.startswith(f"{CLAIMS_SUBMITTED.name}/"):
            raise DlqError(
                f"{CLAIMS_DLQ.name}/{partition}@{offset} came from "
                f"{entry.source or 'an unknown topic'}, not {CLAIMS_SUBMITTED.name}: "
                "only submitted claims are replayed"
            )
        claim_id = claim_id_of(claim) if isinstance(claim, dict) else None
        if entry.key and claim_id != entry.key:
            raise DlqError(
                f"the fixed claim's claimId must be the record's key {entry.key!r} "
                "(the pipeline answers under the key)"
            )
        value, content_type = encode_claim_json(claim)
        try:
            decode_claim(value, content_type=content_type, key=entry.key)
        except UndecodableEvent as exc:
            raise DlqError(f"the fixed claim is still undecodable ({exc})") from None
        [(sent_partition, sent_offset)] = produce_all(
            bootstrap,
            CLAIMS_SUBMITTED.name,
            [
                (
                    entry.key.encode() if entry.key else None,
                    value,
                    [
                        (CONTENT_TYPE, content_type),
                        (REPLAY_HEADER, f"{CLAIMS_DLQ.name}/{partition}@{offset}".encode()),
                    ],
                )
            ],
            client_id="claimscrub-dlq",
            security=security,
        )
    except KafkaException as exc:
        raise DlqError(f"cannot reach {bootstrap}: {exc.args[0].name()}") from None
    return entry, sent_partition, sent_offset

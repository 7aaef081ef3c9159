"""``claimscrub submit``: publish claims to claims.submitted; optionally wait.

With ``--wait`` the command first takes the end offsets of claims.scrubbed,
then publishes, then reads results from those offsets on, so it sees only
answers to what it sent, and prints them in input order.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any, TextIO

from claimscrub.cli.output import Progress, json_line
from claimscrub.core.claim import claim_id_of
from claimscrub.core.codec import (
    CONTENT_TYPE,
    UndecodableEvent,
    decode_scrub_result,
    encode_claim_json,
)
from claimscrub.core.results import ScrubResult
from claimscrub.runtime.kafka_config import KafkaSecurity, kafka_client_kwargs
from claimscrub.runtime.topics import CLAIMS_SCRUBBED, CLAIMS_SUBMITTED


class BrokerError(Exception):
    """The broker could not be reached or refused the claims."""


def _keys(claims: Sequence[Any]) -> list[str]:
    # A claim without a usable id still needs a key: the services answer
    # under the key, so the caller can match the MALFORMED_CLAIM result.
    run = uuid.uuid4().hex[:8]
    return [claim_id_of(c) or f"unidentified-{run}-{i}" for i, c in enumerate(claims, start=1)]


def submit(
    claims: Sequence[Any],
    bootstrap: str,
    *,
    wait: bool,
    timeout_s: float,
    out: TextIO = sys.stdout,
    security: KafkaSecurity | None = None,
) -> int:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.errors import KafkaError

    security = security or KafkaSecurity.from_env()
    keys = _keys(claims)
    consumer = None
    try:
        if wait:
            consumer = KafkaConsumer(
                **kafka_client_kwargs(
                    bootstrap, security, enable_auto_commit=False, client_id="claimscrub-submit"
                )
            )
            parts = consumer.partitions_for_topic(CLAIMS_SCRUBBED.name)
            if not parts:
                raise BrokerError(f"topic {CLAIMS_SCRUBBED.name} does not exist (run make up)")
            tps = [TopicPartition(CLAIMS_SCRUBBED.name, p) for p in sorted(parts)]
            consumer.assign(tps)
            consumer.seek_to_end(*tps)
            for tp in tps:  # resolve positions now, before anything is produced
                consumer.position(tp)
        producer = KafkaProducer(
            **kafka_client_kwargs(
                bootstrap, security, acks="all", linger_ms=5, client_id="claimscrub-submit"
            )
        )
        progress = Progress(len(claims), "submitted")
        futures = []
        for i, (key, raw) in enumerate(zip(keys, claims, strict=True), start=1):
            value, content_type = encode_claim_json(raw)
            futures.append(
                producer.send(
                    CLAIMS_SUBMITTED.name,
                    key=key.encode(),
                    value=value,
                    headers=[(CONTENT_TYPE, content_type)],
                )
            )
            progress.update(i)
        producer.flush(timeout=timeout_s)
        for f in futures:
            f.get(timeout=timeout_s)
        producer.close()
        progress.close()
    except KafkaError as exc:
        raise BrokerError(f"cannot publish to {bootstrap}: {type(exc).__name__}") from None
    print(f"submitted {len(claims)} claims to {CLAIMS_SUBMITTED.name}", file=sys.stderr)
    if consumer is None:
        return 0
    return _wait(consumer, keys, timeout_s, out)


def _wait(consumer: Any, keys: list[str], timeout_s: float, out: TextIO) -> int:
    wanted = set(keys)
    got: dict[str, ScrubResult] = {}
    deadline = time.monotonic() + timeout_s
    progress = Progress(len(wanted), "results")
    try:
        while wanted - got.keys() and time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=500)
            for records in batches.values():
                for rec in records:
                    key = (rec.key or b"").decode("utf-8", "replace")
                    if key in wanted and key not in got:
                        try:
                            got[key] = decode_scrub_result(rec.value)
                        except UndecodableEvent:
                            continue
                        progress.update(len(got))
    finally:
        consumer.close()
        progress.close()
    for key in keys:
        if key in got:
            print(json_line(got[key]), file=out)
    missing = [k for k in keys if k not in got]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        print(
            f"timed out after {timeout_s:g}s: no result yet for {len(missing)} of "
            f"{len(keys)} claims ({shown})",
            file=sys.stderr,
        )
        return 1
    return 0

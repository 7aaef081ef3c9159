"""``claimscrub submit``: publish claims to claims.submitted; optionally wait.

With ``--wait`` the command first takes the end offsets of claims.scrubbed,
then publishes, then reads results from those offsets on, so it sees only
answers to what it sent, and prints them in input order.

A claim already scrubbed with the same content gets no new result (the
aggregator publishes once per claim version), so before publishing, ``--wait``
reads claims.scrubbed up to those offsets for results of the very same
versions (claimscrub.core.fingerprint, with the services' key) and shows
those instead of waiting for answers that will not come.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from claimscrub.cli.output import Progress, detail, json_line, table
from claimscrub.core.claim import claim_id_of
from claimscrub.core.codec import (
    CONTENT_TYPE,
    UndecodableEvent,
    decode_claim,
    decode_scrub_result,
    decode_versioned_scrub_result,
    encode_claim_json,
)
from claimscrub.core.fingerprint import claim_version, key_from_env
from claimscrub.core.not_checked_seal import unsealed
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
    on_result: Callable[[str], None] | None = None,
    fmt: str = "json",
) -> int:
    """Publish ``claims``; with ``wait``, print their results (``fmt``: json,
    table or detail, :func:`render_results`), calling
    ``on_result`` with each claimId whose result is shown (the PHI audit)."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.errors import KafkaError

    security = security or KafkaSecurity.from_env()
    keys = _keys(claims)
    encoded = [encode_claim_json(raw) for raw in claims]
    consumer = None
    earlier: dict[str, ScrubResult] = {}
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
            earlier = already_scrubbed(bootstrap, security, tps, consumer, keys, encoded)
        producer = KafkaProducer(
            **kafka_client_kwargs(
                bootstrap, security, acks="all", linger_ms=5, client_id="claimscrub-submit"
            )
        )
        progress = Progress(len(claims), "submitted")
        futures = []
        for i, (key, (value, content_type)) in enumerate(zip(keys, encoded, strict=True), start=1):
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
    if earlier:
        print(
            f"{len(earlier)} claims were already scrubbed with the same content: "
            "showing their results from claims.scrubbed",
            file=sys.stderr,
        )
    return _wait(consumer, keys, timeout_s, out, earlier, on_result, fmt)


def already_scrubbed(
    bootstrap: str,
    security: KafkaSecurity,
    tps: list[Any],
    positions: Any,
    keys: list[str],
    encoded: list[tuple[bytes, bytes]],
    *,
    sealed: bool = False,
) -> dict[str, ScrubResult]:
    """Results already on claims.scrubbed (before ``positions``) for the same claim
    versions. ``sealed``: the claims come from the intake service, whose
    notChecked the checks honour; any other claim's is dropped, as they drop it."""
    from kafka import KafkaConsumer

    key = key_from_env()
    versions: dict[str, str] = {}
    for name, (value, content_type) in zip(keys, encoded, strict=True):
        try:
            parsed = decode_claim(value, content_type=content_type, key=name)
        except UndecodableEvent:
            continue
        if not sealed:
            parsed = unsealed(parsed)
        versions[name] = claim_version(parsed, value, key)
    ends = {tp: positions.position(tp) for tp in tps}
    todo = {tp for tp in tps if ends[tp] > 0}
    found: dict[str, ScrubResult] = {}
    if not todo:
        return found
    # The same security settings as every other client of this command.
    reader = KafkaConsumer(
        **kafka_client_kwargs(
            bootstrap, security, enable_auto_commit=False, client_id="claimscrub-submit"
        )
    )
    try:
        reader.assign(list(todo))
        reader.seek_to_beginning(*todo)
        deadline = time.monotonic() + 60
        while todo and time.monotonic() < deadline:
            for records in reader.poll(timeout_ms=500, max_records=5000).values():
                for rec in records:
                    name = (rec.key or b"").decode("utf-8", "replace")
                    if name not in versions or rec.offset >= ends[_tp_of(rec, tps)]:
                        continue
                    try:
                        result, version = decode_versioned_scrub_result(rec.value)
                    except UndecodableEvent:
                        continue
                    if version == versions[name]:
                        found[name] = result
            for tp in list(todo):
                if reader.position(tp) >= ends[tp]:
                    todo.discard(tp)
                    reader.pause(tp)
    finally:
        reader.close()
    return found


def render_results(results: Sequence[ScrubResult], fmt: str, out: TextIO) -> None:
    """``json``: one result a line; ``table``: the scrub table; ``detail``: a
    block per claim with each edit's CARC and rule and the reference versions."""
    if fmt == "table":
        table(results, out)
    elif fmt == "detail":
        detail(results, out)
    else:
        for result in results:
            print(json_line(result), file=out)


def _tp_of(rec: Any, tps: list[Any]) -> Any:
    return next(tp for tp in tps if tp.partition == rec.partition)


def _wait(
    consumer: Any,
    keys: list[str],
    timeout_s: float,
    out: TextIO,
    earlier: dict[str, ScrubResult] | None = None,
    on_result: Callable[[str], None] | None = None,
    fmt: str = "json",
) -> int:
    wanted = set(keys)
    got: dict[str, ScrubResult] = dict(earlier or {})
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
    answered = [key for key in keys if key in got]
    render_results([got[key] for key in answered], fmt, out)
    if on_result is not None:
        for key in answered:
            on_result(key)
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

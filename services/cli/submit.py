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
from collections.abc import Callable, Iterator, Sequence
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
from claimscrub.runtime.kafka_config import KafkaSecurity
from claimscrub.runtime.kafka_io import Tail, TopicMissing, produce_all, read_to_end
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
    from confluent_kafka import KafkaException

    security = security or KafkaSecurity.from_env()
    keys = _keys(claims)
    encoded = [encode_claim_json(raw) for raw in claims]
    tail: Tail | None = None
    earlier: dict[str, ScrubResult] = {}
    try:
        if wait:
            # From the end as it is now, before anything is produced.
            tail = Tail(bootstrap, security, [CLAIMS_SCRUBBED.name], client_id="claimscrub-submit")
            earlier = already_scrubbed(bootstrap, security, keys, encoded)
        progress = Progress(len(claims), "submitted")
        records = (
            (key.encode(), value, [(CONTENT_TYPE, content_type)])
            for key, (value, content_type) in zip(keys, encoded, strict=True)
        )

        def counted() -> Iterator[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
            for i, record in enumerate(records, start=1):
                yield record
                progress.update(i)

        produce_all(
            bootstrap,
            CLAIMS_SUBMITTED.name,
            counted(),
            client_id="claimscrub-submit",
            timeout_s=timeout_s,
            security=security,
            linger_ms=5,
        )
        progress.close()
    except TopicMissing as exc:
        raise BrokerError(f"topic {exc.topic} does not exist (run make up)") from None
    except KafkaException as exc:
        if tail is not None:
            tail.close()
        raise BrokerError(f"cannot publish to {bootstrap}: {exc.args[0].name()}") from None
    print(f"submitted {len(claims)} claims to {CLAIMS_SUBMITTED.name}", file=sys.stderr)
    if tail is None:
        return 0
    if earlier:
        print(
            f"{len(earlier)} claims were already scrubbed with the same content: "
            "showing their results from claims.scrubbed",
            file=sys.stderr,
        )
    return _wait(tail, keys, timeout_s, out, earlier, on_result, fmt)


def already_scrubbed(
    bootstrap: str,
    security: KafkaSecurity,
    keys: list[str],
    encoded: list[tuple[bytes, bytes]],
    *,
    sealed: bool = False,
) -> dict[str, ScrubResult]:
    """Results already on claims.scrubbed for the same claim versions.
    ``sealed``: the claims come from the intake service, whose notChecked the
    checks honour; any other claim's is dropped, as they drop it."""
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
    found: dict[str, ScrubResult] = {}
    records = read_to_end(
        bootstrap,
        CLAIMS_SCRUBBED.name,
        client_id="claimscrub-submit",
        timeout_s=60,
        security=security,
    )
    try:
        for rec in records:
            name = rec.key.decode("utf-8", "replace")
            if name not in versions:
                continue
            try:
                result, version = decode_versioned_scrub_result(rec.value)
            except UndecodableEvent:
                continue
            if version == versions[name]:
                found[name] = result
    except TimeoutError:  # what was read is shown; the rest waits for new results
        pass
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


def _wait(
    tail: Tail,
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
            for rec in tail.records():
                key = rec.key.decode("utf-8", "replace")
                if key in wanted and key not in got:
                    try:
                        got[key] = decode_scrub_result(rec.value)
                    except UndecodableEvent:
                        continue
                    progress.update(len(got))
    finally:
        tail.close()
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

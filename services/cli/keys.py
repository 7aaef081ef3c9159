"""``claimscrub keys``: the HMAC keyring's ids (never its secrets) and the rotation steps.

``keys status`` shows where the ring comes from, its key ids oldest first and
each one's role. ``keys rotate`` prints the steps of a rotation for the ring
as configured (docs/operations.md, runbook "Rotating the HMAC key"); with
``--apply`` it does the step that needs a tool: a rekey request on
necessity's repartition topic for every stored beneficiary token of an
older key than the ring's newest (necessity/rekey.py), read from the keys of
the history changelog (compacted). It sends tokens, never history content.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Mapping
from typing import Any

from claimscrub.necessity.beneficiary import token_key_id
from claimscrub.necessity.rekey import rekey_request, target_key_id, tokens_in
from claimscrub.runtime.kafka_config import KafkaSecurity, kafka_client_kwargs
from claimscrub.runtime.keyring import KEYS_VARIABLE, Keyring, KeySource


class KeysError(Exception):
    """A one-line reason ``keys rotate --apply`` could not finish (no token or secret)."""


def _where(ring: Keyring, env: Mapping[str, str]) -> str:
    if ring.source is KeySource.RING:
        return f"{KEYS_VARIABLE}_FILE" if env.get(f"{KEYS_VARIABLE}_FILE") else KEYS_VARIABLE
    if ring.source is KeySource.SINGLE:
        return (
            "CLAIMSCRUB_HMAC_KEY_FILE"
            if env.get("CLAIMSCRUB_HMAC_KEY_FILE")
            else ("CLAIMSCRUB_HMAC_KEY")
        )
    return "no key configured: each service's built-in development key"


def status(ring: Keyring, env: Mapping[str, str], *, as_json: bool) -> str:
    """The ring's ids and roles; the secrets are never read out of their :class:`Secret`."""
    doc = {**ring.status(), "from": _where(ring, env)}
    if as_json:
        return json.dumps(doc)
    lines = [
        f"source:  {doc['source']} ({doc['from']})",
        f"current: {ring.current_id}",
        "keys, oldest first:",
    ]
    lines += [f"  {k['id']:<34}{k['role']}" for k in doc["keys"]]
    return "\n".join(lines)


def rotate_steps(ring: Keyring) -> str:
    """The rotation steps, marked with where this ring is."""
    newest = ring.keys[-1].key_id
    if ring.source is not KeySource.RING:
        here = 1
    elif ring.upcoming:
        here = 3
    elif len(ring.keys) > 1:
        here = 5
    else:
        here = 2
    old = ring.current_id
    steps = [
        (
            1,
            f"Move the key to a ring: {KEYS_VARIABLE}_FILE holding "
            f'{{"current": "{old}", "keys": [{{"id": "{old}", "secret": <the key>}}]}} '
            "instead of CLAIMSCRUB_HMAC_KEY[_FILE], on every service; roll out. "
            "Nothing changes: the oldest key's tokens carry no id.",
        ),
        (
            2,
            'Add the new key at the end of "keys" (a new id, 32+ random bytes), '
            '"current" unchanged; roll out every service. Nothing changes yet: every '
            "instance can now read the new key's tokens.",
        ),
        (
            3,
            "Run `claimscrub keys rotate --apply`: each stored necessity history is "
            "copied to the new key's token; claims recorded meanwhile are copied as they "
            "come. Wait for necessity's consumer lag to reach 0.",
        ),
        (
            4,
            'Set "current" to the new key; roll out every service. New tokens, claim '
            "versions, fingerprints and pseudonyms use it.",
        ),
        (
            5,
            "After the roll-out, run `claimscrub keys rotate --apply` again: histories "
            "still under old tokens are moved (copied, then dropped).",
        ),
        (
            6,
            "Keep every earlier key in the ring: beneficiary tokens are chained through "
            "them. Duplicate detection across the rotation lasts the ledger's retention; "
            "de-identified records start a new pseudonym epoch (docs/operations.md).",
        ),
    ]
    out = [f"Rotating the HMAC key (ring: {', '.join(ring.ids)}; current {old}; newest {newest})"]
    for n, text in steps:
        mark = "->" if n == here else "  "
        out.append(
            textwrap.fill(
                text,
                88,
                initial_indent=f"{mark} {n}. ",
                subsequent_indent="      ",
                break_on_hyphens=False,
            )
        )
    return "\n".join(out)


def _latest_keys(consumer: Any, topic: str, timeout_s: float) -> set[bytes]:
    """The keys of ``topic`` whose latest record is not a tombstone, read to its end."""
    from kafka import TopicPartition

    parts = consumer.partitions_for_topic(topic)
    if not parts:
        raise KeysError(f"topic {topic} does not exist")
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ends = consumer.end_offsets(tps)
    live: set[bytes] = set()
    todo = {tp for tp in tps if ends[tp] > 0}
    deadline = time.monotonic() + timeout_s
    while todo and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=500).items():
            for r in records:
                if r.offset >= ends[tp] or r.key is None:
                    continue
                if r.value is None:
                    live.discard(r.key)
                else:
                    live.add(r.key)
        for tp in list(todo):
            if consumer.position(tp) >= ends[tp]:
                todo.discard(tp)
                consumer.pause(tp)
    if todo:
        raise KeysError(f"timed out after {timeout_s:g}s reading {topic}")
    return live


def stale_tokens(keys: set[bytes], ring: Keyring) -> tuple[list[str], int]:
    """The tokens to move to the ring's newest key, and how many name a key id
    the ring does not hold (left alone: the ring is missing a key)."""
    tokens = {t for k in keys if (t := tokens_in(k)) is not None}
    unknown = sum(1 for t in tokens if token_key_id(t, ring) not in ring)
    stale = sorted(
        t for t in tokens if token_key_id(t, ring) in ring and target_key_id(t, ring) is not None
    )
    return stale, unknown


def apply(
    bootstrap: str,
    security: KafkaSecurity,
    ring: Keyring,
    *,
    changelog: str,
    topic: str,
    timeout_s: float,
) -> tuple[int, int]:
    """Send a rekey request for every stale token; (requests sent, unknown key ids)."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(
            **kafka_client_kwargs(
                bootstrap, security, enable_auto_commit=False, client_id="claimscrub-keys"
            )
        )
    except KafkaError as exc:
        raise KeysError(f"cannot reach {bootstrap}: {type(exc).__name__}") from None
    try:
        keys = _latest_keys(consumer, changelog, timeout_s)
    except KafkaError as exc:
        raise KeysError(f"cannot read {changelog}: {type(exc).__name__}") from None
    finally:
        consumer.close()
    stale, unknown = stale_tokens(keys, ring)
    if not stale:
        return 0, unknown
    try:
        producer = KafkaProducer(
            **kafka_client_kwargs(bootstrap, security, acks="all", client_id="claimscrub-keys")
        )
        try:
            for token in stale:
                rec = rekey_request(token)
                producer.send(topic, key=rec.key, value=rec.value, headers=rec.headers)
            producer.flush(timeout=timeout_s)
        finally:
            producer.close()
    except KafkaError as exc:
        raise KeysError(f"cannot write {topic}: {type(exc).__name__}") from None
    return len(stale), unknown

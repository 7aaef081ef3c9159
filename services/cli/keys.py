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
from collections.abc import Mapping

from claimscrub.necessity.beneficiary import token_key_id
from claimscrub.necessity.rekey import rekey_request, target_key_id, tokens_in
from claimscrub.runtime.kafka_config import KafkaSecurity
from claimscrub.runtime.kafka_io import produce_all, read_failures, read_to_end
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


def _latest_keys(
    bootstrap: str, security: KafkaSecurity, topic: str, timeout_s: float
) -> set[bytes]:
    """The keys of ``topic`` whose latest record is not a tombstone, read to its end
    (a stored history is never empty, so an empty value is a tombstone)."""
    live: set[bytes] = set()
    for r in read_to_end(
        bootstrap, topic, client_id="claimscrub-keys", timeout_s=timeout_s, security=security
    ):
        if not r.key:
            continue
        if r.value:
            live.add(r.key)
        else:
            live.discard(r.key)
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
    from confluent_kafka import KafkaException

    with read_failures(changelog, timeout_s, KeysError):
        keys = _latest_keys(bootstrap, security, changelog, timeout_s)
    stale, unknown = stale_tokens(keys, ring)
    if not stale:
        return 0, unknown
    try:
        produce_all(
            bootstrap,
            topic,
            (rekey_request(token) for token in stale),
            client_id="claimscrub-keys",
            timeout_s=timeout_s,
            security=security,
        )
    except KafkaException as exc:
        raise KeysError(f"cannot write {topic}: {exc.args[0].name()}") from None
    return len(stale), unknown

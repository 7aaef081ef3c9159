"""Carrying beneficiary histories to the next HMAC key, so a rotation keeps them.

A history is stored under its beneficiary token and partitioned by it; a new
key gives a new token, often in another partition, and the member ID is not
in the state to recompute it. Tokens are chained (necessity.beneficiary):
the next key's token is a hash of the current one, so whoever holds a
history can compute where it goes. The step that owns a token's history
forwards it there as a **migration record** on necessity's repartition
topic, keyed by the new token; the step that owns the new token adopts it
(:func:`adopt`). Every migration record of one old token comes from the
owner of that token, in the order it processed that token's records, so a
later record always carries the newer history.

The target is the ring's newest key (:func:`target_key_id`): during a
rotation it is added beside the current one first, then made current
(docs/operations.md, "Rotating the HMAC key"). Forwarding happens

* after the step records a claim under a token of an older key (during the
  rotation every claim, so the copy under the new token stays up to date),
* on a **rekey request** (``claimscrub keys rotate --apply``), a record
  keyed by an old token with no history in it, for beneficiaries with no claims
  during the rotation; once the old key is no longer current the old
  history is then dropped (:func:`rekey_action`).

All of it is pure: the topology reads and writes the state and the topics,
and :func:`after_record`, :func:`on_migration` and :func:`on_rekey_request`
say what to store, delete and send in each of the step's cases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from claimscrub.necessity.beneficiary import chain_token, token_key_id
from claimscrub.necessity.history import History, _pruned, date_shift, seal, unseal
from claimscrub.runtime.keyring import Keyring

#: On a migration record: ``<from key id>><to key id>``; its value is the history
#: (JSON), sealed with the new token's date shift.
MIGRATION_HEADER = "claimscrub-history-migration"
#: On a rekey request: the record's key is an old token; its value is empty.
REKEY_REQUEST_HEADER = "claimscrub-rekey-request"

#: A token inside a record key (a topic's raw key, or a state store's prefixed key).
TOKEN_PATTERN = re.compile(r"\b[bc]-(?:[A-Za-z0-9][A-Za-z0-9_.]{0,31}-)?[0-9a-f]{64}\b")


class Record(NamedTuple):
    """A record for necessity's repartition topic."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def target_key_id(token: str, ring: Keyring) -> str | None:
    """The key ``token``'s history moves to: the ring's newest, when the token is
    of an older one; None when it is already there."""
    newest = ring.keys[-1].key_id
    return None if token_key_id(token, ring) == newest else newest


def rekey_history(
    token_old: str, sealed_old: History, keyring: Keyring, *, to: str | None = None
) -> tuple[str, History]:
    """The token of the key ``to`` (default: the ring's newest) and the history
    sealed for it: dates unshifted with the old token's shift, shifted with
    the new one's; amounts, day counts and order unchanged."""
    target = keyring.keys[-1].key_id if to is None else to
    token_new = chain_token(token_old, keyring, through=target)
    history = unseal(sealed_old, date_shift(token_old, keyring))
    assert history is not None  # unseal keeps a history a history
    return token_new, seal(history, date_shift(token_new, keyring))


def migration_record(token_old: str, sealed_old: History, keyring: Keyring) -> Record | None:
    """The migration record for a history stored under ``token_old``; None when
    the token is of the newest key already."""
    target = target_key_id(token_old, keyring)
    if target is None:
        return None
    token_new, sealed_new = rekey_history(token_old, sealed_old, keyring, to=target)
    source = token_key_id(token_old, keyring)
    return Record(
        token_new.encode(),
        json.dumps(sealed_new, separators=(",", ":")).encode(),
        [(MIGRATION_HEADER, f"{source}>{target}".encode())],
    )


#: A rekey request's value: JSON, like every value on the repartition topic, and
#: no history content (the token is the record's key).
REKEY_REQUEST_VALUE = b'{"rekey":true}'


def rekey_request(token: str) -> Record:
    """What ``claimscrub keys rotate --apply`` sends for a stored token."""
    return Record(token.encode(), REKEY_REQUEST_VALUE, [(REKEY_REQUEST_HEADER, b"1")])


class RekeyAction(NamedTuple):
    #: send :func:`migration_record` of the history held under the token
    forward: bool
    #: then delete the history held under the token
    drop: bool


def rekey_action(token: str, keyring: Keyring) -> RekeyAction:
    """What the step does on a rekey request for ``token`` (and holds its history).

    While the token's key is current, the history is copied (its claims keep
    coming here); once the key is no longer current nothing is routed to the
    token any more, so the history is moved: copied, then dropped. A token of
    the newest key needs nothing.
    """
    own = token_key_id(token, keyring)
    forward = target_key_id(token, keyring) is not None
    return RekeyAction(forward, forward and own != keyring.current_id)


def read_migration(value: bytes) -> History:
    """The history a migration record carries (ValueError when it is not one)."""
    try:
        doc = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("migration record is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("claims"), dict):
        raise ValueError("migration record holds no history")
    return doc


def adopt(held: History | None, migrated: History, line_history_days: int) -> History:
    """``held`` (the new token's history) with a migrated history taken in, both
    unsealed (real dates: pruning counts calendar years).

    A claim comes from the migrated history unless the held history holds a
    newer entry for it: one recorded under the new token, rather than a copy an
    earlier migration brought. Taken claims keep their place when held had
    them and follow the held ones otherwise (the recording order the
    cross-claim edits read). A discipline's progress anchor likewise comes
    from the migrated history unless held's was set by a claim recorded here.
    """
    if not held or not held.get("claims"):
        claims = dict(migrated.get("claims", {}))
        progress = dict(migrated.get("progress", {}))
        taken = set(claims)
    else:
        copies = set(held.get("migrated", ()))
        own = set(held["claims"]) - copies
        claims = dict(held["claims"])
        taken = set(copies)
        for cid, entry in migrated.get("claims", {}).items():
            if cid not in own:
                claims[cid] = entry
                taken.add(cid)
        progress = dict(held.get("progress", {}))
        for discipline, anchor in migrated.get("progress", {}).items():
            mine: Mapping[str, Any] | None = progress.get(discipline)
            if mine is None or mine.get("claim") not in own:
                progress[discipline] = anchor
    kept = _pruned(claims, line_history_days)
    out: History = {"v": 1, "claims": kept, "progress": progress}
    listed = [cid for cid in kept if cid in taken]
    if listed:
        out["migrated"] = listed
    return out


def adopt_sealed(
    held_sealed: History | None, value: bytes, token: str, keyring: Keyring, line_history_days: int
) -> History:
    """:func:`adopt` on stored forms: the held sealed history (or None) and a
    migration record's value for ``token``; returns the sealed result to store."""
    shift = date_shift(token, keyring)
    migrated = unseal(read_migration(value), shift)
    assert migrated is not None
    return seal(adopt(unseal(held_sealed, shift), migrated, line_history_days), shift)


# --- the stateful step's three cases, for the topology -----------------------------


class StepOutcome(NamedTuple):
    """What the step does with the state under the record's key and what it sends."""

    #: the sealed history to store under the record's key (None: leave it)
    store: History | None
    #: delete the history under the record's key (after sending ``forward``)
    delete: bool
    #: a migration record for the repartition topic, or None
    forward: Record | None


def after_record(token: str, sealed: History, keyring: Keyring) -> Record | None:
    """After a claim (or an adoption) stored ``sealed`` under ``token``: the copy for
    the ring's newest key while the token is of an older one."""
    return migration_record(token, sealed, keyring)


def on_migration(
    token: str,
    held_sealed: History | None,
    value: bytes,
    keyring: Keyring,
    line_history_days: int,
) -> StepOutcome:
    """A migration record for ``token``: adopt it (:func:`adopt`). No claims.checks
    output. Should the ring have gained a newer key since it was sent, the result
    travels on (:func:`after_record`)."""
    stored = adopt_sealed(held_sealed, value, token, keyring, line_history_days)
    return StepOutcome(stored, False, after_record(token, stored, keyring))


def on_rekey_request(token: str, held_sealed: History | None, keyring: Keyring) -> StepOutcome:
    """A rekey request for ``token`` (:func:`rekey_action`); nothing held, nothing to do."""
    action = rekey_action(token, keyring)
    if held_sealed is None or not action.forward:
        return StepOutcome(None, False, None)
    return StepOutcome(None, action.drop, migration_record(token, held_sealed, keyring))


def tokens_in(key: bytes) -> str | None:
    """The beneficiary token inside a changelog record's key, if any."""
    found = TOKEN_PATTERN.search(key.decode("utf-8", "replace"))
    return found.group(0) if found else None

"""The beneficiary token: the key of the necessity state, never a raw member ID.

The necessity service repartitions claims by beneficiary and keeps their
year-to-date amounts in a table whose changelog topic is keyed like the
table. Those keys leave the process, so they are a keyed hash (HMAC-SHA256)
of payer and member ID, not the ID itself (domain §8: keyed pseudonyms keep
records joinable without carrying the identifier).

Kept small and local on purpose: the redaction service owns the general
pseudonymisation library, and this module can switch to it later without
changing its callers.

Tokens are chained through the HMAC keyring (claimscrub.runtime.keyring),
oldest key first: the root key gives ``b-<hex>`` (payer and member ID), each
later key up to the current one hashes the token before it into
``b-<keyId>-<hex>``. A token therefore says which key made it, and a stored
history can be moved to the next key's token without the member ID, which
the state does not hold (necessity/rekey.py; docs/operations.md, "Rotating
the HMAC key"). A one-key ring gives the root tokens, the same as a single
``CLAIMSCRUB_HMAC_KEY``. Knowing an earlier key does not let anyone compute
a token that passed through a later, secret one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from claimscrub.core.claim import Claim
from claimscrub.core.fingerprint import hmac_sha256_hex
from claimscrub.runtime import secrets
from claimscrub.runtime.keyring import HmacKey, Keyring, UnknownKeyId, load_keyring

HMAC_KEY_VARIABLE = "CLAIMSCRUB_HMAC_KEY"

#: Used when CLAIMSCRUB_HMAC_KEY is unset, so `make up` and the CLI work out of
#: the box. It is public (it is in this file): tokens made with it can be
#: re-computed by anyone who has the member ID. Never use it in production.
DEV_HMAC_KEY = b"claimscrub-DEVELOPMENT-ONLY-hmac-key-not-secret"


def hmac_key(env: Mapping[str, str] | None = None) -> tuple[bytes, bool]:
    """The key from CLAIMSCRUB_HMAC_KEY or CLAIMSCRUB_HMAC_KEY_FILE, and whether
    it is the development default; CLAIMSCRUB_MODE=production refuses a missing,
    default or short key (SettingsError, claimscrub.runtime.secrets)."""
    key, is_default = secrets.hmac_key(os.environ if env is None else env, DEV_HMAC_KEY)
    return key.reveal(), is_default


def keyring(env: Mapping[str, str] | None = None) -> Keyring:
    """The ring from CLAIMSCRUB_HMAC_KEYS[_FILE], else the single key as a one-key
    ring, else the development key (runtime.keyring; production refuses it)."""
    return load_keyring(os.environ if env is None else env, DEV_HMAC_KEY)


Key = bytes | Keyring


def _root(key: Key) -> bytes:
    return key.root.reveal() if isinstance(key, Keyring) else key


def _chained(token: str, key: Key) -> str:
    # A plain key or a one-key ring: the root token is the token (the hot path).
    if isinstance(key, Keyring) and key.current_id != key.root.key_id:
        return chain_token(token, key)
    return token


def _digest(key: bytes, *parts: str) -> str:
    # A unit separator keeps ("AB", "C") and ("A", "BC") apart.
    message = "\x1f".join(parts).encode("utf-8")
    return hmac_sha256_hex(key, message)


def beneficiary_token(claim: Claim, key: Key) -> str:
    """The claim's beneficiary as a keyed hash of payer and member ID, chained up to
    the ring's current key (a plain key is a one-key ring).

    A claim without a member ID cannot be linked to any other claim: its token
    is made from its claim id, so it gets a state of its own.
    """
    member = claim.patient.member_id if claim.patient else None
    if member:
        root = _root(key)
        token = "b-" + _digest(root, "member", claim.payer_id.upper(), member.strip().upper())
        return _chained(token, key)
    return unlinked_token(claim.claim_id, key)


def unlinked_token(claim_id: str, key: Key) -> str:
    """The token of a claim that names no beneficiary (no member ID, or malformed)."""
    return _chained("c-" + _digest(_root(key), "claim", claim_id), key)


# --- key ids in tokens -------------------------------------------------------------


def link_token(token: str, key: HmacKey) -> str:
    """``token`` hashed once more under ``key``: the next link of the chain."""
    kind = token.split("-", 1)[0]
    return f"{kind}-{key.key_id}-{_digest(key.reveal(), 'rekey', token)}"


def token_key_id(token: str, ring: Keyring) -> str:
    """The id of the key that made ``token``: the one it names, else the ring's root."""
    parts = token.split("-")
    if len(parts) == 3:
        return parts[1]
    if len(parts) == 2:
        return ring.root.key_id
    raise ValueError("not a beneficiary token")


def chain_token(token: str, ring: Keyring, *, through: str | None = None) -> str:
    """``token`` carried along the ring from its own key to ``through`` (default:
    the current key); unchanged when it is already there. A token of a later key
    than ``through`` cannot be carried back (ValueError)."""
    ids = ring.ids
    own = token_key_id(token, ring)
    if own not in ring:
        raise UnknownKeyId(own)
    target = ring.current_id if through is None else ring.get(through).key_id
    start, end = ids.index(own), ids.index(target)
    if start > end:
        raise ValueError(f"a token of key {own!r} cannot be carried back to key {target!r}")
    for k in ring.keys[start + 1 : end + 1]:
        token = link_token(token, k)
    return token

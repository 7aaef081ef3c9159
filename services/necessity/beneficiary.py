"""The beneficiary token: the key of the necessity state, never a raw member ID.

The necessity service repartitions claims by beneficiary and keeps their
year-to-date amounts in a table whose changelog topic is keyed like the
table. Those keys leave the process, so they are a keyed hash (HMAC-SHA256)
of payer and member ID, not the ID itself (domain §8: keyed pseudonyms keep
records joinable without carrying the identifier).

Kept small and local on purpose: the redaction service owns the general
pseudonymisation library, and this module can switch to it later without
changing its callers. Changing the key changes every token, so the state
built under the old key is no longer found (the year-to-date amounts then
come from the claim's eligibility figures alone until new claims arrive).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from claimscrub.core.claim import Claim
from claimscrub.core.fingerprint import hmac_sha256_hex
from claimscrub.runtime import secrets

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


def _digest(key: bytes, *parts: str) -> str:
    # A unit separator keeps ("AB", "C") and ("A", "BC") apart.
    message = "\x1f".join(parts).encode("utf-8")
    return hmac_sha256_hex(key, message)


def beneficiary_token(claim: Claim, key: bytes) -> str:
    """The claim's beneficiary as a keyed hash of payer and member ID.

    A claim without a member ID cannot be linked to any other claim: its token
    is made from its claim id, so it gets a state of its own.
    """
    member = claim.patient.member_id if claim.patient else None
    if member:
        return "b-" + _digest(key, "member", claim.payer_id.upper(), member.strip().upper())
    return unlinked_token(claim.claim_id, key)


def unlinked_token(claim_id: str, key: bytes) -> str:
    """The token of a claim that names no beneficiary (no member ID, or malformed)."""
    return "c-" + _digest(key, "claim", claim_id)

"""Keyed pseudonyms (HMAC-SHA256) and per-patient date offsets.

A token is ``<prefix>_<hex>``: the prefix says what it stands for (``mbr``
member ID, ``clm`` claimId, ...), the hex is HMAC-SHA256 over the prefix and
the normalised value, so the same member ID gives the same token in every
claim (analytics can join) while nobody without the key can recompute or
reverse it. The prefix inside the MAC keeps a member ID and an MRN with the
same characters from getting the same token.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_SEPARATORS = re.compile(r"[\s./-]+")


def normalise_identifier(value: str) -> str:
    """``1eg4-te5-mk73`` and ``1EG4TE5MK73`` are one member ID."""
    return _SEPARATORS.sub("", value.strip()).upper()


class Pseudonymizer:
    def __init__(self, key: bytes, hex_chars: int = 32) -> None:
        if not key:
            raise ValueError("the pseudonym key must not be empty")
        self._key = key
        # 32 hex characters = 128 bits: no collisions at billions of claims.
        self._hex_chars = hex_chars

    def _mac(self, *parts: str) -> bytes:
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def token(self, prefix: str, value: str) -> str:
        digest = self._mac("token", prefix, normalise_identifier(value)).hex()
        return f"{prefix}_{digest[: self._hex_chars]}"

    def day_offset(self, patient_token: str, max_days: int) -> int:
        """A non-zero shift in [-max_days, max_days], the same for every date of
        one patient, so intervals between a patient's dates are kept."""
        if max_days < 1:
            raise ValueError("max_days must be at least 1")
        digest = self._mac("date-shift", patient_token)
        magnitude = 1 + int.from_bytes(digest[:8], "big") % max_days
        return magnitude if digest[8] & 1 else -magnitude

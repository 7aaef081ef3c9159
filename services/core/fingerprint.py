"""Claim versions and duplicate fingerprints: keyed hashes of a claim's content.

Two questions the aggregator must answer without ever holding the claim:

* *Is this the same claim again?* A claimId resubmitted with changed content
  is a new version and gets a new result; a redelivery of the same content gets
  none. :func:`claim_version` hashes the whole parsed claim (the raw event
  bytes when it does not parse), so the JSON and the protobuf form of one
  claim are the same version.
* *Is this another claimId for services already scrubbed?* DUPLICATE_CLAIM
  (contract §4: same patient, providers, dates of service, codes, modifiers
  and units under another claimId). :func:`duplicate_fingerprint` hashes
  exactly those fields.

Every check service stamps both on its CheckResult (they all see the same
claim, so they stamp the same values). Both are HMAC-SHA256 under the
deployment's key (``CLAIMSCRUB_HMAC_KEY`` / ``CLAIMSCRUB_HMAC_KEY_FILE``, as
the other keyed pseudonyms; domain §8), truncated to 128 bits: they travel on
claims.checks and in the aggregator's changelogs, and a plain hash of a
member ID, a date and a code could be reversed by trying every value.

With a keyring (``CLAIMSCRUB_HMAC_KEYS``, runtime/keyring.py) both use its
current key: after a rotation the same claim has another version and
fingerprint. :func:`lookup_fingerprints` also gives the fingerprints under
the earlier keys, for a duplicate lookup across the rotation.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from claimscrub.core.claim import Claim, ParsedClaim
from claimscrub.core.results import CheckResult

KEY_VARIABLE = "CLAIMSCRUB_HMAC_KEY"
KEY_FILE_VARIABLE = "CLAIMSCRUB_HMAC_KEY_FILE"
KEYS_VARIABLE = "CLAIMSCRUB_HMAC_KEYS"

#: Used when no key is configured, so `make up` and the CLI work out of the box.
#: It is public (it is in this file): never rely on it outside development.
DEV_KEY = b"claimscrub-DEVELOPMENT-ONLY-fingerprint-key"

_HEX_CHARS = 32  # 128 bits: collisions are out of reach at any claim volume


def key_from_env(env: Mapping[str, str] | None = None) -> bytes:
    """The fingerprint key: the keyring's current key (CLAIMSCRUB_HMAC_KEYS[_FILE]),
    else the variable, else the file it names, else the dev key."""
    e = os.environ if env is None else env
    if e.get(KEYS_VARIABLE) or e.get(f"{KEYS_VARIABLE}_FILE"):
        from claimscrub.runtime.keyring import load_keyring

        return load_keyring(e, DEV_KEY).current.reveal()
    raw = e.get(KEY_VARIABLE, "")
    if raw:
        return raw.encode("utf-8")
    path = e.get(KEY_FILE_VARIABLE, "")
    if path:
        try:
            text = Path(path).read_bytes().rstrip(b"\r\n")
        except OSError:
            text = b""
        if text:
            return text
    return DEV_KEY


@functools.lru_cache(maxsize=16)
def _keyed(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def hmac_sha256_hex(key: bytes, message: bytes) -> str:
    """``hmac.new(key, message, sha256).hexdigest()``, from a copy of the keyed
    state made once per key: a claim takes several of these."""
    h = _keyed(key).copy()
    h.update(message)
    return h.hexdigest()


def _digest(key: bytes, domain: bytes, message: bytes) -> str:
    return hmac_sha256_hex(key, domain + b"\x1f" + message)[:_HEX_CHARS]


def claim_version(parsed: ParsedClaim, raw: bytes | None, key: bytes) -> str:
    """Which version of the claim this is.

    A parsed claim is hashed from its typed form (the repr of frozen
    dataclasses of dates, decimals, strings and tuples is deterministic), so
    encodings and field order do not matter. A claim that does not parse has
    no typed form: its bytes are hashed with its id.
    """
    if parsed.claim is not None:
        return _digest(key, b"claim-version", _typed_form(parsed.claim).encode("utf-8"))
    return _digest(key, b"claim-version-raw", parsed.claim_id.encode() + b"\x1f" + (raw or b""))


def _typed_form(claim: Claim) -> str:
    # A frozenset's repr follows string hashing, which differs from process to
    # process (PYTHONHASHSEED): every service must get the same version, so
    # not_checked is written sorted (and a claim without it as before).
    if not claim.not_checked:
        return repr(claim)
    names = ",".join(sorted(claim.not_checked))
    return repr(dataclasses.replace(claim, not_checked=frozenset())) + "\x1f" + names


def _patient(claim: Claim) -> str | None:
    # The payer's member ID identifies the patient; without one, the billing
    # provider's own record number does (the billing NPI is in the fingerprint).
    p = claim.patient
    if p is None:
        return None
    if p.member_id:
        return "member:" + claim.payer_id.strip().upper() + ":" + p.member_id.strip().upper()
    if p.mrn:
        return "mrn:" + p.mrn.strip().upper()
    return None


def duplicate_fingerprint(claim: Claim, key: bytes) -> str:
    """What makes two claims duplicates, hashed; empty when the claim names no patient.

    Lines count as a multiset of (date of service, code, modifiers, units):
    renumbering lines or listing modifiers in another order is still the same
    service. Charges, diagnoses, notes and the claim's own id are not part of it.
    """
    patient = _patient(claim)
    if patient is None:
        return ""
    lines = sorted(
        [
            f"{line.date_of_service.isoformat()}|{line.procedure_code.strip().upper()}|"
            f"{','.join(sorted([m.strip().upper() for m in line.modifiers]))}|{line.units}"
            for line in claim.service_lines
        ]
    )
    billing = (claim.billing_provider.npi if claim.billing_provider else None) or ""
    rendering = (claim.rendering_provider.npi if claim.rendering_provider else None) or ""
    text = "\x1e".join([patient, "billing:" + billing, "rendering:" + rendering, *lines])
    return _digest(key, b"duplicate", text.encode("utf-8"))


def fingerprint_of(parsed: ParsedClaim, key: bytes) -> str:
    """The duplicate fingerprint of a claim that parsed, else empty."""
    if parsed.ok and parsed.claim is not None:
        return duplicate_fingerprint(parsed.claim, key)
    return ""


def stamp(
    result: CheckResult,
    parsed: ParsedClaim,
    raw: bytes | None,
    key: bytes,
    earlier: Sequence[bytes] = (),
) -> CheckResult:
    """The verdict with the claim's version and duplicate fingerprint on it,
    and the fingerprints under the ``earlier`` keys (newest first) for the
    ledger's lookup across a rotation."""
    fingerprint = fingerprint_of(parsed, key)
    others: tuple[str, ...] = ()
    if fingerprint and earlier and parsed.claim is not None:
        others = lookup_fingerprints(parsed.claim, [key, *earlier])[1:]
    return dataclasses.replace(
        result,
        claim_version=claim_version(parsed, raw, key),
        fingerprint=fingerprint,
        earlier_fingerprints=others,
    )


def earlier_keys_from_env(env: Mapping[str, str] | None = None) -> tuple[bytes, ...]:
    """The keyring's keys that were current before the current one, newest
    first (``Keyring.previous``); none without a ring."""
    e = os.environ if env is None else env
    if not (e.get(KEYS_VARIABLE) or e.get(f"{KEYS_VARIABLE}_FILE")):
        return ()
    from claimscrub.runtime.keyring import load_keyring

    return tuple(k.reveal() for k in load_keyring(e, DEV_KEY).previous)


def lookup_fingerprints(claim: Claim, keys: Sequence[bytes]) -> tuple[str, ...]:
    """The duplicate fingerprint under each key, current first then the earlier
    ones newest first (``Keyring.current`` then ``Keyring.previous``), without
    repeats; empty when the claim names no patient. A ledger written before a
    rotation holds the earlier keys' fingerprints, so a lookup with all of them
    finds a duplicate across the rotation while those entries are retained."""
    out: list[str] = []
    for key in keys:
        fp = duplicate_fingerprint(claim, key)
        if not fp:
            return ()
        if fp not in out:
            out.append(fp)
    return tuple(out)

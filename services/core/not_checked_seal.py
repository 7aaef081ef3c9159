"""Who may waive a check: ``notChecked`` is honoured only when the intake
service set it (docs/x12.md "Trust").

A claim's ``notChecked`` makes rules skip it, so it must not be a switch any
writer of claims.submitted can flip. The intake service, which derives it
from what an 837P cannot carry, seals it: an HMAC-SHA256 under the
deployment's key (``CLAIMSCRUB_HMAC_KEY``, core.fingerprint.key_from_env, the
key the claim versions are made with) over the claimId, the claim's version
(its whole typed content, the names included) and the sorted names, sent in
the record header :data:`SEAL_HEADER`. Each check verifies it
(:func:`honoured`); without a valid seal the names are dropped and the rules
apply as to any contract claim: a missing field is an edit.

The seal binds the names to that claim's content: copying a header onto
another claim, or adding a name, does not verify. Replaying the intake's own
record unchanged gives the same claim version, which the aggregator answers
once.
"""

from __future__ import annotations

import dataclasses
import hmac

from claimscrub.core.claim import Claim, ParsedClaim
from claimscrub.core.fingerprint import claim_version, hmac_sha256_hex

#: The claims.submitted header that carries the seal (hex text).
SEAL_HEADER = "claimscrub-not-checked-seal"
_DOMAIN = b"not-checked-seal-v1"


def seal(claim: Claim, key: bytes) -> bytes:
    """The seal of ``claim``'s ``not_checked`` (empty when it has none)."""
    if not claim.not_checked:
        return b""
    version = claim_version(ParsedClaim(claim.claim_id, claim), None, key)
    names = ",".join(sorted(claim.not_checked))
    message = b"\x1f".join((_DOMAIN, claim.claim_id.encode(), version.encode(), names.encode()))
    return hmac_sha256_hex(key, message).encode("ascii")


def verified(claim: Claim, given: bytes | None, key: bytes) -> bool:
    """True when ``given`` is the seal of ``claim``'s ``not_checked``."""
    if not claim.not_checked or not given:
        return False
    return hmac.compare_digest(seal(claim, key), given.strip())


def unsealed(parsed: ParsedClaim) -> ParsedClaim:
    """``parsed`` from a path the intake service never writes (gRPC, a JSON
    file): its ``not_checked`` is dropped."""
    return honoured(parsed, None, b"")


def honoured(parsed: ParsedClaim, given: bytes | None, key: bytes) -> ParsedClaim:
    """``parsed`` with its ``not_checked`` kept only under a valid seal."""
    claim = parsed.claim
    if claim is None or not claim.not_checked or verified(claim, given, key):
        return parsed
    return dataclasses.replace(parsed, claim=dataclasses.replace(claim, not_checked=frozenset()))

"""837P bytes → claims and the 999: what the CLI runs, and what an intake
service on ``claims.x12`` calls (pure: no I/O beyond its arguments).

Each accepted claim is mapped to the contract dict and parsed by the one
claim parser, then marked with what its source could not carry
(``Claim.not_checked``). A claim the parser rejects (say, a fractional unit
count the guide allows) is answered with MALFORMED_CLAIM like any other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from claimscrub.core.claim import ParsedClaim, parse_claim
from claimscrub.core.claim_dict import claim_from_dict
from claimscrub.x12.mapping import to_contract
from claimscrub.x12.reader import Interchange, SourceClaim, TransactionSet, open_text


@dataclass(frozen=True, slots=True)
class IntakeClaim:
    parsed: ParsedClaim
    source: SourceClaim
    contract: dict[str, Any]

    def event(self) -> dict[str, Any]:
        """The claim as published on claims.submitted: the contract dict with
        its ``notChecked`` (the Claim field ``not_checked``), so the services
        skip what the 837P cannot carry as the CLI does."""
        claim = self.parsed.claim
        if claim is None or not claim.not_checked:
            return self.contract
        return {**self.contract, "notChecked": sorted(claim.not_checked)}


def parsed_claim(source: SourceClaim, component: str) -> tuple[ParsedClaim, dict[str, Any]]:
    data, not_carried = to_contract(source, component)
    claim = claim_from_dict(data)
    parsed = ParsedClaim(claim.claim_id, claim) if claim is not None else parse_claim(data)
    if parsed.claim is not None:
        parsed.claim = dataclasses.replace(parsed.claim, not_checked=not_carried)
    return parsed, data


def submitted_key(icn: str, set_control: str, n: int) -> str:
    """The claims.submitted key of the ``n``-th claim of a transaction set
    without a usable CLM01: it names where the claim came from, so the claim
    is still answered (MALFORMED_CLAIM) under a key its sender can match."""
    return f"x12-{icn}-{set_control}-{n}"


def claims_of(interchange: Interchange) -> Iterator[tuple[TransactionSet, IntakeClaim]]:
    """The claims of every accepted transaction set, in input order."""
    component = interchange.delimiters.component
    for tset in interchange.sets():
        if not tset.accepted:
            continue
        for source in tset.claims:
            parsed, data = parsed_claim(source, component)
            yield tset, IntakeClaim(parsed, source, data)


def intake(data: bytes) -> tuple[list[ParsedClaim], str]:
    """Every accepted claim of the interchange, and its 999.

    Raises :class:`~claimscrub.x12.reader.NotX12` when the bytes are not an
    interchange that can be acknowledged at all."""
    interchange = Interchange(open_text(data))
    claims = [c.parsed for _tset, c in claims_of(interchange)]
    return claims, interchange.acknowledgment()

"""``claimscrub scrub``: every check in one process, no broker.

Each claim takes the same path as on the stream: encoded as the event the
billing platform would publish, decoded by the services' codec, run through
each :class:`~claimscrub.core.checks.Check`, combined by the aggregator's
:func:`~claimscrub.core.results.combine`. So ``scrub`` and the pipeline give
the same result for the same claim and reference data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from claimscrub.cli.claims_input import Unparseable
from claimscrub.core.checks import Check
from claimscrub.core.claim import ParsedClaim, parse_claim
from claimscrub.core.codec import UndecodableEvent, decode_claim, encode_claim_json
from claimscrub.core.results import ScrubResult, combine


def position_id(position: int) -> str:
    """Stands in for a missing claimId: the claim's 1-based place in the input."""
    return f"#{position}"


def decode_input(raw: Any, position: int) -> ParsedClaim:
    """Parse one input claim as the services would after it crossed Kafka.

    The parser reads integers the way proto3 JSON does, so parsing the JSON
    directly gives the same claim as encoding it to protobuf and decoding it
    again (tests/unit/test_parity.py holds it to that), at a fraction of the cost.
    """
    fallback = position_id(position)
    if isinstance(raw, Unparseable):
        return ParsedClaim(fallback, None, [f"claim: input line {raw.line} is not valid JSON"])
    parsed = parse_claim(raw)
    if not parsed.claim_id:
        parsed.claim_id = fallback
    return parsed


def decode_as_streamed(raw: Any, position: int) -> ParsedClaim:
    """The stream's path for one claim: encoded as published, decoded by the services."""
    fallback = position_id(position)
    value, content_type = encode_claim_json(raw)
    try:
        return decode_claim(value, content_type=content_type, key=fallback)
    except UndecodableEvent:
        return ParsedClaim(fallback, None, ["claim: must be a JSON object"])


class Scrubber:
    def __init__(self, checks: Sequence[Check], as_of: dt.date) -> None:
        self._checks = tuple(checks)
        self._as_of = as_of

    def scrub(self, raw: Any, position: int) -> ScrubResult:
        parsed = decode_input(raw, position)
        return combine(parsed.claim_id, (c.run(parsed, self._as_of) for c in self._checks))

    def scrub_all(self, claims: Iterable[Any]) -> Iterator[ScrubResult]:
        for position, raw in enumerate(claims, start=1):
            yield self.scrub(raw, position)

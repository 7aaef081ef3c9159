"""``claimscrub scrub``: every check in one process, no broker.

Each claim takes the same path as on the stream: encoded as the event the
billing platform would publish, decoded by the services' codec, run through
each :class:`~claimscrub.core.checks.Check`, combined by the aggregator's
:func:`~claimscrub.core.results.combine`. So ``scrub`` and the pipeline give
the same result for the same claim and reference data.

The batch gets the stream's duplicate rule in input order: a claim with the
same patient, providers, dates of service, codes, modifiers and units as an
earlier claim of the batch under another claimId gets DUPLICATE_CLAIM
(claimscrub.core.duplicates). With ``--remote`` each claim is scrubbed by a
running aggregator's ScrubService instead (the services' reference data and
state), and the duplicate rule is applied here, the same way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from claimscrub.cli.claims_input import Unparseable
from claimscrub.core.checks import Check
from claimscrub.core.claim import ParsedClaim, parse_claim
from claimscrub.core.claim_checks import malformed_edits
from claimscrub.core.claim_dict import claim_from_dict
from claimscrub.core.codec import UndecodableEvent, decode_claim, encode_claim_json
from claimscrub.core.duplicates import BatchDuplicates
from claimscrub.core.edits import CheckName, edit
from claimscrub.core.fingerprint import fingerprint_of, key_from_env
from claimscrub.core.not_checked_seal import unsealed
from claimscrub.core.results import CheckResult, ScrubResult, combine, with_claim_edits
from claimscrub.runtime import grpc_client


def position_id(position: int) -> str:
    """Stands in for a missing claimId: the claim's 1-based place in the input."""
    return f"#{position}"


def decode_input(raw: Any, position: int, today: dt.date | None = None) -> ParsedClaim:
    """Parse one input claim as the services would after it crossed Kafka
    (``today``: the processing date, which bounds the claim's dates).

    The parser reads integers the way proto3 JSON does, so parsing the JSON
    directly gives the same claim as encoding it to protobuf and decoding it
    again (tests/unit/test_parity.py holds it to that), at a fraction of the cost.
    """
    fallback = position_id(position)
    if isinstance(raw, Unparseable):
        return ParsedClaim(fallback, None, [f"claim: input line {raw.line} is not valid JSON"])
    claim = claim_from_dict(raw, today)
    if claim is not None:  # well formed: built directly
        # A JSON file is not the intake service: its notChecked is not honoured.
        return unsealed(ParsedClaim(claim.claim_id, claim))
    parsed = parse_claim(raw, today)
    if not parsed.claim_id:
        parsed.claim_id = fallback
    return parsed


def decode_as_streamed(raw: Any, position: int, today: dt.date | None = None) -> ParsedClaim:
    """The stream's path for one claim: encoded as published, decoded by the services."""
    fallback = position_id(position)
    value, content_type = encode_claim_json(raw)
    try:
        # A JSON file is not the intake service: its notChecked is not honoured.
        return unsealed(decode_claim(value, content_type=content_type, key=fallback, today=today))
    except UndecodableEvent:
        return ParsedClaim(fallback, None, ["claim: must be a JSON object"])


class Scrubber:
    """Scrubs one batch: checks in this process, duplicates across the batch."""

    def __init__(self, checks: Sequence[Check], as_of: dt.date) -> None:
        self._checks = tuple(checks)
        self._as_of = as_of
        self._duplicates = BatchDuplicates()
        self._key = key_from_env()

    def scrub(self, raw: Any, position: int) -> ScrubResult:
        return self.scrub_parsed(decode_input(raw, position, self._as_of))

    def scrub_parsed(self, parsed: ParsedClaim) -> ScrubResult:
        """One claim already parsed (an 837P claim: claimscrub.x12.intake)."""
        result = combine(parsed.claim_id, (c.run(parsed, self._as_of) for c in self._checks))
        return with_claim_edits(
            result, self._duplicates.check(parsed.claim_id, fingerprint_of(parsed, self._key))
        )

    def scrub_all(self, claims: Iterable[Any]) -> Iterator[ScrubResult]:
        for position, raw in enumerate(claims, start=1):
            yield self.scrub(raw, position)


class RemoteError(Exception):
    """The ScrubService could not be reached: the CLI exits 2 with this reason."""


def _unsendable(parsed: ParsedClaim, checks: Sequence[str]) -> ScrubResult:
    """The answer for a claim that has no protobuf form (the gRPC API takes only
    protobuf Claims): what every check would say, MALFORMED_CLAIM."""
    edits = tuple(malformed_edits(parsed)) or (
        edit("MALFORMED_CLAIM", 0, "invalid claim: values do not fit the Claim message"),
    )
    return combine(
        parsed.claim_id, (CheckResult(parsed.claim_id, CheckName(c), edits) for c in checks)
    )


class RemoteScrubber:
    """Scrubs one batch through a running aggregator's gRPC ScrubService.

    Claims go out a window at a time (the service asks the checks in
    parallel; several claims in flight keep them busy) and come back in input
    order.
    """

    WINDOW = 16

    def __init__(self, target: str, *, timeout_s: float = 30.0, checks: Sequence[str] = ()) -> None:
        import grpc

        from claimscrub.v1 import scrub_service_pb2_grpc

        self._grpc = grpc
        self._channel = grpc_client.channel(target)
        self._stub = scrub_service_pb2_grpc.ScrubServiceStub(self._channel)
        self._target = target
        self._timeout_s = timeout_s
        self._checks = tuple(checks) or ("UNITS", "NECESSITY", "ENROLLMENT")
        self._duplicates = BatchDuplicates()
        self._key = key_from_env()

    def _request(self, raw: Any) -> Any:
        from google.protobuf import json_format

        from claimscrub.v1 import claim_pb2

        if not isinstance(raw, dict):
            return None
        try:
            return json_format.ParseDict(raw, claim_pb2.Claim(), ignore_unknown_fields=True)
        except json_format.ParseError:
            return None

    def _answer(self, parsed: ParsedClaim, future: Any) -> ScrubResult:
        from claimscrub.core.codec import scrub_result_from_pb

        if future is None:
            result = _unsendable(parsed, self._checks)
        else:
            try:
                reply = future.result()
            except self._grpc.RpcError as exc:
                code = exc.code().name if hasattr(exc, "code") else "UNKNOWN"
                raise RemoteError(
                    f"ScrubService at {self._target} did not answer ({code})"
                ) from None
            result = scrub_result_from_pb(reply)
            if not result.claim_id:
                result = dataclasses.replace(result, claim_id=parsed.claim_id)
        return with_claim_edits(
            result, self._duplicates.check(result.claim_id, fingerprint_of(parsed, self._key))
        )

    def scrub_all(self, claims: Iterable[Any]) -> Iterator[ScrubResult]:
        window: list[tuple[ParsedClaim, Any]] = []
        try:
            for position, raw in enumerate(claims, start=1):
                parsed = decode_input(raw, position)
                request = self._request(raw)
                future = (
                    None
                    if request is None
                    else self._stub.Scrub.future(request, timeout=self._timeout_s)
                )
                window.append((parsed, future))
                if len(window) >= self.WINDOW:
                    yield self._answer(*window.pop(0))
            while window:
                yield self._answer(*window.pop(0))
        finally:
            self._channel.close()

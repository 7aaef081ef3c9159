"""gRPC ScrubService: the whole scrub of one claim, answered synchronously.

Scrub asks every required check's own gRPC ``Check`` method in parallel, each
with a deadline, and combines the verdicts with the code the stream uses
(:func:`claimscrub.core.results.combine`). A check that fails or does not
answer in time adds CHECK_INCOMPLETE naming it; the call itself never fails
because of a check. The caller's own deadline, if shorter, is respected.

Nothing is recorded: the checks' Check methods are "what if" answers (the
necessity check reads the beneficiary's history but does not add the claim
to it), and DUPLICATE_CLAIM, a property of what was *submitted*, is decided on
the stream (and within a batch by `claimscrub scrub`, --remote included).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from typing import Any

import grpc

from claimscrub.aggregator.metrics import aggregator_metrics
from claimscrub.core.claim import parse_claim
from claimscrub.core.codec import (
    PROTOBUF,
    UndecodableEvent,
    check_result_from_pb,
    claim_to_dict,
    decode_claim,
    scrub_result_to_pb,
)
from claimscrub.core.edits import CheckName, Edit, edit
from claimscrub.core.fingerprint import claim_version, key_from_env
from claimscrub.core.not_checked_seal import unsealed
from claimscrub.core.results import CheckResult, combine, with_claim_edits
from claimscrub.runtime import grpc_client, logs
from claimscrub.runtime.grpc_server import Registrar
from claimscrub.v1 import (
    claim_pb2,
    enrollment_service_pb2_grpc,
    necessity_service_pb2_grpc,
    results_pb2,
    scrub_service_pb2,
    scrub_service_pb2_grpc,
    units_service_pb2_grpc,
)

log = logs.get_logger(__name__)

_STUBS: dict[CheckName, tuple[str, Any]] = {
    CheckName.UNITS: ("claimscrub.v1.UnitsService", units_service_pb2_grpc.UnitsServiceStub),
    CheckName.NECESSITY: (
        "claimscrub.v1.NecessityService",
        necessity_service_pb2_grpc.NecessityServiceStub,
    ),
    CheckName.ENROLLMENT: (
        "claimscrub.v1.EnrollmentService",
        enrollment_service_pb2_grpc.EnrollmentServiceStub,
    ),
}


def _channel_options(service: str) -> list[tuple[str, Any]]:
    # A refused connection (a check restarting) is retried within the deadline;
    # reconnect backoff stays short so a check that is back is used within seconds.
    config = {
        "methodConfig": [
            {
                "name": [{"service": service, "method": "Check"}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
    return [
        ("grpc.service_config", json.dumps(config)),
        ("grpc.enable_retries", 1),
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2000),
    ]


def unanswered_edit(check: CheckName, code: grpc.StatusCode | None, deadline_s: float) -> Edit:
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return edit("CHECK_INCOMPLETE", 0, f"{check.value} did not answer within {deadline_s:g} s")
    name = code.name if code is not None else "UNKNOWN"
    return edit("CHECK_INCOMPLETE", 0, f"{check.value} did not answer ({name})")


def request_version(request: claim_pb2.Claim, key: bytes) -> str:
    """The claim version the check services stamp on the stream
    (core.fingerprint.claim_version of the decoded claim), so a Scrub answer
    and the stream's result for the same claim carry the same claimVersion."""
    raw = request.SerializeToString()
    try:
        parsed = decode_claim(raw, content_type=PROTOBUF)
    except UndecodableEvent:  # an empty request: no field the decoder recognises
        parsed = parse_claim(claim_to_dict(request))
    return claim_version(unsealed(parsed), raw, key)


class ScrubServicer(scrub_service_pb2_grpc.ScrubServiceServicer):
    def __init__(self, addresses: Mapping[CheckName, str], deadline_s: float) -> None:
        self._addresses = dict(addresses)
        self._deadline_s = deadline_s
        # The key the check services stamp claim versions with (CLAIMSCRUB_HMAC_KEY[_FILE]).
        self._version_key = key_from_env()
        self._stubs: dict[CheckName, Any] = {}
        self._channels: list[grpc.aio.Channel] = []

    def _stub(self, check: CheckName) -> Any:
        # Channels are made on first use, inside the server's event loop.
        stub = self._stubs.get(check)
        if stub is None:
            service, stub_class = _STUBS[check]
            # TLS and a client certificate when configured (runtime.grpc_client).
            channel = grpc_client.aio_channel(self._addresses[check], _channel_options(service))
            self._channels.append(channel)
            stub = self._stubs[check] = stub_class(channel)
        return stub

    async def _ask(
        self, check: CheckName, request: claim_pb2.Claim, deadline_s: float
    ) -> CheckResult | Edit:
        try:
            reply = await self._stub(check).Check(request, timeout=deadline_s)
            return check_result_from_pb(reply)
        except grpc.aio.AioRpcError as exc:
            log.warning("check_unanswered", check=check.value, status=exc.code().name)
            return unanswered_edit(check, exc.code(), deadline_s)
        except Exception as exc:  # a reply we cannot read is no answer either
            log.warning("check_unanswered", check=check.value, error=type(exc).__name__)
            return unanswered_edit(check, None, deadline_s)

    async def Scrub(
        self, request: claim_pb2.Claim, context: grpc.aio.ServicerContext
    ) -> results_pb2.ScrubResult:
        deadline_s = self._deadline_s
        remaining = context.time_remaining()
        if remaining is not None and math.isfinite(remaining):
            # Leave the caller a moment to receive the answer.
            deadline_s = max(0.05, min(deadline_s, remaining * 0.9))
        checks = list(self._addresses)
        answers = await asyncio.gather(*(self._ask(c, request, deadline_s) for c in checks))
        results = [a for a in answers if isinstance(a, CheckResult)]
        missing = [a for a in answers if isinstance(a, Edit)]
        # The checks' own parse gives the claim id (trimmed), as on the stream.
        claim_id = results[0].claim_id if results else request.claim_id.strip()
        combined = with_claim_edits(combine(claim_id, results), missing)
        metrics = aggregator_metrics()
        for check, answer in zip(checks, answers, strict=True):
            if isinstance(answer, Edit):
                metrics.incomplete.labels(check.value, "sync").inc()
        metrics.scrub_calls.labels(combined.status.value).inc()
        version = next((r.claim_version for r in results if r.claim_version), "")
        return scrub_result_to_pb(combined, version or request_version(request, self._version_key))

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


def registrar(servicer: ScrubServicer) -> Registrar:
    def register(server: grpc.aio.Server) -> list[str]:
        scrub_service_pb2_grpc.add_ScrubServiceServicer_to_server(servicer, server)
        return [scrub_service_pb2.DESCRIPTOR.services_by_name["ScrubService"].full_name]

    return register

"""How other services call EnrollmentService: channels carrying the retry policy.

``channel("enrollment:50053")`` (or :func:`aio_channel` inside asyncio code)
gives a channel whose service config retries UNAVAILABLE with exponential
backoff (``data/grpc_service_config.json``). Retries happen within the call's
deadline, so every call sets one (:data:`DEFAULT_DEADLINE_S` if nothing
tighter is needed)::

    from claimscrub.enrollment.client import aio_channel
    from claimscrub.v1 import enrollment_service_pb2 as pb, enrollment_service_pb2_grpc as rpc

    async with aio_channel(target) as ch:
        reply = await rpc.EnrollmentServiceStub(ch).GetEnrollment(
            pb.GetEnrollmentRequest(npi=npi, payer_id=payer, date="2026-05-04"),
            timeout=DEFAULT_DEADLINE_S,
        )
        reply.enrolled_on_date, reply.discipline, reply.assistant, list(reply.reasons)
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import grpc

from claimscrub.runtime import grpc_client

SERVICE = "claimscrub.v1.EnrollmentService"
# A lookup answers from memory in about a millisecond on localhost; two
# seconds leaves room for the retry policy's backoff (0.1 + 0.2 + 0.4 s).
DEFAULT_DEADLINE_S = 2.0


def _without_notes(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_notes(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_without_notes(v) for v in value]
    return value


def service_config() -> dict[str, Any]:
    """The bundled service config, as gRPC takes it."""
    text = resources.files("claimscrub.enrollment").joinpath("data/grpc_service_config.json")
    config: dict[str, Any] = _without_notes(json.loads(text.read_text("utf-8")))
    return config


def channel_options() -> list[tuple[str, Any]]:
    return [
        ("grpc.service_config", json.dumps(service_config())),
        ("grpc.enable_retries", 1),
    ]


def channel(target: str) -> grpc.Channel:
    """A blocking channel to EnrollmentService with the retry policy, secured
    as the environment says (claimscrub.runtime.grpc_client)."""
    return grpc_client.channel(target, channel_options())


def aio_channel(target: str) -> grpc.aio.Channel:
    """An asyncio channel to EnrollmentService with the retry policy, secured
    as the environment says (claimscrub.runtime.grpc_client)."""
    return grpc_client.aio_channel(target, channel_options())

"""runtime.grpc_server on a real grpc.aio server on localhost: reflection
answers under both protocol names (grpc.reflection.v1 and v1alpha), and the
aggregator's synchronous Scrub carries the claim version the stream stamps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from claimscrub.aggregator.scrub_service import ScrubServicer, registrar
from claimscrub.core.codec import JSON, decode_claim, encode_claim_json
from claimscrub.core.fingerprint import claim_version, key_from_env
from claimscrub.runtime.grpc_server import REFLECTION_V1, REFLECTION_V1ALPHA, start_grpc_server
from claimscrub.v1 import claim_pb2, scrub_service_pb2_grpc

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRUB = "claimscrub.v1.ScrubService"


def _serve(scenario: Callable[[grpc.aio.Channel], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        servicer = ScrubServicer({}, deadline_s=1.0)
        handle = await start_grpc_server("127.0.0.1", 0, registrar(servicer))
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
                return await scenario(channel)
        finally:
            await handle.stop(0)

    return asyncio.run(main())


def _reflect(service: str, request: bytes) -> Any:
    """One ServerReflectionInfo exchange on ``service``, in raw bytes, decoded
    as v1alpha (v1 is the same wire format under another package name)."""
    from grpc_reflection.v1alpha import reflection_pb2

    async def scenario(channel: grpc.aio.Channel) -> Any:
        call = channel.stream_stream(f"/{service}/ServerReflectionInfo")

        async def requests() -> AsyncIterator[bytes]:
            yield request

        replies = [r async for r in call(requests())]
        return reflection_pb2.ServerReflectionResponse.FromString(replies[0])

    return _serve(scenario)


def _list_services() -> bytes:
    from grpc_reflection.v1alpha import reflection_pb2

    request: bytes = reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()
    return request


def test_reflection_v1_and_v1alpha_both_list_the_services() -> None:
    for service in (REFLECTION_V1, REFLECTION_V1ALPHA):
        reply = _reflect(service, _list_services())
        names = {s.name for s in reply.list_services_response.service}
        assert {SCRUB, "grpc.health.v1.Health", REFLECTION_V1, REFLECTION_V1ALPHA} <= names, service


def test_reflection_v1_describes_itself_and_the_services() -> None:
    from google.protobuf import descriptor_pb2
    from grpc_reflection.v1alpha import reflection_pb2

    for symbol, package in ((SCRUB, "claimscrub.v1"), (REFLECTION_V1, "grpc.reflection.v1")):
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
        reply = _reflect(REFLECTION_V1, request.SerializeToString())
        files = reply.file_descriptor_response.file_descriptor_proto
        assert files, symbol
        described = descriptor_pb2.FileDescriptorProto.FromString(files[0])
        assert described.package == package


def test_synchronous_scrub_fills_the_claim_version_the_stream_stamps() -> None:
    claim = json.loads((EXAMPLES / "claims.json").read_text())[0]
    # What every check service stamps on the stream for this claim (runtime/claim_judge.py),
    # whether a producer sent it as JSON or as the CLI does (protobuf).
    as_json = json.dumps(claim).encode()
    expected = claim_version(decode_claim(as_json, content_type=JSON), as_json, key_from_env())
    raw, content_type = encode_claim_json(claim)
    assert claim_version(decode_claim(raw, content_type=content_type), raw, key_from_env()) == (
        expected
    )
    request = json_format.ParseDict(claim, claim_pb2.Claim(), ignore_unknown_fields=True)

    async def scenario(channel: grpc.aio.Channel) -> Any:
        return await scrub_service_pb2_grpc.ScrubServiceStub(channel).Scrub(request, timeout=10)

    reply = _serve(scenario)
    assert reply.claim_id == "EX-001"
    assert len(reply.claim_version) == 32
    assert reply.claim_version == expected


def test_a_second_server_on_a_taken_port_refuses_to_start() -> None:
    """Two servers must never share a port: with SO_REUSEPORT the kernel would
    split the callers between them and each would answer calls meant for the
    other."""

    async def main() -> str:
        first = await start_grpc_server(
            "127.0.0.1", 0, registrar(ScrubServicer({}, deadline_s=1.0)), audit=False
        )
        try:
            second = await start_grpc_server(
                "127.0.0.1", first.port, registrar(ScrubServicer({}, deadline_s=1.0)), audit=False
            )
            await second.stop(0)
            return "bound"
        except OSError as e:
            return str(e)
        finally:
            await first.stop(0)

    outcome = asyncio.run(main())
    assert outcome != "bound"
    assert "cannot bind" in outcome

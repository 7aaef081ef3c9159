"""The gRPC metrics interceptor on a real grpc.aio server on localhost: the
go-grpc-prometheus names, labels and status-code spellings, per RPC shape."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from prometheus_client import CollectorRegistry

from claimscrub.runtime.grpc_metrics import GO_CODE_NAMES, MetricsInterceptor, preregister
from claimscrub.runtime.metrics import ServiceMetrics

HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"


class _Boom(grpc.GenericRpcHandler):  # type: ignore[misc]
    """A method whose handler raises: the client sees UNKNOWN."""

    def service(self, details: Any) -> Any:
        if details.method != "/test.Boom/Explode":
            return None

        async def explode(request: bytes, context: Any) -> bytes:
            raise RuntimeError("handler bug")

        return grpc.unary_unary_rpc_method_handler(explode)


Scenario = Callable[[grpc.aio.Channel], Awaitable[None]]


def _run(scenario: Scenario) -> CollectorRegistry:
    registry = CollectorRegistry()
    m = ServiceMetrics(registry)

    async def main() -> None:
        server = grpc.aio.server(interceptors=[MetricsInterceptor(m)])
        servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        reflection.enable_server_reflection([HEALTH, REFLECTION], server)
        server.add_generic_rpc_handlers([_Boom()])
        preregister([HEALTH, REFLECTION], m)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await scenario(channel)
        finally:
            await server.stop(None)

    asyncio.run(main())
    return registry


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    v = registry.get_sample_value(name, labels)
    assert v is not None, f"no sample {name}{labels}"
    return v


def test_unary_ok_counts_start_handled_messages_and_latency() -> None:
    async def scenario(channel: grpc.aio.Channel) -> None:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(3):
            await stub.Check(health_pb2.HealthCheckRequest(service=""))

    r = _run(scenario)
    labels = {"grpc_type": "unary", "grpc_service": HEALTH, "grpc_method": "Check"}
    assert _value(r, "grpc_server_started_total", **labels) == 3
    assert _value(r, "grpc_server_handled_total", **labels, grpc_code="OK") == 3
    assert _value(r, "grpc_server_msg_received_total", **labels) == 3
    assert _value(r, "grpc_server_msg_sent_total", **labels) == 3
    assert _value(r, "grpc_server_handling_seconds_count", **labels) == 3


def test_abort_is_counted_under_gos_code_name_and_sends_nothing() -> None:
    async def scenario(channel: grpc.aio.Channel) -> None:
        stub = health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
        assert info.value.code() is grpc.StatusCode.NOT_FOUND

    r = _run(scenario)
    labels = {"grpc_type": "unary", "grpc_service": HEALTH, "grpc_method": "Check"}
    assert _value(r, "grpc_server_handled_total", **labels, grpc_code="NotFound") == 1
    assert _value(r, "grpc_server_handled_total", **labels, grpc_code="OK") == 0
    assert _value(r, "grpc_server_msg_sent_total", **labels) == 0


def test_a_handler_exception_is_unknown() -> None:
    async def scenario(channel: grpc.aio.Channel) -> None:
        explode = channel.unary_unary("/test.Boom/Explode")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await explode(b"")
        assert info.value.code() is grpc.StatusCode.UNKNOWN

    r = _run(scenario)
    labels = {"grpc_type": "unary", "grpc_service": "test.Boom", "grpc_method": "Explode"}
    assert _value(r, "grpc_server_handled_total", **labels, grpc_code="Unknown") == 1


def test_server_stream_counts_each_message_and_a_client_cancel() -> None:
    async def scenario(channel: grpc.aio.Channel) -> None:
        stub = health_pb2_grpc.HealthStub(channel)
        call = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        first = await call.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        call.cancel()
        await asyncio.sleep(0.2)  # let the server see the cancellation

    r = _run(scenario)
    labels = {"grpc_type": "server_stream", "grpc_service": HEALTH, "grpc_method": "Watch"}
    assert _value(r, "grpc_server_started_total", **labels) == 1
    assert _value(r, "grpc_server_msg_received_total", **labels) == 1
    assert _value(r, "grpc_server_msg_sent_total", **labels) == 1
    assert _value(r, "grpc_server_handled_total", **labels, grpc_code="Canceled") == 1


def test_bidi_stream_counts_messages_both_ways() -> None:
    async def scenario(channel: grpc.aio.Channel) -> None:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)

        async def requests() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
            for _ in range(2):
                yield reflection_pb2.ServerReflectionRequest(list_services="")

        replies = [r async for r in stub.ServerReflectionInfo(requests())]
        assert len(replies) == 2

    r = _run(scenario)
    labels = {
        "grpc_type": "bidi_stream",
        "grpc_service": REFLECTION,
        "grpc_method": "ServerReflectionInfo",
    }
    assert _value(r, "grpc_server_msg_received_total", **labels) == 2
    assert _value(r, "grpc_server_msg_sent_total", **labels) == 2
    assert _value(r, "grpc_server_handled_total", **labels, grpc_code="OK") == 1


def test_every_method_and_code_exists_at_zero_before_any_call() -> None:
    async def scenario(channel: grpc.aio.Channel) -> None:
        return None

    r = _run(scenario)
    # grpc-go's codes.Code.String() spellings, as go-grpc-prometheus exports them.
    assert set(GO_CODE_NAMES.values()) == {
        "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
        "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
        "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
        "Unauthenticated",
    }  # fmt: skip
    for method, kind in (("Check", "unary"), ("Watch", "server_stream")):
        labels = {"grpc_type": kind, "grpc_service": HEALTH, "grpc_method": method}
        assert _value(r, "grpc_server_started_total", **labels) == 0
        for code in GO_CODE_NAMES.values():
            assert _value(r, "grpc_server_handled_total", **labels, grpc_code=code) == 0

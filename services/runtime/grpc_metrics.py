"""A grpc.aio server interceptor exporting go-grpc-prometheus's server metrics.

Same names, labels and label values as github.com/grpc-ecosystem/
go-grpc-prometheus (server_metrics.go, server_reporter.go, util.go):
``grpc_type`` is unary|client_stream|server_stream|bidi_stream, ``grpc_code``
is Go's spelling of the status code (OK, Canceled, InvalidArgument, ...), a
unary RPC counts one message received and, when it succeeds, one sent, and
:func:`preregister` creates every method's series at zero like its
``InitializeMetrics``. Labels hold only service and method names.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

import grpc
from google.protobuf import descriptor_pool

from claimscrub.runtime.metrics import ServiceMetrics, service_metrics

# grpc.StatusCode names -> codes.Code.String() in grpc-go (codes/code_string.go).
GO_CODE_NAMES: dict[grpc.StatusCode, str] = {
    code: (
        "OK"
        if code is grpc.StatusCode.OK
        else "Canceled"
        if code is grpc.StatusCode.CANCELLED
        else "".join(part.capitalize() for part in code.name.split("_"))
    )
    for code in grpc.StatusCode
}


def rpc_type(request_streaming: bool, response_streaming: bool) -> str:
    if request_streaming and response_streaming:
        return "bidi_stream"
    if request_streaming:
        return "client_stream"
    if response_streaming:
        return "server_stream"
    return "unary"


def split_method(full_method: str) -> tuple[str, str]:
    """'/pkg.Service/Method' -> ('pkg.Service', 'Method')."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return (service or "unknown", method or "unknown")


def preregister(service_names: Iterable[str], m: ServiceMetrics | None = None) -> None:
    """Create every method's series at zero, every status code included."""
    m = m or service_metrics()
    pool = descriptor_pool.Default()
    for name in service_names:
        try:
            service = pool.FindServiceByName(name)
        except KeyError:
            continue
        for method in service.methods:
            labels = (
                rpc_type(method.client_streaming, method.server_streaming),
                name,
                method.name,
            )
            m.grpc_started.labels(*labels)
            m.grpc_msg_received.labels(*labels)
            m.grpc_msg_sent.labels(*labels)
            m.grpc_handling.labels(*labels)
            for go_name in GO_CODE_NAMES.values():
                m.grpc_handled.labels(*labels, go_name)


class _Call:
    """The bookkeeping of one RPC: started now, handled once."""

    __slots__ = ("labels", "m", "started")

    def __init__(self, m: ServiceMetrics, labels: tuple[str, str, str]) -> None:
        self.m = m
        self.labels = labels
        self.started = time.perf_counter()
        m.grpc_started.labels(*labels).inc()

    def received(self) -> None:
        self.m.grpc_msg_received.labels(*self.labels).inc()

    def sent(self) -> None:
        self.m.grpc_msg_sent.labels(*self.labels).inc()

    def handled(self, code: grpc.StatusCode) -> None:
        name = GO_CODE_NAMES.get(code, "Unknown")
        self.m.grpc_handled.labels(*self.labels, name).inc()
        self.m.grpc_handling.labels(*self.labels).observe(time.perf_counter() - self.started)


def _code_after_success(context: Any) -> grpc.StatusCode:
    code = context.code()
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.OK


def _code_after_error(context: Any, exc: BaseException) -> grpc.StatusCode:
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    code = context.code()
    # context.abort() sets the code before raising; any other exception is
    # reported to the client as UNKNOWN by grpc.aio.
    if isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK:
        return code
    return grpc.StatusCode.UNKNOWN


class _CountingContext:
    """A servicer context whose write() counts sent messages (handlers that
    stream with ``await context.write(...)``, like grpc_health's Watch)."""

    def __init__(self, context: Any, call: _Call) -> None:
        self._context = context
        self._call = call

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        self._call.sent()

    async def read(self) -> Any:
        message = await self._context.read()
        if message is not grpc.aio.EOF:
            self._call.received()
        return message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


async def _count_async(requests: AsyncIterator[Any], call: _Call) -> AsyncIterator[Any]:
    async for r in requests:
        call.received()
        yield r


def _count_sync(requests: Iterator[Any], call: _Call) -> Iterator[Any]:
    for r in requests:
        call.received()
        yield r


def _counted_requests(request: Any, streaming: bool, call: _Call) -> Any:
    if not streaming:
        call.received()
        return request
    if hasattr(request, "__aiter__"):
        return _count_async(request, call)
    return _count_sync(request, call)


def _wrap(
    behavior: Callable[..., Any],
    labels: tuple[str, str, str],
    request_streaming: bool,
    response_streaming: bool,
    m: ServiceMetrics,
) -> Callable[..., Any]:
    """The same kind of callable as ``behavior`` (grpc.aio dispatches on it:
    coroutine, async generator or plain function), with the metrics around it."""
    import inspect

    if inspect.isasyncgenfunction(behavior):

        async def async_gen(request: Any, context: Any) -> AsyncIterator[Any]:
            call = _Call(m, labels)
            try:
                async for response in behavior(
                    _counted_requests(request, request_streaming, call), context
                ):
                    yield response
                    call.sent()
            except BaseException as exc:
                call.handled(_code_after_error(context, exc))
                raise
            call.handled(_code_after_success(context))

        return async_gen

    if inspect.iscoroutinefunction(behavior):

        async def coroutine(request: Any, context: Any) -> Any:
            call = _Call(m, labels)
            counting = _CountingContext(context, call)
            try:
                response = await behavior(
                    _counted_requests(request, request_streaming, call), counting
                )
            except BaseException as exc:
                call.handled(_code_after_error(context, exc))
                raise
            if not response_streaming or response is not None:
                call.sent()
            call.handled(_code_after_success(context))
            return response

        return coroutine

    if response_streaming:

        def sync_gen(request: Any, context: Any) -> Iterator[Any]:
            call = _Call(m, labels)
            try:
                for response in behavior(
                    _counted_requests(request, request_streaming, call), context
                ):
                    yield response
                    call.sent()
            except BaseException as exc:
                call.handled(_code_after_error(context, exc))
                raise
            call.handled(_code_after_success(context))

        return sync_gen

    def sync_unary(request: Any, context: Any) -> Any:
        call = _Call(m, labels)
        try:
            response = behavior(_counted_requests(request, request_streaming, call), context)
        except BaseException as exc:
            call.handled(_code_after_error(context, exc))
            raise
        call.sent()
        call.handled(_code_after_success(context))
        return response

    return sync_unary


#: a method handler's constructor and behaviour attribute by (request streaming,
#: response streaming): what a server interceptor needs to wrap any handler.
HANDLER_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}
HANDLER_BEHAVIOR = {
    (False, False): "unary_unary",
    (False, True): "unary_stream",
    (True, False): "stream_unary",
    (True, True): "stream_stream",
}


def rewrapped(
    handler: Any,
    wrap: Callable[[Callable[..., Any]], Callable[..., Any]],
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Any:
    """A method handler like ``handler`` whose behaviour is ``wrap`` of its
    own, reading requests with ``request_deserializer`` (default its own)."""
    shape = (bool(handler.request_streaming), bool(handler.response_streaming))
    return HANDLER_FACTORIES[shape](
        wrap(getattr(handler, HANDLER_BEHAVIOR[shape])),
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts and times every RPC the server handles."""

    def __init__(self, m: ServiceMetrics | None = None) -> None:
        self._m = m or service_metrics()

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        streaming = (bool(handler.request_streaming), bool(handler.response_streaming))
        service, method = split_method(handler_call_details.method)
        labels = (rpc_type(*streaming), service, method)
        return rewrapped(handler, lambda behavior: _wrap(behavior, labels, *streaming, self._m))

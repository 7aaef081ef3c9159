"""A grpc.aio server with standard health checking, reflection and metrics.

Kubernetes probes call grpc.health.v1.Health directly; reflection lets
grpcurl and Postman discover the services without the .proto files, under
both names clients ask for: grpc.reflection.v1 (grpcurl 1.9+, Postman) and
grpc.reflection.v1alpha (older clients); every
RPC is counted and timed under go-grpc-prometheus's metric names
(:mod:`claimscrub.runtime.grpc_metrics`). Health is grpc_health's asyncio
servicer, so no RPC of ours runs on a thread pool.

With TLS (:class:`claimscrub.runtime.grpc_tls.ServerTls`) the port serves
only TLS, and with required client certificates only mTLS. Kubernetes' gRPC
probes speak plaintext and present no certificate, so a TLS server can also
serve the same health servicer, and nothing else, on a plaintext health port:
it answers SERVING or NOT_SERVING and carries no claim data.

Every call goes through :class:`claimscrub.runtime.grpc_access.AccessInterceptor`
(the policy of ``data/grpc_policy.json``: who may call what, rate and size
limits, the PHI audit on audit.access); the server's receive limit is the
largest request any method accepts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, text_format
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from claimscrub.runtime.audit import ClaimTokens, GrpcAudit, KafkaAuditSink, sink_from_env
from claimscrub.runtime.grpc_access import AccessInterceptor, GrpcPolicy, policy_from_env
from claimscrub.runtime.grpc_metrics import MetricsInterceptor, preregister
from claimscrub.runtime.grpc_tls import ServerTls
from claimscrub.runtime.logs import get_logger

log = get_logger(__name__)

# Registers the servicers on the server; returns their full service names.
Registrar = Callable[[grpc.aio.Server], list[str]]

REFLECTION_V1ALPHA = reflection.SERVICE_NAME
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"


def _add_reflection_v1_descriptor() -> None:
    """Put grpc/reflection/v1/reflection.proto in the default pool, so the v1
    service can itself be described. grpcio-reflection ships only v1alpha; v1
    is the same file under another package (same messages, same field
    numbers), so it is derived from v1alpha's descriptor."""
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    alpha = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(alpha)
    text = text_format.MessageToString(alpha).replace("reflection.v1alpha", "reflection.v1")
    v1 = text_format.Parse(text, descriptor_pb2.FileDescriptorProto())
    v1.name = _V1_FILE
    pool.AddSerializedFile(v1.SerializeToString())


def enable_reflection(service_names: list[str], server: grpc.aio.Server) -> list[str]:
    """Serve reflection v1 and v1alpha from one servicer; returns both names.

    The v1 requests and responses are decoded and encoded with the v1alpha
    classes: the two protocols differ only in the package name, which is not
    on the wire."""
    _add_reflection_v1_descriptor()
    names = [*service_names, REFLECTION_V1, REFLECTION_V1ALPHA]
    servicer = reflection.aio.ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.method_handlers_generic_handler(
        REFLECTION_V1,
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((v1,))
    return names


@dataclass
class GrpcServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    service_names: list[str]
    port: int
    health_server: grpc.aio.Server | None = None
    health_port: int | None = None
    audit: KafkaAuditSink | None = None

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self.service_names]:
            await self.health.set(name, status)

    async def stop(self, grace_s: float) -> None:
        """Report NOT_SERVING first so load balancers drain, then stop."""
        await self.set_serving(False)
        await self.server.stop(grace_s)
        if self.health_server is not None:
            await self.health_server.stop(0)
        if self.audit is not None:
            await asyncio.to_thread(self.audit.close)


# gRPC sets SO_REUSEPORT by default on Linux, so a second server on a taken
# port binds without error and the kernel splits connections between the two:
# a stray process would silently answer half the calls. One owner per port.
EXCLUSIVE_PORT = [("grpc.so_reuseport", 0)]


async def start_grpc_server(
    host: str,
    port: int,
    register: Registrar,
    *,
    tls: ServerTls | None = None,
    health_port: int | None = None,
    policy: GrpcPolicy | None = None,
    audit: KafkaAuditSink | bool | None = True,
) -> GrpcServer:
    """Serve ``register``'s services with health and reflection on ``host:port``
    (TLS when ``tls``); with ``health_port``, health alone there in plaintext.

    ``policy``: default the environment's (runtime.grpc_access), enforced when
    ``tls`` requires client certificates. ``audit``: a sink, False for none,
    True for the environment's (runtime.audit: on in production mode)."""
    policy = policy if policy is not None else policy_from_env()
    sink = sink_from_env("grpc") if audit is True else audit or None
    access = AccessInterceptor(
        policy,
        enforce=bool(tls and tls.require_client_cert),
        audit=GrpcAudit(sink, ClaimTokens.from_env()) if sink is not None else None,
    )
    # Outermost first: the metrics also count the calls the access check refuses.
    server = grpc.aio.server(
        interceptors=[MetricsInterceptor(), access],
        options=[("grpc.max_receive_message_length", policy.largest_request()), *EXCLUSIVE_PORT],
    )
    names = register(server)
    if sink is not None and audit is True and names:
        sink.recorded_by = names[0].rsplit(".", 1)[-1]
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    served = enable_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name], server
    )
    preregister(served)
    address = f"{host}:{port}"
    try:
        if tls is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, tls.credentials())
    except RuntimeError as e:
        raise OSError(f"gRPC cannot bind {address}: the port is taken or not ours") from e
    if bound == 0:
        raise OSError(f"gRPC cannot bind {address}")
    health_server = None
    health_bound = None
    if health_port is not None:
        health_server = grpc.aio.server(options=EXCLUSIVE_PORT)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        try:
            health_bound = health_server.add_insecure_port(f"{host}:{health_port}")
        except RuntimeError as e:
            raise OSError(f"gRPC health cannot bind {host}:{health_port}") from e
        if health_bound == 0:
            raise OSError(f"gRPC health cannot bind {host}:{health_port}")
        await health_server.start()
    await server.start()
    handle = GrpcServer(server, health_servicer, names, bound, health_server, health_bound, sink)
    await handle.set_serving(True)
    log.info(
        "grpc_started",
        port=bound,
        services=names,
        tls=tls is not None,
        client_certs_required=bool(tls and tls.require_client_cert),
        health_port=health_bound,
        authorization=access.enforcing,
        audit=sink is not None,
    )
    return handle

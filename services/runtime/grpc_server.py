"""A grpc.aio server with standard health checking, reflection and metrics.

Kubernetes probes call grpc.health.v1.Health directly; reflection lets
grpcurl and Postman discover the services without the .proto files; every
RPC is counted and timed under go-grpc-prometheus's metric names
(:mod:`claimscrub.runtime.grpc_metrics`). Health is grpc_health's asyncio
servicer, so no RPC of ours runs on a thread pool.

With TLS (:class:`claimscrub.runtime.grpc_tls.ServerTls`) the port serves
only TLS, and with required client certificates only mTLS. Kubernetes' gRPC
probes speak plaintext and present no certificate, so a TLS server can also
serve the same health servicer, and nothing else, on a plaintext health port:
it answers SERVING or NOT_SERVING and carries no claim data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from claimscrub.runtime.grpc_metrics import MetricsInterceptor, preregister
from claimscrub.runtime.grpc_tls import ServerTls
from claimscrub.runtime.logs import get_logger

log = get_logger(__name__)

# Registers the servicers on the server; returns their full service names.
Registrar = Callable[[grpc.aio.Server], list[str]]


@dataclass
class GrpcServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    service_names: list[str]
    port: int
    health_server: grpc.aio.Server | None = None
    health_port: int | None = None

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


async def start_grpc_server(
    host: str,
    port: int,
    register: Registrar,
    *,
    tls: ServerTls | None = None,
    health_port: int | None = None,
) -> GrpcServer:
    """Serve ``register``'s services with health and reflection on ``host:port``
    (TLS when ``tls``); with ``health_port``, health alone there in plaintext."""
    server = grpc.aio.server(interceptors=[MetricsInterceptor()])
    names = register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    served = [
        *names,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    ]
    reflection.enable_server_reflection(served, server)
    preregister(served)
    address = f"{host}:{port}"
    if tls is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, tls.credentials())
    if bound == 0:
        raise OSError(f"gRPC cannot bind {address}")
    health_server = None
    health_bound = None
    if health_port is not None:
        health_server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_server)
        health_bound = health_server.add_insecure_port(f"{host}:{health_port}")
        if health_bound == 0:
            raise OSError(f"gRPC health cannot bind {host}:{health_port}")
        await health_server.start()
    await server.start()
    handle = GrpcServer(server, health_servicer, names, bound, health_server, health_bound)
    await handle.set_serving(True)
    log.info(
        "grpc_started",
        port=bound,
        services=names,
        tls=tls is not None,
        client_certs_required=bool(tls and tls.require_client_cert),
        health_port=health_bound,
    )
    return handle

"""A grpc.aio server with standard health checking, reflection and metrics.

Kubernetes probes call grpc.health.v1.Health directly; reflection lets
grpcurl and Postman discover the services without the .proto files; every
RPC is counted and timed under go-grpc-prometheus's metric names
(:mod:`claimscrub.runtime.grpc_metrics`). Health is grpc_health's asyncio
servicer, so no RPC of ours runs on a thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from claimscrub.runtime.grpc_metrics import MetricsInterceptor, preregister
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


async def start_grpc_server(host: str, port: int, register: Registrar) -> GrpcServer:
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
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"gRPC cannot bind {host}:{port}")
    await server.start()
    handle = GrpcServer(server, health_servicer, names, bound)
    await handle.set_serving(True)
    log.info("grpc_started", port=bound, services=names)
    return handle

"""A grpc.aio server with standard health checking and reflection.

Kubernetes probes call grpc.health.v1.Health directly; reflection lets
grpcurl and Postman discover the services without the .proto files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from claimscrub.runtime.logs import get_logger

log = get_logger(__name__)

# Registers the servicers on the server; returns their full service names.
Registrar = Callable[[grpc.aio.Server], list[str]]


@dataclass
class GrpcServer:
    server: grpc.aio.Server
    health: health.HealthServicer
    service_names: list[str]
    port: int

    def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ["", *self.service_names]:
            self.health.set(name, status)

    async def stop(self, grace_s: float) -> None:
        """Report NOT_SERVING first so load balancers drain, then stop."""
        self.set_serving(False)
        await self.server.stop(grace_s)


async def start_grpc_server(host: str, port: int, register: Registrar) -> GrpcServer:
    server = grpc.aio.server()
    names = register(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"gRPC cannot bind {host}:{port}")
    await server.start()
    handle = GrpcServer(server, health_servicer, names, bound)
    handle.set_serving(True)
    log.info("grpc_started", port=bound, services=names)
    return handle

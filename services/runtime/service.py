"""Start, run and stop a service: Faust worker + gRPC server + /metrics.

One entry point per service calls :func:`run`. Shutdown on SIGTERM/SIGINT
(handled by mode's Worker) goes: gRPC health NOT_SERVING, gRPC drains for
the grace period, the agents stop, the consumer commits what was processed
(after the producer flush), then the process exits.
"""

from __future__ import annotations

from typing import Any

import faust
from mode import Service

from claimscrub.runtime import logs, metrics
from claimscrub.runtime.grpc_server import GrpcServer, Registrar, start_grpc_server
from claimscrub.runtime.runner import package_version as _version
from claimscrub.runtime.runner import settings_or_exit
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.stream_metrics import install_stream_metrics

log = logs.get_logger(__name__)

__all__ = ["attach_grpc", "run", "settings_or_exit"]


def attach_grpc(app: faust.App, settings: Settings, register: Registrar) -> None:
    """Serve gRPC alongside the app, started once table recovery is done."""

    class GrpcService(Service):
        handle: GrpcServer | None = None

        async def on_start(self) -> None:
            self.handle = await start_grpc_server(
                settings.grpc_host,
                settings.grpc_port,
                register,
                tls=settings.grpc_tls,
                health_port=settings.health_port,
            )

        async def on_stop(self) -> None:
            if self.handle is not None:
                log.info("grpc_draining", grace_s=settings.shutdown_grace_s)
                await self.handle.stop(settings.shutdown_grace_s)

    app.service(GrpcService)


def run(settings: Settings, app: faust.App, register: Registrar | None = None) -> None:
    """Run the service until it is told to stop; never returns normally."""
    metrics.service_metrics().bind(settings.service, _version())
    install_stream_metrics(app)
    metrics.serve(settings.metrics_port, settings.metrics_host)
    if register is not None:
        attach_grpc(app, settings, register)
    log.info(
        "service_starting",
        kafka=settings.kafka_bootstrap,
        kafka_security=settings.kafka.describe(),
        mode=settings.mode.value,
        grpc_host=settings.grpc_host,
        grpc_port=settings.grpc_port,
        grpc_tls=settings.grpc_tls is not None,
        metrics_host=settings.metrics_host,
        metrics_port=settings.metrics_port,
        instance=settings.instance,
    )
    worker_options: dict[str, Any] = {
        "loglevel": settings.log_level,
        "override_logging": False,
        "redirect_stdouts": False,
        "quiet": True,
    }
    worker = faust.Worker(app, **worker_options)
    # Faust's start-up spinner writes cursor escapes ("\x1b[?25h") straight
    # to stdout, which is the service's log, not a terminal.
    worker.spinner = None
    worker.execute_from_commandline()

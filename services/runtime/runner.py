"""Run a service: the stream engine's Application, the gRPC server, /metrics.

Threads: the Application polls, processes and commits on the main thread
(Quix Streams is synchronous and its consumer must not be shared); the gRPC
server runs its own asyncio loop on a thread of its own
(:class:`GrpcThread`); /metrics is prometheus-client's HTTP thread.

Start-up: /metrics, then the service's ``prepare`` step (e.g. enrollment's
table catching up with its topic), then the topology is built (waiting for
the broker and the declared topics), then gRPC reports SERVING and the
Application runs.

An Application that fails because Kafka was out of reach at a commit or a
delivery (a broker restart) is replaced by a new one in the same process,
gRPC serving on; any other failure ends the process with exit code 1.

Shutdown on SIGTERM/SIGINT: gRPC reports NOT_SERVING and drains for
``CLAIMSCRUB_SHUTDOWN_GRACE_SECONDS`` while claims are still processed, then
the Application stops: its last checkpoint flushes the producer and commits
the offsets of what was processed, and the consumer leaves the group.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from types import FrameType
from typing import Any

from confluent_kafka import KafkaException
from quixstreams import Application
from quixstreams.checkpointing.exceptions import CheckpointProducerTimeout
from quixstreams.kafka.exceptions import BaseKafkaException, KafkaBrokerUnavailableError
from quixstreams.models.topics.exceptions import TopicNotFoundError

from claimscrub.runtime import engine, logs, metrics
from claimscrub.runtime.audit import TopicReads, topic_reads_from_env
from claimscrub.runtime.engine import make_application
from claimscrub.runtime.grpc_server import GrpcServer, Registrar, start_grpc_server
from claimscrub.runtime.settings import Settings

log = logs.get_logger(__name__)

#: How long to wait between attempts to build the topology when the broker or
#: a declared topic is not there yet, and before an Application is restarted.
RETRY_S = 2.0

#: Failures of the Application that a new one (new clients, rejoining the
#: group) gets past: Kafka out of reach at a commit or a delivery. Anything
#: else (a bug) stops the process with exit code 1.
RESTARTABLE: tuple[type[Exception], ...] = (
    BaseKafkaException,
    CheckpointProducerTimeout,
    KafkaBrokerUnavailableError,
    KafkaException,
)

Topology = Callable[[Application], object]


class Stopping:
    """Set once the process is told to stop; start-up steps poll it."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout_s: float) -> bool:
        return self.event.wait(timeout_s)


class GrpcThread:
    """The gRPC server on its own asyncio loop and thread."""

    def __init__(self, settings: Settings, register: Registrar) -> None:
        self._settings = settings
        self._register = register
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="grpc", daemon=True)
        self._handle: GrpcServer | None = None

    def start(self) -> None:
        self._thread.start()
        s = self._settings
        started = asyncio.run_coroutine_threadsafe(
            start_grpc_server(
                s.grpc_host, s.grpc_port, self._register, tls=s.grpc_tls, health_port=s.health_port
            ),
            self._loop,
        )
        self._handle = started.result()

    def stop(self, grace_s: float) -> None:
        """NOT_SERVING first, then the server drains for ``grace_s`` and stops."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            stopped: Future[None] = asyncio.run_coroutine_threadsafe(
                handle.stop(grace_s), self._loop
            )
            stopped.result(grace_s + 10)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)


def run(
    settings: Settings,
    topology: Topology,
    register: Registrar | None = None,
    *,
    prepare: Callable[[Stopping], bool] | None = None,
    on_stop: Callable[[], None] | None = None,
    app_options: Mapping[str, Any] | None = None,
) -> None:
    """Run the service until it is told to stop (returns) or fails (exits 1).

    ``prepare`` runs before the topology is built and gRPC starts (False: the
    process was told to stop meanwhile); ``on_stop`` after the Application
    has stopped (e.g. a reference-data follower's thread); ``app_options``
    override :func:`~claimscrub.runtime.engine.make_application`'s (e.g. a
    service's ``processing_guarantee``, a bench baseline's consumer group and
    offset reset)."""
    metrics.service_metrics().bind(settings.service, package_version())
    metrics.serve(settings.metrics_port, settings.metrics_host)
    log.info(
        "service_starting",
        kafka=settings.kafka_bootstrap,
        kafka_security=settings.kafka.describe(),
        mode=settings.mode.value,
        engine="quixstreams",
        state_dir=str(settings.state_dir),
        grpc_host=settings.grpc_host,
        grpc_port=settings.grpc_port,
        grpc_tls=settings.grpc_tls is not None,
        metrics_host=settings.metrics_host,
        metrics_port=settings.metrics_port,
        instance=settings.instance,
    )
    stopping = Stopping()
    app_box: list[Application] = []
    grpc = GrpcThread(settings, register) if register is not None else None

    def shut_down() -> None:
        if grpc is not None:
            log.info("grpc_draining", grace_s=settings.shutdown_grace_s)
            grpc.stop(settings.shutdown_grace_s)
        log.info("engine_stopping")
        for app in app_box:
            app.stop()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            return
        log.info("service_stopping", signal=signal.Signals(signum).name)
        stopping.event.set()
        threading.Thread(target=shut_down, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = 0
    reads: TopicReads | None = None
    try:
        # Who read which offsets of the PHI topics (runtime.audit): every
        # record the engine hands a step is observed (engine.set_read_audit).
        reads = topic_reads_from_env(settings.service, _principal(settings.service))
        engine.set_read_audit(reads.observe if reads is not None else None)
        if prepare is not None and not prepare(stopping):
            return
        grpc_started = False
        while not stopping.is_set():
            app = _build(settings, topology, stopping, app_options or {})
            if app is None:
                return
            app_box[:] = [app]
            if grpc is not None and not grpc_started:
                grpc.start()
                grpc_started = True
            if stopping.is_set():
                return
            try:
                app.run()
                return
            except RESTARTABLE as exc:
                # Nothing of the failed checkpoint was committed: a new
                # Application resumes from the last commit (at-least-once).
                log.warning("engine_restarting", error=type(exc).__name__)
                stopping.wait(RETRY_S)
    except Exception as exc:
        log.error("service_failed", error=type(exc).__name__)
        code = 1
    finally:
        if grpc is not None:
            grpc.stop(0 if code else settings.shutdown_grace_s)
        if reads is not None:
            engine.set_read_audit(None)
            lost = reads.close()
            if lost:
                log.warning("audit_read_events_lost", events=lost)
        if on_stop is not None:
            on_stop()
        log.info("service_stopped", code=code)
    if code:
        sys.exit(code)


def _principal(service: str) -> str:
    """The service's principal in the registry (its Kafka and gRPC identity)."""
    from claimscrub.runtime.registry import services

    return next((s.principal for s in services() if s.name == service), service)


def _build(
    settings: Settings, topology: Topology, stopping: Stopping, options: Mapping[str, Any]
) -> Application | None:
    """The Application with its topology, once the broker and every declared
    topic answer; None when told to stop first."""
    warned = False
    while not stopping.is_set():
        app = make_application(settings, **options)
        try:
            topology(app)
            return app
        except (TopicNotFoundError, KafkaException) as exc:
            if not warned:
                log.warning("engine_topics_unavailable", error=type(exc).__name__)
                warned = True
            stopping.wait(RETRY_S)
    return None


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("claimscrub")
    except PackageNotFoundError:
        return "unknown"


def settings_or_exit(service: str, *, grpc_port: int, metrics_port: int) -> Settings:
    """Read settings and configure logging; a bad variable exits with one line."""
    from claimscrub.runtime.settings import SettingsError

    try:
        settings = Settings.from_env(service, grpc_port=grpc_port, metrics_port=metrics_port)
    except SettingsError as exc:
        print(f"{service}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(
        service,
        settings.log_level,
        settings.log_format,
        repeat_window_s=settings.log_repeat_window_s,
    )
    return settings

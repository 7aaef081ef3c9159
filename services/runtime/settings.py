"""Service configuration, read once from environment variables (12-factor).

Every variable is documented in docs/configuration.md; a bad value stops the
service at start-up with a one-line reason instead of failing later.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from claimscrub.core.limits import Limits, LimitsError
from claimscrub.runtime import registry
from claimscrub.runtime.engine_timing import EngineTiming
from claimscrub.runtime.env import SettingsError, env_file, env_int, env_seconds
from claimscrub.runtime.grpc_tls import ClientTls, ServerTls
from claimscrub.runtime.kafka_config import PLAINTEXT, KafkaSecurity
from claimscrub.runtime.membership import GroupMembership
from claimscrub.runtime.memory import EngineMemory
from claimscrub.runtime.secrets import Mode, run_mode

__all__ = ["Settings", "SettingsError"]


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}")
    return value


def default_bind_host(env: Mapping[str, str]) -> str:
    """The gRPC and metrics bind address when none is set: loopback in local
    mode, so a developer's plaintext services are not reachable from the
    network; every interface in production mode, where a pod's probes,
    peers and Prometheus connect from outside (the chart sets it anyway)."""
    return "0.0.0.0" if run_mode(env) is Mode.PRODUCTION else "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Settings:
    service: str
    kafka_bootstrap: str
    grpc_host: str
    grpc_port: int
    metrics_port: int
    log_level: str
    log_format: str
    topic_partitions: int
    data_dir: Path
    instance: str
    required_checks: tuple[str, ...]
    mue_file: Path | None
    payers_file: Path | None
    shutdown_grace_s: float
    #: The stream engine's checkpoint, fetch and send timings (runtime.engine_timing).
    timing: EngineTiming = field(default_factory=EngineTiming)
    #: The stream engine's local state (RocksDB stores, one folder per consumer
    #: group): a cache of the changelog topics, rebuilt from them when lost.
    #: Default: ``state`` under the data directory.
    state_dir: Path = Path(".run/data/state")
    # Transport security (docs/configuration.md); plaintext unless configured,
    # and refused in production mode when it is (runtime.secrets.require).
    mode: Mode = Mode.LOCAL
    kafka: KafkaSecurity = PLAINTEXT
    grpc_tls: ServerTls | None = None
    grpc_client: ClientTls | None = None
    #: A plaintext port serving grpc.health.v1 only, for probes that cannot
    #: present a client certificate (Kubernetes' gRPC probes speak no TLS).
    health_port: int | None = None
    #: Largest record a service sends (key, value, headers): the topics' message
    #: size; an output beyond it is answered in a size that fits (runtime.guard).
    max_message_bytes: int = 1_000_000
    #: Input limits (core.limits), read here to refuse a bad value at start-up.
    limits: Limits = field(default_factory=Limits)
    #: Where /metrics listens (CLAIMSCRUB_METRICS_HOST); see :func:`default_bind_host`.
    metrics_host: str = "127.0.0.1"
    #: A repeated library warning or error is logged once per this many seconds
    #: (CLAIMSCRUB_LOG_REPEAT_SECONDS; 0 logs every one), with the count held back.
    log_repeat_window_s: float = 10.0
    #: Session timeout, heartbeat, poll interval and static membership of the
    #: stream engine's consumer (runtime.membership, docs/operations.md "Failover").
    membership: GroupMembership = field(default_factory=GroupMembership)
    #: RocksDB's memtables and block cache, librdkafka's consumer queue
    #: (runtime.memory, docs/configuration.md).
    memory: EngineMemory = field(default_factory=EngineMemory)

    @property
    def commit_interval_s(self) -> float:
        """How often the stream engine flushes its state stores and commits the
        consumed offsets (at-least-once: a crash replays at most this long)."""
        return self.timing.commit_interval_s

    @classmethod
    def from_env(
        cls,
        service: str,
        *,
        grpc_port: int,
        metrics_port: int,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        e = os.environ if env is None else env
        # Default: every check service of the registry (runtime/data/services.json).
        checks = e.get("CLAIMSCRUB_REQUIRED_CHECKS", ",".join(registry.required_checks()))
        required = tuple(c.strip().upper() for c in checks.split(",") if c.strip())
        if not required:
            raise SettingsError("CLAIMSCRUB_REQUIRED_CHECKS must name at least one check")
        try:
            limits = Limits.from_env(e)
        except LimitsError as exc:
            raise SettingsError(str(exc)) from None
        max_message = env_int(e, "CLAIMSCRUB_MAX_MESSAGE_BYTES", 1_000_000, minimum=65_536)
        if limits.max_claim_bytes > max_message // 2:
            # necessity forwards a claim with headers; the DLQ keeps it with its reason.
            raise SettingsError(
                "CLAIMSCRUB_MAX_CLAIM_BYTES must be at most half of CLAIMSCRUB_MAX_MESSAGE_BYTES"
            )
        log_format = e.get("CLAIMSCRUB_LOG_FORMAT", "json")
        if log_format not in ("json", "console"):
            raise SettingsError("CLAIMSCRUB_LOG_FORMAT must be json or console")
        return cls(
            service=service,
            kafka_bootstrap=e.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            grpc_host=e.get("CLAIMSCRUB_GRPC_HOST", default_bind_host(e)),
            grpc_port=env_int(e, "CLAIMSCRUB_GRPC_PORT", grpc_port),
            metrics_port=env_int(e, "CLAIMSCRUB_METRICS_PORT", metrics_port),
            log_level=e.get("CLAIMSCRUB_LOG_LEVEL", "INFO").upper(),
            log_format=log_format,
            topic_partitions=env_int(e, "CLAIMSCRUB_TOPIC_PARTITIONS", 6, minimum=1),
            data_dir=Path(e.get("CLAIMSCRUB_DATA_DIR", f".run/data/{service}")),
            instance=e.get("CLAIMSCRUB_INSTANCE", f"{service}@{socket.gethostname()}"),
            required_checks=required,
            mue_file=env_file(e, "CLAIMSCRUB_MUE_FILE"),
            payers_file=env_file(e, "CLAIMSCRUB_PAYERS_FILE"),
            shutdown_grace_s=env_seconds(e, "CLAIMSCRUB_SHUTDOWN_GRACE_SECONDS", 10.0),
            timing=EngineTiming.from_env(e),
            state_dir=Path(
                e.get("CLAIMSCRUB_STATE_DIR")
                or Path(e.get("CLAIMSCRUB_DATA_DIR", f".run/data/{service}")) / "state"
            ),
            mode=run_mode(e),
            kafka=KafkaSecurity.from_env(e),
            grpc_tls=ServerTls.from_env(e),
            grpc_client=ClientTls.from_env(e),
            health_port=env_int(e, "CLAIMSCRUB_HEALTH_PORT", 0) or None,
            max_message_bytes=max_message,
            limits=limits,
            metrics_host=e.get("CLAIMSCRUB_METRICS_HOST", default_bind_host(e)),
            # 0: every repeat is logged (docs/configuration.md).
            log_repeat_window_s=env_seconds(
                e, "CLAIMSCRUB_LOG_REPEAT_SECONDS", 10.0, zero_allowed=True
            ),
            membership=GroupMembership.from_env(e),
            memory=EngineMemory.from_env(e),
        )

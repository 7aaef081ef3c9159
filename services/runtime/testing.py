"""Test helpers, public like structlog's ``capture_logs``: a real broker and
real service processes for integration tests, and small Kafka utilities.

Nothing here is a stand-in: :class:`LocalKafka` runs deploy/kafka/kafka.sh
(the same Apache Kafka as `make up`), :class:`ServiceProcess` runs a service's
real entry point in a subprocess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from claimscrub.runtime.grpc_tls import ClientTls
from claimscrub.runtime.healthcheck import wait_serving
from claimscrub.runtime.kafka_config import KafkaSecurity
from claimscrub.runtime.kafka_io import (
    Received,
    TopicMissing,
    partitions,
    produce_all,
    reader,
    received,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalKafka:
    """A throwaway single-node broker on its own port and data directory.

    ``secure=True`` starts it as ``KAFKA_SECURITY=secure deploy/kafka/kafka.sh``
    does: SASL_SSL on ``port``, SSL with client certificates on ``port + 2``,
    SCRAM users and ACLs from the certificates and passwords in ``certs_dir``.
    """

    port: int
    run_dir: Path
    partitions: int = 6
    secure: bool = False
    certs_dir: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.port + 2}"

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.port + 1),
            "KAFKA_SSL_PORT": str(self.port + 2),
            "KAFKA_RUN_DIR": str(self.run_dir),
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "CLAIMSCRUB_TOPIC_PARTITIONS": str(self.partitions),
            "PYTHON": sys.executable,
            "KAFKA_SECURITY": "secure" if self.secure else "plaintext",
        }
        if self.certs_dir is not None:
            env["KAFKA_CERTS_DIR"] = str(self.certs_dir)
        return env

    def client_env(self, principal: str = "admin", via: str = "sasl") -> dict[str, str]:
        """The environment a client (service, CLI) of ``principal`` connects with:
        SASL_SSL with its SCRAM password (``via="sasl"``) or SSL with its
        certificate (``via="ssl"``); the bootstrap servers alone when plaintext."""
        if not self.secure:
            return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap}
        done = self._script("client-env", principal, via)
        if done.returncode != 0:
            raise RuntimeError(f"client-env {principal}: {done.stderr.strip()}")
        return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)

    def security(self, principal: str = "admin", via: str = "sasl") -> KafkaSecurity:
        return KafkaSecurity.from_env(
            {"CLAIMSCRUB_MODE": "local", **self.client_env(principal, via)}
        )

    def _script(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(REPO_ROOT / "deploy/kafka/kafka.sh"), command, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=180,
        )

    def start(self) -> None:
        self._script("clean")
        done = self._script("start")
        if done.returncode != 0:
            raise RuntimeError(f"kafka did not start:\n{done.stdout}\n{done.stderr}")
        topics = self._script("topics")
        if topics.returncode != 0:
            raise RuntimeError(f"topics not created:\n{topics.stdout}\n{topics.stderr}")

    def stop(self) -> None:
        self._script("stop")

    def pid(self) -> int | None:
        """The broker's process id while it runs (from kafka.sh's pid file)."""
        try:
            return int((self.run_dir / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def restart(self) -> None:
        """Stop and start again, keeping the data (for fault tests)."""
        self._script("stop")
        done = self._script("start")
        if done.returncode != 0:
            raise RuntimeError(f"kafka did not restart:\n{done.stdout}\n{done.stderr}")


@dataclass
class ServiceProcess:
    """One service's real entry point in a subprocess, logging to a file."""

    name: str
    module: str
    grpc_port: int
    metrics_port: int
    kafka: LocalKafka
    log_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self, wait_s: float = 90.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "CLAIMSCRUB_GRPC_HOST": "127.0.0.1",
            "CLAIMSCRUB_GRPC_PORT": str(self.grpc_port),
            "CLAIMSCRUB_METRICS_PORT": str(self.metrics_port),
            "CLAIMSCRUB_DATA_DIR": str(self.log_dir / "data" / self.name),
            "CLAIMSCRUB_TOPIC_PARTITIONS": str(self.kafka.partitions),
            **self.env,
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        log.close()
        deadline = time.monotonic() + wait_s
        # Asked as the service itself would ask a peer: with its client
        # certificate when it serves mTLS.
        tls: ClientTls | bool = ClientTls.from_env(env) or False
        while not wait_serving(f"127.0.0.1:{self.grpc_port}", 1.0, tls=tls):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.name} not healthy in {wait_s}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def terminate(self, timeout_s: float = 40.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes, bytes | None, Sequence[tuple[str, bytes]]]],
    *,
    security: KafkaSecurity | None = None,
) -> int:
    """Publish (key, value, headers) records and wait for every ack (a ``None``
    value is a tombstone)."""
    placed = produce_all(
        bootstrap, topic, records, client_id="claimscrub-testing", security=security, linger_ms=5
    )
    return len(placed)


def consume_all(
    bootstrap: str,
    topic: str,
    *,
    until: int,
    timeout_s: float = 120.0,
    settle_s: float = 3.0,
    security: KafkaSecurity | None = None,
) -> list[Received]:
    """Read a topic from the beginning until ``until`` records arrived and no
    more came for ``settle_s`` (so duplicates would be seen), or the timeout."""
    from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

    consumer = reader(bootstrap, security, client_id="claimscrub-testing")
    records: list[Received] = []
    try:
        try:
            parts = partitions(consumer, topic)
        except TopicMissing:
            parts = []
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        deadline = time.monotonic() + timeout_s
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            got = consumer.consume(500, 0.3)
            for msg in got:
                if msg.error() is None:
                    records.append(received(msg))
                elif msg.error().fatal():
                    raise KafkaException(msg.error())
                # Others are librdkafka's reports, e.g. the unused group id's
                # coordinator refused to a principal without that group.
            if got:
                last_new = time.monotonic()
            elif len(records) >= until and time.monotonic() - last_new >= settle_s:
                break
    finally:
        consumer.close()
    return records


def end_offsets(
    bootstrap: str, topic: str, *, security: KafkaSecurity | None = None
) -> dict[int, int]:
    """Each partition's end offset now (empty when the topic does not exist)."""
    from confluent_kafka import TopicPartition

    consumer = reader(bootstrap, security, client_id="claimscrub-testing")
    try:
        try:
            parts = partitions(consumer, topic)
        except TopicMissing:
            return {}
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in parts
        }
    finally:
        consumer.close()


# Ports below the kernel's ephemeral range: a port handed out here is never
# taken by an outgoing connection (a Kafka client's, say) while the service
# that owns it is down for a restart. CLAIMSCRUB_TEST_PORTS="LO-HI" narrows the
# range so that test sessions running side by side never hand out the same one.
_FREE_PORTS_DEFAULT = (20000, 32767)
_handed_out: set[int] = set()
_cursor: list[int] = []


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_range() -> tuple[int, int]:
    """The ports :func:`free_port` chooses from, both ends included."""
    spec = os.environ.get("CLAIMSCRUB_TEST_PORTS", "")
    if spec:
        lo_text, _, hi_text = spec.partition("-")
        try:
            lo, hi = int(lo_text), int(hi_text)
        except ValueError:
            raise ValueError(f"CLAIMSCRUB_TEST_PORTS must be LO-HI, got {spec!r}") from None
    else:
        lo, hi = _FREE_PORTS_DEFAULT
    hi = min(hi, _ephemeral_low() - 1)
    if not 1024 <= lo <= hi:
        raise ValueError(f"no test ports between {lo} and {hi} below the ephemeral range")
    return lo, hi


def free_port() -> int:
    """A port no listener holds and this process has not handed out before."""
    import random
    import socket

    lo, hi = free_port_range()
    span = hi - lo + 1
    if not _cursor:
        _cursor.append(random.randrange(span))
    for _ in range(span):
        port = lo + _cursor[0] % span
        _cursor[0] += 1
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port left between {lo} and {hi}")

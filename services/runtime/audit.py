"""PHI access audit (HIPAA 45 CFR 164.312(b)): who touched which claim, when, how it ended.

Every gRPC call of a PHI method (runtime/grpc_access.py) and every CLI read of
claim results (``submit --wait``, ``deidentified``) writes one
:class:`AccessEvent` to ``audit.access``: key the principal, value JSON with
the time, principal, gRPC method or topic, claim token and outcome. The claim
token is the keyed pseudonym of the claimId (``clm_<hmac>``, the key of
claims.deidentified: redaction/pseudonym.py under CLAIMSCRUB_HMAC_KEY), never
the claimId itself, which can identify a patient to whoever holds the
billing platform's records.

Writing never blocks nor fails the access it records: events go into a
bounded in-memory buffer that one thread drains to Kafka. A full buffer (the
broker unreachable or slow for longer than the buffer lasts) drops the new
event, and every drop or failed write is counted in
``claimscrub_audit_events_total{outcome="dropped"|"failed"}`` (alert on it):
availability of the claim pipeline is chosen over completeness of the trail,
and the loss is visible. Buffered events are lost if the process dies.

Consumers of the topics that carry PHI (``TopicSpec.clinical``:
claims.submitted, claims.ready, claims.x12, claims.dlq, necessity's and
redaction's repartition topics) are audited by volume, not per record
(:class:`TopicReads`): one event per principal, topic and partition per
interval (``CLAIMSCRUB_AUDIT_READ_INTERVAL_SECONDS``), with the first and last
offset read and the number of records, so an auditor can tell which
principal read which offsets of which PHI topic when. The stream engine's
services (runtime/engine.py) and the CLI's readers of those topics emit them.

``claimscrub audit query`` (:func:`query`) reads the topic back, as the
auditor principal (the only one the ACL table lets read it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from claimscrub.core.fingerprint import DEV_KEY, key_from_env
from claimscrub.redaction.pseudonym import Pseudonymizer
from claimscrub.runtime.env import SettingsError, env_bool
from claimscrub.runtime.kafka_config import KafkaSecurity, producer_config
from claimscrub.runtime.kafka_io import read_to_end
from claimscrub.runtime.logs import get_logger
from claimscrub.runtime.secrets import Mode, run_mode
from claimscrub.runtime.topics import ALL_TOPICS, AUDIT_ACCESS

log = get_logger(__name__)

ENABLED_VARIABLE = "CLAIMSCRUB_AUDIT"
BUFFER_VARIABLE = "CLAIMSCRUB_AUDIT_BUFFER"
DEFAULT_BUFFER = 10_000
READ_INTERVAL_VARIABLE = "CLAIMSCRUB_AUDIT_READ_INTERVAL_SECONDS"
#: One read event per partition per minute of reading at most: a busy
#: consumer's trail grows with its partitions, not with its records.
DEFAULT_READ_INTERVAL_S = 60.0
OUTCOMES = ("written", "dropped", "failed")
#: The pseudonym prefix of a claimId (redaction/data/deidentify_policy.json).
CLAIM_PREFIX = "clm"


@dataclass(frozen=True, slots=True)
class AccessEvent:
    time: str  # ISO 8601, UTC, milliseconds
    principal: str
    #: The gRPC status as go-grpc-prometheus spells it ("OK", "PermissionDenied"), or "read".
    outcome: str
    method: str | None = None  # "/claimscrub.v1.UnitsService/Check"
    topic: str | None = None  # a consumer's read
    claim_token: str | None = None
    recorded_by: str = ""
    #: A consumer's read of a topic partition (:class:`TopicReads`).
    partition: int | None = None
    first_offset: int | None = None
    last_offset: int | None = None
    records: int | None = None
    #: When the first of those records was read (``time``: when the event was made).
    read_from: str | None = None

    def key(self) -> bytes:
        return self.principal.encode("utf-8")

    def value(self) -> bytes:
        data = {
            "time": self.time,
            "principal": self.principal,
            "method": self.method,
            "topic": self.topic,
            "claimToken": self.claim_token,
            "partition": self.partition,
            "firstOffset": self.first_offset,
            "lastOffset": self.last_offset,
            "records": self.records,
            "readFrom": self.read_from,
            "outcome": self.outcome,
            "recordedBy": self.recorded_by,
        }
        return json.dumps({k: v for k, v in data.items() if v is not None}).encode("utf-8")


def now_iso(clock: Callable[[], dt.datetime] | None = None) -> str:
    moment = clock() if clock is not None else dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ClaimTokens:
    """claimId -> ``clm_<hmac>`` under the deployment's key; None for every
    claim when only the public development key is at hand in production (a
    token anyone can recompute would be the claimId in disguise)."""

    def __init__(self, key: bytes | None) -> None:
        self._p = Pseudonymizer(key) if key else None

    def __call__(self, claim_id: str | None) -> str | None:
        if not claim_id or self._p is None:
            return None
        return self._p.token(CLAIM_PREFIX, claim_id)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClaimTokens:
        e = os.environ if env is None else env
        key = key_from_env(e)
        if key == DEV_KEY and run_mode(e) is Mode.PRODUCTION:
            return cls(None)
        return cls(key)


_events: Counter | None = None


def events_counter() -> Counter:
    global _events
    if _events is None:
        _events = Counter(
            "claimscrub_audit_events_total",
            "PHI access events for audit.access: written, dropped (buffer full) or failed "
            "(the broker refused or did not acknowledge them)",
            ["outcome"],
        )
        for outcome in OUTCOMES:
            _events.labels(outcome)
    return _events


_STOP = object()


class KafkaAuditSink:
    """A bounded buffer drained to audit.access by one daemon thread."""

    def __init__(
        self,
        bootstrap: str,
        security: KafkaSecurity,
        *,
        recorded_by: str,
        buffer: int = DEFAULT_BUFFER,
        topic: str = AUDIT_ACCESS.name,
    ) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self.recorded_by = recorded_by
        self._topic = topic
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=buffer)
        self._counter = events_counter()
        self._pending = 0
        #: This sink's own tally (the metric is the process's).
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name="audit-sink", daemon=True)
        self._thread.start()

    def record(self, event: AccessEvent) -> None:
        """Never blocks: a full buffer drops the event (counted)."""
        with self._lock:
            self._pending += 1
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._settle("dropped")

    def _settle(self, outcome: str) -> None:
        self._counter.labels(outcome).inc()
        with self._lock:
            self.counts[outcome] += 1
            self._pending -= 1
            if self._pending == 0:
                self._idle.notify_all()

    def _producer(self) -> Any:
        from confluent_kafka import Producer

        return Producer(
            producer_config(
                self._bootstrap,
                self._security,
                acks="all",
                linger_ms=20,
                # An event not written within this is counted failed, not retried on.
                message_timeout_ms=30_000,
                client_id=f"claimscrub-audit-{self.recorded_by}",
            )
        )

    def _delivered(self, error: Any, _msg: Any) -> None:
        self._settle("written" if error is None else "failed")

    def _run(self) -> None:
        producer = None
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                item = None
            if producer is not None:
                producer.poll(0)  # deliveries settle their events on this thread
            if item is None:
                continue
            if item is _STOP:
                break
            try:
                if producer is None:
                    producer = self._producer()
                producer.produce(self._topic, item.value(), item.key(), on_delivery=self._delivered)
            except Exception as exc:  # refused, local queue full: the event is lost, counted
                log.warning("audit_write_failed", error=type(exc).__name__)
                self._settle("failed")
        if producer is not None:
            try:
                producer.flush(5)
            except Exception as exc:
                log.warning("audit_close_failed", error=type(exc).__name__)

    def flush(self, timeout_s: float) -> bool:
        """Wait until every recorded event is written, dropped or failed."""
        with self._lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout_s)

    def close(self, timeout_s: float = 5.0) -> int:
        """Flush, stop the thread; returns how many events were still unsettled."""
        self.flush(timeout_s)
        self._queue.put(_STOP)
        self._thread.join(timeout_s)
        with self._lock:
            return self._pending


def audit_enabled(env: Mapping[str, str] | None = None) -> bool:
    """``CLAIMSCRUB_AUDIT``; on by default in production mode, off in local mode."""
    e = os.environ if env is None else env
    return env_bool(e, ENABLED_VARIABLE, run_mode(e) is Mode.PRODUCTION)


def sink_from_env(recorded_by: str, env: Mapping[str, str] | None = None) -> KafkaAuditSink | None:
    e = os.environ if env is None else env
    if not audit_enabled(e):
        return None
    raw = e.get(BUFFER_VARIABLE, "").strip()
    try:
        buffer = int(raw) if raw else DEFAULT_BUFFER
    except ValueError:
        raise SettingsError(f"{BUFFER_VARIABLE} must be a whole number") from None
    if buffer < 1:
        raise SettingsError(f"{BUFFER_VARIABLE} must be at least 1")
    return KafkaAuditSink(
        e.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        KafkaSecurity.from_env(e),
        recorded_by=recorded_by,
        buffer=buffer,
    )


class GrpcAudit:
    """The gRPC servers' audit hook (grpc_access.AuditHook): one event per PHI call."""

    def __init__(self, sink: KafkaAuditSink, tokens: ClaimTokens) -> None:
        self.sink = sink
        self._tokens = tokens

    def __call__(self, principal: str, method: str, claim_id: str | None, outcome: str) -> None:
        self.sink.record(
            AccessEvent(
                now_iso(),
                principal,
                outcome,
                method=method,
                claim_token=self._tokens(claim_id),
                recorded_by=self.sink.recorded_by,
            )
        )


def kafka_principal(security: KafkaSecurity, env: Mapping[str, str] | None = None) -> str:
    """The principal a Kafka client connects as, for the CLI's own events:
    the SASL user, else the client certificate's CN, else ``anonymous``."""
    e = os.environ if env is None else env
    if security.uses_sasl and security.username:
        return security.username
    if security.cert_file is not None:
        try:
            from cryptography import x509
            from cryptography.x509.oid import NameOID

            cert = x509.load_pem_x509_certificate(security.cert_file.read_bytes())
            names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if names:
                return str(names[0].value)
        except Exception:  # cryptography absent or an unreadable file: say so below
            pass
        return e.get("CLAIMSCRUB_AUDIT_PRINCIPAL", "").strip() or "certificate"
    return e.get("CLAIMSCRUB_AUDIT_PRINCIPAL", "").strip() or "anonymous"


class ReadAudit:
    """The CLI's audit of what it read from a topic: one event per claim shown."""

    def __init__(self, topic: str, env: Mapping[str, str] | None = None) -> None:
        e = os.environ if env is None else env
        self.sink = sink_from_env("claimscrub-cli", e)
        self._topic = topic
        self._principal = kafka_principal(KafkaSecurity.from_env(e), e) if self.sink else ""
        self._tokens = ClaimTokens.from_env(e) if self.sink else ClaimTokens(None)

    def claim(self, claim_id: str | None = None, *, token: str | None = None) -> None:
        if self.sink is None:
            return
        self.sink.record(
            AccessEvent(
                now_iso(),
                self._principal,
                "read",
                topic=self._topic,
                claim_token=token if token is not None else self._tokens(claim_id),
                recorded_by=self.sink.recorded_by,
            )
        )

    def close(self, timeout_s: float = 10.0) -> int:
        """Flush; the number of events not written (reported by the caller)."""
        if self.sink is None:
            return 0
        unsettled = self.sink.close(timeout_s)
        return unsettled + self.sink.counts["dropped"] + self.sink.counts["failed"]


def phi_topics() -> frozenset[str]:
    """The topics whose readers are audited: those inside the clinical boundary."""
    return frozenset(t.name for t in ALL_TOPICS if t.clinical)


@dataclass(slots=True)
class _Window:
    first: int
    last: int
    count: int
    opened: float  # monotonic
    read_from: str


class TopicReads:
    """Which offsets of which PHI topic partitions a consumer read: one
    :class:`AccessEvent` per partition per ``interval_s`` (outcome ``read``,
    the offsets ``first..last`` and the number of records read), made when
    the interval has passed (checked as records arrive and by a timer
    thread) and at :meth:`close`. Reads of other topics are not recorded.

    A record seen again at the last offset (a second step of the same
    record) is not counted twice; an offset at or below the window's last
    one (a replay after a restart or a rebalance) closes the window and
    opens another, so every event's range is one that was read in order."""

    def __init__(
        self,
        sink: KafkaAuditSink,
        principal: str,
        *,
        interval_s: float = DEFAULT_READ_INTERVAL_S,
        topics: frozenset[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        timer: bool = True,
    ) -> None:
        self.sink = sink
        self.principal = principal
        self._interval = interval_s
        self._topics = phi_topics() if topics is None else topics
        self._clock = clock
        self._windows: dict[tuple[str, int], _Window] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if timer:
            self._thread = threading.Thread(target=self._tick, name="audit-reads", daemon=True)
            self._thread.start()

    def observe(self, topic: str, partition: int, offset: int) -> None:
        if topic not in self._topics:
            return
        now = self._clock()
        with self._lock:
            w = self._windows.get((topic, partition))
            if w is not None and offset == w.last:
                return
            if w is not None and offset > w.last:
                w.last = offset
                w.count += 1
            else:
                if w is not None:
                    self._emit(topic, partition, w)
                self._windows[(topic, partition)] = _Window(offset, offset, 1, now, now_iso())
                return
            if now - w.opened >= self._interval:
                self._emit(topic, partition, self._windows.pop((topic, partition)))

    def _emit(self, topic: str, partition: int, w: _Window) -> None:
        self.sink.record(
            AccessEvent(
                now_iso(),
                self.principal,
                "read",
                topic=topic,
                recorded_by=self.sink.recorded_by,
                partition=partition,
                first_offset=w.first,
                last_offset=w.last,
                records=w.count,
                read_from=w.read_from,
            )
        )

    def flush(self, *, due_only: bool = False) -> None:
        """Make the events of the open windows (``due_only``: of those whose
        interval has passed)."""
        now = self._clock()
        with self._lock:
            for tp, w in list(self._windows.items()):
                if not due_only or now - w.opened >= self._interval:
                    del self._windows[tp]
                    self._emit(tp[0], tp[1], w)

    def _tick(self) -> None:
        while not self._stop.wait(min(self._interval, 1.0)):
            self.flush(due_only=True)

    def close(self, timeout_s: float = 5.0) -> int:
        """Make the open windows' events and flush the sink; how many events
        were not written (dropped, failed or unsettled)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.flush()
        unsettled = self.sink.close(timeout_s)
        return unsettled + self.sink.counts["dropped"] + self.sink.counts["failed"]


def read_interval_s(env: Mapping[str, str]) -> float:
    raw = env.get(READ_INTERVAL_VARIABLE, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_READ_INTERVAL_S
    except ValueError:
        raise SettingsError(f"{READ_INTERVAL_VARIABLE} must be a number of seconds") from None
    if not 0 < value <= 3600:
        raise SettingsError(f"{READ_INTERVAL_VARIABLE} must be above 0 and at most 3600")
    return value


def topic_reads_from_env(
    recorded_by: str, default_principal: str, env: Mapping[str, str] | None = None
) -> TopicReads | None:
    """The consumer read audit of this process, when CLAIMSCRUB_AUDIT is on.
    The principal is the one it connects to Kafka as (:func:`kafka_principal`);
    on a plaintext broker, CLAIMSCRUB_AUDIT_PRINCIPAL or ``default_principal``."""
    e = os.environ if env is None else env
    sink = sink_from_env(recorded_by, e)
    if sink is None:
        return None
    security = KafkaSecurity.from_env(e)
    principal = kafka_principal(security, {**e, "CLAIMSCRUB_AUDIT_PRINCIPAL": ""})
    if principal == "anonymous":
        principal = e.get("CLAIMSCRUB_AUDIT_PRINCIPAL", "").strip() or default_principal
    return TopicReads(sink, principal, interval_s=read_interval_s(e))


def parse_since(text: str) -> dt.datetime:
    """``2026-05-04`` (midnight UTC) or an ISO 8601 time (UTC when no offset)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date or ISO 8601 time: {text}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def query(
    bootstrap: str,
    security: KafkaSecurity,
    *,
    principal: str | None,
    since: dt.datetime,
    timeout_s: float = 30.0,
) -> Iterator[dict[str, Any]]:
    """audit.access events from ``since`` (by record time) to the topic's end
    as it was when the query started, of ``principal`` (every one when None)."""
    wanted = principal.encode("utf-8") if principal is not None else None
    for rec in read_to_end(
        bootstrap,
        AUDIT_ACCESS.name,
        client_id="claimscrub-audit-query",
        timeout_s=timeout_s,
        since_ms=int(since.timestamp() * 1000),
        security=security,
    ):
        if wanted is not None and rec.key != wanted:
            continue
        try:
            yield json.loads(rec.value)
        except ValueError:
            continue

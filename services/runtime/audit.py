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

``claimscrub audit query`` (:func:`query`) reads the topic back, as the
auditor principal (the only one the ACL table lets read it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import threading
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
from claimscrub.runtime.topics import AUDIT_ACCESS

log = get_logger(__name__)

ENABLED_VARIABLE = "CLAIMSCRUB_AUDIT"
BUFFER_VARIABLE = "CLAIMSCRUB_AUDIT_BUFFER"
DEFAULT_BUFFER = 10_000
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

    def key(self) -> bytes:
        return self.principal.encode("utf-8")

    def value(self) -> bytes:
        data = {
            "time": self.time,
            "principal": self.principal,
            "method": self.method,
            "topic": self.topic,
            "claimToken": self.claim_token,
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

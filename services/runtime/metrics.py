"""Prometheus metrics shared by every service, served on /metrics.

Labels carry only service names, check names, statuses, edit codes, denial
codes, severities, DLQ reason kinds, topic names, partition numbers, table
names and gRPC method names: bounded sets with no patient data. Values that
come from events (exception text, keys) never become label values.

Series whose label values are known in advance are created at zero when a
service starts (the edit catalogue, the statuses, the gRPC methods), so
dashboards and alerts see 0 rather than "no data" before the first event: the
practice of the Prometheus instrumentation guide ("Avoid missing metrics",
https://prometheus.io/docs/practices/instrumentation/#avoid-missing-metrics).
The metric catalogue is listed in docs/operations.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import REGISTRY

from claimscrub.core.edits import EDIT_CODES, CheckName
from claimscrub.core.results import ScrubResult, Status

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Submission to result crosses two consumer hops and a commit interval, and
# CHECK_INCOMPLETE answers only after the aggregator's timeout: minutes matter.
_END_TO_END_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# prometheus.DefBuckets, which go-grpc-prometheus uses for its handling histogram.
_GRPC_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# Why an event went to claims.dlq, as a bounded kind (the label); the full
# reason stays in the DLQ record's header.
DLQ_REASON_KINDS = (
    "empty",
    "invalid_json",
    "invalid_protobuf",
    "invalid_check_result",
    "invalid_x12",
    "limit",
    "processing_error",
    "other",
)
_DLQ_PREFIXES = (
    ("claim too large", "limit"),
    ("JSON nested too deep", "limit"),
    ("JSON integer too long", "limit"),
    ("JSON string too long", "limit"),
    ("output too large", "limit"),
    ("empty value", "empty"),
    ("invalid JSON", "invalid_json"),
    ("invalid protobuf", "invalid_protobuf"),
    ("no Claim fields", "invalid_protobuf"),
    ("invalid CheckResult", "invalid_check_result"),
    ("invalid X12", "invalid_x12"),
)


def dlq_reason_kind(reason: str) -> str:
    """The label value for a dead-letter reason: one of :data:`DLQ_REASON_KINDS`."""
    for prefix, kind in _DLQ_PREFIXES:
        if reason.startswith(prefix):
            return kind
    return "other"


class ServiceMetrics:
    """The metric families one service exports."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
        self.build_info = Gauge(
            "claimscrub_build_info",
            "Always 1; the labels say which service and version this process runs",
            ["service", "version"],
            registry=r,
        )
        self.claims_consumed = Counter(
            "claimscrub_claims_consumed_total",
            "Claim events consumed from claims.submitted",
            ["service"],
            registry=r,
        )
        self.checks = Counter(
            "claimscrub_checks_total",
            "Check results produced",
            ["service", "check"],
            registry=r,
        )
        self.edits = Counter(
            "claimscrub_edits_total",
            "Edits reported, by code and severity",
            ["service", "check", "code", "severity"],
            registry=r,
        )
        self.results = Counter(
            "claimscrub_results_total",
            "Scrub results published, by status",
            ["status"],
            registry=r,
        )
        self.result_edits = Counter(
            "claimscrub_result_edits_total",
            "Edits in published scrub results, with the denial code (CARC) they stand for",
            ["check", "code", "severity", "carc"],
            registry=r,
        )
        self.dlq = Counter(
            "claimscrub_dlq_total",
            "Events sent to claims.dlq, by reason kind",
            ["service", "reason"],
            registry=r,
        )
        self.redelivered = Counter(
            "claimscrub_redelivered_total",
            "Check results ignored because they were already counted",
            ["check"],
            registry=r,
        )
        self.check_latency = Histogram(
            "claimscrub_check_duration_seconds",
            "Time to run one check's rules on one claim",
            ["service", "check"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.end_to_end = Histogram(
            "claimscrub_end_to_end_seconds",
            "Claim submission to scrub result publication",
            buckets=_END_TO_END_BUCKETS,
            registry=r,
        )
        # Sampled by claimscrub.runtime.stream_metrics on a timer.
        self.consumer_lag = Gauge(
            "claimscrub_consumer_lag",
            "Records on the broker not yet committed by this consumer (end offset - committed)",
            ["topic", "partition"],
            registry=r,
        )
        self.consumer_committed = Gauge(
            "claimscrub_consumer_committed_offset",
            "Next offset this consumer will commit from, per assigned partition",
            ["topic", "partition"],
            registry=r,
        )
        self.consumer_end = Gauge(
            "claimscrub_consumer_end_offset",
            "End (high-water) offset of each assigned partition",
            ["topic", "partition"],
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "claimscrub_consumer_assigned_partitions",
            "Partitions of each source topic assigned to this process",
            ["topic"],
            registry=r,
        )
        self.table_keys = Gauge(
            "claimscrub_table_keys",
            "Keys held in each of this process's stream tables (its active partitions)",
            ["table"],
            registry=r,
        )
        # gRPC server metrics under go-grpc-prometheus's names and labels
        # (github.com/grpc-ecosystem/go-grpc-prometheus, server_metrics.go), so
        # the community's gRPC dashboards and alerts work unchanged.
        self.grpc_started = Counter(
            "grpc_server_started_total",
            "Total number of RPCs started on the server.",
            ["grpc_type", "grpc_service", "grpc_method"],
            registry=r,
        )
        self.grpc_handled = Counter(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
            registry=r,
        )
        self.grpc_msg_received = Counter(
            "grpc_server_msg_received_total",
            "Total number of RPC stream messages received on the server.",
            ["grpc_type", "grpc_service", "grpc_method"],
            registry=r,
        )
        self.grpc_msg_sent = Counter(
            "grpc_server_msg_sent_total",
            "Total number of gRPC stream messages sent by the server.",
            ["grpc_type", "grpc_service", "grpc_method"],
            registry=r,
        )
        self.grpc_handling = Histogram(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level "
            "handled by the server.",
            ["grpc_type", "grpc_service", "grpc_method"],
            buckets=_GRPC_BUCKETS,
            registry=r,
        )
        # What the consumer last reported (observe_partitions).
        self._partitions: set[tuple[str, str]] = set()
        self._assigned_topics: set[str] = set()

    # --- series created at zero, so "nothing happened" reads as 0 ---

    def bind(self, service: str, version: str) -> None:
        """What every service exports from its first scrape."""
        self.build_info.labels(service, version).set(1)
        for kind in DLQ_REASON_KINDS:
            self.dlq.labels(service, kind)

    def expect_check(self, service: str, check: CheckName) -> None:
        """A check service's families, with every edit it can report at zero."""
        self.claims_consumed.labels(service)
        self.checks.labels(service, check.value)
        self.check_latency.labels(service, check.value)
        for spec in EDIT_CODES.values():
            # Every check also reports the claim-level edits (core.checks).
            if spec.check in (check, CheckName.CLAIM):
                self.edits.labels(service, spec.check.value, spec.code, spec.severity.value)

    def expect_results(self) -> None:
        """The aggregator's families: every status and every catalogue edit at zero."""
        for status in Status:
            self.results.labels(status.value)
        for spec in EDIT_CODES.values():
            self.result_edits.labels(spec.check.value, spec.code, spec.severity.value, spec.carc)
        for check in CheckName:
            self.redelivered.labels(check.value)

    # --- events ---

    def dead_lettered(self, service: str, reason: str, *, kind: str | None = None) -> None:
        """One event to claims.dlq; ``kind`` (one of DLQ_REASON_KINDS) when the
        reason itself does not tell it (an exception's class name)."""
        self.dlq.labels(service, kind or dlq_reason_kind(reason)).inc()

    def result_published(self, result: ScrubResult, submitted_at_ms: int) -> None:
        """One ScrubResult on claims.scrubbed: its status, its edits, its latency."""
        self.results.labels(result.status.value).inc()
        for e in result.edits:
            spec = EDIT_CODES.get(e.code)
            carc = spec.carc if spec is not None else ""
            code = e.code if spec is not None else "UNKNOWN"
            self.result_edits.labels(e.check.value, code, e.severity.value, carc).inc()
        if submitted_at_ms:
            self.end_to_end.observe(max(0.0, time.time() - submitted_at_ms / 1000))

    def observe_partitions(
        self,
        offsets: Iterable[tuple[str, int, int, int]],
        assigned: dict[str, int],
    ) -> None:
        """Record one sample of (topic, partition, end, committed) per assigned
        partition; partitions no longer assigned disappear instead of freezing."""
        seen: set[tuple[str, str]] = set()
        for topic, partition, end, committed in offsets:
            key = (topic, str(partition))
            seen.add(key)
            self.consumer_end.labels(*key).set(end)
            self.consumer_committed.labels(*key).set(committed)
            self.consumer_lag.labels(*key).set(max(0, end - committed))
        for key in self._partitions - seen:
            for gauge in (self.consumer_end, self.consumer_committed, self.consumer_lag):
                gauge.remove(*key)
        self._partitions = seen
        for topic in self._assigned_topics - set(assigned):
            self.assigned_partitions.remove(topic)
        for topic, count in assigned.items():
            self.assigned_partitions.labels(topic).set(count)
        self._assigned_topics = set(assigned)

    def observe_tables(self, sizes: dict[str, int]) -> None:
        for name, size in sizes.items():
            self.table_keys.labels(name).set(size)


def serve(port: int, host: str = "127.0.0.1", registry: CollectorRegistry = REGISTRY) -> None:
    """Serve /metrics on ``host:port`` on a daemon thread (prometheus-client's own server)."""
    start_http_server(port, addr=host, registry=registry)


_metrics: ServiceMetrics | None = None


def service_metrics() -> ServiceMetrics:
    """The process's metric families, created on first use (once per registry)."""
    global _metrics
    if _metrics is None:
        _metrics = ServiceMetrics()
    return _metrics

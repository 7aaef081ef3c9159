"""Prometheus metrics of the enrollment service, besides the shared ones.

Labels are outcomes and booleans only: never an NPI or a payer.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import REGISTRY

# Lookups answer from memory: sub-millisecond buckets show where time goes.
_LOOKUP_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1)


class EnrollmentMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
        self.events = Counter(
            "claimscrub_enrollment_events_total",
            "Events read from providers.enrollment, by outcome (applied, deleted, rejected)",
            ["outcome"],
            registry=r,
        )
        self.records = Gauge(
            "claimscrub_enrollment_records",
            "Enrollment records in this instance's table",
            registry=r,
        )
        self.ready = Gauge(
            "claimscrub_enrollment_table_ready",
            "1 once the table has caught up with providers.enrollment",
            registry=r,
        )
        self.lookups = Counter(
            "claimscrub_enrollment_lookups_total",
            "GetEnrollment calls answered, by whether the provider was enrolled on the date",
            ["enrolled"],
            registry=r,
        )
        self.lookup_latency = Histogram(
            "claimscrub_enrollment_lookup_duration_seconds",
            "Time to answer one GetEnrollment call inside the server",
            buckets=_LOOKUP_BUCKETS,
            registry=r,
        )


_metrics: EnrollmentMetrics | None = None


def enrollment_metrics() -> EnrollmentMetrics:
    """The process's enrollment metric families, created on first use."""
    global _metrics
    if _metrics is None:
        _metrics = EnrollmentMetrics()
    return _metrics

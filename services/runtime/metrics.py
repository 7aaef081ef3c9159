"""Prometheus metrics shared by every service, served on /metrics.

Labels carry only service names, check names, statuses, edit codes and
severities: bounded sets with no patient data.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import REGISTRY

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ServiceMetrics:
    """The metric families one service exports."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
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
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )


def serve(port: int, registry: CollectorRegistry = REGISTRY) -> None:
    """Serve /metrics on a daemon thread (prometheus-client's own server)."""
    start_http_server(port, registry=registry)


_metrics: ServiceMetrics | None = None


def service_metrics() -> ServiceMetrics:
    """The process's metric families, created on first use (once per registry)."""
    global _metrics
    if _metrics is None:
        _metrics = ServiceMetrics()
    return _metrics

"""The aggregator's own metric families (the shared ones are in runtime.metrics).

Labels are check names and outcomes only: bounded sets with no patient data.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import REGISTRY


class AggregatorMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        r = registry
        self.incomplete = Counter(
            "claimscrub_check_incomplete_total",
            "Results published with CHECK_INCOMPLETE, by the check that did not answer",
            ["check", "mode"],
            registry=r,
        )
        self.duplicates = Counter(
            "claimscrub_duplicate_claims_total",
            "Results published with DUPLICATE_CLAIM",
            registry=r,
        )
        self.republish_skipped = Counter(
            "claimscrub_republish_skipped_total",
            "Completed claim versions not published again because they already were, by "
            "what said so: a trusted mark, or the read-back of claims.scrubbed",
            ["by"],
            registry=r,
        )
        self.readbacks = Counter(
            "claimscrub_readback_records_total",
            "claims.scrubbed records read back after partition assignments",
            registry=r,
        )
        self.expired = Counter(
            "claimscrub_state_expired_total",
            "Table entries dropped after their grace period or retention, by table",
            ["table"],
            registry=r,
        )
        self.scrub_calls = Counter(
            "claimscrub_scrub_calls_total",
            "ScrubService.Scrub calls, by status of the result",
            ["status"],
            registry=r,
        )


_metrics: AggregatorMetrics | None = None


def aggregator_metrics() -> AggregatorMetrics:
    global _metrics
    if _metrics is None:
        _metrics = AggregatorMetrics()
    return _metrics

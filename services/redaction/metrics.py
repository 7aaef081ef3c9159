"""The redaction service's own metric families (beside runtime.metrics).

Labels are PHI types (a fixed set from the rules), operations and reason
kinds: bounded, and never a value.
"""

from __future__ import annotations

import functools

from prometheus_client import Counter, Histogram

from claimscrub.runtime.metrics import service_metrics

_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


class RedactionMetrics:
    def __init__(self) -> None:
        self.shared = service_metrics()
        self.published = Counter(
            "claimscrub_deidentified_total",
            "De-identified claim records published on claims.deidentified",
        )
        self.ready = Counter(
            "claimscrub_ready_total",
            "Claims published on claims.ready (their result in CLAIMSCRUB_READY_STATUSES)",
        )
        self.skipped = Counter(
            "claimscrub_deidentify_skipped_total",
            "Events the redaction service could not decode (the checks dead-letter them)",
            ["source", "reason"],
        )
        self.duplicates = Counter(
            "claimscrub_deidentify_duplicates_total",
            "Redelivered claims or results ignored by the join",
            ["source"],
        )
        self.findings = Counter(
            "claimscrub_redactions_total",
            "PHI spans removed from free text, by PHI type",
            ["type"],
        )
        self.duration = Histogram(
            "claimscrub_redaction_duration_seconds",
            "Time to redact one text or de-identify one claim",
            ["operation"],
            buckets=_BUCKETS,
        )


@functools.cache
def redaction_metrics() -> RedactionMetrics:
    return RedactionMetrics()

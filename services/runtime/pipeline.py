"""The services of the pipeline, in start order: used by tests and `make bench`.

(`deploy/local/stack.sh` keeps the same list for `make up`.) Enrollment starts
before necessity, which looks provider roles up in it.
"""

from __future__ import annotations

# (name, entry module)
PIPELINE: list[tuple[str, str]] = [
    ("units", "claimscrub.units.main"),
    ("enrollment", "claimscrub.enrollment.main"),
    ("necessity", "claimscrub.necessity.main"),
    ("aggregator", "claimscrub.aggregator.main"),
    # Downstream of the aggregator: nothing waits for it.
    ("redaction", "claimscrub.redaction.main"),
    # Upstream of claims.submitted (claims.x12): nothing waits for it either.
    ("intake", "claimscrub.intake.main"),
]

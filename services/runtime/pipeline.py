"""The services of the pipeline, in start order: used by tests and `make bench`.

Derived from the service registry (runtime/registry.py, data/services.json),
which deploy/local/stack.sh also starts from. Enrollment starts before
necessity, which looks provider roles up in it; the aggregator, redaction and
intake come after the checks, and nothing waits for them.
"""

from __future__ import annotations

from claimscrub.runtime.registry import services

# (name, entry module)
PIPELINE: list[tuple[str, str]] = [(s.name, s.module) for s in services()]

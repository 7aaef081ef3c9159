"""The services of the pipeline, in start order: used by tests and `make bench`.

(`deploy/local/stack.sh` keeps the same list for `make up`.)
"""

from __future__ import annotations

# (name, entry module)
PIPELINE: list[tuple[str, str]] = [
    ("units", "claimscrub.units.main"),
    ("aggregator", "claimscrub.aggregator.main"),
]

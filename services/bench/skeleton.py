"""The skeleton baseline: the pipeline's topology on the same transport, doing no work.

Five processes with the services' hops, reading and writing the same topics
on the same broker as the pipeline, but deciding nothing: no decoding, no
rules, no claim versions, no state changelogs.

* ``units`` and ``enrollment``: claims.submitted -> one verdict each on
  claims.checks;
* ``necessity``: claims.submitted -> its repartition topic (its
  re-keying hop, here under the same key) -> a verdict on claims.checks;
* ``aggregator``: claims.checks -> aggregator.claims-by-fingerprint once a
  claim has the three verdicts -> a CLEAN result on claims.scrubbed;
* ``redaction``: claims.submitted and claims.scrubbed -> claims.deidentified
  once it has both.

It answers "how fast is the plumbing alone": the issue's passthrough is one
hop, and every record a claim crosses in the pipeline costs the broker and
the transport too. Pipeline / skeleton is then the services' own work against
the plumbing they share; skeleton / passthrough the cost of the hops.
Counts are held in memory only: a bench baseline, not a service (nothing
survives a restart).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from claimscrub.core.codec import encode_scrub_result
from claimscrub.core.results import ScrubResult, Status
from claimscrub.runtime import service
from claimscrub.runtime.batch_table import Handler, InRecord, PartitionState, attach_batch_table
from claimscrub.runtime.guard import Outgoing
from claimscrub.runtime.streams import make_app
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, free_port
from claimscrub.runtime.topics import (
    AGGREGATOR_BY_FINGERPRINT,
    CLAIMS_CHECKS,
    CLAIMS_DEIDENTIFIED,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
    NECESSITY_BY_BENEFICIARY,
)

ROLE_VARIABLE = "CLAIMSCRUB_SKELETON_ROLE"
#: The processes, in start order, as the pipeline's (runtime.pipeline.PIPELINE).
ROLES = ("units", "enrollment", "necessity", "aggregator", "redaction")
#: Consumer groups are named skeleton-<role>[-<step>] (make bench waits on them).
GROUP_PREFIX = "skeleton-"
VERDICTS = 3  # units, necessity, enrollment: CLAIMSCRUB_REQUIRED_CHECKS' default


def _verdict(role: str) -> Handler:
    async def handle(rec: InRecord, _state: PartitionState) -> list[Outgoing]:
        return [Outgoing(CLAIMS_CHECKS.name, rec.key, role.encode())]

    return handle


def _forward(topic: str) -> Handler:
    async def handle(rec: InRecord, _state: PartitionState) -> list[Outgoing]:
        return [Outgoing(topic, rec.key, rec.value or b"")]

    return handle


def _after(count: int, topic: str, value: bytes) -> Handler:
    """Answers a key's ``count``-th record with ``value`` on ``topic``."""
    seen: dict[bytes, int] = {}

    async def handle(rec: InRecord, _state: PartitionState) -> list[Outgoing]:
        n = seen.get(rec.key, 0) + 1
        if n < count:
            seen[rec.key] = n
            return []
        seen.pop(rec.key, None)
        return [Outgoing(topic, rec.key, value)]

    return handle


def _steps(role: str) -> list[tuple[str, list[str], Handler]]:
    """(group suffix, input topics, handler) of each step of ``role``."""
    clean = encode_scrub_result(ScrubResult("", Status.CLEAN, ()))
    if role in ("units", "enrollment"):
        return [("", [CLAIMS_SUBMITTED.name], _verdict(role))]
    if role == "necessity":
        return [
            ("-router", [CLAIMS_SUBMITTED.name], _forward(NECESSITY_BY_BENEFICIARY.name)),
            ("", [NECESSITY_BY_BENEFICIARY.name], _verdict(role)),
        ]
    if role == "aggregator":
        return [
            (
                "",
                [CLAIMS_CHECKS.name],
                _after(VERDICTS, AGGREGATOR_BY_FINGERPRINT.name, clean),
            ),
            ("-publish", [AGGREGATOR_BY_FINGERPRINT.name], _forward(CLAIMS_SCRUBBED.name)),
        ]
    if role == "redaction":
        both = [CLAIMS_SUBMITTED.name, CLAIMS_SCRUBBED.name]
        return [("", both, _after(2, CLAIMS_DEIDENTIFIED.name, b""))]
    raise SystemExit(f"skeleton: {ROLE_VARIABLE} must be one of {', '.join(ROLES)}, not {role!r}")


def processes(kafka: LocalKafka, log_dir: Path, env: Mapping[str, str]) -> list[ServiceProcess]:
    """One not yet started process per role, in ROLES order (make bench, tests)."""
    return [
        ServiceProcess(
            f"skeleton-{role}",
            "claimscrub.bench.skeleton",
            free_port(),
            free_port(),
            kafka,
            log_dir,
            {**env, ROLE_VARIABLE: role},
        )
        for role in ROLES
    ]


def main() -> None:
    role = os.environ.get(ROLE_VARIABLE, "")
    steps = _steps(role)
    settings = service.settings_or_exit(f"skeleton-{role}", grpc_port=50060, metrics_port=9110)
    app = make_app(settings, app_id=f"claimscrub-skeleton-{role}-runtime")
    for suffix, topics, handler in steps:
        attach_batch_table(
            app,
            settings,
            group_id=f"{GROUP_PREFIX}{role}{suffix}",
            topics=topics,
            changelog=None,
            handler=handler,
            # Only claims sent while it runs: earlier phases' claims are not its work.
            offset_reset="latest",
        )
    service.run(settings, app, lambda server: [])


if __name__ == "__main__":
    main()

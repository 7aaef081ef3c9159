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
* ``redaction``: claims.submitted -> its repartition topic (its re-keying
  hop), which with claims.scrubbed -> claims.deidentified once it has both.

It answers "how fast is the plumbing alone": the issue's passthrough is one
hop, and every record a claim crosses in the pipeline costs the broker and
the transport too. Pipeline / skeleton is then the services' own work against
the plumbing they share; skeleton / passthrough the cost of the hops.
Each role is one Quix Streams Application (runtime/engine.py, run by
runtime/runner.py as the services are) in consumer group ``skeleton-<role>``,
one dataframe per input, each step under the record guard. Counts are held
in memory only: a bench baseline, not a service (nothing survives a restart).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from quixstreams import Application

from claimscrub.core.codec import encode_scrub_result
from claimscrub.core.results import ScrubResult, Status
from claimscrub.runtime import engine, runner
from claimscrub.runtime.guard import Outgoing
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, free_port
from claimscrub.runtime.topics import (
    AGGREGATOR_BY_FINGERPRINT,
    CLAIMS_CHECKS,
    CLAIMS_DEIDENTIFIED,
    CLAIMS_DLQ,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
    NECESSITY_BY_BENEFICIARY,
    REDACTION_BY_CLAIM,
    TopicSpec,
)

ROLE_VARIABLE = "CLAIMSCRUB_SKELETON_ROLE"
#: The processes, in start order, as the pipeline's (runtime.pipeline.PIPELINE).
ROLES = ("units", "enrollment", "necessity", "aggregator", "redaction")
#: Consumer groups are named skeleton-<role> (make bench waits on them).
GROUP_PREFIX = "skeleton-"
VERDICTS = 3  # units, necessity, enrollment: CLAIMSCRUB_REQUIRED_CHECKS' default

Step = engine.StatelessStep


def _verdict(role: str) -> Step:
    def step(rec: engine.Record) -> list[Outgoing]:
        return [Outgoing(CLAIMS_CHECKS.name, rec.key, role.encode())]

    return step


def _forward(topic: str) -> Step:
    def step(rec: engine.Record) -> list[Outgoing]:
        return [Outgoing(topic, rec.key, rec.value or b"")]

    return step


def _after(count: int, topic: str, value: bytes) -> Step:
    """Answers a key's ``count``-th record with ``value`` on ``topic``."""
    seen: dict[bytes, int] = {}

    def step(rec: engine.Record) -> list[Outgoing]:
        n = seen.get(rec.key, 0) + 1
        if n < count:
            seen[rec.key] = n
            return []
        seen.pop(rec.key, None)
        return [Outgoing(topic, rec.key, value)]

    return step


def _steps(role: str) -> list[tuple[TopicSpec, TopicSpec, Step]]:
    """(input topic, output topic, step) of each dataframe of ``role``."""
    clean = encode_scrub_result(ScrubResult("", Status.CLEAN, ()))
    if role in ("units", "enrollment"):
        return [(CLAIMS_SUBMITTED, CLAIMS_CHECKS, _verdict(role))]
    if role == "necessity":
        return [
            (CLAIMS_SUBMITTED, NECESSITY_BY_BENEFICIARY, _forward(NECESSITY_BY_BENEFICIARY.name)),
            (NECESSITY_BY_BENEFICIARY, CLAIMS_CHECKS, _verdict(role)),
        ]
    if role == "aggregator":
        return [
            (
                CLAIMS_CHECKS,
                AGGREGATOR_BY_FINGERPRINT,
                _after(VERDICTS, AGGREGATOR_BY_FINGERPRINT.name, clean),
            ),
            (AGGREGATOR_BY_FINGERPRINT, CLAIMS_SCRUBBED, _forward(CLAIMS_SCRUBBED.name)),
        ]
    if role == "redaction":
        # One count for both inputs: a claim is joined by its second record.
        join = _after(2, CLAIMS_DEIDENTIFIED.name, b"")
        return [
            (CLAIMS_SUBMITTED, REDACTION_BY_CLAIM, _forward(REDACTION_BY_CLAIM.name)),
            (REDACTION_BY_CLAIM, CLAIMS_DEIDENTIFIED, join),
            (CLAIMS_SCRUBBED, CLAIMS_DEIDENTIFIED, join),
        ]
    raise SystemExit(f"skeleton: {ROLE_VARIABLE} must be one of {', '.join(ROLES)}, not {role!r}")


def topology(app: Application, settings: Settings, role: str) -> None:
    for source, output, step in _steps(role):
        sdf = app.dataframe(engine.raw_topic(app, source))
        engine.guarded(app, sdf, settings, step, outputs=(output, CLAIMS_DLQ))


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
    _steps(role)  # an unknown role stops here, before any connection
    settings = runner.settings_or_exit(f"skeleton-{role}", grpc_port=50060, metrics_port=9110)
    runner.run(
        settings,
        lambda app: topology(app, settings, role),
        lambda server: [],
        app_options={
            "consumer_group": f"{GROUP_PREFIX}{role}",
            # Only claims sent while it runs: earlier phases' claims are not its work.
            "auto_offset_reset": "latest",
        },
    )


if __name__ == "__main__":
    main()

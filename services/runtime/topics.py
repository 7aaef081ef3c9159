"""Every topic of the pipeline, declared once with its key and value.

Services never spell a topic name; they take it from here (the pattern of
Confluent's microservices examples). ``python -m claimscrub.runtime.topics
create`` creates them all, idempotently.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str
    value: str
    config: dict[str, str] = field(default_factory=dict)
    #: Carries claims as submitted, PHI included: inside the clinical boundary,
    #: readable only by the services that must (the leak test skips exactly these).
    clinical: bool = False


CLAIMS_SUBMITTED = TopicSpec("claims.submitted", "claimId", "claimscrub.v1.Claim", clinical=True)
CLAIMS_CHECKS = TopicSpec("claims.checks", "claimId", "claimscrub.v1.CheckResult")
CLAIMS_SCRUBBED = TopicSpec("claims.scrubbed", "claimId", "claimscrub.v1.ScrubResult")
CLAIMS_DEIDENTIFIED = TopicSpec(
    "claims.deidentified", "pseudonymous claim token", "de-identified claim + result"
)
PROVIDERS_ENROLLMENT = TopicSpec(
    "providers.enrollment",
    "npi:payerId",
    "claimscrub.v1.EnrollmentRecord",
    {"cleanup.policy": "compact"},
)
CLAIMS_DLQ = TopicSpec(
    "claims.dlq", "original key", "undecodable event + reason headers", clinical=True
)
# Internal to the necessity service: claims.submitted repartitioned by beneficiary
# so its per-beneficiary table is co-partitioned with its input. Carries the claim
# (clinical boundary, like claims.submitted); the key is a keyed hash, never an ID.
NECESSITY_BY_BENEFICIARY = TopicSpec(
    "necessity.claims-by-beneficiary",
    "beneficiary token (HMAC-SHA256 of payerId + memberId)",
    "claimscrub.v1.Claim as submitted",
    clinical=True,
)
# Internal to the aggregator: each claim version's combined result, keyed by its
# duplicate fingerprint (claim:<claimId> without one), so the publishing step
# sees every claim with the same services in one partition (DUPLICATE_CLAIM).
AGGREGATOR_BY_FINGERPRINT = TopicSpec(
    "aggregator.claims-by-fingerprint",
    "duplicate fingerprint (HMAC-SHA256 of patient, providers, DOS, codes, modifiers, units)",
    "claimscrub.v1.ScrubResult (before DUPLICATE_CLAIM)",
)

# Changelog topics of the services' Faust tables, named as Faust names them
# ("<app id>-<table>-changelog"). Faust creates them itself, but on a brand-new
# broker it can subscribe before they exist, and then refuses every table write
# (PartitionsMismatch: 0 changelog partitions) until a later rebalance; created
# up front with the other topics, they are there from the first start.
AGGREGATOR_STATE_CHANGELOG = TopicSpec(
    "claimscrub-aggregator-claim-state-changelog",
    "claimId",
    "aggregator claim state (JSON)",
    {"cleanup.policy": "compact"},
)
AGGREGATOR_LEDGER_CHANGELOG = TopicSpec(
    "claimscrub-aggregator-ledger-changelog",
    "duplicate fingerprint, or claim:<claimId>",
    "aggregator ledger: fingerprint owner and published versions (JSON)",
    {"cleanup.policy": "compact"},
)
NECESSITY_HISTORY_CHANGELOG = TopicSpec(
    "claimscrub-necessity-beneficiary-history-changelog",
    "beneficiary token (HMAC-SHA256 of payerId + memberId)",
    "necessity beneficiary history (JSON)",
    {"cleanup.policy": "compact"},
)
REDACTION_JOIN_CHANGELOG = TopicSpec(
    "claimscrub-redaction-deidentify-join-changelog",
    "claim token (HMAC-SHA256 of claimId)",
    "de-identified claim and/or result waiting for its pair (protobuf, no PHI)",
    {"cleanup.policy": "compact"},
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    CLAIMS_SUBMITTED,
    CLAIMS_CHECKS,
    CLAIMS_SCRUBBED,
    CLAIMS_DEIDENTIFIED,
    PROVIDERS_ENROLLMENT,
    CLAIMS_DLQ,
    NECESSITY_BY_BENEFICIARY,
    AGGREGATOR_BY_FINGERPRINT,
    AGGREGATOR_STATE_CHANGELOG,
    AGGREGATOR_LEDGER_CHANGELOG,
    NECESSITY_HISTORY_CHANGELOG,
    REDACTION_JOIN_CHANGELOG,
)


# The stream engine's internal topics, named as Quix Streams 3.28 names them
# (quixstreams/models/topics/manager.py, TopicManager._internal_name):
# "<kind>__<consumer group>--<source topic>--<store or operation>", where the
# source of a topic derived from another internal topic is that topic's name
# less its group, with "--" read as ".". Every one used is declared above
# like any other topic and created with them: the services never create
# topics. The ACL table grants each service its own two prefixes.
ENGINE_CHANGELOG = "changelog"
ENGINE_REPARTITION = "repartition"


def engine_topic_name(kind: str, group: str, source: str | None, suffix: str) -> str:
    """The name Quix gives a changelog (``suffix``: the store) or repartition
    (``suffix``: the group_by name) topic of consumer group ``group``."""
    if kind not in (ENGINE_CHANGELOG, ENGINE_REPARTITION):
        raise ValueError(f"not an internal topic kind: {kind}")
    parts = [group, suffix] if source is None else [group, _nested(group, source), suffix]
    return f"{kind}__{'--'.join(parts)}"


def _nested(group: str, source: str) -> str:
    if f"__{group}--" in source:
        return source.replace(f"__{group}", "").replace("--", ".")
    return source


def engine_topic_prefixes(group: str) -> tuple[str, str]:
    """The name prefixes of every internal topic of consumer group ``group``."""
    return (f"{ENGINE_CHANGELOG}__{group}--", f"{ENGINE_REPARTITION}__{group}--")


def create_topics(bootstrap: str, partitions: int, security: Any = None) -> list[str]:
    """Create any missing topic; returns the names created. Connects as
    ``security`` (a KafkaSecurity) or as the environment says."""
    from kafka.admin import KafkaAdminClient, NewTopic

    from claimscrub.runtime.kafka_config import kafka_client_kwargs

    admin = KafkaAdminClient(
        **kafka_client_kwargs(bootstrap, security, client_id="claimscrub-topics")
    )
    try:
        existing = set(admin.list_topics())
        missing = [t for t in ALL_TOPICS if t.name not in existing]
        if missing:
            admin.create_topics(
                [NewTopic(t.name, partitions, 1, topic_configs=dict(t.config)) for t in missing]
            )
        return [t.name for t in missing]
    finally:
        admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m claimscrub.runtime.topics",
        description="Create the claimscrub topics (idempotent).",
    )
    parser.add_argument("command", choices=["create", "list"])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=int(os.environ.get("CLAIMSCRUB_TOPIC_PARTITIONS", "6")),
        help="partitions per topic (default 6, or CLAIMSCRUB_TOPIC_PARTITIONS)",
    )
    args = parser.parse_args(argv)
    if args.command == "list":
        for t in ALL_TOPICS:
            print(f"{t.name}\tkey={t.key}\tvalue={t.value}")
        return 0
    try:
        created = create_topics(args.bootstrap, args.partitions)
    except Exception as exc:  # the admin client raises many kinds; report one line
        print(f"topics: cannot create topics on {args.bootstrap}: {exc}", file=sys.stderr)
        return 1
    print(f"topics: created {', '.join(created)}" if created else "topics: all present")
    return 0


if __name__ == "__main__":
    sys.exit(main())

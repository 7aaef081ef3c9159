"""Every topic of the pipeline, declared once with its key and value.

Services never spell a topic name; they take it from here (the pattern of
Confluent's microservices examples). ``python -m claimscrub.runtime.topics
create`` creates them all, idempotently, and sets on every topic, new or
existing, the configuration declared here plus the retention of the topics
that hold PHI (``data/topic_retention.json``, :func:`retention`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from claimscrub.runtime.env import SettingsError


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str
    value: str
    config: dict[str, str] = field(default_factory=dict)
    #: Carries claims as submitted, PHI included: inside the clinical boundary,
    #: readable only by the services that must (the leak test skips exactly these).
    clinical: bool = False


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
# The ready stage (redaction service, docs/redaction.md): each claim version whose
# result is ready, exactly as submitted (PHI), for the next stage to send on.
CLAIMS_READY = TopicSpec(
    "claims.ready", "claimId", "the submitted claim, as submitted", clinical=True
)
# The X12 intake (docs/x12.md): raw 837P interchanges in (PHI, like
# claims.submitted), their 999 acknowledgments out (control numbers, segment
# positions and error codes only: no claim values).
CLAIMS_X12 = TopicSpec(
    "claims.x12", "interchange control number", "a raw 837P interchange", clinical=True
)
CLAIMS_X12_ACKS = TopicSpec(
    "claims.x12.acks", "interchange control number", "its 999 acknowledgment"
)
# Internal to the aggregator: each claim version's combined result, keyed by its
# duplicate fingerprint (claim:<claimId> without one), so the publishing step
# sees every claim with the same services in one partition (DUPLICATE_CLAIM).
AGGREGATOR_BY_FINGERPRINT = TopicSpec(
    "aggregator.claims-by-fingerprint",
    "duplicate fingerprint (HMAC-SHA256 of patient, providers, DOS, codes, modifiers, units)",
    "claimscrub.v1.ScrubResult (before DUPLICATE_CLAIM)",
)

# The aggregator's two stores (claimscrub.aggregator.topology): the claim
# state of claims.checks (key claimId, plus the store's due index) and the
# ledger of aggregator.claims-by-fingerprint (key fingerprint). No PHI: check
# edits, keyed hashes, claimIds.
AGGREGATOR_STATE_CHANGELOG = TopicSpec(
    engine_topic_name(ENGINE_CHANGELOG, "claimscrub-aggregator", CLAIMS_CHECKS.name, "default"),
    "claimId (or the store's due index)",
    "aggregator claim state (JSON)",
    {"cleanup.policy": "compact"},
)
AGGREGATOR_LEDGER_CHANGELOG = TopicSpec(
    engine_topic_name(
        ENGINE_CHANGELOG, "claimscrub-aggregator", AGGREGATOR_BY_FINGERPRINT.name, "default"
    ),
    "duplicate fingerprint, or claim:<claimId> (or the store's due index)",
    "aggregator ledger: fingerprint owner and published versions (JSON)",
    {"cleanup.policy": "compact"},
)
# The redaction service's engine topics (redaction/topology.py): claims.submitted
# re-keyed by its own key (group_by "claimId"), so that a claim reaches the
# partition the stream engine's murmur2 partitioner gives its claimId, the
# partition its result has on claims.scrubbed, whatever partitioner its
# producer used (the contract asks none of producers). It carries the claim as
# submitted: inside the clinical boundary, like its source.
REDACTION_GROUP = "claimscrub-redaction"
REDACTION_GROUP_BY = "claimId"
REDACTION_BY_CLAIM = TopicSpec(
    engine_topic_name(
        ENGINE_REPARTITION, REDACTION_GROUP, CLAIMS_SUBMITTED.name, REDACTION_GROUP_BY
    ),
    "claimId",
    "claimscrub.v1.Claim as submitted",
    clinical=True,
)
# The redaction service's join store (Quix state over the re-keyed claims and
# claims.scrubbed read as one stream): per claimId the de-identified half join
# and the claim as submitted waiting for a ready verdict, so it is inside the
# clinical boundary like claims.submitted.
REDACTION_JOIN_CHANGELOG = TopicSpec(
    engine_topic_name(
        ENGINE_CHANGELOG,
        REDACTION_GROUP,
        f"{CLAIMS_SCRUBBED.name}--{REDACTION_BY_CLAIM.name}",
        "default",
    ),
    "claimId (Quix state key under it)",
    "de-identified half join, and the claim as submitted until its verdict settles (JSON)",
    {"cleanup.policy": "compact"},
    clinical=True,
)

# The PHI access audit trail (runtime/audit.py): append-only (every service
# writes, no principal but the auditor reads, nobody deletes), kept six years.
AUDIT_ACCESS = TopicSpec(
    "audit.access",
    "principal",
    "access event JSON: time, principal, method or topic, claim token, outcome",
    {"cleanup.policy": "delete"},
)

# Reference data in dated versions (docs/reference-data.md), read whole by every
# instance of every service in every region: compacted and never expired, so a
# version stays until it is withdrawn (a tombstone), however old.
REFERENCE_PAYERS = TopicSpec(
    "reference.payers",
    "payerId",
    "the payer's policy versions (JSON: payerId, versions)",
    {"cleanup.policy": "compact", "retention.ms": "-1"},
)
REFERENCE_TABLES = TopicSpec(
    "reference.tables",
    "kind:version (a version's manifest, written last) or kind:version:chunk",
    "manifest JSON, or a chunk of the version's gzip-compressed files",
    {"cleanup.policy": "compact", "retention.ms": "-1"},
)

# The necessity service's engine topics (necessity/topology.py): claims.submitted
# re-keyed by beneficiary (group_by "beneficiary"; it carries the claim, so it
# is inside the clinical boundary like its source; the key is a keyed hash,
# never an ID), and the changelog of the beneficiary histories kept in the
# state of the step that reads it (Quix's "default" store).
NECESSITY_GROUP = "claimscrub-necessity"
NECESSITY_GROUP_BY = "beneficiary"
NECESSITY_BY_BENEFICIARY = TopicSpec(
    engine_topic_name(
        ENGINE_REPARTITION, NECESSITY_GROUP, CLAIMS_SUBMITTED.name, NECESSITY_GROUP_BY
    ),
    "beneficiary token (HMAC-SHA256 of payerId + memberId)",
    "claimscrub.v1.Claim as submitted",
    clinical=True,
)
NECESSITY_HISTORY_CHANGELOG = TopicSpec(
    engine_topic_name(ENGINE_CHANGELOG, NECESSITY_GROUP, NECESSITY_BY_BENEFICIARY.name, "default"),
    "beneficiary token, then the state key (Quix's prefixed keys)",
    "necessity beneficiary history, dates shifted (JSON)",
    {"cleanup.policy": "compact"},
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    CLAIMS_SUBMITTED,
    CLAIMS_CHECKS,
    CLAIMS_SCRUBBED,
    CLAIMS_DEIDENTIFIED,
    PROVIDERS_ENROLLMENT,
    CLAIMS_DLQ,
    CLAIMS_READY,
    CLAIMS_X12,
    CLAIMS_X12_ACKS,
    AGGREGATOR_BY_FINGERPRINT,
    AGGREGATOR_STATE_CHANGELOG,
    AGGREGATOR_LEDGER_CHANGELOG,
    REDACTION_BY_CLAIM,
    REDACTION_JOIN_CHANGELOG,
    NECESSITY_BY_BENEFICIARY,
    NECESSITY_HISTORY_CHANGELOG,
    AUDIT_ACCESS,
    REFERENCE_PAYERS,
    REFERENCE_TABLES,
)

RETENTION_FILE_VARIABLE = "CLAIMSCRUB_TOPIC_RETENTION_FILE"
RETENTION_OVERRIDE_VARIABLE = "CLAIMSCRUB_TOPIC_RETENTION_MS"


def _retention_table(env: Mapping[str, str]) -> dict[str, Any]:
    raw = env.get(RETENTION_FILE_VARIABLE, "").strip()
    try:
        if raw:
            text = Path(raw).read_text("utf-8")
        else:
            text = (
                resources.files("claimscrub.runtime")
                .joinpath("data/topic_retention.json")
                .read_text("utf-8")
            )
        table: dict[str, Any] = json.loads(text)["topics"]
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SettingsError(f"{RETENTION_FILE_VARIABLE} cannot be read ({reason}): {raw}") from None
    except (ValueError, KeyError, TypeError):
        raise SettingsError(f"{RETENTION_FILE_VARIABLE} is not a retention table: {raw}") from None
    return table


def retention(env: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """Topic -> the retention configs to set (``retention.ms``, and
    ``cleanup.policy`` for a compacted topic that must also expire), from the
    table with the per-topic overrides of CLAIMSCRUB_TOPIC_RETENTION_MS
    (``claims.submitted=86400000,claims.dlq=604800000``)."""
    e = os.environ if env is None else env
    out: dict[str, dict[str, str]] = {}
    for topic, raw in _retention_table(e).items():
        if topic.startswith("_"):
            continue
        configs = {k: str(v) for k, v in raw.items() if not k.startswith("_")}
        if "retention.ms" not in configs:
            raise SettingsError(f"topic retention: {topic} has no retention.ms")
        out[topic] = configs
    for item in e.get(RETENTION_OVERRIDE_VARIABLE, "").split(","):
        if not item.strip():
            continue
        topic, _, ms = item.partition("=")
        if not ms.strip().isdigit():
            raise SettingsError(f"{RETENTION_OVERRIDE_VARIABLE}: {item.strip()} is not topic=ms")
        out.setdefault(topic.strip(), {})["retention.ms"] = ms.strip()
    return out


def topic_configs(
    topics: tuple[TopicSpec, ...] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """Every registered topic's configuration: its declaration, then its retention."""
    kept = retention(env)
    topics = ALL_TOPICS if topics is None else topics
    return {t.name: {**t.config, **kept.get(t.name, {})} for t in topics}


#: How long one admin request (list, create, alter) may take.
ADMIN_TIMEOUT_S = 30.0


def create_topics(bootstrap: str, partitions: int, security: Any = None) -> list[str]:
    """Create any missing topic; returns the names created. Connects as
    ``security`` (a KafkaSecurity) or as the environment says."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import (
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewTopic,
    )

    from claimscrub.runtime.kafka_config import client_config

    configs = topic_configs()  # a bad retention setting fails before any change
    admin = AdminClient(client_config(bootstrap, security, client_id="claimscrub-topics"))
    existing = set(admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics)
    missing = [t for t in ALL_TOPICS if t.name not in existing]
    if missing:
        new = [NewTopic(t.name, partitions, 1, config=configs[t.name]) for t in missing]
        for future in admin.create_topics(new, request_timeout=ADMIN_TIMEOUT_S).values():
            try:
                future.result()
            except KafkaException as exc:
                # Made meanwhile (an earlier attempt whose answer timed out on a
                # busy broker, whose metadata had not listed it yet): it exists.
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    # Topics made before a retention was declared or changed get it too
    # (incremental: other settings an operator made stay as they are).
    present = [t for t in ALL_TOPICS if t.name in existing and configs[t.name]]
    if present:
        resources = [
            ConfigResource(
                "topic",
                t.name,
                incremental_configs=[
                    ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                    for k, v in configs[t.name].items()
                ],
            )
            for t in present
        ]
        for future in admin.incremental_alter_configs(
            resources, request_timeout=ADMIN_TIMEOUT_S
        ).values():
            future.result()
    return [t.name for t in missing]


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
        configs = topic_configs()
        for t in ALL_TOPICS:
            extra = "".join(f"\t{k}={v}" for k, v in sorted(configs[t.name].items()))
            print(f"{t.name}\tkey={t.key}\tvalue={t.value}{extra}")
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

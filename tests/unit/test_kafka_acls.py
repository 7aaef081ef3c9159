"""The Kafka ACL table (services/runtime/data/kafka_acls.json): least privilege,
in agreement with the topics registry and the chart's services."""

from __future__ import annotations

from typing import Any

import yaml

from claimscrub.runtime import registry
from claimscrub.runtime.acls import (
    DESCRIBE,
    DESCRIBE_CONFIGS,
    READ,
    WRITE,
    bindings,
    load_table,
    may,
    principals,
    super_users,
)
from claimscrub.runtime.testing import REPO_ROOT
from claimscrub.runtime.topics import (
    ALL_TOPICS,
    AUDIT_ACCESS,
    CLAIMS_DEIDENTIFIED,
    CLAIMS_SCRUBBED,
    ENGINE_CHANGELOG,
    ENGINE_REPARTITION,
    engine_topic_name,
    engine_topic_prefixes,
)

SERVICES = tuple(s.principal for s in registry.services())


def _chart_services() -> dict[str, Any]:
    values = yaml.safe_load((REPO_ROOT / "helm/claimscrub/values.yaml").read_text())
    services: dict[str, Any] = values["services"]
    return services


def test_the_table_names_only_registered_topics() -> None:
    names = {t.name for t in ALL_TOPICS}
    for principal, grants in load_table()["principals"].items():
        assert set(grants.get("read", [])) <= names, principal
        assert set(grants.get("write", [])) <= names, principal


def test_every_chart_service_is_a_principal_reading_what_it_consumes() -> None:
    b = bindings()
    for name, svc in _chart_services().items():
        assert name in principals()
        for topic in svc["consumes"]:
            assert may(b, name, READ, topic), (name, topic)
        group = [x for x in b if x.principal == name and x.resource_type == "GROUP"]
        # The engine's group (runtime.engine.consumer_group); the service's
        # other consumers' group ids under its prefix.
        assert sorted((g.name, g.pattern) for g in group) == [
            (f"claimscrub-{name}", "LITERAL"),
            (f"claimscrub-{name}-", "PREFIXED"),
        ]


def test_each_service_reads_and_writes_exactly_its_registry_topics() -> None:
    """Literal grants are the registry's topics; everything else a service
    may touch is its own: prefixes derived from its consumer group."""
    b = bindings()
    for s in registry.services():
        mine = [x for x in b if x.principal == s.principal and x.resource_type == "TOPIC"]
        literal = {(x.operation, x.name) for x in mine if x.pattern == "LITERAL"}
        assert {n for op, n in literal if op == READ} == set(s.reads), s.name
        assert {n for op, n in literal if op == WRITE} == set(s.writes), s.name
        assert {n for op, n in literal if op == DESCRIBE_CONFIGS} == {*s.reads, *s.writes}
        prefixes = {x.name for x in mine if x.pattern == "PREFIXED"}
        assert prefixes == set(engine_topic_prefixes(s.group)), s.name


def test_no_principal_may_create_topics() -> None:
    """The engine's internal topics are created beforehand with the others
    (runtime.topics): no service creates a topic in production."""
    assert not [b for b in bindings() if b.operation == "CREATE"]


def test_only_registry_services_hold_engine_grants() -> None:
    table = load_table()["principals"]
    owners = {p for p, grants in table.items() if grants.get("engine")}
    assert owners == set(SERVICES)


def test_units_cannot_read_deidentified_claims_and_analytics_reads_only_its_two_topics() -> None:
    b = bindings()
    assert not may(b, "units", READ, CLAIMS_DEIDENTIFIED.name)
    assert not may(b, "units", DESCRIBE, CLAIMS_DEIDENTIFIED.name)
    readable = {t.name for t in ALL_TOPICS if may(b, "analytics", READ, t.name)}
    assert readable == {CLAIMS_DEIDENTIFIED.name, CLAIMS_SCRUBBED.name}
    # Its one write: the audit event of each de-identified record it reads.
    written = {t.name for t in ALL_TOPICS if may(b, "analytics", WRITE, t.name)}
    assert written == {AUDIT_ACCESS.name}


def test_clinical_topics_are_read_only_by_the_services_that_need_the_claim() -> None:
    b = bindings()
    for topic in (t for t in ALL_TOPICS if t.clinical):
        readers = {p for p in principals() if may(b, p, READ, topic.name)}
        # claims.ready exists to be read by the next stage, the claim sender.
        outside = {"sender"} if topic.name == "claims.ready" else set()
        assert readers <= set(SERVICES) | outside, (topic.name, readers)
        assert "analytics" not in readers and "submitter" not in readers
    assert {p for p in principals() if may(b, p, READ, "claims.ready")} == {"sender"}
    assert may(b, "redaction", WRITE, "claims.ready")
    assert {p for p in principals() if may(b, p, WRITE, "claims.ready")} == {"redaction"}


def test_every_topic_has_a_writer_and_a_reader_or_is_a_dead_letter_queue() -> None:
    b = bindings()
    for topic in ALL_TOPICS:
        writers = {p for p in principals() if may(b, p, WRITE, topic.name)}
        readers = {p for p in principals() if may(b, p, READ, topic.name)}
        assert writers, topic.name
        # claims.dlq is read by people with the admin principal, on purpose.
        assert readers or topic.name == "claims.dlq", topic.name


def test_no_principal_may_touch_another_service_s_internal_topics() -> None:
    b = bindings()
    for owner in SERVICES:
        for kind in (ENGINE_CHANGELOG, ENGINE_REPARTITION):
            internal = engine_topic_name(kind, f"claimscrub-{owner}", None, "some-store")
            allowed = {
                p for p in principals() if may(b, p, READ, internal) or may(b, p, WRITE, internal)
            }
            assert allowed == {owner}, internal


def test_the_broker_and_admin_are_the_only_super_users() -> None:
    assert super_users() == ["broker", "admin"]
    assert not {b.principal for b in bindings()} & set(super_users())


def test_kafka_sh_makes_the_same_super_users() -> None:
    script = (REPO_ROOT / "deploy/kafka/kafka.sh").read_text()
    assert "super.users=" + ";".join(f"User:{n}" for n in super_users()) in script


def test_only_the_auditor_reads_the_audit_trail_and_nobody_alters_it() -> None:
    """HIPAA 164.312(b): the trail of PHI access is readable by the auditor
    alone; every principal that reads or serves PHI may only append to it."""
    b = bindings()
    readers = {p for p in principals() if may(b, p, READ, AUDIT_ACCESS.name)}
    assert readers == {"auditor"}
    writers = {p for p in principals() if may(b, p, WRITE, AUDIT_ACCESS.name)}
    assert writers == {*SERVICES, "submitter", "analytics", "sender"}
    grants = {(x.principal, x.operation) for x in b if x.name == AUDIT_ACCESS.name}
    # Reading the topic's configuration (the stream engine's start-up check) alters nothing.
    assert {op for _, op in grants} - {DESCRIBE_CONFIGS} == {READ, WRITE}

"""runtime.engine: the Quix Streams Application every service runs, built from
the settings; no broker (nothing connects before a topic is declared)."""

from __future__ import annotations

from pathlib import Path

from quixstreams.models.topics import TopicAdmin, TopicManager

from claimscrub.runtime.acls import DESCRIBE_CONFIGS, READ, WRITE, bindings, may, principals
from claimscrub.runtime.engine import make_application, partition_offsets
from claimscrub.runtime.kafka_config import KafkaSecurity
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import (
    CLAIMS_CHECKS,
    CLAIMS_SUBMITTED,
    engine_topic_name,
    engine_topic_prefixes,
)

PASSWORD = "pw-" + "s" * 30


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        "units",
        grpc_port=50051,
        metrics_port=9101,
        env={"CLAIMSCRUB_DATA_DIR": str(tmp_path / "data"), **env},
    )


def test_the_application_reads_as_the_service_s_group_with_no_topic_creation(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, CLAIMSCRUB_COMMIT_INTERVAL_SECONDS="2")
    config = make_application(settings).config
    assert config.consumer_group == "claimscrub-units"
    assert config.auto_create_topics is False
    assert config.processing_guarantee == "at-least-once"
    assert config.commit_interval == 2.0
    assert config.auto_offset_reset == "earliest"
    # A key's partition as the Java client chooses it.
    assert config.producer_extra_config["partitioner"] == "murmur2_random"
    # State follows the data directory unless CLAIMSCRUB_STATE_DIR says otherwise.
    assert config.state_dir == tmp_path / "data" / "state"
    other = _settings(tmp_path, CLAIMSCRUB_STATE_DIR=str(tmp_path / "rocks"))
    assert make_application(other).config.state_dir == tmp_path / "rocks"


def test_an_exactly_once_producer_is_named_under_the_group_the_acls_grant(
    tmp_path: Path,
) -> None:
    from claimscrub.runtime.acls import bindings

    app = make_application(_settings(tmp_path), processing_guarantee="exactly-once")
    tid = app.config.producer_extra_config["transactional.id"]
    assert tid.startswith("claimscrub-units-")
    again = make_application(_settings(tmp_path), processing_guarantee="exactly-once")
    assert again.config.producer_extra_config["transactional.id"] != tid  # one per Application
    # An exactly-once service's ACL prefix (kafka_acls.json) covers such names.
    granted = [
        b for b in bindings() if b.resource_type == "TRANSACTIONAL_ID" and b.pattern == "PREFIXED"
    ]
    assert granted and all(b.name == f"claimscrub-{b.principal}-" for b in granted)
    assert (
        "transactional.id" not in make_application(_settings(tmp_path)).config.producer_extra_config
    )


def test_plaintext_is_one_librdkafka_property() -> None:
    assert KafkaSecurity().librdkafka_config() == {"security.protocol": "plaintext"}


def test_sasl_ssl_with_scram_maps_to_librdkafka_properties(certs: Path) -> None:
    security = KafkaSecurity.from_env(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_USERNAME": "units",
            "KAFKA_SASL_PASSWORD": PASSWORD,
            "KAFKA_SSL_CA_FILE": str(certs / "ca.pem"),
        }
    )
    assert security.librdkafka_config() == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "units",
        "sasl.password": PASSWORD,
        "ssl.ca.location": str(certs / "ca.pem"),
        "ssl.endpoint.identification.algorithm": "https",
    }


def test_ssl_with_a_client_certificate_maps_to_its_files(certs: Path) -> None:
    security = KafkaSecurity.from_env(
        {
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CA_FILE": str(certs / "ca.pem"),
            "KAFKA_SSL_CERT_FILE": str(certs / "units.pem"),
            "KAFKA_SSL_KEY_FILE": str(certs / "units-key.pem"),
            "KAFKA_SSL_CHECK_HOSTNAME": "false",
        }
    )
    assert security.librdkafka_config() == {
        "security.protocol": "ssl",
        "ssl.ca.location": str(certs / "ca.pem"),
        "ssl.certificate.location": str(certs / "units.pem"),
        "ssl.key.location": str(certs / "units-key.pem"),
        "ssl.endpoint.identification.algorithm": "none",
    }


def test_the_password_reaches_the_client_config_but_not_quix_s_log_line(
    tmp_path: Path, certs: Path
) -> None:
    settings = _settings(
        tmp_path,
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_SASL_USERNAME="units",
        KAFKA_SASL_PASSWORD=PASSWORD,
        KAFKA_SSL_CA_FILE=str(certs / "ca.pem"),
    )
    broker = make_application(settings).config.broker_address
    assert broker.as_librdkafka_dict()["sasl.password"] == PASSWORD
    # Quix logs its broker address at start-up with str().
    assert PASSWORD not in str(broker)


def test_lag_comes_from_assigned_source_partitions_of_the_statistics() -> None:
    stats = {
        "topics": {
            "claims.submitted": {
                "partitions": {
                    # Assigned, committed: lag 3.
                    "0": {"fetch_state": "active", "hi_offset": 10, "committed_offset": 7},
                    # Assigned, nothing committed yet: the consumer's position stands in.
                    "1": {
                        "fetch_state": "active",
                        "hi_offset": 5,
                        "committed_offset": -1001,
                        "app_offset": 4,
                    },
                    # Not assigned to this instance.
                    "2": {"fetch_state": "none", "hi_offset": 9, "committed_offset": 9},
                    # librdkafka's unassigned-partition bucket.
                    "-1": {"fetch_state": "none", "hi_offset": -1},
                }
            },
            "changelog__claimscrub-units--claims.submitted--default": {
                "partitions": {"0": {"fetch_state": "active", "hi_offset": 3}}
            },
        }
    }
    rows, assigned = partition_offsets(stats)
    assert rows == [("claims.submitted", 0, 10, 7), ("claims.submitted", 1, 5, 4)]
    assert assigned == {"claims.submitted": 2}


def test_internal_topic_names_are_the_ones_quix_derives() -> None:
    manager = TopicManager(TopicAdmin(broker_address="127.0.0.1:1"), "claimscrub-necessity")
    for kind, source, suffix in [
        ("changelog", CLAIMS_SUBMITTED.name, "history"),
        ("repartition", CLAIMS_SUBMITTED.name, "beneficiary"),
        ("changelog", "repartition__claimscrub-necessity--claims.submitted--beneficiary", "h"),
        ("changelog", None, "ledger"),
    ]:
        assert engine_topic_name(kind, "claimscrub-necessity", source, suffix) == (
            manager._internal_name(kind, source, suffix)  # type: ignore[arg-type]
        )
    assert engine_topic_name("changelog", "claimscrub-necessity", CLAIMS_SUBMITTED.name, "h") == (
        "changelog__claimscrub-necessity--claims.submitted--h"
    )


def test_each_service_alone_may_use_its_engine_topics() -> None:
    b = bindings()
    services = ("units", "enrollment", "necessity", "aggregator", "redaction", "intake")
    for owner in services:
        changelog, repartition = engine_topic_prefixes(f"claimscrub-{owner}")
        for topic in (changelog + "x--store", repartition + "x--by"):
            users = {p for p in principals() if may(b, p, READ, topic) or may(b, p, WRITE, topic)}
            assert users == {owner}, topic
            assert may(b, owner, DESCRIBE_CONFIGS, topic)
    # Quix reads the configuration of the topics a service uses, and only those.
    assert may(b, "units", DESCRIBE_CONFIGS, CLAIMS_SUBMITTED.name)
    assert may(b, "units", DESCRIBE_CONFIGS, CLAIMS_CHECKS.name)
    assert not may(b, "units", DESCRIBE_CONFIGS, "claims.deidentified")
    assert not may(b, "analytics", DESCRIBE_CONFIGS, CLAIMS_SUBMITTED.name)

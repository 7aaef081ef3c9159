"""runtime.kafka_config.producer_config: every producer of the project places a
key in the partition Kafka's Java client gives it (murmur2 of the key), the
partition the stream engine, Quix's state recovery and runtime/partitioner.py
expect. librdkafka's own default (consistent_random, CRC32) places it elsewhere."""

from __future__ import annotations

import ast
from pathlib import Path

from claimscrub.runtime.kafka_config import (
    JAVA_PARTITIONER,
    KafkaSecurity,
    client_config,
    producer_config,
)
from claimscrub.runtime.secrets import Secret

ROOT = Path(__file__).resolve().parents[2]


def test_librdkafkas_java_compatible_partitioner_is_named() -> None:
    # librdkafka CONFIGURATION.md, "partitioner": murmur2_random is "Java
    # Producer compatible Murmur2 hash of key (NULL keys are randomly
    # partitioned)", functionally equivalent to the Java default partitioner.
    assert JAVA_PARTITIONER == "murmur2_random"


def test_producer_config_is_the_client_config_with_the_java_partitioner() -> None:
    sasl = KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", "units", Secret(b"pw-" + b"s" * 30))
    for security in (KafkaSecurity(), sasl):
        config = producer_config("b:9092", security, acks="all", linger_ms=5)
        assert config == {
            **client_config("b:9092", security, acks="all", linger_ms=5),
            "partitioner": "murmur2_random",
        }
        assert config["linger.ms"] == 5


def _producer_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Producer"
    ]


#: Producers that use librdkafka's default partitioner on purpose: one shows
#: on the broker where it would place keys instead; the other submits claims as
#: a billing platform's client may (the contract asks producers of
#: claims.submitted for no partitioner), for the redaction join to cope with.
COUNTER_EXAMPLES = (
    Path("tests/integration/test_kafka_io.py"),
    Path("tests/integration/test_copartitioning.py"),
)


def test_every_producer_of_the_services_and_tests_is_built_from_producer_config() -> None:
    found = 0
    for folder in ("services", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "v1" in path.relative_to(ROOT).parts or path.relative_to(ROOT) in COUNTER_EXAMPLES:
                continue
            for call in _producer_calls(path):
                found += 1
                arg = call.args[0] if call.args else None
                assert (
                    isinstance(arg, ast.Call)
                    and isinstance(arg.func, ast.Name)
                    and arg.func.id == "producer_config"
                ), f"{path.relative_to(ROOT)}:{call.lineno}"
    assert found >= 5  # the scan sees the producers (kafka_io, audit, loader, clock, bench)

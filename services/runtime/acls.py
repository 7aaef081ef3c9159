"""The Kafka ACL table (``data/kafka_acls.json``) as bindings, and applying it.

One file says which principal may read and write which topic and consumer
group; the local secured broker (deploy/kafka/kafka.sh), the chart's topics
Job and the tests all read it from here, so they cannot drift apart.

``python -m claimscrub.runtime.acls list`` prints the bindings;
``python -m claimscrub.runtime.acls apply`` creates them on the brokers of
KAFKA_BOOTSTRAP_SERVERS, connecting as configured (runtime.kafka_config; the
principal must be a super user or hold ALTER on the cluster). Creating a
binding that exists changes nothing, so applying is idempotent. Bindings that
are on the brokers but not in the table are reported, not deleted: another
team's ACLs may share the cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from importlib import resources
from typing import Any

# Kafka's operation and resource names (org.apache.kafka.common.acl.AclOperation,
# org.apache.kafka.common.resource.ResourceType); READ and WRITE imply DESCRIBE.
READ, WRITE, DESCRIBE, DESCRIBE_CONFIGS = ("READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS")
ENGINE_OPERATIONS = (READ, WRITE, DESCRIBE, DESCRIBE_CONFIGS)


@dataclass(frozen=True, slots=True, order=True)
class Binding:
    principal: str  # the name; Kafka's principal is User:<name>
    resource_type: str  # TOPIC, GROUP or TRANSACTIONAL_ID
    name: str
    pattern: str  # LITERAL or PREFIXED
    operation: str

    def __str__(self) -> str:
        return (
            f"User:{self.principal}\t{self.operation}\t{self.resource_type}\t"
            f"{self.pattern}\t{self.name}"
        )


def load_table() -> dict[str, Any]:
    text = resources.files("claimscrub.runtime").joinpath("data/kafka_acls.json")
    table: dict[str, Any] = json.loads(text.read_text("utf-8"))
    return table


def principals(table: dict[str, Any] | None = None) -> list[str]:
    """Every principal of the table: the services', the clients' and the super users."""
    t = table or load_table()
    return [*t["principals"], *t["superUsers"]["names"]]


def super_users(table: dict[str, Any] | None = None) -> list[str]:
    names: list[str] = (table or load_table())["superUsers"]["names"]
    return names


def bindings(table: dict[str, Any] | None = None) -> list[Binding]:
    t = table or load_table()
    out: list[Binding] = []
    for principal, grants in t["principals"].items():
        for topic in grants.get("read", []):
            out.append(Binding(principal, "TOPIC", topic, "LITERAL", READ))
        for topic in grants.get("write", []):
            out.append(Binding(principal, "TOPIC", topic, "LITERAL", WRITE))
        for group in grants.get("groups", []):
            out.append(Binding(principal, "GROUP", group, "LITERAL", READ))
        if prefix := grants.get("groupPrefix"):
            out.append(Binding(principal, "GROUP", prefix, "PREFIXED", READ))
        if grants.get("engine"):
            out.extend(_engine_bindings(principal, grants))
        if prefix := grants.get("transactionalIdPrefix"):
            # An exactly-once service's producer (runtime.engine): its
            # transactions under ids with this prefix.
            out.extend(
                Binding(principal, "TRANSACTIONAL_ID", prefix, "PREFIXED", op)
                for op in (WRITE, DESCRIBE)
            )
    return sorted(set(out))


def _engine_bindings(principal: str, grants: dict[str, Any]) -> list[Binding]:
    """A service's grants for the stream engine (runtime.engine): reading its
    topics' configuration (Quix checks partitions and retention before it
    starts), and its consumer groups' changelog and repartition topics
    (created beforehand, so no CREATE)."""
    from claimscrub.runtime.topics import engine_topic_prefixes

    topics = {*grants.get("read", []), *grants.get("write", [])}
    out = [Binding(principal, "TOPIC", t, "LITERAL", DESCRIBE_CONFIGS) for t in topics]
    for group in grants.get("groups", []):
        for prefix in engine_topic_prefixes(group):
            out.extend(
                Binding(principal, "TOPIC", prefix, "PREFIXED", op) for op in ENGINE_OPERATIONS
            )
    return out


def may(table_bindings: list[Binding], principal: str, operation: str, topic: str) -> bool:
    """Whether the table lets ``principal`` do ``operation`` on ``topic``
    (Kafka's rule: a literal name or a prefix of it; READ/WRITE imply DESCRIBE)."""
    implied = {operation} | ({READ, WRITE} if operation == DESCRIBE else set())
    for b in table_bindings:
        if b.principal != principal or b.resource_type != "TOPIC" or b.operation not in implied:
            continue
        if b.name == topic if b.pattern == "LITERAL" else topic.startswith(b.name):
            return True
    return False


#: How long one admin request (describe, create) may take.
ADMIN_TIMEOUT_S = 30.0


def _kafka_acl(b: Binding) -> Any:
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    return AclBinding(
        ResourceType[b.resource_type],
        b.name,
        ResourcePatternType[b.pattern],
        f"User:{b.principal}",
        "*",
        AclOperation[b.operation],
        AclPermissionType.ALLOW,
    )


def _existing(admin: Any) -> set[Binding]:
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    acl_filter = AclBindingFilter(
        ResourceType.ANY,
        None,
        ResourcePatternType.ANY,
        None,
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    found = admin.describe_acls(acl_filter, request_timeout=ADMIN_TIMEOUT_S).result()
    return {
        Binding(
            acl.principal.removeprefix("User:"),
            acl.restype.name,
            acl.name,
            acl.resource_pattern_type.name,
            acl.operation.name,
        )
        for acl in found
        if acl.permission_type == AclPermissionType.ALLOW
    }


def apply(bootstrap: str, security: Any = None) -> tuple[list[Binding], list[Binding]]:
    """Create the table's bindings; returns (created, on the brokers but not in the table)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from claimscrub.runtime.kafka_config import client_config

    wanted = set(bindings())
    admin = AdminClient(client_config(bootstrap, security, client_id="claimscrub-acls"))
    present = _existing(admin)
    missing = sorted(wanted - present)
    if missing:
        futures = admin.create_acls(
            [_kafka_acl(b) for b in missing], request_timeout=ADMIN_TIMEOUT_S
        )
        failed = []
        for acl, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                failed.append(f"{acl}: {exc.args[0].name()}")
        if failed:
            raise RuntimeError(f"{len(failed)} ACL bindings were refused: {failed[:3]}")
    return missing, sorted(present - wanted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m claimscrub.runtime.acls",
        description="The Kafka ACLs of every claimscrub principal (data/kafka_acls.json).",
    )
    parser.add_argument("command", choices=["list", "apply", "principals"])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    args = parser.parse_args(argv)
    if args.command == "list":
        for b in bindings():
            print(b)
        return 0
    if args.command == "principals":
        print("\n".join(principals()))
        return 0
    try:
        created, extra = apply(args.bootstrap)
    except Exception as exc:  # the admin client raises many kinds; report one line
        print(f"acls: cannot apply ACLs on {args.bootstrap}: {type(exc).__name__}: {exc}",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"acls: created {len(created)} bindings" if created else "acls: all present")
    for b in extra:
        print(f"acls: not in the table (left as is): {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

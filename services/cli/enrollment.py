"""``claimscrub enrollment load FILE``: publish enrollment records to providers.enrollment.

The whole file is validated first (the same parser as ``scrub --enrollment``)
and nothing is published unless every record is valid. Each record goes out
keyed ``npi:payerId`` as a protobuf EnrollmentRecord; on the compacted topic
it replaces that provider's previous record with the payer, and the
enrollment service applies it to every claim it processes afterwards.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from claimscrub.core.codec import CONTENT_TYPE, PROTOBUF
from claimscrub.enrollment.records import EnrollmentRecord, encode_record, read_records
from claimscrub.runtime.kafka_config import KafkaSecurity, client_config
from claimscrub.runtime.kafka_io import produce_all
from claimscrub.runtime.topics import PROVIDERS_ENROLLMENT


class BrokerError(Exception):
    """The broker could not be reached, lacks the topic, or refused the records."""


def publish_records(
    records: Sequence[EnrollmentRecord],
    bootstrap: str,
    *,
    timeout_s: float = 30.0,
    security: KafkaSecurity | None = None,
) -> int:
    """Publish and wait for every acknowledgement; returns how many were published."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    topic = PROVIDERS_ENROLLMENT.name
    security = security or KafkaSecurity.from_env()
    try:
        # Checked through the admin API: a producer's metadata request could
        # auto-create the topic on a dev broker, without compaction.
        admin = AdminClient(client_config(bootstrap, security, client_id="claimscrub-enrollment"))
        if topic not in admin.list_topics(timeout=timeout_s).topics:
            raise BrokerError(f"topic {topic} does not exist (run make up)")
        placed = produce_all(
            bootstrap,
            topic,
            [(r.key.encode(), encode_record(r), [(CONTENT_TYPE, PROTOBUF)]) for r in records],
            client_id="claimscrub-enrollment",
            timeout_s=timeout_s,
            security=security,
            linger_ms=5,
        )
    except KafkaException as exc:
        raise BrokerError(f"cannot publish to {bootstrap}: {exc.args[0].name()}") from None
    return len(placed)


def load(path: Path, bootstrap: str) -> int:
    """Validate ``path`` and publish it; raises ReferenceDataError or BrokerError."""
    records = read_records(path)
    count = publish_records(records, bootstrap)
    print(f"published {count} enrollment records to {PROVIDERS_ENROLLMENT.name}", file=sys.stderr)
    return count

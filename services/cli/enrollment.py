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
from claimscrub.runtime.kafka_config import KafkaSecurity, kafka_client_kwargs
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
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    topic = PROVIDERS_ENROLLMENT.name
    security = security or KafkaSecurity.from_env()
    try:
        # Checked through the admin API: a producer's metadata request could
        # auto-create the topic on a dev broker, without compaction.
        admin = KafkaAdminClient(
            **kafka_client_kwargs(bootstrap, security, client_id="claimscrub-enrollment")
        )
        try:
            if topic not in admin.list_topics():
                raise BrokerError(f"topic {topic} does not exist (run make up)")
        finally:
            admin.close()
        producer = KafkaProducer(
            **kafka_client_kwargs(
                bootstrap, security, acks="all", linger_ms=5, client_id="claimscrub-enrollment"
            )
        )
        futures = [
            producer.send(
                topic,
                key=r.key.encode(),
                value=encode_record(r),
                headers=[(CONTENT_TYPE, PROTOBUF)],
            )
            for r in records
        ]
        producer.flush(timeout=timeout_s)
        for f in futures:
            f.get(timeout=timeout_s)
        producer.close()
    except KafkaError as exc:
        raise BrokerError(f"cannot publish to {bootstrap}: {type(exc).__name__}") from None
    return len(futures)


def load(path: Path, bootstrap: str) -> int:
    """Validate ``path`` and publish it; raises ReferenceDataError or BrokerError."""
    records = read_records(path)
    count = publish_records(records, bootstrap)
    print(f"published {count} enrollment records to {PROVIDERS_ENROLLMENT.name}", file=sys.stderr)
    return count

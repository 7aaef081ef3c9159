"""The Faust app factory and the helpers agents share.

Apps are built by a function from :class:`Settings`, never at import time,
so tests and the CLI can import service modules without a broker.
At-least-once is deliberate: faust-streaming's exactly-once mode has long-open
duplicate bugs; duplicates are absorbed by the idempotent aggregator instead.
Faust flushes its producer before committing offsets
(faust/transport/consumer.py, ``Consumer.commit``), so a result is on the
broker before the claim that caused it is marked done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import faust

from claimscrub.runtime import faust_fixes
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import TopicSpec

Headers = Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None


def make_app(settings: Settings, *, app_id: str | None = None, **overrides: Any) -> faust.App:
    # Faust 0.15's consumer can lose events in a rebalance (runtime/faust_fixes.py).
    faust_fixes.apply()
    # Faust creates only the last level of its data directory.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "broker": settings.broker_url,
        "processing_guarantee": "at_least_once",
        "store": "memory://",
        "web_enabled": False,
        "autodiscover": False,
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": 1,
        "datadir": str(settings.data_dir),
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_every": 500,
        "broker_commit_interval": 1.0,
        # Faust's default linger of 0 sends each message (a verdict, a table's
        # changelog write) in its own produce request; a few milliseconds let
        # aiokafka batch them (docs/performance.md).
        "producer_linger": 0.005,
        # TLS/SASL to the brokers (runtime.kafka_config); nothing for PLAINTEXT.
        **settings.kafka.faust_options(),
    }
    options.update(overrides)
    return faust.App(app_id or f"claimscrub-{settings.service}", **options)


def raw_topic(app: faust.App, spec: TopicSpec) -> Any:
    """A topic of raw bytes: our codecs (protobuf/JSON) live in claimscrub.core.codec."""
    return app.topic(
        spec.name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


def header(headers: Headers, name: str) -> bytes | None:
    """One header's value from Faust's headers, whichever shape they come in."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        if key.lower() == name:
            return value if isinstance(value, bytes) else str(value).encode()
    return None

"""claims.checks -> (table keyed by claimId) -> claims.scrubbed."""

from __future__ import annotations

from typing import Any

import faust

from claimscrub.aggregator.state import apply
from claimscrub.core.codec import UndecodableEvent, decode_check_result, encode_scrub_result
from claimscrub.runtime import logs
from claimscrub.runtime.check_agent import dlq_headers
from claimscrub.runtime.metrics import service_metrics
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import raw_topic
from claimscrub.runtime.topics import CLAIMS_CHECKS, CLAIMS_DLQ, CLAIMS_SCRUBBED

log = logs.get_logger(__name__)


def install_aggregator(app: faust.App, settings: Settings) -> Any:
    checks_topic = raw_topic(app, CLAIMS_CHECKS)
    scrubbed = raw_topic(app, CLAIMS_SCRUBBED)
    dlq = raw_topic(app, CLAIMS_DLQ)
    # Co-partitioned with claims.checks (same key, same partition count), so
    # each instance holds the state of exactly the claims it consumes.
    table = app.Table(
        "claim-state",
        default=None,
        partitions=settings.topic_partitions,
        key_type=bytes,
        # Values are the JSON-able state dicts of aggregator.state, stored with
        # the app's default JSON serializer.
    )
    m = service_metrics()
    m.expect_results()
    required = settings.required_checks

    async def aggregate(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            key: bytes = event.key or b""
            try:
                incoming = decode_check_result(event.value or b"")
            except UndecodableEvent as exc:
                m.dead_lettered(settings.service, str(exc))
                await dlq.send(
                    key=key,
                    value=event.value or b"",
                    headers=dlq_headers(
                        settings.service, str(exc), msg.topic, msg.partition, msg.offset
                    ),
                )
                continue
            step = apply(table.get(key), incoming, required)
            if step.duplicate:
                m.redelivered.labels(incoming.check.value).inc()
                continue
            if step.result is not None:
                await scrubbed.send(key=key, value=encode_scrub_result(step.result))
                m.result_published(step.result, step.state.get("submittedAtMs") or 0)
            table[key] = step.state

    return app.agent(checks_topic, name="aggregator.aggregate")(aggregate)

"""The agent every check service runs: claims.submitted -> claims.checks.

The Faust agent of a check (CLAIMSCRUB_TRANSPORT=faust); what it does with a
claim is :class:`~claimscrub.runtime.claim_judge.ClaimJudge`'s.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from claimscrub.core.checks import Check
from claimscrub.core.codec import CONTENT_TYPE
from claimscrub.runtime.claim_judge import ClaimEvent, ClaimJudge, failed_result
from claimscrub.runtime.guard import Outgoing, RecordGuard, Source, dlq_headers
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import header, raw_topic
from claimscrub.runtime.topics import CLAIMS_CHECKS, CLAIMS_DLQ, CLAIMS_SUBMITTED

__all__ = [
    "ClaimEvent",
    "ClaimJudge",
    "Outgoing",
    "dlq_headers",
    "failed_result",
    "install_check_agent",
]


def install_check_agent(
    app: faust.App,
    settings: Settings,
    check: Check,
    *,
    ready: Callable[[], Awaitable[object]] | None = None,
) -> Any:
    """The check's agent; with ``ready``, claims wait until it returns (a check
    whose reference data streams in from a topic must not judge claims
    against a half-loaded table)."""
    submitted = raw_topic(app, CLAIMS_SUBMITTED)
    topics = {
        CLAIMS_CHECKS.name: raw_topic(app, CLAIMS_CHECKS),
        CLAIMS_DLQ.name: raw_topic(app, CLAIMS_DLQ),
    }
    judge = ClaimJudge(settings, check)
    guard = RecordGuard(settings.service, settings.max_message_bytes)

    async def check_claims(stream: Any) -> None:
        if ready is not None:
            await ready()
        async for event in stream.events():
            msg = event.message
            claim_event = ClaimEvent(
                key=event.key or b"",
                value=event.value,
                content_type=header(event.headers, CONTENT_TYPE),
                topic=msg.topic,
                partition=msg.partition,
                offset=msg.offset,
                timestamp_ms=int((msg.timestamp or time.time()) * 1000),
            )

            async def step(e: ClaimEvent = claim_event) -> list[Outgoing]:
                return [judge.judge(e, dt.date.today())]

            src = Source(msg.topic, msg.partition, msg.offset, event.key or b"", event.value)
            for out in await guard.run(src, step):
                await topics[out.topic].send(
                    key=out.key, value=out.value, headers=out.headers or None
                )

    return app.agent(submitted, name=f"{settings.service}.check")(check_claims)

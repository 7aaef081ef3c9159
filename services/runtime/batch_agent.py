"""The batched hot path of a stateless check: claims.submitted -> claims.checks.

Faust's per-event path costs about half a millisecond of CPU per event
(docs/performance.md); a check whose rules take a tenth of that spends most
of its time in the transport. A stateless check runs on the same batched
agent as the stateful services (:mod:`claimscrub.runtime.batch_table`, with
no changelog): one ``getmany``, each claim judged by the same
:class:`ClaimJudge` as the Faust agent, verdicts acknowledged before the
batch's offsets are committed. At-least-once, like the Faust path: a crash
between the sends and the commit redelivers the batch, and the aggregator
ignores verdicts it already counted.

It runs inside the service's Faust worker as a mode Service, so start-up,
SIGTERM, gRPC and /metrics stay as for every other service. Its consumer
group is the service's usual ``claimscrub-<service>`` (so offsets, dashboards
and KEDA's lag trigger carry over); the Faust app of a batched service takes
another id (``claimscrub-<service>-runtime``) so the two never share a group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from claimscrub.core.checks import Check
from claimscrub.core.codec import CONTENT_TYPE
from claimscrub.runtime.batch_table import InRecord, PartitionState, attach_batch_table
from claimscrub.runtime.check_agent import ClaimEvent, ClaimJudge, Outgoing
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import header
from claimscrub.runtime.topics import CLAIMS_SUBMITTED


def attach_batch_agent(
    app: Any,
    settings: Settings,
    check: Check,
    *,
    ready: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Run ``check`` on the batched path inside ``app``'s worker."""
    judge = ClaimJudge(settings, check)

    async def handle(rec: InRecord, _state: PartitionState) -> list[Outgoing]:
        event = ClaimEvent(
            key=rec.key,
            value=rec.value,
            content_type=header(rec.headers, CONTENT_TYPE),
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
            timestamp_ms=rec.timestamp_ms,
        )
        return [judge.judge(event, rec.today)]

    attach_batch_table(
        app,
        settings,
        group_id=f"claimscrub-{settings.service}",
        topics=[CLAIMS_SUBMITTED.name],
        changelog=None,
        handler=handle,
        ready=ready,
    )


def stateless_check_app(
    settings: Settings,
    check: Check,
    *,
    ready: Callable[[], Awaitable[object]] | None = None,
    before: Callable[[Any], None] | None = None,
) -> Any:
    """The Faust app of a stateless check service, on the configured transport.

    ``before`` registers services that must start ahead of the check (e.g. a
    reference table that streams in), in the order the app starts them.
    """
    from claimscrub.runtime.check_agent import install_check_agent
    from claimscrub.runtime.streams import make_app

    if settings.transport == "batch":
        app = make_app(settings, app_id=f"claimscrub-{settings.service}-runtime")
        if before is not None:
            before(app)
        attach_batch_agent(app, settings, check, ready=ready)
    else:
        app = make_app(settings)
        if before is not None:
            before(app)
        install_check_agent(app, settings, check, ready=ready)
    return app

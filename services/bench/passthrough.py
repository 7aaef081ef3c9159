"""The passthrough baseline: the same transport and broker, no checks.

Forwards every claims.submitted event to claims.scrubbed as a CLEAN result
keyed like the claim, so the bench measures what the transport alone costs.
It runs on the transport the services run on (CLAIMSCRUB_TRANSPORT): the
batched one by default, Faust agents with ``faust``, so the pipeline /
passthrough ratio compares like with like.
"""

from __future__ import annotations

from typing import Any

from claimscrub.core.codec import encode_scrub_result
from claimscrub.core.results import ScrubResult, Status
from claimscrub.runtime import service
from claimscrub.runtime.batch_table import InRecord, PartitionState, attach_batch_table
from claimscrub.runtime.guard import Outgoing
from claimscrub.runtime.streams import make_app, raw_topic
from claimscrub.runtime.topics import CLAIMS_SCRUBBED, CLAIMS_SUBMITTED


def _forward(key: bytes) -> Outgoing:
    result = ScrubResult(key.decode("utf-8", "replace"), Status.CLEAN, ())
    return Outgoing(CLAIMS_SCRUBBED.name, key, encode_scrub_result(result))


def main() -> None:
    settings = service.settings_or_exit("passthrough", grpc_port=50059, metrics_port=9109)
    # Start from the end: the claims earlier bench phases left on the topic are
    # not this baseline's work.
    if settings.transport == "faust":
        app = make_app(settings, consumer_auto_offset_reset="latest")
        submitted = raw_topic(app, CLAIMS_SUBMITTED)
        scrubbed = raw_topic(app, CLAIMS_SCRUBBED)

        async def forward(stream: Any) -> None:
            async for event in stream.events():
                out = _forward(event.key or b"")
                await scrubbed.send(key=out.key, value=out.value)

        app.agent(submitted, name="passthrough.forward")(forward)
    else:
        app = make_app(settings, app_id="claimscrub-passthrough-runtime")

        async def handle(rec: InRecord, _state: PartitionState) -> list[Outgoing]:
            return [_forward(rec.key)]

        attach_batch_table(
            app,
            settings,
            group_id="claimscrub-passthrough",
            topics=[CLAIMS_SUBMITTED.name],
            changelog=None,
            handler=handle,
            offset_reset="latest",
        )
    service.run(settings, app, lambda server: [])


if __name__ == "__main__":
    main()

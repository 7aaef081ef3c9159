"""The passthrough baseline: the same Faust framework and broker, no checks.

Forwards every claims.submitted event to claims.scrubbed as a CLEAN result
keyed like the claim, so the bench measures what the transport alone costs.
"""

from __future__ import annotations

from typing import Any

from claimscrub.core.codec import encode_scrub_result
from claimscrub.core.results import ScrubResult, Status
from claimscrub.runtime import service
from claimscrub.runtime.streams import make_app, raw_topic
from claimscrub.runtime.topics import CLAIMS_SCRUBBED, CLAIMS_SUBMITTED


def main() -> None:
    settings = service.settings_or_exit("passthrough", grpc_port=50059, metrics_port=9109)
    # Start from the end: the claims earlier bench phases left on the topic are
    # not this baseline's work.
    app = make_app(settings, consumer_auto_offset_reset="latest")
    submitted = raw_topic(app, CLAIMS_SUBMITTED)
    scrubbed = raw_topic(app, CLAIMS_SCRUBBED)

    async def forward(stream: Any) -> None:
        async for event in stream.events():
            key: bytes = event.key or b""
            result = ScrubResult(key.decode("utf-8", "replace"), Status.CLEAN, ())
            await scrubbed.send(key=key, value=encode_scrub_result(result))

    app.agent(submitted, name="passthrough.forward")(forward)
    service.run(settings, app, lambda server: [])


if __name__ == "__main__":
    main()

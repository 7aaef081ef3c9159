"""The passthrough baseline: the same engine and broker, no checks.

Forwards every claims.submitted event to claims.scrubbed as a CLEAN result
keyed like the claim, so the bench measures what the transport alone costs.
It is a Quix Streams Application made by runtime/engine.py and run by
runtime/runner.py, as the services are, its step under the same record guard,
so the pipeline / passthrough ratio compares like with like.
"""

from __future__ import annotations

from quixstreams import Application
from quixstreams.dataframe import StreamingDataFrame

from claimscrub.core.codec import encode_scrub_result
from claimscrub.core.results import ScrubResult, Status
from claimscrub.runtime import engine, runner
from claimscrub.runtime.guard import Outgoing
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import CLAIMS_DLQ, CLAIMS_SCRUBBED, CLAIMS_SUBMITTED


def forward(rec: engine.Record) -> list[Outgoing]:
    result = ScrubResult(rec.key.decode("utf-8", "replace"), Status.CLEAN, ())
    return [Outgoing(CLAIMS_SCRUBBED.name, rec.key, encode_scrub_result(result))]


def topology(app: Application, settings: Settings) -> StreamingDataFrame:
    claims = app.dataframe(engine.raw_topic(app, CLAIMS_SUBMITTED))
    return engine.guarded(app, claims, settings, forward, outputs=(CLAIMS_SCRUBBED, CLAIMS_DLQ))


def main() -> None:
    settings = runner.settings_or_exit("passthrough", grpc_port=50059, metrics_port=9109)
    runner.run(
        settings,
        lambda app: topology(app, settings),
        # gRPC serves health only: make bench waits for SERVING.
        lambda server: [],
        # Start from the end: the claims earlier bench phases left on the topic
        # are not this baseline's work.
        app_options={"auto_offset_reset": "latest"},
    )


if __name__ == "__main__":
    main()

"""Entry point of the aggregator (``claimscrub-aggregator``).

Publishes exactly one ScrubResult per claim on claims.scrubbed once every
check named in CLAIMSCRUB_REQUIRED_CHECKS (default UNITS,NECESSITY,ENROLLMENT) has answered.
"""

from __future__ import annotations

import grpc

from claimscrub.aggregator.agent import install_aggregator
from claimscrub.runtime import service
from claimscrub.runtime.streams import make_app

GRPC_PORT = 50055
METRICS_PORT = 9105


def _no_business_services(server: grpc.aio.Server) -> list[str]:
    # Health and reflection only, until ScrubService lands (issue 6).
    return []


def main() -> None:
    settings = service.settings_or_exit(
        "aggregator", grpc_port=GRPC_PORT, metrics_port=METRICS_PORT
    )
    app = make_app(settings)
    install_aggregator(app, settings)
    service.run(settings, app, _no_business_services)


if __name__ == "__main__":
    main()

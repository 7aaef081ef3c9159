"""Entry point of the aggregator (``claimscrub-aggregator``).

Publishes exactly one ScrubResult per claim version on claims.scrubbed once
every check named in CLAIMSCRUB_REQUIRED_CHECKS (default UNITS,NECESSITY,
ENROLLMENT) has answered, or CHECK_INCOMPLETE after
CLAIMSCRUB_CHECK_TIMEOUT_SECONDS; adds DUPLICATE_CLAIM; serves gRPC
ScrubService.Scrub by asking the checks' Check methods (CLAIMSCRUB_UNITS_ADDR,
CLAIMSCRUB_NECESSITY_ADDR, CLAIMSCRUB_ENROLLMENT_ADDR).
"""

from __future__ import annotations

import sys

from claimscrub.aggregator.agent import install_aggregator
from claimscrub.aggregator.batched import attach_batched_aggregator
from claimscrub.aggregator.scrub_service import ScrubServicer, registrar
from claimscrub.aggregator.settings import AggregatorSettings
from claimscrub.runtime import service
from claimscrub.runtime.logs import get_logger
from claimscrub.runtime.settings import SettingsError
from claimscrub.runtime.streams import make_app

GRPC_PORT = 50055
METRICS_PORT = 9105


def main() -> None:
    settings = service.settings_or_exit(
        "aggregator", grpc_port=GRPC_PORT, metrics_port=METRICS_PORT
    )
    try:
        own = AggregatorSettings.from_env(settings.required_checks)
    except SettingsError as exc:
        print(f"aggregator: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    get_logger("claimscrub.aggregator").info(
        "aggregator_configured",
        required=list(settings.required_checks),
        check_timeout_s=own.check_timeout_s,
        retention_s=own.retention_s,
        scrub_deadline_s=own.scrub_deadline_s,
        checks={k.value: v for k, v in own.check_addresses.items()},
    )
    if settings.transport == "faust":
        app = make_app(settings)
        install_aggregator(app, settings, own)
    else:
        # The batched agents keep the service's group and the Faust tables'
        # changelogs; the Faust app itself (worker, gRPC, metrics) takes another id.
        app = make_app(settings, app_id=f"claimscrub-{settings.service}-runtime")
        attach_batched_aggregator(app, settings, own)
    servicer = ScrubServicer(own.check_addresses, own.scrub_deadline_s)
    service.run(settings, app, registrar(servicer))


if __name__ == "__main__":
    main()

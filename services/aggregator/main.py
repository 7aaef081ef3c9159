"""Entry point of the aggregator (``claimscrub-aggregator``).

Publishes exactly one ScrubResult per claim version on claims.scrubbed once
every check named in CLAIMSCRUB_REQUIRED_CHECKS (default UNITS,NECESSITY,
ENROLLMENT) has answered, or CHECK_INCOMPLETE after
CLAIMSCRUB_CHECK_TIMEOUT_SECONDS (and revision 2 when the missing checks
answer within CLAIMSCRUB_LATE_VERDICT_SECONDS); adds DUPLICATE_CLAIM; serves
gRPC ScrubService.Scrub by asking the checks' Check methods
(CLAIMSCRUB_UNITS_ADDR, CLAIMSCRUB_NECESSITY_ADDR, CLAIMSCRUB_ENROLLMENT_ADDR).
"""

from __future__ import annotations

import sys
import uuid

from claimscrub.aggregator.clock import TickSource
from claimscrub.aggregator.scrub_service import ScrubServicer, registrar
from claimscrub.aggregator.settings import AggregatorSettings
from claimscrub.aggregator.topology import topology
from claimscrub.runtime import runner
from claimscrub.runtime.logs import get_logger
from claimscrub.runtime.settings import SettingsError

GRPC_PORT = 50055
METRICS_PORT = 9105


def main() -> None:
    settings = runner.settings_or_exit("aggregator", grpc_port=GRPC_PORT, metrics_port=METRICS_PORT)
    try:
        own = AggregatorSettings.from_env(settings.required_checks)
    except SettingsError as exc:
        print(f"aggregator: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    get_logger("claimscrub.aggregator").info(
        "aggregator_configured",
        required=list(settings.required_checks),
        check_timeout_s=own.check_timeout_s,
        late_verdict_s=own.late_verdict_s,
        retention_s=own.retention_s,
        scrub_deadline_s=own.scrub_deadline_s,
        checks={k.value: v for k, v in own.check_addresses.items()},
    )
    # Marks this process writes (aggregator.ledger.Trust).
    incarnation = uuid.uuid4().hex[:12]
    ticks = TickSource(settings)
    ticks.start()
    servicer = ScrubServicer(own.check_addresses, own.scrub_deadline_s)
    runner.run(
        settings,
        lambda app: topology(app, settings, own, incarnation),
        registrar(servicer),
        on_stop=ticks.stop,
    )


if __name__ == "__main__":
    main()

"""Entry point of the units service (``claimscrub-units``).

Consumes claims.submitted, publishes CheckResult(UNITS) on claims.checks and
serves gRPC UnitsService.Check; reference data from CLAIMSCRUB_MUE_FILE and
CLAIMSCRUB_PAYERS_FILE (bundled samples/defaults when unset).
"""

from __future__ import annotations

import sys

from claimscrub.core.payers import ReferenceDataError
from claimscrub.runtime import runner
from claimscrub.runtime.logs import get_logger
from claimscrub.units.check import follow_units_reference, load_units_check
from claimscrub.units.servicer import registrar
from claimscrub.units.topology import topology

GRPC_PORT = 50051
METRICS_PORT = 9101


def main() -> None:
    settings = runner.settings_or_exit("units", grpc_port=GRPC_PORT, metrics_port=METRICS_PORT)
    log = get_logger("claimscrub.units")
    try:
        check = load_units_check(settings.mue_file, settings.payers_file)
        check = follow_units_reference(check, settings)
    except ReferenceDataError as exc:
        print(f"units: reference data error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    log.info(
        "reference_loaded",
        mue_file=str(settings.mue_file or "bundled sample"),
        payers_file=str(settings.payers_file or "defaults"),
    )
    runner.run(
        settings,
        lambda app: topology(app, settings, check),
        registrar(check, settings.instance),
    )


if __name__ == "__main__":
    main()

"""Entry point of the X12 intake service (``claimscrub-intake``).

Consumes claims.x12 (raw 837P interchanges), publishes each claim of the
accepted transaction sets on claims.submitted and the interchange's 999 on
claims.x12.acks; an interchange that cannot be read at all goes to claims.dlq
with a reason. gRPC serves health only. No reference data.
"""

from __future__ import annotations

from claimscrub.intake.servicer import registrar
from claimscrub.intake.topology import topology
from claimscrub.runtime import runner

GRPC_PORT = 50056
METRICS_PORT = 9106


def main() -> None:
    settings = runner.settings_or_exit("intake", grpc_port=GRPC_PORT, metrics_port=METRICS_PORT)
    runner.run(settings, lambda app: topology(app, settings), registrar())


if __name__ == "__main__":
    main()

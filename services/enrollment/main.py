"""Entry point of the enrollment service (``claimscrub-enrollment``).

Materialises providers.enrollment into the enrollment table, consumes
claims.submitted, publishes CheckResult(ENROLLMENT) on claims.checks and
serves gRPC EnrollmentService (Check, GetEnrollment). Payer policies (for
the claim-level checks) from CLAIMSCRUB_PAYERS_FILE.
"""

from __future__ import annotations

import sys

from claimscrub.core.payers import PayerPolicies, ReferenceDataError
from claimscrub.enrollment.check import enrollment_check, follow_enrollment_reference
from claimscrub.enrollment.follower import TableFollower
from claimscrub.enrollment.reference import EnrollmentReference
from claimscrub.enrollment.servicer import registrar
from claimscrub.enrollment.table import EnrollmentTable
from claimscrub.enrollment.topology import topology
from claimscrub.runtime import runner
from claimscrub.runtime.logs import get_logger

GRPC_PORT = 50053
METRICS_PORT = 9103


def main() -> None:
    settings = runner.settings_or_exit("enrollment", grpc_port=GRPC_PORT, metrics_port=METRICS_PORT)
    log = get_logger("claimscrub.enrollment")
    try:
        ref = EnrollmentReference.load()
        payers = PayerPolicies.load(settings.payers_file)
    except ReferenceDataError as exc:
        print(f"enrollment: reference data error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    log.info(
        "reference_loaded",
        taxonomies=len(ref.taxonomies),
        payers_file=str(settings.payers_file or "defaults"),
    )
    table = EnrollmentTable()
    follower = TableFollower(
        table, settings.kafka_bootstrap, client_id=settings.instance, security=settings.kafka
    )
    check = enrollment_check(table, ref, payers)
    check = follow_enrollment_reference(check, settings, table, ref)

    def prepare(stopping: runner.Stopping) -> bool:
        # Claims are judged, and gRPC answers, only against a table that has
        # caught up with the topic.
        follower.start()
        return follower.wait_ready(stopping.event)

    runner.run(
        settings,
        lambda app: topology(app, settings, check),
        registrar(check, table, ref, settings.instance),
        prepare=prepare,
        on_stop=follower.stop,
    )


if __name__ == "__main__":
    main()

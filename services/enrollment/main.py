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
from claimscrub.enrollment.follower import TableFollower, follower_service
from claimscrub.enrollment.reference import EnrollmentReference
from claimscrub.enrollment.servicer import registrar
from claimscrub.enrollment.table import EnrollmentTable
from claimscrub.runtime import service
from claimscrub.runtime.batch_agent import stateless_check_app
from claimscrub.runtime.logs import get_logger

GRPC_PORT = 50053
METRICS_PORT = 9103


def main() -> None:
    settings = service.settings_or_exit(
        "enrollment", grpc_port=GRPC_PORT, metrics_port=METRICS_PORT
    )
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
    # The follower is registered before service.run adds the gRPC server: the
    # app starts its services one after the other, so gRPC (and health
    # SERVING) comes up only once the table has caught up with the topic.
    app = stateless_check_app(
        settings,
        check,
        ready=follower.ready.wait,
        before=lambda app: app.service(follower_service(follower)),
    )
    service.run(settings, app, registrar(check, table, ref, settings.instance, follower.ready))


if __name__ == "__main__":
    main()

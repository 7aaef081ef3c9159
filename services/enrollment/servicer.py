"""gRPC EnrollmentService: the ENROLLMENT check, and the provider lookup.

``Check`` runs the same :class:`~claimscrub.core.checks.Check` as the agent.
``GetEnrollment`` answers from the same table with the same rule functions,
so a lookup and a claim never disagree about a provider.

Deadlines: while the table is still loading a call waits for it, but never
past most of the caller's deadline; it then answers UNAVAILABLE, which the
callers' retry policy (client.py) retries within that same deadline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Callable

import grpc

from claimscrub.core.checks import Check
from claimscrub.core.claim import parse_claim
from claimscrub.core.codec import check_result_to_pb, claim_to_dict, edit_to_pb
from claimscrub.core.not_checked_seal import unsealed
from claimscrub.enrollment.metrics import enrollment_metrics
from claimscrub.enrollment.reference import EnrollmentReference
from claimscrub.enrollment.rules import provider_standing
from claimscrub.enrollment.table import EnrollmentTable
from claimscrub.runtime.metrics import service_metrics
from claimscrub.v1 import (
    claim_pb2,
    enrollment_service_pb2,
    enrollment_service_pb2_grpc,
    results_pb2,
)

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Without a caller deadline, how long a call waits for the table to load.
READY_WAIT_CAP_S = 2.0
# Share of the caller's remaining time a call may spend waiting for the table,
# leaving the rest for the answer and any retry.
_READY_WAIT_SHARE = 0.8


class EnrollmentServicer(enrollment_service_pb2_grpc.EnrollmentServiceServicer):
    def __init__(
        self,
        check: Check,
        table: EnrollmentTable,
        ref: EnrollmentReference,
        instance: str,
        ready: asyncio.Event | None = None,
    ) -> None:
        self._check = check
        self._table = table
        self._ref = ref
        self._instance = instance
        self._ready = ready
        self._metrics = enrollment_metrics()

    async def _wait_ready(self, context: grpc.aio.ServicerContext) -> None:
        if self._ready is None or self._ready.is_set():
            return
        remaining = context.time_remaining()
        wait_s = READY_WAIT_CAP_S if remaining is None else remaining * _READY_WAIT_SHARE
        try:
            await asyncio.wait_for(self._ready.wait(), min(wait_s, READY_WAIT_CAP_S))
        except TimeoutError:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "enrollment table is still loading")

    async def Check(
        self, request: claim_pb2.Claim, context: grpc.aio.ServicerContext
    ) -> results_pb2.CheckResult:
        await self._wait_ready(context)
        # The sync API is not the intake service: notChecked is not honoured.
        parsed = unsealed(parse_claim(claim_to_dict(request)))
        result = self._check.run(parsed, dt.date.today(), producer=self._instance)
        service_metrics().checks.labels("enrollment-grpc", self._check.name.value).inc()
        return check_result_to_pb(result)

    async def GetEnrollment(
        self,
        request: enrollment_service_pb2.GetEnrollmentRequest,
        context: grpc.aio.ServicerContext,
    ) -> enrollment_service_pb2.GetEnrollmentResponse:
        await self._wait_ready(context)
        started = time.perf_counter()
        payer = request.payer_id.strip()
        if not payer:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "payer_id is required")
        on = _date(request.date)
        if on is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "date must be YYYY-MM-DD")
        assert on is not None
        standing = provider_standing(
            request.npi.strip(),
            payer,
            on,
            ref=self._ref,
            table=self._table,
            payers=self._check.current().payers,
        )
        record = standing.record
        reply = enrollment_service_pb2.GetEnrollmentResponse(
            npi=request.npi,
            payer_id=request.payer_id,
            date=request.date,
            found=record is not None,
            status=record.status.value if record is not None else "",
            enrolled_on_date=standing.enrolled_on_date,
            discipline=standing.taxonomy.discipline if standing.taxonomy else "",
            assistant=standing.taxonomy.assistant if standing.taxonomy else False,
            taxonomy=(record.taxonomy or "") if record is not None else "",
            reasons=[edit_to_pb(e) for e in standing.reasons],
        )
        self._metrics.lookups.labels(str(standing.enrolled_on_date).lower()).inc()
        self._metrics.lookup_latency.observe(time.perf_counter() - started)
        return reply


def _date(text: str) -> dt.date | None:
    text = text.strip()
    if not _DATE_RE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def registrar(
    check: Check,
    table: EnrollmentTable,
    ref: EnrollmentReference,
    instance: str,
    ready: asyncio.Event | None = None,
) -> Callable[[grpc.aio.Server], list[str]]:
    def register(server: grpc.aio.Server) -> list[str]:
        enrollment_service_pb2_grpc.add_EnrollmentServiceServicer_to_server(
            EnrollmentServicer(check, table, ref, instance, ready), server
        )
        return [enrollment_service_pb2.DESCRIPTOR.services_by_name["EnrollmentService"].full_name]

    return register

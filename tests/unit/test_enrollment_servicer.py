"""EnrollmentService on a real grpc.aio server on localhost (no broker needed):
the lookup's fields, argument errors, deadlines while the table loads, and the
callers' retry policy from the service config."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from claimscrub.core.claim import parse_claim
from claimscrub.core.codec import check_result_to_pb
from claimscrub.core.payers import PayerPolicies
from claimscrub.enrollment.check import enrollment_check
from claimscrub.enrollment.client import aio_channel, service_config
from claimscrub.enrollment.records import read_records
from claimscrub.enrollment.reference import EnrollmentReference
from claimscrub.enrollment.servicer import EnrollmentServicer
from claimscrub.enrollment.table import EnrollmentTable
from claimscrub.runtime.grpc_server import start_grpc_server
from claimscrub.runtime.testing import REPO_ROOT
from claimscrub.v1 import claim_pb2, enrollment_service_pb2, enrollment_service_pb2_grpc

Stub = enrollment_service_pb2_grpc.EnrollmentServiceStub
Req = enrollment_service_pb2.GetEnrollmentRequest
REF = EnrollmentReference.load()


def _servicer(ready: asyncio.Event | None = None) -> EnrollmentServicer:
    table = EnrollmentTable(read_records(REPO_ROOT / "examples" / "enrollment.json"))
    check = enrollment_check(table, REF, PayerPolicies.defaults())
    return EnrollmentServicer(check, table, REF, "test", ready)


def _serve(
    servicer: EnrollmentServicer,
    scenario: Callable[[grpc.aio.Channel, str], Awaitable[None]],
    *,
    channel: Callable[[str], grpc.aio.Channel] = grpc.aio.insecure_channel,
) -> None:
    async def main() -> None:
        def register(server: grpc.aio.Server) -> list[str]:
            enrollment_service_pb2_grpc.add_EnrollmentServiceServicer_to_server(servicer, server)
            return ["claimscrub.v1.EnrollmentService"]

        handle = await start_grpc_server("127.0.0.1", 0, register)
        target = f"127.0.0.1:{handle.port}"
        try:
            async with channel(target) as ch:
                await scenario(ch, target)
        finally:
            await handle.stop(0)

    asyncio.run(main())


def test_lookup_fields_for_the_example_providers() -> None:
    got: dict[str, Any] = {}

    async def scenario(ch: grpc.aio.Channel, _: str) -> None:
        stub = Stub(ch)
        for name, npi in [
            ("pt", "1234567893"),
            ("pta", "1000000004"),
            ("ota", "1111111112"),
            ("pending", "1789012345"),
            ("unknown", "1999999992"),
        ]:
            got[name] = await stub.GetEnrollment(
                Req(npi=npi, payer_id="medicare", date="2026-05-04"), timeout=5
            )
        got["early"] = await stub.GetEnrollment(
            Req(npi="1567890128", payer_id="MEDICARE", date="2026-05-15"), timeout=5
        )

    _serve(_servicer(), scenario)
    pt = got["pt"]
    assert (pt.npi, pt.payer_id, pt.date) == ("1234567893", "medicare", "2026-05-04")
    assert (pt.found, pt.status, pt.enrolled_on_date) == (True, "ACTIVE", True)
    assert (pt.discipline, pt.assistant, pt.taxonomy, list(pt.reasons)) == (
        "PT",
        False,
        "225100000X",
        [],
    )
    assert (got["pta"].discipline, got["pta"].assistant) == ("PT", True)
    assert (got["ota"].discipline, got["ota"].assistant) == ("OT", True)
    pending = got["pending"]
    assert (pending.found, pending.status, pending.enrolled_on_date) == (True, "PENDING", False)
    assert [(r.code, r.check, r.severity, r.carc) for r in pending.reasons] == [
        ("PROVIDER_NOT_ENROLLED", "ENROLLMENT", "ERROR", "CO-B7")
    ]
    unknown = got["unknown"]
    assert (unknown.found, unknown.status, unknown.enrolled_on_date) == (False, "", False)
    assert [r.code for r in unknown.reasons] == ["PROVIDER_NOT_ENROLLED"]
    # effective 2026-06-15; 31 days before is outside the look-back
    assert got["early"].found and not got["early"].enrolled_on_date


@pytest.mark.parametrize(
    ("request_fields", "detail"),
    [
        ({"npi": "1234567893", "payer_id": "", "date": "2026-05-04"}, "payer_id is required"),
        ({"npi": "1234567893", "payer_id": "MEDICARE", "date": "05/04/2026"}, "date must be"),
        ({"npi": "1234567893", "payer_id": "MEDICARE", "date": ""}, "date must be"),
    ],
)
def test_bad_arguments_are_invalid_argument(request_fields: dict[str, str], detail: str) -> None:
    errors: list[grpc.aio.AioRpcError] = []

    async def scenario(ch: grpc.aio.Channel, _: str) -> None:
        try:
            await Stub(ch).GetEnrollment(Req(**request_fields), timeout=5)
        except grpc.aio.AioRpcError as exc:
            errors.append(exc)

    _serve(_servicer(), scenario)
    assert errors[0].code() is grpc.StatusCode.INVALID_ARGUMENT
    assert detail in (errors[0].details() or "")


def test_check_over_grpc_is_the_check_the_agent_runs() -> None:
    raw = {
        "claimId": "G-1",
        "payerId": "MEDICARE",
        "billingProvider": {"npi": "1558598797"},
        "renderingProvider": {"npi": "1678901236", "taxonomy": "225100000X"},
        "serviceLines": [
            {"lineNumber": 1, "dateOfService": "2026-05-10", "procedureCode": "97110",
             "modifiers": ["GP"], "units": 2, "minutes": 30},
            {"lineNumber": 2, "dateOfService": "2026-05-18", "procedureCode": "97110",
             "modifiers": ["GP"], "units": 2, "minutes": 30},
        ],
    }  # fmt: skip
    servicer = _servicer()
    replies = []

    async def scenario(ch: grpc.aio.Channel, _: str) -> None:
        claim = json_format.ParseDict(raw, claim_pb2.Claim())
        replies.append(await Stub(ch).Check(claim, timeout=5))

    _serve(servicer, scenario)
    local = _servicer()._check.run(parse_claim(raw), dt.date.today(), producer="test")
    assert replies[0] == check_result_to_pb(local)
    assert [(e.code, e.line_number) for e in replies[0].edits] == [("PROVIDER_NOT_ENROLLED", 2)]


def test_while_the_table_loads_calls_answer_unavailable_within_their_deadline() -> None:
    ready = asyncio.Event()
    codes: list[grpc.StatusCode] = []

    async def scenario(ch: grpc.aio.Channel, _: str) -> None:
        req = Req(npi="1234567893", payer_id="MEDICARE", date="2026-05-04")
        try:
            await Stub(ch).GetEnrollment(req, timeout=1.0)
        except grpc.aio.AioRpcError as exc:
            codes.append(exc.code())
        ready.set()
        reply = await Stub(ch).GetEnrollment(req, timeout=1.0)
        codes.append(grpc.StatusCode.OK if reply.enrolled_on_date else grpc.StatusCode.UNKNOWN)

    _serve(_servicer(ready), scenario)
    # UNAVAILABLE, not DEADLINE_EXCEEDED: the server answered before the
    # caller's deadline, with a code the retry policy retries.
    assert codes == [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.OK]


class _FlakyServicer(EnrollmentServicer):
    """Fails the first calls with UNAVAILABLE, as a restarting server would."""

    def __init__(self, failures: int) -> None:
        base = _servicer()
        super().__init__(base._check, base._table, base._ref, "flaky")
        self.failures = failures
        self.calls = 0

    async def GetEnrollment(
        self,
        request: enrollment_service_pb2.GetEnrollmentRequest,
        context: grpc.aio.ServicerContext,
    ) -> enrollment_service_pb2.GetEnrollmentResponse:
        self.calls += 1
        if self.calls <= self.failures:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        return await super().GetEnrollment(request, context)


async def _lookup_once(ch: grpc.aio.Channel) -> enrollment_service_pb2.GetEnrollmentResponse:
    req = Req(npi="1234567893", payer_id="MEDICARE", date="2026-05-04")
    reply: enrollment_service_pb2.GetEnrollmentResponse = await Stub(ch).GetEnrollment(
        req, timeout=10
    )
    return reply


def test_the_service_config_retries_unavailable() -> None:
    flaky = _FlakyServicer(failures=2)
    replies = []

    async def scenario(ch: grpc.aio.Channel, _: str) -> None:
        replies.append(await _lookup_once(ch))

    _serve(flaky, scenario, channel=aio_channel)
    assert replies[0].enrolled_on_date
    assert flaky.calls == 3


def test_without_the_service_config_the_first_failure_reaches_the_caller() -> None:
    flaky = _FlakyServicer(failures=2)
    codes = []

    async def scenario(ch: grpc.aio.Channel, _: str) -> None:
        try:
            await _lookup_once(ch)
        except grpc.aio.AioRpcError as exc:
            codes.append(exc.code())

    _serve(flaky, scenario)
    assert codes == [grpc.StatusCode.UNAVAILABLE]
    assert flaky.calls == 1


def test_the_retry_policy_gives_up_after_max_attempts() -> None:
    attempts = service_config()["methodConfig"][0]["retryPolicy"]["maxAttempts"]
    flaky = _FlakyServicer(failures=100)
    codes = []

    async def scenario(ch: grpc.aio.Channel, _: str) -> None:
        try:
            await _lookup_once(ch)
        except grpc.aio.AioRpcError as exc:
            codes.append(exc.code())

    _serve(flaky, scenario, channel=aio_channel)
    assert codes == [grpc.StatusCode.UNAVAILABLE]
    assert flaky.calls == attempts

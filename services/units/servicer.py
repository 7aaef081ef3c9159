"""gRPC UnitsService: the same Check the agent runs, answered synchronously."""

from __future__ import annotations

import datetime as dt

import grpc

from claimscrub.core.checks import Check
from claimscrub.core.claim import parse_claim
from claimscrub.core.codec import check_result_to_pb, claim_to_dict
from claimscrub.core.not_checked_seal import unsealed
from claimscrub.runtime.metrics import service_metrics
from claimscrub.v1 import claim_pb2, results_pb2, units_service_pb2, units_service_pb2_grpc


class UnitsServicer(units_service_pb2_grpc.UnitsServiceServicer):
    def __init__(self, check: Check, instance: str) -> None:
        self._check = check
        self._instance = instance

    async def Check(
        self, request: claim_pb2.Claim, context: grpc.aio.ServicerContext
    ) -> results_pb2.CheckResult:
        # The sync API is not the intake service: notChecked is not honoured.
        parsed = unsealed(parse_claim(claim_to_dict(request)))
        result = self._check.run(parsed, dt.date.today(), producer=self._instance)
        service_metrics().checks.labels("units-grpc", self._check.name.value).inc()
        return check_result_to_pb(result)


def registrar(check: Check, instance: str):  # type: ignore[no-untyped-def]
    def register(server: grpc.aio.Server) -> list[str]:
        units_service_pb2_grpc.add_UnitsServiceServicer_to_server(
            UnitsServicer(check, instance), server
        )
        return [units_service_pb2.DESCRIPTOR.services_by_name["UnitsService"].full_name]

    return register

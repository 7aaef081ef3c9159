"""gRPC NecessityService: the same Check the stream runs, answered synchronously.

A synchronous check is a "what if": it reads the beneficiary's history from
this instance's state (complete when the instance holds every partition, as
a single local instance does; otherwise only the claim's year-to-date
amounts count) and never records the claim. Only the claims.submitted stream records claims, so
checking a claim here before submitting it never counts it twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import grpc

from claimscrub.core.checks import Check
from claimscrub.core.claim import parse_claim
from claimscrub.core.codec import check_result_to_pb, claim_to_dict
from claimscrub.core.not_checked_seal import unsealed
from claimscrub.necessity.beneficiary import Key, beneficiary_token
from claimscrub.necessity.check import bound_rules
from claimscrub.necessity.history import History
from claimscrub.necessity.reference import NecessityReference
from claimscrub.necessity.roles import RoleLookup, resolve_role
from claimscrub.runtime.grpc_server import Registrar
from claimscrub.runtime.metrics import service_metrics
from claimscrub.v1 import claim_pb2, necessity_service_pb2, necessity_service_pb2_grpc, results_pb2

HistoryReader = Callable[[str], History | None]


class NecessityServicer(necessity_service_pb2_grpc.NecessityServiceServicer):
    def __init__(
        self,
        check: Check,
        ref: NecessityReference,
        *,
        lookup: RoleLookup | None,
        read_history: HistoryReader,
        hmac_key: Key,
        instance: str,
    ) -> None:
        self._check = check
        self._ref = ref
        self._lookup = lookup
        self._read = read_history
        self._key = hmac_key
        self._instance = instance

    async def Check(
        self, request: claim_pb2.Claim, context: grpc.aio.ServicerContext
    ) -> results_pb2.CheckResult:
        # The sync API is not the intake service: notChecked is not honoured.
        parsed = unsealed(parse_claim(claim_to_dict(request)))
        # The check in force and the reference it reads, as one pair for the claim.
        check = self._check.current()
        ref = check.reference if isinstance(check.reference, NecessityReference) else self._ref
        rules = None
        if parsed.ok and parsed.claim is not None:
            role = await resolve_role(parsed.claim, ref, self._lookup)
            history = self._read(beneficiary_token(parsed.claim, self._key))
            rules = bound_rules(ref, history, role)
        result = check.run(parsed, dt.date.today(), producer=self._instance, rules=rules)
        service_metrics().checks.labels("necessity-grpc", check.name.value).inc()
        return check_result_to_pb(result)


def registrar(servicer: NecessityServicer) -> Registrar:
    def register(server: grpc.aio.Server) -> list[str]:
        necessity_service_pb2_grpc.add_NecessityServiceServicer_to_server(servicer, server)
        return [necessity_service_pb2.DESCRIPTOR.services_by_name["NecessityService"].full_name]

    return register

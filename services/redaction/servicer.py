"""gRPC RedactionService: the library's RedactText and RedactClaim, synchronously."""

from __future__ import annotations

import time

import grpc

from claimscrub.core.codec import claim_to_dict
from claimscrub.redaction.deidentify import Deidentifier
from claimscrub.redaction.known import known_phi
from claimscrub.redaction.metrics import redaction_metrics
from claimscrub.runtime.grpc_server import Registrar
from claimscrub.v1 import redaction_service_pb2 as pb
from claimscrub.v1 import redaction_service_pb2_grpc as pb_grpc


class RedactionServicer(pb_grpc.RedactionServiceServicer):
    def __init__(self, deid: Deidentifier) -> None:
        self._deid = deid
        self._m = redaction_metrics()

    async def RedactText(
        self, request: pb.RedactTextRequest, context: grpc.aio.ServicerContext
    ) -> pb.RedactTextResponse:
        started = time.perf_counter()
        known = known_phi(claim_to_dict(request.claim)) if request.HasField("claim") else None
        redacted = self._deid.redactor.redact(request.text, known)
        for type_, count in redacted.counts.items():
            self._m.findings.labels(type_).inc(count)
        self._m.duration.labels("text").observe(time.perf_counter() - started)
        return pb.RedactTextResponse(
            text=redacted.text,
            findings=[pb.PhiCount(type=t, count=c) for t, c in sorted(redacted.counts.items())],
        )

    async def RedactClaim(
        self, request: pb.RedactClaimRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeidentifiedClaim:
        started = time.perf_counter()
        result = request.result if request.HasField("result") else None
        record = self._deid.deidentify(claim_to_dict(request.claim), result=result)
        self._m.duration.labels("claim").observe(time.perf_counter() - started)
        return record


def registrar(deid: Deidentifier) -> Registrar:
    def register(server: grpc.aio.Server) -> list[str]:
        pb_grpc.add_RedactionServiceServicer_to_server(RedactionServicer(deid), server)
        return [pb.DESCRIPTOR.services_by_name["RedactionService"].full_name]

    return register

"""The shared runtime as operators see it: gRPC Check, health and reflection
on a real server, /metrics scraped over HTTP, and a graceful SIGTERM."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from claimscrub.runtime.testing import LocalKafka, ServiceProcess, free_port
from claimscrub.v1 import claim_pb2, units_service_pb2_grpc
from tests.contract_example import units_example
from tests.integration.helpers import scrape

pytestmark = pytest.mark.kafka


def _units_target(services: dict[str, ServiceProcess]) -> str:
    return f"127.0.0.1:{services['units'].grpc_port}"


def test_units_grpc_check_answers_like_the_contract_example(
    services: dict[str, ServiceProcess],
) -> None:
    claim = json_format.ParseDict(units_example("GRPC-1"), claim_pb2.Claim())
    with grpc.insecure_channel(_units_target(services)) as channel:
        reply = units_service_pb2_grpc.UnitsServiceStub(channel).Check(claim, timeout=10)
    assert reply.claim_id == "GRPC-1"
    assert reply.check == "UNITS"
    # Contract §3's example: 30 timed minutes support 2 units, 3 were billed.
    assert [(e.code, e.line_number, e.severity) for e in reply.edits] == [
        ("UNITS_EXCEED_TIME", 1, "ERROR")
    ]


def test_grpc_health_and_reflection_are_served(services: dict[str, ServiceProcess]) -> None:
    with grpc.insecure_channel(_units_target(services)) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "claimscrub.v1.UnitsService"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert {"claimscrub.v1.UnitsService", "grpc.health.v1.Health"} <= names


def test_metrics_endpoint_counts_claims_and_results(
    services: dict[str, ServiceProcess], examples_dir: Path
) -> None:
    from claimscrub.cli.claims_input import read_claims
    from claimscrub.cli.submit import submit

    claims = read_claims(str(examples_dir / "claims.json"))
    out = Path(services["units"].log_dir / "submit.out")
    with out.open("w") as fh:
        code = submit(claims, services["units"].kafka.bootstrap, wait=True, timeout_s=90, out=fh)
    assert code == 0
    assert len(out.read_text().splitlines()) == len(claims)

    units = scrape(services["units"].metrics_port)
    agg = scrape(services["aggregator"].metrics_port)
    assert units['claimscrub_claims_consumed_total{service="units"}'] >= len(claims)
    assert units['claimscrub_checks_total{check="UNITS",service="units"}'] >= len(claims)
    assert any(k.startswith("claimscrub_edits_total{") for k in units)
    assert sum(v for k, v in agg.items() if k.startswith("claimscrub_results_total{")) >= len(
        claims
    )
    assert agg["claimscrub_end_to_end_seconds_count"] >= len(claims)
    assert "process_cpu_seconds_total" in units


def test_sigterm_stops_cleanly_and_reports_not_serving_first(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    proc = ServiceProcess(
        "units-term", "claimscrub.units.main", free_port(), free_port(), kafka, tmp_path
    )
    proc.start()
    code = proc.terminate()
    assert code == 0
    events = [
        json.loads(line).get("event")
        for line in proc.log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    assert "grpc_draining" in events

"""The enrollment service on the real broker: records loaded with the CLI,
claims through the pipeline, updates on the compacted topic changing the
verdict, and the gRPC lookup answered by the running server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from claimscrub.cli.submit import submit
from claimscrub.enrollment.client import DEFAULT_DEADLINE_S, channel
from claimscrub.runtime.kafka_io import produce_all
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, end_offsets, free_port
from claimscrub.runtime.topics import PROVIDERS_ENROLLMENT
from claimscrub.v1 import claim_pb2
from claimscrub.v1 import enrollment_service_pb2 as pb
from claimscrub.v1 import enrollment_service_pb2_grpc as rpc
from tests.integration.helpers import base_claim, scrape

pytestmark = pytest.mark.kafka

# Valid NPIs that examples/enrollment.json does not list: this module owns them.
UPDATED_NPI = "1987654328"
UNLISTED_NPI = "1765432194"


def _target(services: dict[str, ServiceProcess]) -> str:
    return f"127.0.0.1:{services['enrollment'].grpc_port}"


def _lookup(target: str, npi: str, date: str = "2026-05-04") -> pb.GetEnrollmentResponse:
    with channel(target) as ch:
        reply: pb.GetEnrollmentResponse = rpc.EnrollmentServiceStub(ch).GetEnrollment(
            pb.GetEnrollmentRequest(npi=npi, payer_id="MEDICARE", date=date),
            timeout=DEFAULT_DEADLINE_S,
        )
        return reply


def _wait_for_lookup(
    target: str, npi: str, condition: Callable[[pb.GetEnrollmentResponse], bool]
) -> pb.GetEnrollmentResponse:
    """The lookup once the service has read an update (bounded; not a timing assertion)."""
    deadline = time.monotonic() + 60
    while True:
        reply = _lookup(target, npi)
        if condition(reply) or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def _load(kafka: LocalKafka, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "enrollment", "load", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap},
    )


def _claim(claim_id: str, rendering_npi: str) -> dict[str, Any]:
    patient = {"firstName": "Zebulon", "lastName": "Quartermaine", "memberId": "ZQ99887766"}
    rendering = {"npi": rendering_npi, "taxonomy": "225100000X"}
    return base_claim(claim_id, patient, renderingProvider=rendering)


def _scrub(kafka: LocalKafka, claim: dict[str, Any]) -> dict[str, Any]:
    out = io.StringIO()
    assert submit([claim], kafka.bootstrap, wait=True, timeout_s=90, out=out) == 0
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


def _edits(result: dict[str, Any]) -> list[tuple[str, int]]:
    # The other checks judge these bare claims too; this file is about ENROLLMENT.
    return [(e["code"], e["lineNumber"]) for e in result["edits"] if e["check"] == "ENROLLMENT"]


def test_an_update_on_the_topic_changes_the_verdict_of_later_claims(
    kafka: LocalKafka, services: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    target = _target(services)
    record = {
        "npi": UPDATED_NPI,
        "payerId": "MEDICARE",
        "status": "ACTIVE",
        "effectiveDate": "2020-01-01",
        "taxonomy": "225100000X",
        "licenseExpires": "2027-12-31",
    }
    versions: list[tuple[dict[str, Any], Callable[[pb.GetEnrollmentResponse], bool]]] = [
        (record, lambda r: r.enrolled_on_date),
        # a new licence date, before the date of service
        (
            record | {"licenseExpires": "2026-04-30"},
            lambda r: [x.code for x in r.reasons] == ["CREDENTIAL_EXPIRED"],
        ),
        # terminated (licence renewed) the week before the date of service
        (
            record | {"status": "TERMINATED", "terminationDate": "2026-04-27"},
            lambda r: r.status == "TERMINATED",
        ),
    ]
    expected = [[], [("CREDENTIAL_EXPIRED", 1)], [("PROVIDER_NOT_ENROLLED", 1)]]
    for n, ((version, applied), edits) in enumerate(zip(versions, expected, strict=True)):
        path = tmp_path / f"v{n}.json"
        path.write_text(json.dumps([version]))
        done = _load(kafka, path)
        assert done.returncode == 0, done.stderr
        assert "published 1 enrollment records to providers.enrollment" in done.stderr
        assert applied(_wait_for_lookup(target, UPDATED_NPI, applied))
        result = _scrub(kafka, _claim(f"ENR-UPD-{n}", UPDATED_NPI))
        assert result["checks"] == ["UNITS", "NECESSITY", "ENROLLMENT"]
        assert _edits(result) == edits, n

    # A tombstone removes the record: no record is never a pass.
    tombstone: tuple[bytes, None, list[tuple[str, bytes]]] = (
        f"{UPDATED_NPI}:MEDICARE".encode(),
        None,
        [],
    )
    produce_all(kafka.bootstrap, PROVIDERS_ENROLLMENT.name, [tombstone], client_id="test")
    assert not _wait_for_lookup(target, UPDATED_NPI, lambda r: not r.found).found
    result = _scrub(kafka, _claim("ENR-UPD-deleted", UPDATED_NPI))
    assert result["status"] == "HOLD"
    enrollment_edits = [e for e in result["edits"] if e["check"] == "ENROLLMENT"]
    assert [(e["code"], e["lineNumber"], e["message"]) for e in enrollment_edits] == [
        ("PROVIDER_NOT_ENROLLED", 0, "rendering provider has no enrollment record with this payer")
    ]


def test_lookup_against_the_running_server(services: dict[str, ServiceProcess]) -> None:
    target = _target(services)
    pt = _lookup(target, "1234567893")
    assert (pt.found, pt.status, pt.enrolled_on_date, pt.discipline, pt.assistant) == (
        True,
        "ACTIVE",
        True,
        "PT",
        False,
    )
    pta = _lookup(target, "1000000004")
    assert (pta.enrolled_on_date, pta.discipline, pta.assistant) == (True, "PT", True)
    revoked = _lookup(target, "1876543210")
    assert (revoked.found, revoked.status, revoked.enrolled_on_date) == (True, "REVOKED", False)
    unknown = _lookup(target, UNLISTED_NPI)
    assert not unknown.found and [r.code for r in unknown.reasons] == ["PROVIDER_NOT_ENROLLED"]
    # effective 2026-06-15: 30 days before is inside the look-back, 31 outside
    assert _lookup(target, "1567890128", "2026-05-16").enrolled_on_date
    assert not _lookup(target, "1567890128", "2026-05-15").enrolled_on_date
    with pytest.raises(grpc.RpcError) as info:
        _lookup(target, "1234567893", "2026-02-30")
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_check_health_and_reflection_on_the_running_server(
    services: dict[str, ServiceProcess], examples_dir: Path
) -> None:
    ex015 = next(
        c
        for c in json.loads((examples_dir / "claims.json").read_text())
        if c["claimId"] == "EX-015"
    )
    claim = json_format.ParseDict(ex015, claim_pb2.Claim())
    with grpc.insecure_channel(_target(services)) as ch:
        reply = rpc.EnrollmentServiceStub(ch).Check(claim, timeout=10)
        assert (reply.claim_id, reply.check) == ("EX-015", "ENROLLMENT")
        assert [(e.code, e.line_number) for e in reply.edits] == [("PROVIDER_NOT_ENROLLED", 2)]
        health = health_pb2_grpc.HealthStub(ch)
        for name in ("", "claimscrub.v1.EnrollmentService"):
            status = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        responses = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert "claimscrub.v1.EnrollmentService" in names


def test_a_new_instance_serves_only_once_its_table_is_loaded(
    kafka: LocalKafka, services: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    second = ServiceProcess(
        "enrollment-2",
        "claimscrub.enrollment.main",
        free_port(),
        free_port(),
        kafka,
        tmp_path,
    )
    second.start()  # returns once gRPC health says SERVING
    try:
        # No waiting: serving means the compacted topic has been read.
        reply = _lookup(f"127.0.0.1:{second.grpc_port}", "1234567893")
        assert reply.found and reply.enrolled_on_date
        metrics = scrape(second.metrics_port)
        assert metrics["claimscrub_enrollment_table_ready"] == 1
        assert metrics["claimscrub_enrollment_records"] >= 15
    finally:
        assert second.terminate() == 0


def test_enrollment_metrics_are_served(services: dict[str, ServiceProcess]) -> None:
    _lookup(_target(services), "1234567893")
    m = scrape(services["enrollment"].metrics_port)
    assert m['claimscrub_enrollment_events_total{outcome="applied"}'] >= 15
    assert m['claimscrub_enrollment_lookups_total{enrolled="true"}'] >= 1
    assert m["claimscrub_enrollment_lookup_duration_seconds_count"] >= 1
    assert m["claimscrub_enrollment_table_ready"] == 1


def test_an_invalid_file_publishes_nothing(kafka: LocalKafka, tmp_path: Path) -> None:
    def ends() -> int:
        return sum(end_offsets(kafka.bootstrap, PROVIDERS_ENROLLMENT.name).values())

    before = ends()
    path = tmp_path / "mixed.json"
    good = {"npi": UNLISTED_NPI, "payerId": "MEDICARE", "status": "PENDING"}
    path.write_text(json.dumps([good, good | {"npi": "1765432190"}]))
    done = _load(kafka, path)
    assert done.returncode == 2
    assert "record 2: npi fails the check digit" in done.stderr
    assert ends() == before

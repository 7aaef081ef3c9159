"""The necessity service on the real broker: its state survives a restart, an
unreachable enrollment service neither hangs nor crashes it, its gRPC Check
answers, and no topic key or log line carries a member ID or patient data."""

from __future__ import annotations

import copy
import shutil
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from claimscrub.core.results import ScrubResult
from claimscrub.necessity.rekey import TOKEN_PATTERN
from claimscrub.necessity.topology import HISTORY_KEY
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, consume_all
from claimscrub.runtime.topics import (
    NECESSITY_BY_BENEFICIARY,
    NECESSITY_HISTORY_CHANGELOG,
)
from claimscrub.v1 import claim_pb2, necessity_service_pb2_grpc
from tests.integration.helpers import base_claim, results, send_claims, service_line, therapy

pytestmark = pytest.mark.kafka

MEMBER = "NQ55501234"
PHI = ("Philippa", "Nightingale-Quorn", MEMBER, "77 Quill Lane")


def _claim(claim_id: str, ytd: str, charge: str, **changes: Any) -> dict[str, Any]:
    patient = {
        "memberId": MEMBER,
        "firstName": "Philippa",
        "lastName": "Nightingale-Quorn",
        "address": {"line1": "77 Quill Lane", "city": "Sampletown", "state": "NY"},
    }
    data = base_claim(
        claim_id,
        patient,
        service_line(chargeAmount=charge),
        therapy=therapy(treatmentDaysSinceProgressReport=1, amountUsedYtd=ytd),
        note="Therapeutic exercise 30 min for Philippa: hip strengthening. Tolerated well.",
    )
    return {**data, **changes}


def _codes(result: ScrubResult) -> list[tuple[str, int]]:
    return [(e.code, e.line_number) for e in result.edits]


def test_unreachable_enrollment_neither_hangs_nor_crashes(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    # No taxonomy on the claim: the role must come from the enrollment service, which
    # is not running (or, once it joins the pipeline, does not know this NPI).
    claim = _claim("NE-UNREACHABLE", "100.00", "84.00")
    claim["renderingProvider"] = {"npi": "1245319599"}
    claim["patient"] = {"memberId": "NQ-OTHER-1"}
    send_claims(kafka, claim)
    result = results(kafka, "NE-UNREACHABLE")["NE-UNREACHABLE"]
    incomplete = [e for e in result.edits if e.code == "CHECK_INCOMPLETE"]
    assert [e.message.split(":")[0] for e in incomplete] == ["NECESSITY could not verify CQ/CO"]
    assert result.status.value == "HOLD"
    assert services["necessity"].proc is not None and services["necessity"].proc.poll() is None


def test_necessity_grpc_check_and_health(services: dict[str, ServiceProcess]) -> None:
    claim = _claim("NE-GRPC", "100.00", "40.00")
    claim["patient"] = {"memberId": "NQ-GRPC"}
    claim["serviceLines"] = [
        {**claim["serviceLines"][0], "procedureCode": "97140", "units": 1, "minutes": 15},
        {**claim["serviceLines"][0], "lineNumber": 2, "procedureCode": "97530"},
    ]
    claim["note"] = (
        "Therapeutic activities 30 min direct one-on-one: sit-to-stand transfers to address "
        "difficulty with transfers; min assist. Tolerated well; now with contact guard. "
        "Skilled facilitation needed."
    )
    target = f"127.0.0.1:{services['necessity'].grpc_port}"
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(
            health_pb2.HealthCheckRequest(service="claimscrub.v1.NecessityService"), timeout=5
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = necessity_service_pb2_grpc.NecessityServiceStub(channel)
        result = stub.Check(json_format.ParseDict(claim, claim_pb2.Claim()), timeout=10)
    assert result.check == "NECESSITY"
    # 97140 with 97530, no NCCI-associated modifier: the bundled sample pair.
    assert [(e.code, e.line_number) for e in result.edits] == [("PTP_CONFLICT", 2)]


def test_state_survives_a_restart_between_two_claims_of_one_beneficiary(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    # 2026 KX threshold 2,480 [secondary]. Eligibility says 2,300 used for both claims.
    # First: 2,300 + 150 = 2,450, no KX needed. Second, knowing the first:
    # 2,300 + 150 + 100 = 2,550 > 2,480 needs KX; without the first it would be 2,400.
    first = _claim("NE-RESTART-1", "2300.00", "150.00")
    second = copy.deepcopy(_claim("NE-RESTART-2", "2300.00", "100.00"))
    second["serviceLines"][0]["dateOfService"] = "2026-05-06"
    send_claims(kafka, first)
    assert _codes(results(kafka, "NE-RESTART-1")["NE-RESTART-1"]) == []

    necessity = services["necessity"]
    assert necessity.terminate() == 0
    necessity.start()

    send_claims(kafka, second)
    result = results(kafka, "NE-RESTART-2")["NE-RESTART-2"]
    assert _codes(result) == [("KX_MODIFIER_REQUIRED", 1)]
    assert "2,550.00" in result.edits[0].message


def test_histories_are_restored_from_the_changelog_when_the_state_dir_is_lost(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    # As test_state_survives_a_restart..., but the instance comes back without
    # its RocksDB files (a new pod, ephemeral storage): the first claim's 150
    # must come back from the changelog topic alone.
    first = _claim("NE-WIPED-1", "2300.00", "150.00", patient={"memberId": "NQ-WIPED"})
    second = _claim("NE-WIPED-2", "2300.00", "100.00", patient={"memberId": "NQ-WIPED"})
    second["serviceLines"][0]["dateOfService"] = "2026-05-06"
    send_claims(kafka, first)
    assert _codes(results(kafka, "NE-WIPED-1")["NE-WIPED-1"]) == []

    necessity = services["necessity"]
    assert necessity.terminate() == 0
    state_dir = necessity.log_dir / "data" / necessity.name / "state"
    assert state_dir.is_dir()
    shutil.rmtree(state_dir)
    necessity.start()

    send_claims(kafka, second)
    result = results(kafka, "NE-WIPED-2")["NE-WIPED-2"]
    assert _codes(result) == [("KX_MODIFIER_REQUIRED", 1)]
    assert "2,550.00" in result.edits[0].message
    # gRPC Check reads the same restored state (the second claim's own entry
    # does not count for itself): 2,300 + 150 + 100 again.
    target = f"127.0.0.1:{necessity.grpc_port}"
    with grpc.insecure_channel(target) as channel:
        stub = necessity_service_pb2_grpc.NecessityServiceStub(channel)
        reply = stub.Check(json_format.ParseDict(second, claim_pb2.Claim()), timeout=10)
    assert [(e.code, e.line_number) for e in reply.edits] == [("KX_MODIFIER_REQUIRED", 1)]
    assert "2,550.00" in reply.edits[0].message


def test_topic_keys_changelog_and_logs_carry_no_member_id(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    routed = consume_all(kafka.bootstrap, NECESSITY_BY_BENEFICIARY.name, until=2, settle_s=1)
    changelog = consume_all(kafka.bootstrap, NECESSITY_HISTORY_CHANGELOG.name, until=2, settle_s=1)
    assert routed and changelog
    # The changelog's keys are the state's: the beneficiary token, then Quix's
    # separator and the state key. A token names its HMAC key once a rotation
    # has run (test_key_rotation.py): b-<hex>, or b-<key id>-<hex>.
    keys = [r.key.decode() for r in routed]
    keys += [r.key.decode().removesuffix(f'|"{HISTORY_KEY}"') for r in changelog]
    for key in keys:
        assert TOKEN_PATTERN.fullmatch(key), key
        assert MEMBER not in key
    for r in changelog:
        if r.value is None:
            continue  # a deleted history (a key rotation moves them)
        value = r.value.decode()
        for phi in PHI:
            assert phi not in value
    for name in ("necessity", "aggregator", "units"):
        log = services[name].log_path.read_text(errors="replace")
        for phi in PHI:
            assert phi not in log, f"{name} log carries PHI"

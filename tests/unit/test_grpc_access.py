"""The gRPC access policy (issue 20 items 1 and 5) and the PHI audit's pieces (item 2).

The policy file's rules are the issue's: the aggregator calls the checks'
Check, the billing platform (submitter) ScrubService/Scrub, necessity
GetEnrollment, only redaction's own callers RedactClaim/RedactText; nothing
else. Rate and size limits are checked on a real mTLS server with the
development CA's certificates; the broker-backed audit trail is in
tests/integration/test_security.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format

from claimscrub.runtime import grpc_client
from claimscrub.runtime.audit import AccessEvent, ClaimTokens
from claimscrub.runtime.devcerts import all_principals
from claimscrub.runtime.grpc_access import (
    AccessInterceptor,
    GrpcPolicy,
    Rate,
    TokenBuckets,
    claim_id_of,
    load_policy,
    parse_policy,
    peer_principal,
)
from claimscrub.runtime.grpc_server import start_grpc_server
from claimscrub.runtime.grpc_tls import ClientTls, ServerTls
from claimscrub.runtime.topics import (
    ALL_TOPICS,
    AUDIT_ACCESS,
    NECESSITY_HISTORY_CHANGELOG,
    retention,
    topic_configs,
)
from claimscrub.units.check import load_units_check
from claimscrub.units.servicer import registrar
from claimscrub.v1 import (
    claim_pb2,
    enrollment_service_pb2,
    necessity_service_pb2,
    redaction_service_pb2,
    scrub_service_pb2,
    units_service_pb2,
    units_service_pb2_grpc,
)

SERVICES = (
    "claimscrub.v1.UnitsService",
    "claimscrub.v1.NecessityService",
    "claimscrub.v1.EnrollmentService",
    "claimscrub.v1.ScrubService",
    "claimscrub.v1.RedactionService",
)


def _policy() -> GrpcPolicy:
    return load_policy()


def test_every_method_of_every_service_has_a_rule() -> None:
    """Default deny would refuse a method the file forgets; none is forgotten."""
    files = (units_service_pb2, necessity_service_pb2, enrollment_service_pb2, scrub_service_pb2)
    assert all(f.DESCRIPTOR for f in (*files, redaction_service_pb2))  # registered in the pool
    pool = descriptor_pool.Default()
    methods = {
        f"{name}/{m.name}" for name in SERVICES for m in pool.FindServiceByName(name).methods
    }
    assert methods <= set(_policy().methods)


@pytest.mark.parametrize(
    ("method", "allowed"),
    [
        ("claimscrub.v1.UnitsService/Check", {"aggregator"}),
        ("claimscrub.v1.NecessityService/Check", {"aggregator"}),
        ("claimscrub.v1.EnrollmentService/Check", {"aggregator"}),
        ("claimscrub.v1.EnrollmentService/GetEnrollment", {"necessity"}),
        ("claimscrub.v1.ScrubService/Scrub", {"submitter"}),
        ("claimscrub.v1.RedactionService/RedactClaim", {"redaction-client"}),
        ("claimscrub.v1.RedactionService/RedactText", {"redaction-client"}),
    ],
)
def test_the_issue_s_callers_and_nobody_else(method: str, allowed: set[str]) -> None:
    policy = _policy()
    callers = {p for p in all_principals() if policy.allows(p, f"/{method}")}
    assert callers == allowed
    assert policy.rule(method) is not None and policy.rule(method).phi  # type: ignore[union-attr]


def test_analytics_and_the_auditor_may_call_no_claim_method() -> None:
    policy = _policy()
    for name in ("analytics", "auditor", "units", "provider-loader"):
        granted = {
            m for m in policy.methods if m.startswith("claimscrub.") and policy.allows(name, m)
        }
        assert not granted, name


def test_health_and_reflection_are_open_to_any_verified_caller_and_not_phi() -> None:
    policy = _policy()
    for method in (
        "grpc.health.v1.Health/Check",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    ):
        rule = policy.rule(method)
        assert rule is not None and rule.allows("analytics") and not rule.phi
    assert not policy.allows("aggregator", "/claimscrub.v1.UnitsService/Unknown")


def _auth(**values: list[str]) -> dict[str, list[bytes]]:
    return {k: [v.encode() for v in vs] for k, vs in values.items()}


def test_the_principal_is_the_spiffe_id_of_our_trust_domain_else_the_cn_else_a_dns_name() -> None:
    spiffe = _auth(
        x509_common_name=["someone-else"],
        peer_uri=["spiffe://claimscrub/ns/billing/sa/aggregator"],
        peer_dns=["localhost"],
    )
    assert peer_principal(spiffe, "claimscrub") == "aggregator"
    # Another trust domain's SPIFFE ID names nobody here: the CN does.
    foreign = _auth(x509_common_name=["necessity"], peer_uri=["spiffe://other/aggregator"])
    assert peer_principal(foreign, "claimscrub") == "necessity"
    assert peer_principal(_auth(peer_dns=["submitter", "localhost"]), "claimscrub") == "submitter"
    assert peer_principal({}, "claimscrub") is None


def test_a_token_bucket_allows_its_burst_then_its_rate() -> None:
    now = [0.0]
    policy = GrpcPolicy(
        "claimscrub", {}, Rate(per_second=1.0, burst=2), {"aggregator": Rate(10, 10)}
    )
    buckets = TokenBuckets(policy, clock=lambda: now[0])
    assert [buckets.take("submitter") for _ in range(3)] == [True, True, False]
    now[0] = 0.999
    assert not buckets.take("submitter")  # 0.999 of a token is not one
    now[0] = 1.0
    assert buckets.take("submitter")
    # Buckets are per principal, each with its own rate.
    assert sum(buckets.take("aggregator") for _ in range(11)) == 10


def test_a_policy_file_with_a_bad_rate_or_method_is_refused() -> None:
    from claimscrub.runtime.env import SettingsError

    one = {"default": {"perSecond": 1, "burst": 1}}
    with pytest.raises(SettingsError, match="perSecond"):
        parse_policy({"methods": {}, "rateLimit": {"default": {"perSecond": 0, "burst": 1}}})
    with pytest.raises(SettingsError, match="maxRequestBytes"):
        parse_policy({"methods": {"a.B/C": {"principals": ["x"]}}, "rateLimit": one})


def test_the_claim_id_is_found_where_the_policy_says() -> None:
    claim = claim_pb2.Claim(claim_id="C-1")
    assert claim_id_of(claim, "claim_id") == "C-1"
    assert (
        claim_id_of(redaction_service_pb2.RedactClaimRequest(claim=claim), "claim.claim_id")
        == "C-1"
    )
    assert claim_id_of(redaction_service_pb2.RedactTextRequest(text="x"), "claim.claim_id") is None
    assert claim_id_of(claim, None) is None


def test_the_audit_event_carries_a_keyed_token_never_the_claim_id() -> None:
    tokens = ClaimTokens(b"k" * 32)
    token = tokens("PATIENT-CLAIM-77")
    assert token is not None and token.startswith("clm_") and "77" not in token
    assert ClaimTokens(b"another key, 32 bytes at least!!")("PATIENT-CLAIM-77") != token
    event = AccessEvent(
        "2026-05-04T00:00:00.000Z", "aggregator", "OK", method="/m", claim_token=token
    )
    assert event.key() == b"aggregator"
    assert json.loads(event.value()) == {
        "time": "2026-05-04T00:00:00.000Z",
        "principal": "aggregator",
        "method": "/m",
        "claimToken": token,
        "outcome": "OK",
        "recordedBy": "",
    }
    # Production with only the public development key: no token rather than a guessable one.
    assert ClaimTokens.from_env({"CLAIMSCRUB_MODE": "production"})("PATIENT-CLAIM-77") is None


# --- retention (item 3) ---


def test_every_phi_topic_and_the_audit_trail_have_a_retention() -> None:
    configs = topic_configs(env={})
    for topic in (t for t in ALL_TOPICS if t.clinical):
        assert int(configs[topic.name]["retention.ms"]) > 0, topic.name
    # 45 CFR 164.316(b)(2)(i): six years from creation (2191 days at the fewest).
    assert int(configs[AUDIT_ACCESS.name]["retention.ms"]) >= 2191 * 86_400_000
    assert configs[AUDIT_ACCESS.name]["cleanup.policy"] == "delete"
    # A compacted changelog holding claim data expires too, or compaction keeps it forever.
    history = configs[NECESSITY_HISTORY_CHANGELOG.name]
    assert history["cleanup.policy"] == "compact,delete" and int(history["retention.ms"]) > 0


def test_retention_can_be_changed_per_topic_or_replaced_whole(tmp_path: Path) -> None:
    from claimscrub.runtime.env import SettingsError

    env = {"CLAIMSCRUB_TOPIC_RETENTION_MS": "claims.submitted=86400000, claims.dlq=172800000"}
    kept = retention(env)
    assert kept["claims.submitted"]["retention.ms"] == "86400000"
    assert kept["claims.dlq"]["retention.ms"] == "172800000"
    table = tmp_path / "retention.json"
    table.write_text(json.dumps({"topics": {"claims.submitted": {"retention.ms": 3600000}}}))
    assert retention({"CLAIMSCRUB_TOPIC_RETENTION_FILE": str(table)}) == {
        "claims.submitted": {"retention.ms": "3600000"}
    }
    with pytest.raises(SettingsError):
        retention({"CLAIMSCRUB_TOPIC_RETENTION_MS": "claims.submitted=a week"})


# --- limits on a real mTLS server (item 5) ---


def _tls_env(certs: Path) -> dict[str, str]:
    return {
        "CLAIMSCRUB_GRPC_TLS_CERT": str(certs / "units.pem"),
        "CLAIMSCRUB_GRPC_TLS_KEY": str(certs / "units-key.pem"),
        "CLAIMSCRUB_GRPC_TLS_CA": str(certs / "ca.pem"),
        "CLAIMSCRUB_GRPC_REQUIRE_CLIENT_CERT": "true",
    }


def _client(certs: Path, name: str) -> ClientTls:
    client = ClientTls.from_env(
        {
            "CLAIMSCRUB_GRPC_CLIENT_CA": str(certs / "ca.pem"),
            "CLAIMSCRUB_GRPC_CLIENT_CERT": str(certs / f"{name}.pem"),
            "CLAIMSCRUB_GRPC_CLIENT_KEY": str(certs / f"{name}-key.pem"),
        }
    )
    assert client is not None
    return client


CLAIM: dict[str, Any] = {
    "claimId": "LIMIT-1",
    "payerId": "MEDICARE",
    "submissionDate": "2026-06-01",
    "serviceLines": [
        {"lineNumber": 1, "dateOfService": "2026-05-04", "procedureCode": "97530",
         "modifiers": ["GP"], "units": 2, "minutes": 30},
    ],
}  # fmt: skip


def _limited_policy(**rule_changes: Any) -> GrpcPolicy:
    table = json.loads(
        (Path(__file__).parents[2] / "services/runtime/data/grpc_policy.json").read_text()
    )
    table["rateLimit"] = {"default": {"perSecond": 0.001, "burst": 2}, "principals": {}}
    table["methods"]["claimscrub.v1.UnitsService/Check"].update(rule_changes)
    return parse_policy(table)


def _codes(certs: Path, policy: GrpcPolicy, calls: list[tuple[str, claim_pb2.Claim]]) -> list[str]:
    tls = ServerTls.from_env(_tls_env(certs))

    async def main() -> list[str]:
        handle = await start_grpc_server(
            "127.0.0.1", 0, registrar(load_units_check(None, None), "limits"), tls=tls,
            policy=policy, audit=False,
        )  # fmt: skip
        codes = []
        try:
            for name, claim in calls:
                async with grpc_client.aio_channel(
                    f"127.0.0.1:{handle.port}", tls=_client(certs, name)
                ) as ch:
                    try:
                        await units_service_pb2_grpc.UnitsServiceStub(ch).Check(claim, timeout=5)
                        codes.append("OK")
                    except grpc.aio.AioRpcError as exc:
                        codes.append(exc.code().name)
                        assert "LIMIT" not in (exc.details() or "")  # no request content
        finally:
            await handle.stop(0)
        return codes

    return asyncio.run(main())


def test_a_principal_beyond_its_rate_gets_resource_exhausted_and_others_do_not(certs: Path) -> None:
    claim = json_format.ParseDict(CLAIM, claim_pb2.Claim())
    policy = _limited_policy(principals=["aggregator", "submitter"])
    calls = [("aggregator", claim)] * 3 + [("submitter", claim)]
    assert _codes(certs, policy, calls) == ["OK", "OK", "RESOURCE_EXHAUSTED", "OK"]


def test_a_request_over_the_method_s_size_limit_is_refused_without_being_read(
    certs: Path,
) -> None:
    claim = json_format.ParseDict(CLAIM, claim_pb2.Claim())
    size = claim.ByteSize()
    at_limit = _limited_policy(maxRequestBytes=size)
    below = _limited_policy(maxRequestBytes=size - 1)
    assert _codes(certs, at_limit, [("aggregator", claim)]) == ["OK"]
    assert _codes(certs, below, [("aggregator", claim)]) == ["RESOURCE_EXHAUSTED"]


def test_refusals_are_counted_by_method_principal_and_reason(certs: Path) -> None:
    from prometheus_client import REGISTRY

    def count(principal: str, reason: str) -> float:
        value = REGISTRY.get_sample_value(
            "claimscrub_grpc_refused_total",
            {"grpc_service": "claimscrub.v1.UnitsService", "grpc_method": "Check",
             "principal": principal, "reason": reason},
        )  # fmt: skip
        return value or 0.0

    claim = json_format.ParseDict(CLAIM, claim_pb2.Claim())
    before = count("analytics", "unauthorized")
    codes = _codes(certs, _limited_policy(), [("analytics", claim)])
    assert codes == ["PERMISSION_DENIED"]
    assert count("analytics", "unauthorized") == before + 1


def test_local_plaintext_mode_keeps_working_without_certificates() -> None:
    """No client certificates: no identity, so no authorisation and no rate
    limit (the policy's rate of 2 would refuse the third call otherwise)."""
    claim = json_format.ParseDict(CLAIM, claim_pb2.Claim())

    async def main() -> list[str]:
        handle = await start_grpc_server(
            "127.0.0.1", 0, registrar(load_units_check(None, None), "plain"),
            policy=_limited_policy(), audit=False,
        )  # fmt: skip
        try:
            async with grpc_client.aio_channel(f"127.0.0.1:{handle.port}", tls=False) as ch:
                stub = units_service_pb2_grpc.UnitsServiceStub(ch)
                return [(await stub.Check(claim, timeout=5)).claim_id for _ in range(3)]
        finally:
            await handle.stop(0)

    assert asyncio.run(main()) == ["LIMIT-1"] * 3
    assert AccessInterceptor(_policy(), enforce=False).enforcing is False

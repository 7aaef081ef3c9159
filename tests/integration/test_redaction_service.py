"""The redaction service as a real process on the real broker: gRPC
RedactText/RedactClaim, claims.deidentified, and the leak test (seeded PHI
through the whole pipeline, then every log, topic and /metrics searched)."""

from __future__ import annotations

import copy
import json
import time
import urllib.request
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from claimscrub.core.codec import CONTENT_TYPE, JSON, decode_scrub_result, encode_claim_json
from claimscrub.redaction.config import RedactionConfig
from claimscrub.redaction.deidentify import Deidentifier, to_json
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, consume_all, produce
from claimscrub.runtime.topics import (
    ALL_TOPICS,
    CLAIMS_DEIDENTIFIED,
    CLAIMS_DLQ,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
)
from claimscrub.v1 import claim_pb2, redaction_service_pb2, redaction_service_pb2_grpc
from tests.unit.test_phi_free_outputs import seeded_claims

pytestmark = pytest.mark.kafka

# The services run without a key in the tests: the development key.
DEID = Deidentifier(RedactionConfig())


def _stub(services: dict[str, ServiceProcess]) -> Any:
    channel = grpc.insecure_channel(f"127.0.0.1:{services['redaction'].grpc_port}")
    return channel, redaction_service_pb2_grpc.RedactionServiceStub(channel)


def _examples(prefix: str) -> list[dict[str, Any]]:
    from claimscrub.runtime.testing import REPO_ROOT

    claims = json.loads((REPO_ROOT / "examples/claims.json").read_text())
    return [dict(c, claimId=f"{prefix}-{c['claimId']}") for c in claims]


def _records(claims: list[Any]) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    out = []
    for c in claims:
        value, ctype = encode_claim_json(c)
        out.append((c["claimId"].encode(), value, [(CONTENT_TYPE, ctype)]))
    return out


def _deidentified(kafka: LocalKafka, tokens: set[str]) -> dict[str, list[Any]]:
    """Records of claims.deidentified with the given keys, once all arrived."""
    deadline = time.monotonic() + 120
    while True:
        got = consume_all(kafka.bootstrap, CLAIMS_DEIDENTIFIED.name, until=1, settle_s=2)
        by_key: dict[str, list[Any]] = {}
        for r in got:
            key = r.key.decode()
            if key in tokens:
                msg = redaction_service_pb2.DeidentifiedClaim()
                msg.ParseFromString(r.value)
                by_key.setdefault(key, []).append(msg)
        if set(by_key) == tokens or time.monotonic() > deadline:
            return by_key


def test_grpc_redact_text_uses_the_claims_own_values(services: dict[str, ServiceProcess]) -> None:
    claim = json_format.ParseDict(_examples("G")[0], claim_pb2.Claim())
    channel, stub = _stub(services)
    with channel:
        reply = stub.RedactText(
            redaction_service_pb2.RedactTextRequest(
                text="ada example from sampletown: 97530 x2, 30 min, M62.81; call 516-555-0101",
                claim=claim,
            ),
            timeout=10,
        )
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="claimscrub.v1.RedactionService"), timeout=5
        )
    assert reply.text == "[NAME] [NAME] from [CITY]: 97530 x2, 30 min, M62.81; call [PHONE]"
    assert {(f.type, f.count) for f in reply.findings} == {("NAME", 2), ("CITY", 1), ("PHONE", 1)}
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_grpc_redact_claim_matches_the_library(services: dict[str, ServiceProcess]) -> None:
    raw = _examples("G")[1]
    channel, stub = _stub(services)
    with channel:
        reply = stub.RedactClaim(
            redaction_service_pb2.RedactClaimRequest(
                claim=json_format.ParseDict(raw, claim_pb2.Claim())
            ),
            timeout=10,
        )
    assert to_json(reply) == to_json(DEID.deidentify(raw))
    assert reply.claim_token == DEID.claim_token(raw["claimId"])


def test_each_claim_gets_one_deidentified_record_with_its_result(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    claims = _examples("DEID")
    produce(kafka.bootstrap, CLAIMS_SUBMITTED.name, _records(claims))
    tokens = {DEID.claim_token(c["claimId"]): c for c in claims}
    records = _deidentified(kafka, set(tokens))
    assert set(records) == set(tokens), "a claim got no de-identified record"
    assert all(len(v) == 1 for v in records.values()), "a claim got two records"
    scrubbed = {
        decode_scrub_result(r.value).claim_id: decode_scrub_result(r.value)
        for r in consume_all(kafka.bootstrap, CLAIMS_SCRUBBED.name, until=len(claims))
        if r.key.startswith(b"DEID-")
    }
    for token, claim in tokens.items():
        record = records[token][0]
        expected = to_json(DEID.deidentify(claim))
        assert {k: v for k, v in to_json(record).items() if k != "result"} == expected
        result = scrubbed[claim["claimId"]]
        assert record.result.claim_id == token
        assert record.result.status == result.status.value
        assert [e.code for e in record.result.edits] == [e.code for e in result.edits]


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return str(reply.read().decode())


def _all_topics(kafka: LocalKafka) -> list[str]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    return sorted(t for t in admin.list_topics(timeout=30).topics if not t.startswith("__"))


NEEDLES = [
    "Zebulon",
    "Quartermaine",
    "ZQ99887766",
    "MRN-55443322",
    "55443322",
    "078-05-1120",
    "516-555-0177",
    "zebulon.q@example.org",
    "1931-07-19",
    "07/19/1931",
    "Elmwood",
    "Fernhollow",
    "2026-02-17",
    "02/17/2026",
]


CLINICAL_TOPICS = {t.name for t in ALL_TOPICS if t.clinical}


def test_seeded_phi_leaks_nowhere(kafka: LocalKafka, services: dict[str, ServiceProcess]) -> None:
    claims = [c for c in seeded_claims() if isinstance(c, dict)]
    for c in claims:
        c["claimId"] = f"LEAK-{c['claimId']}"
    garbage = [
        b'{"claimId": "LEAK-G", "patient": {"firstName": "Zebulon", "memberId": "ZQ99887766"',
        b"\xffZebulon Quartermaine 078-05-1120 ZQ99887766",
    ]
    records = _records(claims)
    records += [(b"LEAK-GARBAGE", g, [(CONTENT_TYPE, JSON)]) for g in garbage]
    produce(kafka.bootstrap, CLAIMS_SUBMITTED.name, records)
    # The services' gRPC doors too: PHI in, nothing of it in logs or metrics.
    channel, stub = _stub(services)
    with channel:
        stub.RedactText(
            redaction_service_pb2.RedactTextRequest(text="Zebulon Quartermaine ZQ99887766"),
            timeout=10,
        )
        leak_claim = copy.deepcopy(claims[0])
        stub.RedactClaim(
            redaction_service_pb2.RedactClaimRequest(
                claim=json_format.ParseDict(leak_claim, claim_pb2.Claim())
            ),
            timeout=10,
        )
    tokens = {DEID.claim_token(c["claimId"]) for c in claims}
    assert set(_deidentified(kafka, tokens)) == tokens, "the pipeline did not finish"
    dlq = consume_all(kafka.bootstrap, CLAIMS_DLQ.name, until=1)
    # Each check service that reads claims.submitted dead-letters the garbage once.
    check_services = {"units", "necessity", "enrollment"} & set(services)
    assert sum(r.key == b"LEAK-GARBAGE" for r in dlq) == len(garbage) * len(check_services)
    time.sleep(2)  # let the last log lines reach the files

    hits: list[str] = []
    needles = [n.lower().encode() for n in NEEDLES]
    # The search finds what is there: every needle is on claims.submitted.
    submitted = b"\x00".join(
        r.value for r in consume_all(kafka.bootstrap, CLAIMS_SUBMITTED.name, until=1, settle_s=1)
    ).lower()
    assert all(n in submitted for n in needles)
    log_dir = next(iter(services.values())).log_dir
    for path in sorted(log_dir.glob("*.log")):
        text = path.read_bytes().lower()
        hits += [f"log {path.name}: {n!r}" for n in needles if n in text]
    searched = []
    for topic in _all_topics(kafka):
        # Topics that carry claims as submitted are inside the clinical boundary
        # (claims.submitted, claims.dlq, necessity's repartition of the claims).
        if topic in CLINICAL_TOPICS:
            continue
        searched.append(topic)
        for r in consume_all(kafka.bootstrap, topic, until=0, settle_s=1, timeout_s=30):
            blob = b"\x00".join(
                [r.key or b"", r.value or b"", *(v for _, v in r.headers or [])]
            ).lower()
            hits += [f"topic {topic}: {n!r}" for n in needles if n in blob]
    for p in services.values():
        text = _scrape(p.metrics_port).lower().encode()
        hits += [f"/metrics of {p.name}: {n!r}" for n in needles if n in text]
    assert {CLAIMS_DEIDENTIFIED.name, CLAIMS_SCRUBBED.name, "claims.checks"} <= set(searched)
    assert any("changelog" in t for t in searched), searched
    print(f"leak test searched {len(searched)} topics: {', '.join(searched)}")
    assert not hits, hits


def test_redaction_says_it_runs_on_the_dev_key_without_printing_it(
    services: dict[str, ServiceProcess],
) -> None:
    from claimscrub.redaction.config import DEV_KEY

    lines = [
        json.loads(line)
        for line in services["redaction"].log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    assert any(line.get("event") == "hmac_dev_key_in_use" for line in lines)
    assert DEV_KEY.decode() not in services["redaction"].log_path.read_text()


def test_join_state_survives_a_kill_9_of_the_redaction_service(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    """Half a join (the result, with no claim yet) is on the changelog when the
    service dies; the restarted service reads it back and completes the
    record when the claim arrives, with the result it held."""
    from claimscrub.core.codec import encode_scrub_result
    from claimscrub.core.edits import edit
    from claimscrub.core.results import ScrubResult, Status
    from claimscrub.runtime.topics import REDACTION_JOIN_CHANGELOG

    claim = _examples("RESTORE")[0]
    claim_id = claim["claimId"]
    token = DEID.claim_token(claim_id)
    # A result the pipeline would never give this claim, so the record shows
    # which result the join completed with: the one held across the restart.
    held = ScrubResult(
        claim_id,
        Status.HOLD,
        ("UNITS",),
        (edit("MUE_EXCEEDED", 1, "97110 billed 9 units; MUE 8"),),
    )
    produce(
        kafka.bootstrap,
        CLAIMS_SCRUBBED.name,
        [(claim_id.encode(), encode_scrub_result(held), [])],
    )
    deadline = time.monotonic() + 60
    while not any(
        claim_id.encode() in r.key
        for r in consume_all(kafka.bootstrap, REDACTION_JOIN_CHANGELOG.name, until=1, settle_s=1)
    ):
        assert time.monotonic() < deadline, "the half join never reached the changelog"
    redaction = services["redaction"]
    redaction.kill()
    redaction.start()
    produce(kafka.bootstrap, CLAIMS_SUBMITTED.name, _records([claim]))
    records = _deidentified(kafka, {token})
    assert len(records.get(token, [])) == 1, "the claim got no (or two) de-identified records"
    assert [e.code for e in records[token][0].result.edits] == ["MUE_EXCEEDED"]

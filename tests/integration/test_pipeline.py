"""The pipeline end to end: claims into a real Kafka, the check services and
the aggregator as real processes, one ScrubResult per claim out."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from claimscrub.core.codec import CONTENT_TYPE, JSON, decode_scrub_result, encode_claim_json
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, consume_all, produce
from claimscrub.runtime.topics import CLAIMS_DLQ, CLAIMS_SCRUBBED, CLAIMS_SUBMITTED
from tests.integration.helpers import base_claim, send_claims, service_line, therapy

pytestmark = pytest.mark.kafka


def _claim(i: int, minutes: int, units: int) -> dict[str, Any]:
    patient = {"firstName": "Zebulon", "lastName": "Quartermaine", "memberId": f"ZQ99887766-{i}"}
    # Complete for the NECESSITY check, so only the units arithmetic varies.
    line = service_line(units=units, minutes=minutes)
    return base_claim(f"IT-{i:05d}", patient, line, therapy=therapy())


def _expected_codes(minutes: int, units: int) -> set[str]:
    # The 8-minute table of domain §1.1, stated independently of the rules code.
    table = [(8, 0), (23, 1), (38, 2), (53, 3), (68, 4), (83, 5)]
    supported = next((u for limit, u in table if minutes < limit), 6)
    if supported == 0:
        return {"TIMED_UNDER_8_MINUTES"} if units else set()
    if units > supported:
        return {"UNITS_EXCEED_TIME"}
    if units < supported:
        return {"UNITS_BELOW_TIME"}
    return set()


def test_every_claim_gets_exactly_one_result_with_the_expected_edits(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    rng = random.Random(7)
    cases = {i: (rng.randint(0, 80), rng.randint(0, 5)) for i in range(300)}
    send_claims(kafka, *(_claim(i, minutes, units) for i, (minutes, units) in cases.items()))

    got = consume_all(kafka.bootstrap, CLAIMS_SCRUBBED.name, until=len(cases))
    results = [decode_scrub_result(r.value) for r in got if r.key.startswith(b"IT-")]
    by_id: dict[str, list[Any]] = {}
    for r in results:
        by_id.setdefault(r.claim_id, []).append(r)

    assert sorted(by_id) == sorted(f"IT-{i:05d}" for i in cases), "a claim got no result"
    assert all(len(v) == 1 for v in by_id.values()), "a claim got more than one result"
    for i, (minutes, units) in cases.items():
        result = by_id[f"IT-{i:05d}"][0]
        assert {e.code for e in result.edits} == _expected_codes(minutes, units), (
            i,
            minutes,
            units,
        )
        assert result.checks == ("UNITS", "NECESSITY", "ENROLLMENT")


def test_garbage_goes_to_the_dlq_and_the_stream_goes_on(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    garbage = [b"\xff\xfe\x00garbage", b"{not json", b"\x08\x96\x01"]
    # Same key for garbage and good claims: same partition, so the good
    # claims queue behind the garbage and must still be answered.
    records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = []
    for n, g in enumerate(garbage):
        records.append((b"GB-SHARED", g, [(CONTENT_TYPE, JSON)] if g.startswith(b"{") else []))
        value, ctype = encode_claim_json(_claim(900 + n, 30, 2) | {"claimId": f"GB-OK-{n}"})
        records.append((b"GB-SHARED", value, [(CONTENT_TYPE, ctype)]))
    malformed = {
        "claimId": "GB-MALFORMED",
        "payerId": "MEDICARE",
        "serviceLines": [{"lineNumber": 1, "procedureCode": "97110"}],
    }
    records.append((b"GB-MALFORMED", json.dumps(malformed).encode(), [(CONTENT_TYPE, JSON)]))
    produce(kafka.bootstrap, CLAIMS_SUBMITTED.name, records)

    # Every check service reads claims.submitted, so each dead-letters the
    # garbage once, under its own name.
    check_services = [name for name in ("units", "necessity", "enrollment") if name in services]
    dlq = consume_all(kafka.bootstrap, CLAIMS_DLQ.name, until=len(garbage) * len(check_services))
    by_service: dict[str, list[bytes]] = {}
    for r in dlq:
        if r.key == b"GB-SHARED":
            headers = dict(r.headers)
            assert headers["claimscrub-reason"]
            by_service.setdefault(headers["claimscrub-service"].decode(), []).append(r.value)
    assert sorted(by_service) == sorted(check_services)
    for values in by_service.values():
        assert sorted(values) == sorted(garbage)

    scrubbed = consume_all(kafka.bootstrap, CLAIMS_SCRUBBED.name, until=1)
    results = {
        decode_scrub_result(r.value).claim_id: decode_scrub_result(r.value) for r in scrubbed
    }
    for n in range(len(garbage)):
        assert results[f"GB-OK-{n}"].status.value == "CLEAN"
    bad = results["GB-MALFORMED"]
    assert bad.status.value == "HOLD"
    assert [e.code for e in bad.edits] == ["MALFORMED_CLAIM"]
    assert "serviceLines[0].units" in bad.edits[0].message


def test_services_log_no_phi(services: dict[str, ServiceProcess]) -> None:
    for p in services.values():
        text = p.log_path.read_text(errors="replace")
        for phi in ("Zebulon", "Quartermaine", "ZQ99887766"):
            assert phi not in text, f"{p.name} log carries PHI"

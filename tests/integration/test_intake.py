"""The X12 intake service on a real broker: an 837P interchange on claims.x12
becomes one claim per CLM on claims.submitted (and so one result each on
claims.scrubbed) and one 999 on claims.x12.acks; bytes that are not X12 go to
claims.dlq with a reason (docs/x12.md, contract §6)."""

from __future__ import annotations

import io
import json
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from claimscrub.cli.x12_submit import submit_interchange
from claimscrub.core.codec import decode_scrub_result
from claimscrub.intake.topology import (
    INTERCHANGE_HEADER,
    TRANSACTION_SET_HEADER,
)
from claimscrub.runtime.guard import REASON_HEADER
from claimscrub.runtime.kafka_io import Tail
from claimscrub.runtime.testing import (
    REPO_ROOT,
    LocalKafka,
    ServiceProcess,
    consume_all,
    produce,
)
from claimscrub.runtime.topics import (
    CLAIMS_DLQ,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
    CLAIMS_X12,
    CLAIMS_X12_ACKS,
)
from claimscrub.x12.compose import interchange
from claimscrub.x12.intake import claims_of
from claimscrub.x12.reader import Interchange, open_text
from tests.integration.helpers import send_claims, service_line, wait_until

pytestmark = pytest.mark.kafka

# Distinctive patient values: none may appear in a 999 or a log line.
LAST_NAME = "Quillfeatherby"
FIRST_NAME = "Ottoline"
MEMBER_PREFIX = "QX771"
CLAIMS = 200
ICN = 424242


def _claim(i: int) -> dict[str, Any]:
    return {
        "claimId": f"X12-{i:04d}",
        "payerId": "MEDICARE",
        "patient": {
            "firstName": FIRST_NAME,
            "lastName": LAST_NAME,
            "memberId": f"{MEMBER_PREFIX}{i:05d}",
            "birthDate": "1951-03-07",
            "sex": "F",
        },
        "billingProvider": {"npi": "1558598797", "name": "CLINIC", "taxId": "123456789"},
        "renderingProvider": {"npi": "1234567893", "taxonomy": "225100000X"},
        "diagnoses": ["M62.81"],
        "serviceLines": [service_line()],
        "therapy": {"planOfCare": {"startDate": "2026-04-20"}},
    }


def test_an_interchange_becomes_its_claims_results_and_one_999(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    text = interchange((_claim(i) for i in range(CLAIMS)), control_number=ICN, claims_per_set=50)
    icn = f"{ICN:09d}".encode()
    produce(kafka.bootstrap, CLAIMS_X12.name, [(icn, text.encode(), [])])

    # The session's first interchange: on a loaded machine the intake may still
    # be joining its consumer group, so the first 999 gets a longer wait.
    acks = [
        r
        for r in consume_all(kafka.bootstrap, CLAIMS_X12_ACKS.name, until=1, timeout_s=300)
        if r.key == icn
    ]
    assert len(acks) == 1
    ack = acks[0].value.decode()
    assert ack.startswith("ISA*")
    # Four sets of 50 claims, each accepted (IK5*A), and the group accepted (AK9*A*4*4*4).
    assert ack.count("IK5*A") == 4
    assert "AK9*A*4*4*4" in ack

    submitted = [
        r
        for r in consume_all(kafka.bootstrap, CLAIMS_SUBMITTED.name, until=CLAIMS)
        if r.key.startswith(b"X12-")
    ]
    assert sorted(r.key.decode() for r in submitted) == [f"X12-{i:04d}" for i in range(CLAIMS)]
    for r in submitted:
        headers = dict(r.headers)
        assert headers[INTERCHANGE_HEADER] == icn
        assert headers[TRANSACTION_SET_HEADER] in {b"0001", b"0002", b"0003", b"0004"}

    scrubbed = consume_all(kafka.bootstrap, CLAIMS_SCRUBBED.name, until=CLAIMS)
    results = [decode_scrub_result(r.value) for r in scrubbed if r.key.startswith(b"X12-")]
    # Exactly one each: the three checks' verdicts on a claim join up (same version).
    assert sorted(res.claim_id for res in results) == [f"X12-{i:04d}" for i in range(CLAIMS)]
    # What an 837P cannot carry crosses Kafka (docs/x12.md "notChecked"): these
    # claims use the minutes convention, so all but TIMED_MINUTES.
    for res in results:
        assert set(res.not_checked) == {
            "PLAN_OF_CARE_CERTIFICATION",
            "PROGRESS_REPORT",
            "VISIT_LIMIT",
            "AUTHORIZATION",
            "KX_THRESHOLD",
        }, res.claim_id

    for value in (ack, services["intake"].log_path.read_text()):
        assert LAST_NAME.upper() not in value.upper()
        assert FIRST_NAME.upper() not in value.upper()
        assert MEMBER_PREFIX not in value


def test_bytes_that_are_not_x12_go_to_the_dlq_with_a_reason(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    produce(
        kafka.bootstrap,
        CLAIMS_X12.name,
        [(b"NOT-X12", b'{"claimId": "not an interchange"}', []), (b"EMPTY-X12", b"", [])],
    )
    dlq = consume_all(kafka.bootstrap, CLAIMS_DLQ.name, until=2)
    by_key = {r.key: dict(r.headers) for r in dlq if r.key in (b"NOT-X12", b"EMPTY-X12")}
    assert by_key[b"NOT-X12"][REASON_HEADER].startswith(b"invalid X12: ")
    assert by_key[b"NOT-X12"]["claimscrub-service"] == b"intake"
    assert by_key[b"EMPTY-X12"][REASON_HEADER] == b"empty value"
    acks = consume_all(kafka.bootstrap, CLAIMS_X12_ACKS.name, until=1)
    assert not [r for r in acks if r.key in (b"NOT-X12", b"EMPTY-X12")]


def _records_where(
    bootstrap: str,
    topic: str,
    keep: Callable[[Any], bool],
    *,
    until: int,
    timeout_s: float,
    settle_s: float = 3.0,
) -> list[Any]:
    """Every record of ``topic`` that ``keep`` accepts, read from the beginning
    until ``until`` of them came and no more for ``settle_s`` (so a copy
    would be seen), or the timeout."""
    tail = Tail(bootstrap, None, [topic], client_id="test", from_beginning=True)
    found: list[Any] = []
    deadline = time.monotonic() + timeout_s
    last_new = time.monotonic()
    try:
        while time.monotonic() < deadline:
            got = [r for r in tail.records(0.3) if keep(r)]
            if got:
                found.extend(got)
                last_new = time.monotonic()
            if len(found) >= until and time.monotonic() - last_new >= settle_s:
                break
    finally:
        tail.close()
    return found


def _trust_claim(claim_id: str, member: str) -> dict[str, Any]:
    # No certification date (an 837P cannot carry one) and no treatment-day count.
    base = _claim(0)
    return {**base, "claimId": claim_id, "patient": {**base["patient"], "memberId": member}}


def test_not_checked_is_honoured_from_the_intake_only(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    # Through the intake: its notChecked is sealed, so the checks skip those rules.
    text = interchange([_trust_claim("TRUST-X12", "QT0000001")], control_number=515151)
    produce(kafka.bootstrap, CLAIMS_X12.name, [(b"000515151", text.encode(), [])])
    # Directly on claims.submitted, the same claim with the same notChecked but no seal.
    via_intake = claims_of(Interchange(open_text(text.encode())))
    [(_tset, claim)] = list(via_intake)
    direct = {**claim.event(), "claimId": "TRUST-JSON"}
    direct["patient"] = {**direct["patient"], "memberId": "QT0000002"}
    assert direct["notChecked"]
    send_claims(kafka, direct)

    wanted = {b"TRUST-X12", b"TRUST-JSON"}
    records = _records_where(
        kafka.bootstrap, CLAIMS_SCRUBBED.name, lambda r: r.key in wanted, until=2, timeout_s=120
    )
    results = {r.claim_id: r for r in (decode_scrub_result(rec.value) for rec in records)}
    assert len(records) == 2 and set(results) == {"TRUST-X12", "TRUST-JSON"}
    trusted, forged = results["TRUST-X12"], results["TRUST-JSON"]
    assert "PLAN_OF_CARE_CERTIFICATION" in trusted.not_checked
    assert "PLAN_OF_CARE_MISSING" not in {e.code for e in trusted.edits}
    # The rules applied: the missing certification is an edit, nothing is listed as skipped.
    assert forged.not_checked == ()
    assert "PLAN_OF_CARE_MISSING" in {e.code for e in forged.edits}


def test_an_intake_killed_mid_interchange_loses_and_doubles_no_claim(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    """kill -9 while the interchange's claims are being published and before its
    offset is committed: the restarted intake reads the interchange again and
    publishes every claim again, byte for byte (at-least-once). A claim is
    "doubled" if it reaches claims.submitted as two different versions or gets
    two results; a byte-identical copy is the same claim version, which the
    aggregator answers once."""
    intake = services["intake"]
    base_env = dict(intake.env)
    icn = 626262
    icn_text = f"{icn:09d}".encode()
    ids = {f"KILL-{i:04d}".encode() for i in range(CLAIMS)}
    try:
        # The instance that dies commits no offset (an hour between commits),
        # so its interchange is certainly read again after the kill.
        intake.kill()
        intake.env = {**base_env, "CLAIMSCRUB_COMMIT_INTERVAL_SECONDS": "3600"}
        intake.start()
        claims = (
            {
                **_claim(i),
                "claimId": f"KILL-{i:04d}",
                "patient": {**_claim(i)["patient"], "memberId": f"QK{i:07d}"},
            }
            for i in range(CLAIMS)
        )
        text = interchange(claims, control_number=icn, claims_per_set=50)
        produce(kafka.bootstrap, CLAIMS_X12.name, [(icn_text, text.encode(), [])])
        first = _records_where(
            kafka.bootstrap,
            CLAIMS_SUBMITTED.name,
            lambda r: r.key in ids,
            until=1,
            timeout_s=240,
            settle_s=0,
        )
        assert first, "the intake published none of the interchange's claims"
        assert intake.proc is not None
        intake.proc.send_signal(signal.SIGKILL)
        intake.proc.wait()
    finally:
        # Whatever happened above, one intake runs afterwards: a second one on
        # the same ports would fail to start and leave the first behind.
        intake.kill()
        intake.env = base_env
        intake.start(wait_s=180)
    # The restarted intake joins the group once the killed one's session
    # expires, and reads the uncommitted interchange again.
    assert wait_until(lambda: _acknowledged(intake, icn_text) >= 2, 240, 0.5), intake.tail()

    scrubbed = _records_where(
        kafka.bootstrap, CLAIMS_SCRUBBED.name, lambda r: r.key in ids, until=CLAIMS, timeout_s=300
    )
    # One result per claim: none lost, none answered twice.
    assert sorted(r.key for r in scrubbed) == sorted(ids)

    submitted = _records_where(
        kafka.bootstrap, CLAIMS_SUBMITTED.name, lambda r: r.key in ids, until=CLAIMS, timeout_s=60
    )
    copies: dict[bytes, set[bytes]] = {}
    for r in submitted:
        copies.setdefault(r.key, set()).add(r.value)
    assert set(copies) == ids
    # Each claim as one version: every copy of it byte-identical.
    assert all(len(values) == 1 for values in copies.values())
    # Read twice: each claim published by the restarted intake, and some of them
    # by the killed one before it died too; never more than these two copies.
    per_key = Counter(r.key for r in submitted)
    assert len(submitted) > CLAIMS and set(per_key.values()) <= {1, 2}
    print(f"\nintake kill -9: {len(submitted) - CLAIMS} of {CLAIMS} claims published twice")
    acks = _records_where(
        kafka.bootstrap, CLAIMS_X12_ACKS.name, lambda r: r.key == icn_text, until=1, timeout_s=60
    )
    assert acks and all(a.value.count(b"IK5*A") == 4 for a in acks)


def _acknowledged(service: ServiceProcess, icn: bytes) -> int:
    """How many times the intake's log says it read interchange ``icn``."""
    text = service.log_path.read_text(errors="replace")
    return sum(
        1
        for line in text.splitlines()
        if '"interchange_acknowledged"' in line and f'"interchange": "{icn.decode()}"' in line
    )


def test_submit_sends_an_837p_to_the_intake_and_prints_its_999_and_results(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    """`claimscrub submit FILE.837 --wait` (make demo's 837P step): the
    interchange goes to claims.x12; the 999 of its three sets and the results
    of the four claims of the two accepted ones come back."""
    out = io.StringIO()
    status = submit_interchange(
        str(REPO_ROOT / "examples" / "therapy.837"),
        kafka.bootstrap,
        wait=True,
        ack=None,
        timeout_s=120,
        fmt="json",
        ready_wait_s=2,
        out=out,
    )
    assert status == 0
    lines = out.getvalue().splitlines()
    assert "IK5*R*4~" in lines and lines.count("IK5*A~") == 2
    results = {r["claimId"]: r for r in (json.loads(x) for x in lines if x.startswith("{"))}
    assert set(results) == {"X12-DEMO-01", "X12-DEMO-02", "X12-DEMO-03", "X12-DEMO-04"}
    assert results["X12-DEMO-01"]["status"] == "CLEAN"
    # Through the intake: its notChecked honoured.
    assert "PLAN_OF_CARE_CERTIFICATION" in results["X12-DEMO-01"]["notChecked"]
    ready = lines[lines.index("--- ready claims from claims.ready:") + 1 :]
    assert ready and (ready[0].startswith("none yet") or ready[0].startswith("X12-DEMO-01 "))

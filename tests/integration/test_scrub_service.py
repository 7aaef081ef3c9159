"""The synchronous API and the stream against the running pipeline: ScrubService,
parity of the CLI, the API and the stream over every example, `scrub --remote`,
and the stream's once-per-version and DUPLICATE_CLAIM rules."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from claimscrub.cli.submit import submit
from claimscrub.core.codec import decode_scrub_result
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, consume_all
from claimscrub.runtime.topics import CLAIMS_SCRUBBED
from claimscrub.v1 import claim_pb2, scrub_service_pb2_grpc
from tests.integration.helpers import base_claim, cli_scrub, send_claims, service_line, therapy

pytestmark = pytest.mark.kafka


def _examples(examples_dir: Path, tag: str) -> list[dict[str, Any]]:
    """The examples under fresh claim and member IDs, so this run's claims are
    new to the session's pipeline (its necessity history, its ledger)."""
    claims = json.loads((examples_dir / "claims.json").read_text())
    out = []
    for c in claims:
        c = copy.deepcopy(c)
        c["claimId"] = f"{tag}-{c['claimId']}"
        c["patient"]["memberId"] = f"{tag}{c['patient']['memberId']}"
        out.append(c)
    return out


def _scrub_stub(services: dict[str, ServiceProcess]) -> tuple[grpc.Channel, Any]:
    channel = grpc.insecure_channel(f"127.0.0.1:{services['aggregator'].grpc_port}")
    return channel, scrub_service_pb2_grpc.ScrubServiceStub(channel)


def _sync(stub: Any, claim: dict[str, Any]) -> dict[str, Any]:
    request = json_format.ParseDict(claim, claim_pb2.Claim(), ignore_unknown_fields=True)
    from claimscrub.core.codec import scrub_result_from_pb

    return scrub_result_from_pb(stub.Scrub(request, timeout=30)).to_json()


def _stream(kafka: LocalKafka, claims: Sequence[Any]) -> list[dict[str, Any]]:
    out = io.StringIO()
    assert submit(list(claims), kafka.bootstrap, wait=True, timeout_s=120, out=out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _waves(claims: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The claims split so that each beneficiary's claims come one per wave, in input order."""
    seen: dict[tuple[str, str], int] = {}
    waves: list[list[dict[str, Any]]] = []
    for c in claims:
        who = (c["payerId"], c["patient"]["memberId"])
        n = seen.get(who, 0)
        seen[who] = n + 1
        while len(waves) <= n:
            waves.append([])
        waves[n].append(c)
    return waves


def test_cli_synchronous_api_and_stream_agree_on_every_example(
    kafka: LocalKafka, services: dict[str, ServiceProcess], examples_dir: Path, tmp_path: Path
) -> None:
    # NECESSITY is stateful per beneficiary, and some examples share one (e.g.
    # EX-015 and EX-024: EX-024's KX message counts EX-015's charges). Each mode
    # must see a claim with the same history: the CLI accumulates in input
    # order; the stream gets each beneficiary's claims in input order, one wave
    # at a time (the stream orders claims per beneficiary only as they reach
    # it); the synchronous API, which never records, is asked about each claim
    # just before its wave is submitted, so it reads the history of exactly the
    # claims before it.
    claims = _examples(examples_dir, f"PAR{uuid.uuid4().hex[:6]}")
    cli = {r["claimId"]: r for r in cli_scrub(examples_dir, claims, tmp_path)}
    sync: dict[str, dict[str, Any]] = {}
    stream: dict[str, dict[str, Any]] = {}
    channel, stub = _scrub_stub(services)
    with channel:
        for wave in _waves(claims):
            for c in wave:
                sync[c["claimId"]] = _sync(stub, c)
            for r in _stream(kafka, wave):
                stream[r["claimId"]] = r
    assert len(cli) == len(sync) == len(stream) == len(claims)
    for c in claims:
        cid = c["claimId"]
        assert sync[cid] == cli[cid], cid
        assert stream[cid] == cli[cid], cid
    # The history mattered: EX-024's threshold message counts EX-015's charges.
    ex024 = cli[f"{claims[0]['claimId'].split('-EX-')[0]}-EX-024"]
    assert "2,662.00" in ex024["edits"][0]["message"]


def test_scrub_remote_gives_what_scrub_gives(
    kafka: LocalKafka, services: dict[str, ServiceProcess], examples_dir: Path, tmp_path: Path
) -> None:
    # One member per claim: the synchronous API never records, so claims of one
    # beneficiary do not accumulate over a --remote batch (docs/aggregator.md).
    tag = f"REM{uuid.uuid4().hex[:6]}"
    claims = _examples(examples_dir, tag)
    for i, c in enumerate(claims):
        c["patient"]["memberId"] += f"-{i}"
    twin = dict(copy.deepcopy(claims[0]), claimId=f"{tag}-TWIN")
    claims.append(twin)
    local = cli_scrub(examples_dir, claims, tmp_path)
    remote = cli_scrub(
        examples_dir, claims, tmp_path, "--remote", f"127.0.0.1:{services['aggregator'].grpc_port}"
    )
    assert remote == local
    assert [e["code"] for e in remote[-1]["edits"]] == ["DUPLICATE_CLAIM"]


def test_remote_refuses_local_reference_options(services: dict[str, ServiceProcess]) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "claimscrub.cli.main",
            "scrub",
            "-",
            "--remote",
            f"127.0.0.1:{services['aggregator'].grpc_port}",
            "--payers",
            __file__,
        ],
        input="{}",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--payers" in done.stderr


def _claim(claim_id: str, member: str, units: int = 2, note: str = "") -> dict[str, Any]:
    patient = {"memberId": member, "firstName": "Zebulon"}
    return base_claim(claim_id, patient, service_line(units=units), therapy=therapy(), note=note)


def _results(kafka: LocalKafka, prefix: str, until: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in consume_all(kafka.bootstrap, CLAIMS_SCRUBBED.name, until=until, settle_s=3):
        if r.key.decode().startswith(prefix):
            out.setdefault(r.key.decode(), []).append(decode_scrub_result(r.value))
    return out


def test_stream_publishes_once_per_version_and_flags_duplicates(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    tag = f"DUP{uuid.uuid4().hex[:6]}"
    member = f"ZQ{uuid.uuid4().hex[:8]}"
    first = _claim(f"{tag}-1", member)
    twin = dict(_claim(f"{tag}-2", member), note="same services, resent under a new id")
    assert _stream(kafka, [first])[0]["status"] == "CLEAN"
    got = _stream(kafka, [twin])[0]
    assert [e["code"] for e in got["edits"]] == ["DUPLICATE_CLAIM"]
    assert f"{tag}-1" in got["edits"][0]["message"]

    # The same claim again (a redelivery) gets no result; then a changed
    # version of it gets its own. Same key, same partition: the redelivery
    # reaches the aggregator before the change does.
    changed = _claim(f"{tag}-1", member, units=3)
    send_claims(kafka, first)
    send_claims(kafka, changed)
    by_id = _results(kafka, tag, until=3)
    assert [r.status.value for r in by_id[f"{tag}-1"]] == ["CLEAN", "HOLD"]
    assert [e.code for e in by_id[f"{tag}-1"][1].edits] == ["UNITS_EXCEED_TIME"]
    assert len(by_id[f"{tag}-2"]) == 1


def test_submit_wait_shows_the_earlier_result_of_an_identical_claim(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    tag = f"RE{uuid.uuid4().hex[:6]}"
    claim = _claim(f"{tag}-1", f"ZQ{uuid.uuid4().hex[:8]}", units=1)
    first = _stream(kafka, [claim])
    out = io.StringIO()
    assert submit([claim], kafka.bootstrap, wait=True, timeout_s=60, out=out) == 0
    assert [json.loads(line) for line in out.getvalue().splitlines()] == first


def test_scrub_service_reports_itself_in_health_and_reflection(
    services: dict[str, ServiceProcess],
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    channel, _ = _scrub_stub(services)
    with channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(
            health_pb2.HealthCheckRequest(service="claimscrub.v1.ScrubService"), timeout=5
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

"""The cross-claim edits on the real broker (issue 15 items 7-9): a beneficiary's
claims published in order get the edits `claimscrub scrub` gives the same claims
in one file, and ScrubService.Scrub, asked about each claim before it is
published, reads the same history from the necessity service's table."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from claimscrub.cli.submit import submit
from claimscrub.core.codec import scrub_result_from_pb
from claimscrub.runtime.testing import LocalKafka, ServiceProcess
from claimscrub.v1 import claim_pb2, scrub_service_pb2_grpc
from tests.cross_claim_example import EXPECTED_B, cross_claim_sequence, cross_edits
from tests.integration.helpers import cli_scrub

pytestmark = pytest.mark.kafka


def _sync(target: str, claim: dict[str, Any]) -> dict[str, Any]:
    with grpc.insecure_channel(target) as channel:
        stub = scrub_service_pb2_grpc.ScrubServiceStub(channel)
        request = json_format.ParseDict(claim, claim_pb2.Claim(), ignore_unknown_fields=True)
        return scrub_result_from_pb(stub.Scrub(request, timeout=30)).to_json()


def _publish(kafka: LocalKafka, claim: dict[str, Any]) -> dict[str, Any]:
    out = io.StringIO()
    assert submit([claim], kafka.bootstrap, wait=True, timeout_s=120, out=out) == 0
    (line,) = out.getvalue().splitlines()
    result: dict[str, Any] = json.loads(line)
    return result


def test_claims_published_in_order_get_the_cross_claim_edits_the_cli_gives(
    kafka: LocalKafka, services: dict[str, ServiceProcess], examples_dir: Path, tmp_path: Path
) -> None:
    claims = cross_claim_sequence(f"XC{uuid.uuid4().hex[:6]}")
    cli = cli_scrub(examples_dir, claims, tmp_path)
    target = f"127.0.0.1:{services['aggregator'].grpc_port}"
    sync: list[dict[str, Any]] = []
    stream: list[dict[str, Any]] = []
    for claim in claims:
        # Asked before the claim is published: the history holds exactly the claims before it.
        sync.append(_sync(target, claim))
        stream.append(_publish(kafka, claim))

    assert cross_edits(cli[1]) == EXPECTED_B
    assert cross_edits(cli[2]) == [("DUPLICATE_CLAIM", 0)]
    assert stream == cli
    # ScrubService has no duplicate ledger: A and B as the CLI, and for the
    # whole repeat C only necessity's per-line DUPLICATE_CLAIM (docs/aggregator.md).
    assert sync[:2] == cli[:2]
    assert cross_edits(sync[2]) == [
        ("DUPLICATE_CLAIM", 1),
        ("DUPLICATE_CLAIM", 2),
        ("DUPLICATE_CLAIM", 3),
    ]


def test_a_redelivered_claim_keeps_its_cross_claim_edits(
    kafka: LocalKafka, services: dict[str, ServiceProcess]
) -> None:
    a, b, _ = cross_claim_sequence(f"XR{uuid.uuid4().hex[:6]}")
    _publish(kafka, a)
    first = _publish(kafka, b)
    assert cross_edits(first) == EXPECTED_B
    # The necessity service recorded B; asked again it still compares B with A only.
    again = _sync(f"127.0.0.1:{services['aggregator'].grpc_port}", b)
    assert cross_edits(again) == EXPECTED_B

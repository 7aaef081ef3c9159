"""Helpers the integration tests share: claims to send, the service processes
a module starts, and reading results back."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from claimscrub.cli.enrollment import publish_records
from claimscrub.core.codec import CONTENT_TYPE, decode_scrub_result, encode_claim_json
from claimscrub.core.results import ScrubResult
from claimscrub.enrollment.records import read_records
from claimscrub.runtime.kafka_io import Tail
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, free_port, produce
from claimscrub.runtime.topics import CLAIMS_SCRUBBED, CLAIMS_SUBMITTED

# --- claims ------------------------------------------------------------------------


def gp_claim_proto(claim_id: str, payer: str, lines: Sequence[tuple[str, str, int, int]]) -> Any:
    """A claimscrub.v1.Claim of GP lines, each (date of service, code, units,
    minutes), numbered from 1: what the units service's Check takes."""
    from google.protobuf import json_format

    from claimscrub.v1 import claim_pb2

    return json_format.ParseDict(
        {
            "claimId": claim_id,
            "payerId": payer,
            "submissionDate": "2026-06-01",
            "serviceLines": [
                {"lineNumber": i, "dateOfService": dos, "procedureCode": code,
                 "modifiers": ["GP"], "units": units, "minutes": minutes}
                for i, (dos, code, units, minutes) in enumerate(lines, start=1)
            ],
        },
        claim_pb2.Claim(),
    )  # fmt: skip


def edit_codes(reply: Any) -> list[tuple[int, str]]:
    """A check reply's edits as (line number, code)."""
    return [(e.line_number, e.code) for e in reply.edits]


def service_line(**changes: Any) -> dict[str, Any]:
    """30 minutes, 2 units of 97110 with GP: what the 8-minute rule supports."""
    return {
        "lineNumber": 1,
        "dateOfService": "2026-05-04",
        "procedureCode": "97110",
        "modifiers": ["GP"],
        "units": 2,
        "minutes": 30,
        "chargeAmount": "42.00",
        "diagnosisPointers": [1],
        **changes,
    }


def therapy(**changes: Any) -> dict[str, Any]:
    """A PT plan of care certified for the date of service, nothing used this year."""
    return {
        "discipline": "PT",
        "planOfCare": {"certifiedDate": "2026-04-20", "endDate": "2026-07-18"},
        "treatmentDaysSinceProgressReport": 0,
        "amountUsedYtd": "0.00",
        **changes,
    }


def base_claim(
    claim_id: str, patient: dict[str, Any], line: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """A MEDICARE claim of one ``line`` (default :func:`service_line`) by
    providers enrolled in examples/enrollment.json; ``fields`` add or replace
    top-level fields."""
    return {
        "claimId": claim_id,
        "payerId": "MEDICARE",
        "submissionDate": "2026-06-01",
        "patient": patient,
        "billingProvider": {"npi": "1558598797"},
        "renderingProvider": {"npi": "1234567893", "taxonomy": "225100000X"},
        "diagnoses": ["M62.81"],
        "serviceLines": [service_line() if line is None else line],
        **fields,
    }


# --- brokers and services ------------------------------------------------------------


def prepare_pipeline(
    kafka: LocalKafka, examples_dir: Path, names: Iterable[str]
) -> tuple[dict[str, tuple[int, int]], dict[str, str]]:
    """The example enrollment records put on providers.enrollment; a gRPC and
    a metrics port for each service of ``names``; and the environment that
    names the example payers file and points the aggregator and necessity at
    the check services' gRPC ports."""
    publish_records(read_records(examples_dir / "enrollment.json"), kafka.bootstrap)
    ports = {name: (free_port(), free_port()) for name in names}
    env = {"CLAIMSCRUB_PAYERS_FILE": str(examples_dir / "payers.json")}
    for name in ("enrollment", "units", "necessity"):
        env[f"CLAIMSCRUB_{name.upper()}_ADDR"] = f"127.0.0.1:{ports[name][0]}"
    return ports, env


@contextmanager
def started(procs: Mapping[str, ServiceProcess]) -> Iterator[dict[str, ServiceProcess]]:
    """Each process started in turn; those started are stopped on the way out."""
    running: list[ServiceProcess] = []
    try:
        for p in procs.values():
            p.start()
            running.append(p)
        yield dict(procs)
    finally:
        for p in running:
            p.terminate()


# --- sending and reading ---------------------------------------------------------------


def send_claims(kafka: LocalKafka, *claims: dict[str, Any]) -> None:
    """Each claim as JSON on claims.submitted, keyed by its id."""
    records = []
    for c in claims:
        value, ctype = encode_claim_json(c)
        records.append((c["claimId"].encode(), value, [(CONTENT_TYPE, ctype)]))
    produce(kafka.bootstrap, CLAIMS_SUBMITTED.name, records)


def results(kafka: LocalKafka, *claim_ids: str, timeout_s: float = 120) -> dict[str, ScrubResult]:
    """The result on claims.scrubbed of each claim id, each found within the timeout."""
    wanted = set(claim_ids)
    got: dict[str, ScrubResult] = {}
    tail = Tail(
        kafka.bootstrap, None, [CLAIMS_SCRUBBED.name], client_id="test", from_beginning=True
    )
    try:
        deadline = time.monotonic() + timeout_s
        while wanted - got.keys() and time.monotonic() < deadline:
            for r in tail.records():
                key = r.key.decode()
                if key in wanted:
                    got[key] = decode_scrub_result(r.value)
    finally:
        tail.close()
    assert set(got) == wanted, f"no result for {wanted - set(got)}"
    return got


def scrape(port: int) -> dict[str, float]:
    """The samples a /metrics endpoint serves, by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def wait_until(pred: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Whether ``pred`` held before the timeout (bounded waiting, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
    return True


def cli_scrub(
    examples_dir: Path, claims: Iterable[Any], tmp: Path, *extra: str
) -> list[dict[str, Any]]:
    """`claimscrub scrub FILE --format json` on ``claims``: with ``extra``
    arguments, or else with the example payers and enrollment as of today."""
    path = tmp / f"claims-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(list(claims)))
    args: Sequence[str] = list(extra) or [
        "--payers",
        str(examples_dir / "payers.json"),
        "--enrollment",
        str(examples_dir / "enrollment.json"),
        "--as-of",
        dt.date.today().isoformat(),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "scrub", str(path), "--format=json", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]

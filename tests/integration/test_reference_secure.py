"""Reference data on the secured broker, end to end (issue 16 with issue 9's ACLs).

`claimscrub reference load` runs as the operator would run it: the
``reference-loader`` principal, SASL_SSL with its SCRAM password (payers) or
SSL with its certificate (an MUE table), production mode. The units service
runs as its own principal (SASL_SSL, gRPC mTLS) and follows both topics:

- each published version reaches the running process without a restart: its
  /metrics shows the version in force, and a claim asked through its Check
  (as the aggregator, the caller the gRPC policy names) is judged under it;
- a principal the ACL table does not let write the topics is refused, and
  the CLI says so in one line on stderr, exit status not 0, no traceback;
  nothing of the refused load reaches the service or the topic;
- the service follows the topics with no error in its log.

What the test publishes is withdrawn at the end (the session's secured broker
is shared with test_security.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from claimscrub.runtime import grpc_client
from claimscrub.runtime.grpc_tls import ClientTls
from claimscrub.runtime.secrets import Secret
from claimscrub.runtime.testing import REPO_ROOT, LocalKafka, ServiceProcess, free_port
from claimscrub.v1 import units_service_pb2_grpc
from tests.integration.helpers import edit_codes, gp_claim_proto

pytestmark = pytest.mark.kafka

MUE_HEADER = (
    "HCPCS/CPT Code,Practitioner Services MUE Values,MUE Adjudication Indicator,MUE Rationale\n"
)
#: How long a published version may take to reach the service (polled, not asserted).
WAIT_S = 60.0


@pytest.fixture(scope="module")
def units(
    secure_kafka: LocalKafka,
    secure_service_env: Callable[[str], dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        "units",
        "claimscrub.units.main",
        free_port(),
        free_port(),
        secure_kafka,
        tmp_path_factory.mktemp("reference-secure"),
        secure_service_env("units"),
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.terminate()


def _cli(
    kafka: LocalKafka, principal: str, via: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """`claimscrub ARGS` as ``principal`` (production mode, nothing else inherited)."""
    env = {"PATH": "/usr/bin:/bin", "CLAIMSCRUB_MODE": "production"}
    env.update(kafka.client_env(principal, via))
    return subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=180, cwd=REPO_ROOT,
    )  # fmt: skip


def _load(
    kafka: LocalKafka, principal: str, via: str, kind: str, path: Path, effective: str
) -> subprocess.CompletedProcess[str]:
    return _cli(
        kafka, principal, via, "reference", "load", kind, str(path), "--effective", effective
    )


def _published(done: subprocess.CompletedProcess[str], kind: str) -> str:
    """The one version id a successful load names on stderr."""
    assert done.returncode == 0, done.stderr
    line = done.stderr.strip()
    assert line.startswith(f"published {kind} "), line
    return line.split()[2]


def _check(units: ServiceProcess, certs: Path, claim: Any) -> Any:
    tls = ClientTls(
        (certs / "ca.pem").read_bytes(),
        (certs / "aggregator.pem").read_bytes(),
        Secret((certs / "aggregator-key.pem").read_bytes()),
        None,
    )
    with grpc_client.channel(f"127.0.0.1:{units.grpc_port}", tls=tls) as channel:
        return units_service_pb2_grpc.UnitsServiceStub(channel).Check(claim, timeout=10)


def _in_force(units: ServiceProcess) -> set[tuple[str, str]]:
    """(kind, version) of every version units' /metrics reports in force."""
    url = f"http://127.0.0.1:{units.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    out = set()
    for line in text.splitlines():
        if line.startswith("claimscrub_reference_version_effective_seconds{"):
            kind = line.split('kind="', 1)[1].split('"', 1)[0]
            version = line.split('version="', 1)[1].split('"', 1)[0]
            out.add((kind, version))
    return out


def _until_in_force(units: ServiceProcess, wanted: tuple[str, str]) -> set[tuple[str, str]]:
    deadline = time.monotonic() + WAIT_S
    while True:
        shown = _in_force(units)
        if wanted in shown or time.monotonic() > deadline:
            return shown
        time.sleep(0.2)


def _refusal(done: subprocess.CompletedProcess[str]) -> str:
    """The refused load's stderr, checked to be one line and no traceback."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    return done.stderr.strip()


def test_the_reference_loader_publishes_live_and_other_principals_are_refused(
    secure_kafka: LocalKafka, certs: Path, units: ServiceProcess, tmp_path: Path
) -> None:
    k = secure_kafka
    payer = f"SECREF-{uuid.uuid4().hex[:8].upper()}"
    published: list[tuple[str, str]] = []
    # 20 timed minutes over two codes: 1 unit by total time (one line over),
    # 1 unit each by each code's own minutes (PER_CODE, contract §2 unitRule).
    two_codes = gp_claim_proto(
        "SECREF-1", payer, [("2026-03-10", "97110", 1, 10), ("2026-03-10", "97140", 1, 10)]
    )
    # 3 units of 97110 on one line; the MUE table below allows 2.
    three_units = gp_claim_proto("SECREF-2", payer, [("2026-03-10", "97110", 3, 45)])
    try:
        before = _check(units, certs, two_codes)
        assert "UNITS_EXCEED_TIME" in {c for _, c in edit_codes(before)}
        three_codes = {c for _, c in edit_codes(_check(units, certs, three_units))}
        assert "MUE_EXCEEDED" not in three_codes

        # A payer policy by SCRAM (SASL_SSL), as `make demo` loads one.
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps([{"payerId": payer, "unitRule": "PER_CODE"}]))
        loaded = _load(k, "reference-loader", "sasl", "payers", policy, "2026-01-01")
        payer_version = _published(loaded, "payers")
        published.append(("payers", payer_version))
        assert payer_version.startswith(f"{payer}@2026-01-01.")
        assert ("payers", payer_version) in _until_in_force(units, ("payers", payer_version))
        after = _check(units, certs, two_codes)
        assert after.reference_versions["payers"] == payer_version
        assert "UNITS_EXCEED_TIME" not in {c for _, c in edit_codes(after)}

        # An MUE table by the loader's certificate (SSL, the mTLS listener).
        mue = tmp_path / "mue.csv"
        mue.write_text("Test MUE file\n" + MUE_HEADER + "97110,2,1 Line Edit,Clinical: Data\n")
        loaded = _load(k, "reference-loader", "ssl", "mue", mue, "2026-01-01")
        mue_version = _published(loaded, "mue")
        published.append(("mue", mue_version))
        assert ("mue", mue_version) in _until_in_force(units, ("mue", mue_version))
        judged = _check(units, certs, three_units)
        assert judged.reference_versions["mue"] == mue_version
        assert (1, "MUE_EXCEEDED") in edit_codes(judged)

        # Others may not write the topics: units (which may read both, so the
        # payer merge reads and only the publishing is refused), analytics.
        other_policy = tmp_path / "other.json"
        other_policy.write_text(json.dumps([{"payerId": payer, "unitRule": "TOTAL_TIME"}]))
        other_mue = tmp_path / "other-mue.csv"
        other_mue.write_text(MUE_HEADER + "97110,1,1 Line Edit,Clinical: Data\n")
        units_payers = _load(k, "units", "sasl", "payers", other_policy, "2026-02-01")
        analytics_mue = _load(k, "analytics", "ssl", "mue", other_mue, "2026-02-01")
        refusals = {
            "units -> reference.payers": _refusal(units_payers),
            "analytics -> reference.tables": _refusal(analytics_mue),
        }
        assert refusals == {
            "units -> reference.payers": "claimscrub: publishing to reference.payers failed: "
            "TOPIC_AUTHORIZATION_FAILED",
            "analytics -> reference.tables": "claimscrub: publishing to reference.tables failed: "
            "TOPIC_AUTHORIZATION_FAILED",
        }

        # Nothing of the refused loads is published: the loader's list and the
        # running service still show exactly the versions loaded above.
        listed = _cli(k, "reference-loader", "sasl", "reference", "list")
        assert listed.returncode == 0, listed.stderr
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        ours = {
            (r["kind"], r["version"])
            for r in rows
            if r["kind"] == "mue" or r["version"].startswith(f"{payer}@")
        }
        assert ours == set(published)
        shown = _in_force(units)
        assert {v for v in shown if v[0] == "mue"} == {("mue", mue_version)}
        assert {v for v in shown if v[1].startswith(f"{payer}@")} == {("payers", payer_version)}
        # It read both topics as units without a complaint (its reader joins no group).
        assert "reference_consume_error" not in units.log_path.read_text(errors="replace")
    finally:
        for kind, version in published:
            done = _cli(k, "reference-loader", "sasl", "reference", "withdraw", kind, version)
            assert done.returncode == 0, done.stderr

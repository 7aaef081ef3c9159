"""Reference data versions published on the real broker, applied live (issue 16 items 2, 3).

The units service runs as its own process here (not the shared pipeline), and
the test asks it through its gRPC Check, the same Check its stream agent runs:

- a claim judged under a payer's base policy, then a new policy published, and
  the next call to the same process judged under it;
- two MUE versions with different effective dates, a claim with a line on the
  last day of the first and one on the first day of the second;
- a refused bad file that leaves the versions in force;
- a restart that restores the versions from the topics.

Whatever is published is withdrawn at the end, so other tests on the session's
broker see the base data again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from claimscrub.core.payers import ReferenceDataError
from claimscrub.reference import loader
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, free_port
from claimscrub.v1 import units_service_pb2_grpc
from tests.integration.helpers import edit_codes, gp_claim_proto

REPO = Path(__file__).resolve().parents[2]
HEADER = (
    "HCPCS/CPT Code,Practitioner Services MUE Values,MUE Adjudication Indicator,MUE Rationale\n"
)
#: How long a published version may take to reach the service (polled, not asserted).
WAIT_S = 60.0


def _mue_file(path: Path, value_97110: int) -> Path:
    path.write_text(
        "Test MUE file\n" + HEADER + f"97110,{value_97110},1 Line Edit,Clinical: Data\n"
        "97140,4,1 Line Edit,Clinical: Data\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def units(kafka: LocalKafka, tmp_path: Path) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        "units-reference", "claimscrub.units.main", free_port(), free_port(), kafka, tmp_path
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.terminate()


def _check(proc: ServiceProcess, claim: Any) -> Any:
    with grpc.insecure_channel(f"127.0.0.1:{proc.grpc_port}") as channel:
        return units_service_pb2_grpc.UnitsServiceStub(channel).Check(claim, timeout=10)


def _until(proc: ServiceProcess, claim: Any, done: Callable[[Any], bool]) -> Any:
    """The service's answer once ``done`` holds for it (a version arrives
    asynchronously); fails with the last answer after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        reply = _check(proc, claim)
        if done(reply) or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def test_versions_published_apply_live_by_date_and_survive_restart(
    kafka: LocalKafka, units: ServiceProcess, tmp_path: Path
) -> None:
    bootstrap = kafka.bootstrap
    payer = f"REFTEST-{uuid.uuid4().hex[:8].upper()}"
    published_mue: list[str] = []
    payer_version = ""
    try:
        # 20 timed minutes over two codes: 1 unit by total time, 2 by each code's own.
        two_codes = gp_claim_proto(
            "REF-1", payer, [("2026-03-10", "97110", 1, 10), ("2026-03-10", "97140", 1, 10)]
        )
        before = _check(units, two_codes)
        assert (1, "UNITS_EXCEED_TIME") in edit_codes(before) or (
            2,
            "UNITS_EXCEED_TIME",
        ) in edit_codes(before)
        assert before.reference_versions["payers"].startswith("defaults.")

        policy = tmp_path / "policy.json"
        policy.write_text(f'[{{"payerId": "{payer}", "unitRule": "PER_CODE"}}]')
        done = loader.load("payers", [policy], bootstrap, effective=dt.date(2026, 1, 1))
        (payer_version,) = done.versions
        assert payer_version.startswith(f"{payer}@2026-01-01.")
        after = _until(units, two_codes, lambda r: r.reference_versions["payers"] == payer_version)
        assert after.reference_versions["payers"] == payer_version
        assert not [c for _, c in edit_codes(after) if c == "UNITS_EXCEED_TIME"]

        # Two MUE versions: 97110 at 4 units a line until 31 March, 2 from 1 April.
        q1 = loader.load(
            "mue", [_mue_file(tmp_path / "q1.csv", 4)], bootstrap, effective=dt.date(2026, 1, 1)
        )
        q2 = loader.load(
            "mue", [_mue_file(tmp_path / "q2.csv", 2)], bootstrap, effective=dt.date(2026, 4, 1)
        )
        published_mue = [*q1.versions, *q2.versions]
        boundary = gp_claim_proto(
            "REF-2", payer, [("2026-03-31", "97110", 3, 45), ("2026-04-01", "97110", 3, 45)]
        )
        both = ",".join(published_mue)
        spanning = _until(units, boundary, lambda r: r.reference_versions["mue"] == both)
        assert spanning.reference_versions["mue"] == both
        mue_lines = [n for n, c in edit_codes(spanning) if c == "MUE_EXCEEDED"]
        assert mue_lines == [2]  # 3 units: within 4 on 31 March, over 2 on 1 April

        # A bad file is refused whole, with one line naming the row and field.
        bad = tmp_path / "bad.csv"
        bad.write_text(HEADER + "97110,2,1 Line Edit,x\n97140,3,7 Nonsense,x\n")
        with pytest.raises(ReferenceDataError, match=r"bad.csv line 3: MUE Adjudication"):
            loader.load("mue", [bad], bootstrap, effective=dt.date(2026, 5, 1))
        cli = subprocess.run(
            [sys.executable, "-m", "claimscrub.cli.main", "reference", "load", "mue", str(bad),
             "--effective", "2026-05-01"],
            capture_output=True, text=True, cwd=REPO,
            env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}, check=False,
        )  # fmt: skip
        assert cli.returncode == 2
        assert cli.stderr.strip().count("\n") == 0 and "line 3" in cli.stderr
        assert _check(units, boundary).reference_versions["mue"] == both

        listed = subprocess.run(
            [sys.executable, "-m", "claimscrub.cli.main", "reference", "list"],
            capture_output=True, text=True, cwd=REPO,
            env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}, check=True,
        )  # fmt: skip
        for vid in (*published_mue, payer_version):
            assert f'"{vid}"' in listed.stdout

        # A restarted process reads the versions back before it serves.
        units.terminate()
        units.start()
        restored = _check(units, boundary)
        assert restored.reference_versions["mue"] == both
        assert restored.reference_versions["payers"] == payer_version
        assert [n for n, c in edit_codes(restored) if c == "MUE_EXCEEDED"] == [2]

        # Rolling back: withdrawing the April version puts 1 April under January's.
        loader.withdraw("mue", published_mue[1], bootstrap)
        rolled = _until(units, boundary, lambda r: r.reference_versions["mue"] == published_mue[0])
        assert rolled.reference_versions["mue"] == published_mue[0]
        assert not [n for n, c in edit_codes(rolled) if c == "MUE_EXCEEDED"]
    finally:
        for vid in published_mue:
            with contextlib.suppress(ReferenceDataError):  # withdrawn by the test itself
                loader.withdraw("mue", vid, bootstrap)
        if payer_version:
            loader.withdraw("payers", payer_version, bootstrap)

"""`claimscrub scrub --enrollment` and `claimscrub enrollment load` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from claimscrub.runtime.testing import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _scrub_json(*extra: str) -> subprocess.CompletedProcess[str]:
    return _run(
        "scrub", str(EXAMPLES / "claims.json"), "--format", "json", "--as-of", "2026-06-01", *extra
    )


def test_scrub_with_the_example_enrollment_runs_the_enrollment_check() -> None:
    done = _scrub_json("--enrollment", str(EXAMPLES / "enrollment.json"))
    assert done.returncode == 0, done.stderr
    results = {r["claimId"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert results["EX-001"]["status"] == "CLEAN"
    assert results["EX-001"]["checks"] == ["UNITS", "NECESSITY", "ENROLLMENT"]
    edit = results["EX-019"]["edits"][0]
    assert (edit["code"], edit["check"], edit["carc"]) == (
        "PROVIDER_EXCLUDED",
        "ENROLLMENT",
        "CO-B7",
    )


def test_without_enrollment_data_no_provider_is_enrolled_and_stderr_says_so() -> None:
    done = _scrub_json()
    assert done.returncode == 0
    assert "no --enrollment FILE" in done.stderr
    first = json.loads(done.stdout.splitlines()[0])
    assert first["status"] == "HOLD"
    assert {e["code"] for e in first["edits"]} == {"PROVIDER_NOT_ENROLLED"}


def test_a_bad_enrollment_file_exits_2_naming_the_record(tmp_path: Path) -> None:
    bad = tmp_path / "providers.json"
    bad.write_text(json.dumps([{"npi": "1234567893", "payerId": "MEDICARE", "status": "SOON"}]))
    done = _scrub_json("--enrollment", str(bad))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "claimscrub: providers.json record 1: status must be ACTIVE, PENDING, TERMINATED or REVOKED"
    )
    assert _scrub_json("--enrollment", str(tmp_path / "missing.json")).returncode == 2


def test_enrollment_load_validates_before_touching_the_broker(tmp_path: Path) -> None:
    bad = tmp_path / "providers.jsonl"
    bad.write_text('{"npi": "1234567890", "payerId": "MEDICARE", "status": "PENDING"}\n')
    # No broker listens on port 1: the file must be refused before any connection.
    done = subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", "enrollment", "load", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert "record 1: npi fails the check digit" in done.stderr
    assert _run("enrollment").returncode == 2

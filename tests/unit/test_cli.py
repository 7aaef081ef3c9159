"""The `claimscrub` command as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from claimscrub.runtime.testing import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def test_json_output_is_one_result_per_claim_in_input_order() -> None:
    done = _run(
        "scrub",
        str(EXAMPLES / "claims.json"),
        "--format",
        "json",
        "--payers",
        str(EXAMPLES / "payers.json"),
        "--as-of",
        "2026-06-01",
    )
    assert done.returncode == 0, done.stderr
    claims = json.loads((EXAMPLES / "claims.json").read_text())
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["claimId"] for r in results] == [c.get("claimId") for c in claims]
    for r in results:
        malformed = any(e["code"] == "MALFORMED_CLAIM" for e in r["edits"])
        # contract §3: every table that judged a claim; a malformed one was judged by none
        versioned = set() if malformed else {"referenceVersions"}
        assert set(r) == {"claimId", "status", "checks", "edits"} | versioned
        if not malformed:
            # no fee schedule loaded: every other kind judged the claim
            assert set(r["referenceVersions"]) == {
                "payers",
                "mue",
                "ptp",
                "coverage",
                "code-status",
            }
        expected = (
            "HOLD"
            if any(e["severity"] == "ERROR" for e in r["edits"])
            else "REVIEW"
            if r["edits"]
            else "CLEAN"
        )
        assert r["status"] == expected


def test_table_output_has_a_summary_line() -> None:
    done = _run("scrub", str(EXAMPLES / "claims.json"), "--as-of", "2026-06-01")
    assert done.returncode == 0
    assert done.stdout.splitlines()[0].split()[:3] == ["CLAIM", "STATUS", "LINE"]
    assert "claims:" in done.stdout.splitlines()[-1]


def test_stdin_jsonl_with_a_bad_line_still_answers_every_claim() -> None:
    good = {
        "claimId": "S-1",
        "payerId": "MEDICARE",
        "serviceLines": [
            {
                "lineNumber": 1,
                "dateOfService": "2026-05-04",
                "procedureCode": "97110",
                "units": 1,
                "minutes": 15,
            }
        ],
    }
    text = json.dumps(good) + "\n{broken\n" + json.dumps(good | {"claimId": "S-2"}) + "\n"
    done = _run("scrub", "-", "--format", "json", "--as-of", "2026-06-01", stdin=text)
    assert done.returncode == 0
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["claimId"] for r in results] == ["S-1", "#2", "S-2"]
    assert results[1]["status"] == "HOLD"
    assert results[1]["edits"][0]["code"] == "MALFORMED_CLAIM"


def test_unreadable_input_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = _run("scrub", str(tmp_path / "nope.json"))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "no such file" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    bad = _run("scrub", str(broken))
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr


def test_bad_reference_file_exits_2(tmp_path: Path) -> None:
    payers = tmp_path / "payers.json"
    payers.write_text('[{"payerId": "X", "unitRule": "SOMETIMES"}]')
    done = _run("scrub", str(EXAMPLES / "claims.json"), "--payers", str(payers))
    assert done.returncode == 2 and "unitRule" in done.stderr


def test_usage_error_exits_2() -> None:
    assert _run("scrub", str(EXAMPLES / "claims.json"), "--as-of", "yesterday").returncode == 2
    assert _run().returncode == 2


def test_results_carry_no_patient_phi() -> None:
    claims = json.loads((EXAMPLES / "claims.json").read_text())
    done = _run("scrub", str(EXAMPLES / "claims.json"), "--format", "json")
    for c in claims:
        patient = c.get("patient") or {}
        for key in ("firstName", "lastName", "memberId", "birthDate", "phone", "ssn"):
            if patient.get(key):
                assert patient[key] not in done.stdout, key

"""`claimscrub redact` as a user runs it (contract §5): a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from claimscrub.runtime.testing import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"


def _run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMSCRUB_")}
    return subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        env={**environment, **env},
    )


def test_redact_prints_one_deidentified_claim_per_line_in_order() -> None:
    done = _run("redact", str(EXAMPLES / "claims.json"))
    assert done.returncode == 0, done.stderr
    claims = json.loads((EXAMPLES / "claims.json").read_text())
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == len(claims)
    for claim, record in zip(claims, records, strict=True):
        assert record["claimToken"].startswith("clm_")
        assert [ln.get("procedureCode") for ln in record["serviceLines"]] == [
            ln.get("procedureCode") for ln in claim["serviceLines"]
        ]
        patient = claim["patient"]
        for value in (patient["firstName"], patient["lastName"], patient["memberId"]):
            assert value not in done.stdout
    assert "development key" in done.stderr


def test_same_key_same_tokens_other_key_other_tokens(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("k" * 40)
    a = _run("redact", str(EXAMPLES / "claims.json"), CLAIMSCRUB_HMAC_KEY_FILE=str(key))
    b = _run("redact", str(EXAMPLES / "claims.json"), CLAIMSCRUB_HMAC_KEY="k" * 40)
    c = _run("redact", str(EXAMPLES / "claims.json"))
    assert a.stdout == b.stdout != c.stdout
    assert "development key" not in a.stderr


def test_redact_text_reads_stdin() -> None:
    note = "Ada Lovelace (DOB 03/02/1950) called 516-555-0143; 97530 x2, 30 min, M62.81.\n"
    done = _run("redact", "--text", stdin=note)
    assert done.returncode == 0
    assert done.stdout == "[NAME] (DOB [DATE]) called [PHONE]; 97530 x2, 30 min, M62.81.\n"


def test_redact_text_with_a_claim_removes_its_own_values(tmp_path: Path) -> None:
    claim = json.loads((EXAMPLES / "claims.json").read_text())[0]
    path = tmp_path / "claim.json"
    path.write_text(json.dumps(claim))
    done = _run("redact", "--text", "--claim", str(path), stdin="sampletown, ada; example")
    assert done.stdout == "[CITY], [NAME]; [NAME]"


def test_usage_errors_exit_2_with_one_line() -> None:
    for args in (["redact"], ["redact", "x.json", "--text"], ["redact", "--claim", "c.json", "-"]):
        done = _run(*args)
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1


def test_production_mode_without_a_key_exits_2() -> None:
    done = _run("redact", str(EXAMPLES / "claims.json"), CLAIMSCRUB_MODE="production")
    assert done.returncode == 2
    assert "refusing to start without a key" in done.stderr and not done.stdout

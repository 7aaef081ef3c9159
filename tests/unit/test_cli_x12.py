"""`claimscrub scrub|submit` with an 837P interchange: a real subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from claimscrub.runtime.testing import REPO_ROOT
from claimscrub.x12.compose import interchange
from claimscrub.x12.intake import intake

EXAMPLES = REPO_ROOT / "examples"
BY_ID = {c["claimId"]: c for c in json.loads((EXAMPLES / "claims.json").read_text())}
REFERENCE = [
    "--enrollment",
    str(EXAMPLES / "enrollment.json"),
    "--payers",
    str(EXAMPLES / "payers.json"),
    "--as-of",
    "2026-06-01",
]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claimscrub.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _write(tmp_path: Path, ids: tuple[str, ...], name: str = "claims.dat") -> Path:
    path = tmp_path / name
    path.write_text(interchange([BY_ID[i] for i in ids], claims_per_set=2))
    return path


def test_an_837p_is_recognised_by_its_header_and_acknowledged(tmp_path: Path) -> None:
    # EX-001 clean; EX-002 units over time; EX-006 and EX-029 are held as JSON
    # (no minutes; no plan of care) but an 837P cannot carry those inputs.
    source = _write(tmp_path, ("EX-001", "EX-002", "EX-006", "EX-029"))
    ack = tmp_path / "out.999"
    done = _run("scrub", str(source), "--format", "json", "--ack", str(ack), *REFERENCE)
    assert done.returncode == 0, done.stderr
    results = {r["claimId"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert list(results) == ["EX-001", "EX-002", "EX-006", "EX-029"]
    assert results["EX-001"]["status"] == "CLEAN"
    assert results["EX-002"]["status"] == "HOLD"
    codes_006 = {e["code"] for e in results["EX-006"]["edits"]}
    assert "TIMED_MINUTES_MISSING" not in codes_006
    assert "TIMED_MINUTES" in results["EX-006"]["notChecked"]
    assert "PLAN_OF_CARE_MISSING" not in {e["code"] for e in results["EX-029"]["edits"]}
    assert results["EX-029"]["status"] == "CLEAN"
    assert "PLAN_OF_CARE_CERTIFICATION" in results["EX-029"]["notChecked"]
    text = ack.read_text()
    assert text.startswith("ISA*") and "ST*999*" in text
    assert [s for s in text.replace("\n", "").split("~") if s.startswith("IK5")] == [
        "IK5*A",
        "IK5*A",
    ]


def test_json_claims_have_no_not_checked(tmp_path: Path) -> None:
    done = _run("scrub", str(EXAMPLES / "claims.json"), "--format", "json", *REFERENCE)
    assert done.returncode == 0
    assert all("notChecked" not in json.loads(line) for line in done.stdout.splitlines())


def test_ready_out_837p_holds_only_the_clean_claims_and_validates(tmp_path: Path) -> None:
    source = _write(tmp_path, ("EX-001", "EX-002", "EX-029", "EX-031"))
    ready = tmp_path / "ready.837"
    done = _run("scrub", str(source), "--format", "json", "--ready-out", str(ready), *REFERENCE)
    assert done.returncode == 0, done.stderr
    clean = [
        r["claimId"] for r in map(json.loads, done.stdout.splitlines()) if r["status"] == "CLEAN"
    ]
    assert clean == ["EX-001", "EX-029", "EX-031"]
    claims, ack = intake(ready.read_bytes())
    assert [c.claim_id for c in claims] == clean
    assert "IK5*R" not in ack
    original, _ = intake(source.read_bytes())
    by_id = {c.claim_id: c.claim for c in original}
    assert all(c.claim == by_id[c.claim_id] for c in claims)
    isa_in = source.read_text().split("~")[0].split("*")[13]
    isa_out = ready.read_text().split("~")[0].split("*")[13]
    assert isa_in != isa_out


def test_ready_out_json_writes_the_clean_input_claims(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    done = _run("scrub", str(EXAMPLES / "claims.json"), "--ready-out", str(ready), *REFERENCE)
    assert done.returncode == 0, done.stderr
    written = json.loads(ready.read_text())
    assert [c["claimId"] for c in written] == ["EX-001"]
    assert written[0] == BY_ID["EX-001"]


def test_ready_out_jsonl_stays_json_lines(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(BY_ID[i]) + "\n" for i in ("EX-002", "EX-001")))
    ready = tmp_path / "ready.jsonl"
    done = _run("scrub", str(source), "--ready-out", str(ready), *REFERENCE)
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["claimId"] for x in ready.read_text().splitlines()] == ["EX-001"]


def test_a_rejected_set_still_gets_a_999_and_the_others_are_scrubbed(tmp_path: Path) -> None:
    source = _write(tmp_path, ("EX-001", "EX-002", "EX-029", "EX-031"))
    text = re.sub(r"SE\*(\d+)\*0001", lambda m: f"SE*{int(m[1]) + 1}*0001", source.read_text())
    source.write_text(text)
    ack = tmp_path / "out.999"
    done = _run("scrub", str(source), "--format", "json", "--ack", str(ack), *REFERENCE)
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["claimId"] for x in done.stdout.splitlines()] == ["EX-029", "EX-031"]
    assert "IK5*R*4" in ack.read_text()


def test_unreadable_interchange_exits_2_with_one_line(tmp_path: Path) -> None:
    source = _write(tmp_path, ("EX-001",))
    text = source.read_text()
    isa = text.split("~")[0]
    source.write_text(isa.replace("*", "|").replace("ISA|", "ISA*", 1) + text[len(isa) :])
    done = _run("scrub", str(source), *REFERENCE)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()[-1:]
    assert "segment 1 (ISA)" in line


def test_ack_on_json_input_is_a_usage_error(tmp_path: Path) -> None:
    done = _run("scrub", str(EXAMPLES / "claims.json"), "--ack", str(tmp_path / "x.999"))
    assert done.returncode == 2
    assert "not an 837P" in done.stderr


def test_no_patient_values_in_results_acks_or_stderr(tmp_path: Path) -> None:
    claim = dict(BY_ID["EX-002"], claimId="PHI-1", note="Transfers with Zebediahq today")
    claim["patient"] = {
        "memberId": "9ZZ9ZZ9ZZ99",
        "firstName": "Xanthippeq",
        "lastName": "Zebediahq",
        "birthDate": "1931-11-13",
        "sex": "F",
        "address": {"line1": "77 Quixote Lane", "city": "Qvill", "state": "NY", "zip": "11550"},
    }
    bad = dict(claim, claimId="PHI-2")
    bad["patient"] = dict(claim["patient"], address=dict(claim["patient"]["address"], city="Q"))
    source = tmp_path / "phi.x12"
    source.write_text(interchange([claim, bad], claims_per_set=1))
    ack = tmp_path / "out.999"
    outputs = []
    for fmt in ("json", "table"):
        done = _run("scrub", str(source), "--format", fmt, "--ack", str(ack), *REFERENCE)
        assert done.returncode == 0, done.stderr
        outputs += [done.stdout, done.stderr, ack.read_text()]
    assert "IK5*R" in ack.read_text()  # PHI-2's set is rejected: pyx12 saw the bad city
    blob = "\n".join(outputs).upper()
    for value in ("ZEBEDIAHQ", "XANTHIPPEQ", "9ZZ9ZZ9ZZ99", "19311113", "1931-11-13", "QUIXOTE"):
        assert value not in blob
    assert "*Q~" not in blob

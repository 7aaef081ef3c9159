"""`claimscrub scrub` with the necessity options, as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from claimscrub.runtime.testing import REPO_ROOT
from tests.unit.necessity_support import base_claim, line, therapy

TSV = (
    "Column 1\tColumn 2\t*=in existence prior to 1996\tEffective Date\tDeletion Date\t"
    "Modifier\tPTP Edit Rationale\n"
    "97110\t97112\t\t20200101\t*\t0\tTest pair\n"
)


def _scrub(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    env_free = {"PATH": "/usr/bin:/bin"}  # no CLAIMSCRUB_* from the caller's shell
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "claimscrub.cli.main",
            "scrub",
            "-",
            "--format",
            "json",
            # The claims' providers are enrolled there, so only NECESSITY speaks.
            "--enrollment",
            str(REPO_ROOT / "examples" / "enrollment.json"),
            *args,
        ],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        env=env_free,
    )


def _lines(claims: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(c) + "\n" for c in claims)


def test_ptp_option_takes_the_cms_text_layout(tmp_path: Path) -> None:
    ptp = tmp_path / "ccipra-test.txt"
    ptp.write_text(TSV)
    claim = base_claim(serviceLines=[line(1, "97110", "GP", "59"), line(2, "97112", "GP", "59")])
    done = _scrub("--ptp", str(ptp), "--as-of", "2026-06-01", stdin=_lines([claim]))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [(e["code"], e["lineNumber"], e["check"]) for e in result["edits"]] == [
        ("PTP_CONFLICT", 2, "NECESSITY")
    ]
    assert result["checks"] == ["UNITS", "NECESSITY", "ENROLLMENT"]


def test_a_bad_ptp_file_is_a_usage_error(tmp_path: Path) -> None:
    ptp = tmp_path / "bad.txt"
    ptp.write_text("nothing here\n")
    done = _scrub("--ptp", str(ptp), stdin=_lines([base_claim()]))
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "claimscrub: bad.txt: no PTP edit rows (column 1, column 2, dates, indicator)"
    )


def test_claims_of_one_beneficiary_accumulate_in_input_order() -> None:
    def kx_claim(claim_id: str, charge: str, dos: str) -> dict[str, Any]:
        return base_claim(
            claimId=claim_id,
            therapy=therapy(amountUsedYtd="2300.00"),
            serviceLines=[
                line(1, "97110", "GP", units=2, minutes=30, chargeAmount=charge, dateOfService=dos)
            ],
        )

    # 2,300 + 150 = 2,450; then 2,550 > 2,480 (2026 KX threshold). B is the next
    # visit: the same services on the same day would be a DUPLICATE_CLAIM of A.
    done = _scrub(
        "--as-of",
        "2026-06-01",
        stdin=_lines(
            [kx_claim("A", "150.00", "2026-05-04"), kx_claim("B", "100.00", "2026-05-05")]
        ),
    )
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(x) for x in done.stdout.splitlines())
    assert first["status"] == "CLEAN"
    assert [e["code"] for e in second["edits"]] == ["KX_MODIFIER_REQUIRED"]


def test_code_status_option_replaces_the_bundled_statuses(tmp_path: Path) -> None:
    status = tmp_path / "status.csv"
    status.write_text("HCPCS,MOD,STATUS CODE\n97110,,B\n")
    done = _scrub(
        "--code-status", str(status), "--as-of", "2026-06-01", stdin=_lines([base_claim()])
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [(e["code"], e["lineNumber"]) for e in result["edits"]] == [("PROCEDURE_BUNDLED", 1)]
    assert "sample" not in result["edits"][0]["message"]


def test_a_bad_code_status_file_is_a_usage_error(tmp_path: Path) -> None:
    status = tmp_path / "bad.csv"
    status.write_text("nothing here\n")
    done = _scrub("--code-status", str(status), stdin=_lines([base_claim()]))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "claimscrub: bad.csv: no header row naming HCPCS and STATUS CODE"
    )

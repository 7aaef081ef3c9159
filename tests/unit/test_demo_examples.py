"""The examples `make demo` runs beyond claims.json (examples/README.md): the
payer policy version it loads and the claim that version judges, and the
837P interchange it sends through the intake service."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from claimscrub.cli.output import detail
from claimscrub.cli.x12_submit import expected
from claimscrub.core.edits import CheckName, Edit, Severity
from claimscrub.core.results import ScrubResult, Status
from claimscrub.runtime.testing import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
VERSION_FILE = EXAMPLES / "reference" / "acme-commercial-2026-07.json"


def _scrub(claims: Path, payers: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "claimscrub.cli.main",
            "scrub",
            str(claims),
            "--payers",
            str(payers),
            "--enrollment",
            str(EXAMPLES / "enrollment.json"),
            "--as-of",
            "2026-07-10",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_payer_claim_is_clean_under_the_base_policies() -> None:
    [result] = _scrub(EXAMPLES / "payer-policy-claim.json", EXAMPLES / "payers.json")
    assert result["status"] == "CLEAN"


def test_the_loaded_version_denies_97150_with_97530_from_july(tmp_path: Path) -> None:
    # As on the topics: ACME's published versions replace its base-file record.
    base = json.loads((EXAMPLES / "payers.json").read_text())
    others = [r for r in base if r["payerId"] != "ACME-COMMERCIAL"]
    payers = tmp_path / "payers.json"
    payers.write_text(json.dumps(others + json.loads(VERSION_FILE.read_text())))
    [result] = _scrub(EXAMPLES / "payer-policy-claim.json", payers)
    assert result["status"] == "HOLD"
    assert [(e["code"], e["lineNumber"], e["reference"], e["carc"]) for e in result["edits"]] == [
        ("PAYER_RULE", 2, "ACME-97530-97150", "CO-97")
    ]
    assert result["referenceVersions"]["payers"].startswith("ACME-COMMERCIAL@2026-07-01.")


def test_the_demo_interchange_has_four_claims_in_its_accepted_sets() -> None:
    # Its third set's SE count is one short: rejected, its two claims not sent.
    plan = expected((EXAMPLES / "therapy.837").read_bytes(), "therapy.837")
    assert plan.icn == "000837001"
    assert plan.keys == ["X12-DEMO-01", "X12-DEMO-02", "X12-DEMO-03", "X12-DEMO-04"]


def test_detail_names_each_edits_carc_and_rule() -> None:
    result = ScrubResult(
        claim_id="C-1",
        status=Status.HOLD,
        checks=(CheckName.NECESSITY,),
        edits=(
            Edit(
                code="PAYER_RULE",
                severity=Severity.ERROR,
                check=CheckName.NECESSITY,
                line_number=2,
                message="97150 with 97530 on the same date of service",
                carc="CO-97",
                reference="ACME-97530-97150",
            ),
        ),
        reference_versions={"payers": "ACME-COMMERCIAL@2026-07-01.0123456789"},
    )
    out = io.StringIO()
    detail([result], out)
    assert out.getvalue().splitlines() == [
        "C-1  HOLD",
        "  line 2   PAYER_RULE  ERROR  CO-97  rule ACME-97530-97150",
        "           97150 with 97530 on the same date of service",
        "  judged with: payers ACME-COMMERCIAL@2026-07-01.0123456789",
    ]

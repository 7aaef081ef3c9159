"""bench.inprocess_compare: what counts as the same verdict, and a run against this checkout."""

from __future__ import annotations

from typing import Any

from claimscrub.bench import inprocess_compare as compare

OLD: dict[str, Any] = {
    "claimId": "A",
    "status": "HOLD",
    "edits": [{"code": "PTP_CONFLICT", "severity": "ERROR", "lineNumber": 2, "message": "m"}],
}


def test_fields_the_baseline_does_not_write_are_ignored() -> None:
    new = {**OLD, "referenceVersions": {"payers": "base.1"}, "notChecked": ["KX_THRESHOLD"]}
    assert compare._subset(new, OLD)


def test_a_changed_status_message_or_missing_field_is_a_difference() -> None:
    assert not compare._subset({**OLD, "status": "REVIEW"}, OLD)
    edit = {**OLD["edits"][0], "message": "other"}
    assert not compare._subset({**OLD, "edits": [edit]}, OLD)
    assert not compare._subset({k: v for k, v in OLD.items() if k != "edits"}, OLD)
    assert not compare._subset({**OLD, "edits": []}, OLD)


def test_edit_codes_name_code_severity_and_line() -> None:
    assert compare._codes(OLD) == [("PTP_CONFLICT", "ERROR", 2)]


def test_this_checkout_runs_in_a_child_and_scrubs_the_sets(tmp_path: Any) -> None:
    spec = {"mode": "verdicts", "sets": {"x": compare._write(tmp_path / "c.json", [])}}
    answer = compare.run_child(None, spec)
    assert answer["sets"] == {"x": []}
    assert answer["package"].endswith("services")

"""The materialised table: events of the compacted topic applied in order."""

from __future__ import annotations

import json

from claimscrub.enrollment.records import encode_record, parse_record
from claimscrub.enrollment.table import EnrollmentTable, Outcome

PT = {"npi": "1234567893", "payerId": "MEDICARE", "status": "ACTIVE", "effectiveDate": "2019-01-01"}


def _value(**change: object) -> bytes:
    return encode_record(parse_record(PT | change))


def test_records_apply_and_later_ones_replace_earlier_ones() -> None:
    t = EnrollmentTable()
    assert t.apply_event(b"1234567893:MEDICARE", _value()).outcome is Outcome.APPLIED
    assert (
        t.apply_event(b"1234567893:MEDICARE", _value(status="REVOKED")).outcome is Outcome.APPLIED
    )
    record = t.get("1234567893", "medicare")
    assert record is not None and record.status == "REVOKED"
    assert len(t) == 1


def test_a_tombstone_deletes_the_record() -> None:
    t = EnrollmentTable()
    t.apply_event(b"1234567893:MEDICARE", _value())
    assert t.apply_event(b"1234567893:MEDICARE", None).outcome is Outcome.DELETED
    assert t.get("1234567893", "MEDICARE") is None
    assert t.other_payers("1234567893", "ACME") == 0


def test_an_unreadable_update_removes_the_record_instead_of_keeping_it() -> None:
    t = EnrollmentTable()
    t.apply_event(b"1234567893:MEDICARE", _value())
    result = t.apply_event(b"1234567893:MEDICARE", json.dumps(PT | {"status": "?"}).encode())
    assert result.outcome is Outcome.REJECTED
    assert "status must be" in result.reason
    assert t.get("1234567893", "MEDICARE") is None


def test_a_key_that_disagrees_with_the_record_is_rejected() -> None:
    t = EnrollmentTable()
    t.apply_event(b"1558598797:MEDICARE", _value(npi="1558598797"))
    result = t.apply_event(b"1558598797:MEDICARE", _value())
    assert result.outcome is Outcome.REJECTED
    assert t.get("1558598797", "MEDICARE") is None
    assert t.get("1234567893", "MEDICARE") is None


def test_keys_that_are_not_npi_payer_are_rejected() -> None:
    t = EnrollmentTable()
    for key in (None, b"", b"1234567893", b":MEDICARE", b"1234567893:"):
        assert t.apply_event(key, _value()).outcome is Outcome.REJECTED
    assert len(t) == 0


def test_other_payers_counts_the_npis_records_with_other_payers() -> None:
    t = EnrollmentTable([parse_record(PT | {"payerId": p}) for p in ("A", "B", "MEDICARE")])
    assert t.other_payers("1234567893", "medicare") == 2
    assert t.other_payers("1234567893", "C") == 3
    t.delete("1234567893:A")
    assert t.other_payers("1234567893", "C") == 2

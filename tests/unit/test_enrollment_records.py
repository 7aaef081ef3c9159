"""Enrollment records (contract §2): validation, files, bytes on the topic."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from claimscrub.enrollment.records import (
    EnrollmentRecord,
    EnrollmentStatus,
    RecordError,
    decode_record,
    encode_record,
    parse_record,
    read_records,
    record_key,
)
from claimscrub.runtime.testing import REPO_ROOT

ACTIVE: dict[str, Any] = {
    "npi": "1234567893",
    "payerId": "Medicare",
    "status": "ACTIVE",
    "effectiveDate": "2019-01-01",
    "terminationDate": "2027-01-31",
    "taxonomy": "225100000x",
    "licenseExpires": "2027-12-31",
    "excluded": False,
}


def test_a_contract_record_parses_with_normalised_keys() -> None:
    r = parse_record(ACTIVE)
    assert r == EnrollmentRecord(
        npi="1234567893",
        payer_id="MEDICARE",
        status=EnrollmentStatus.ACTIVE,
        effective_date=dt.date(2019, 1, 1),
        termination_date=dt.date(2027, 1, 31),
        taxonomy="225100000X",
        license_expires=dt.date(2027, 12, 31),
        excluded=False,
    )
    assert r.key == "1234567893:MEDICARE" == record_key(" 1234567893", "medicare ")


def test_pending_needs_no_dates() -> None:
    r = parse_record({"npi": "1558598797", "payerId": "X", "status": "pending"})
    assert r.status is EnrollmentStatus.PENDING and r.effective_date is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"npi": None}, "npi missing"),
        ({"npi": "1234567890"}, "npi fails the check digit"),
        ({"npi": 1234567893}, "npi must be a string"),
        ({"payerId": ""}, "payerId missing"),
        ({"status": "SUSPENDED"}, "status must be ACTIVE, PENDING, TERMINATED or REVOKED"),
        ({"status": None}, "status missing"),
        ({"effectiveDate": "2019-02-30"}, "effectiveDate must be a date YYYY-MM-DD"),
        ({"effectiveDate": None}, "effectiveDate missing (required for ACTIVE)"),
        ({"licenseExpires": "31/12/2027"}, "licenseExpires must be a date YYYY-MM-DD"),
        ({"excluded": "no"}, "excluded must be true or false"),
        ({"terminationDate": "2018-12-31"}, "terminationDate is before effectiveDate"),
        (
            {"status": "TERMINATED", "terminationDate": None},
            "terminationDate missing (required for TERMINATED)",
        ),
    ],
)
def test_invalid_records_name_the_field(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordError) as info:
        parse_record(ACTIVE | change)
    assert reason in str(info.value)


def test_a_bad_date_is_reported_once_and_never_echoed() -> None:
    with pytest.raises(RecordError) as info:
        parse_record(ACTIVE | {"effectiveDate": "2019-13-45"})
    assert str(info.value) == "effectiveDate must be a date YYYY-MM-DD"


def test_read_records_takes_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "providers.jsonl"
    second = ACTIVE | {"payerId": "ACME"}
    path.write_text(json.dumps(ACTIVE) + "\n\n" + json.dumps(second) + "\n")
    assert [r.key for r in read_records(path)] == ["1234567893:MEDICARE", "1234567893:ACME"]


def test_one_bad_record_fails_the_whole_file_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "providers.json"
    path.write_text(json.dumps([ACTIVE | {"payerId": "A"}, ACTIVE | {"status": "MAYBE"}]))
    with pytest.raises(RecordError, match=r"providers.json record 2: status must be"):
        read_records(path)


def test_a_provider_and_payer_listed_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "providers.json"
    path.write_text(json.dumps([ACTIVE, ACTIVE | {"payerId": "medicare"}]))
    with pytest.raises(RecordError, match="record 2: npi and payerId listed twice"):
        read_records(path)


def test_the_example_file_is_valid() -> None:
    records = read_records(REPO_ROOT / "examples" / "enrollment.json")
    assert {r.status for r in records} == set(EnrollmentStatus)


def test_protobuf_round_trip_and_json_values() -> None:
    r = parse_record(ACTIVE)
    assert decode_record(encode_record(r)) == r
    assert decode_record(json.dumps(ACTIVE).encode()) == r
    minimal = parse_record({"npi": "1558598797", "payerId": "X", "status": "REVOKED"})
    assert decode_record(encode_record(minimal)) == minimal


@pytest.mark.parametrize("value", [b"{not json", b"\xff\xfe garbage", b""])
def test_undecodable_values_raise_record_error(value: bytes) -> None:
    with pytest.raises(RecordError):
        decode_record(value)

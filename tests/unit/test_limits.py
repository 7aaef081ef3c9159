"""Input limits (contract §1): each at its boundary, on every path a claim takes.

The limits are documented defaults (docs/configuration.md): JSON nesting 32,
integers of 20 digits, strings of 65,536 bytes, claims of 262,144 bytes, 50
service lines (the 837P's loop 2400 repeats at most 50 times), dates from
1900-01-01 to the processing date plus one year.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import typing
from typing import Any

import pytest
from google.protobuf import json_format

from claimscrub.core.claim import Claim, claim_dates, dates_in_range, parse_claim
from claimscrub.core.claim_dict import claim_from_dict
from claimscrub.core.claim_message import claim_from_message
from claimscrub.core.codec import JSON, PROTOBUF, UndecodableEvent, decode_claim
from claimscrub.core.limits import InputLimitExceeded, Limits, LimitsError, load_json
from claimscrub.redaction.config import DateMode, RedactionConfig
from claimscrub.redaction.deidentify import Deidentifier
from claimscrub.runtime.settings import Settings, SettingsError
from claimscrub.v1 import claim_pb2
from tests.contract_example import contract_example

TODAY = dt.date(2026, 6, 1)
DEFAULTS = Limits()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _claim_json(data: Any) -> bytes:
    return json.dumps(data).encode()


def _three_paths(data: dict[str, Any], today: dt.date = TODAY) -> tuple[bool, bool, bool]:
    """(parse_claim ok, claim_from_dict built it, claim_from_message built it)."""
    msg = json_format.ParseDict(data, claim_pb2.Claim(), ignore_unknown_fields=True)
    return (
        parse_claim(data, today).ok,
        claim_from_dict(data, today) is not None,
        claim_from_message(msg, today) is not None,
    )


# --- JSON nesting ---------------------------------------------------------------------


def test_nesting_at_the_limit_is_read_one_more_is_refused() -> None:
    limits = Limits(max_depth=5)
    assert load_json(_nested(5), limits) == [[[[[]]]]]
    with pytest.raises(InputLimitExceeded, match="nested too deep"):
        load_json(_nested(6), limits)


def test_brackets_inside_strings_are_not_nesting() -> None:
    limits = Limits(max_depth=2)
    assert load_json(b'{"a": ["[[[[{{{{\\"]]]"]}', limits) == {"a": ['[[[[{{{{"]]]']}


def test_default_nesting_limit_is_32() -> None:
    assert load_json(_nested(DEFAULTS.max_depth)) is not None
    with pytest.raises(InputLimitExceeded):
        load_json(_nested(DEFAULTS.max_depth + 1))


def test_a_claim_nested_100000_deep_is_undecodable_not_a_crash() -> None:
    value = b'{"claimId": "D-1", "note": ' + _nested(100_000) + b"}"
    with pytest.raises(UndecodableEvent, match="JSON nested too deep"):
        decode_claim(value, content_type=JSON, key="D-1", today=TODAY)


# --- integer digits -------------------------------------------------------------------


def test_integers_of_20_digits_are_read_21_are_refused() -> None:
    assert load_json(b"[" + b"9" * 20 + b"]") == [10**20 - 1]
    assert load_json(b"[-" + b"9" * 20 + b"]") == [-(10**20) + 1]
    with pytest.raises(InputLimitExceeded, match="integer too long"):
        load_json(b"[" + b"1" * 21 + b"]")


def test_units_of_5000_digits_are_undecodable_not_a_crash() -> None:
    data = contract_example()
    raw = _claim_json(data).replace(b'"units": 2', b'"units": ' + b"7" * 5000)
    assert b"7" * 5000 in raw
    with pytest.raises(UndecodableEvent, match="JSON integer too long"):
        decode_claim(raw, content_type=JSON, key="X", today=TODAY)


def test_units_beyond_int32_are_malformed() -> None:
    data = contract_example()
    data["serviceLines"][0]["units"] = 1099511627776
    parsed = decode_claim(_claim_json(data), content_type=JSON, key="X", today=TODAY)
    assert not parsed.ok
    assert parsed.problems == ["serviceLines[0].units: must be an integer"]


def test_units_1099511627776_are_dropped_by_de_identification() -> None:
    data = contract_example()
    data["serviceLines"][0]["units"] = 1099511627776
    deid = Deidentifier(RedactionConfig(key=b"k" * 32, date_mode=DateMode.YEAR))
    record = deid.deidentify(data, today=TODAY)
    assert "serviceLines[0].units" in record.dropped_fields
    assert not record.service_lines[0].HasField("units")
    assert record.service_lines[0].procedure_code == "97530"


# --- string and claim size --------------------------------------------------------------


def test_strings_at_the_limit_are_read_one_byte_more_is_refused() -> None:
    limits = Limits(max_string_bytes=10)
    assert load_json(b'["' + b"x" * 10 + b'"]', limits) == ["x" * 10]
    with pytest.raises(InputLimitExceeded, match="string too long"):
        load_json(b'["' + b"x" * 11 + b'"]', limits)


def _claim_of_size(size: int) -> bytes:
    data = contract_example()
    data["note"] = ""
    base = len(_claim_json(data))
    data["note"] = "n" * (size - base)
    raw = _claim_json(data)
    assert len(raw) == size
    return raw


def test_a_claim_of_the_size_limit_is_read_one_byte_more_is_refused() -> None:
    limit = DEFAULTS.max_claim_bytes
    # Strings are limited too: the note here is several strings' worth.
    big = Limits(max_string_bytes=limit)
    assert load_json(_claim_of_size(limit), big)["claimId"] == "CLM-2026-000123"
    with pytest.raises(UndecodableEvent, match="claim too large"):
        decode_claim(_claim_of_size(limit + 1), content_type=JSON, key="X", today=TODAY)


def test_a_protobuf_claim_over_the_size_limit_is_undecodable() -> None:
    msg = json_format.ParseDict(contract_example(), claim_pb2.Claim())
    msg.note = "n" * DEFAULTS.max_claim_bytes
    with pytest.raises(UndecodableEvent, match="claim too large"):
        decode_claim(msg.SerializeToString(), content_type=PROTOBUF, key="X", today=TODAY)


# --- service lines ----------------------------------------------------------------------


def _with_lines(n: int) -> dict[str, Any]:
    data = contract_example()
    template = data["serviceLines"][0]
    data["serviceLines"] = [{**template, "lineNumber": i} for i in range(1, n + 1)]
    return data


def test_50_lines_are_a_claim_51_are_malformed_on_every_path() -> None:
    assert _three_paths(_with_lines(50)) == (True, True, True)
    assert _three_paths(_with_lines(51)) == (False, False, False)
    parsed = parse_claim(_with_lines(51), TODAY)
    assert parsed.problems == ["serviceLines: at most 50 service lines a claim"]


def test_51_lines_over_kafka_are_answered_malformed() -> None:
    msg = json_format.ParseDict(_with_lines(51), claim_pb2.Claim())
    parsed = decode_claim(msg.SerializeToString(), content_type=PROTOBUF, key="X", today=TODAY)
    assert parsed.claim_id == "CLM-2026-000123"
    assert parsed.problems == ["serviceLines: at most 50 service lines a claim"]


# --- dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "ok"),
    [
        ("1900-01-01", True),
        ("1899-12-31", False),
        ("0001-01-01", False),
        ("2027-06-01", True),  # the processing date (2026-06-01) plus one year
        ("2027-06-02", False),
        ("9999-12-31", False),
    ],
)
def test_dates_between_1900_and_a_year_after_processing(day: str, ok: bool) -> None:
    for path in (("serviceLines", 0, "dateOfService"), ("patient", "birthDate")):
        data = contract_example()
        target: Any = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = day
        assert _three_paths(data) == (ok, ok, ok), path
        if not ok:
            problems = parse_claim(data, TODAY).problems
            assert len(problems) == 1 and "from 1900-01-01" in problems[0]


def test_the_year_after_29_february_ends_on_28_february() -> None:
    data = contract_example()
    data["serviceLines"][0]["dateOfService"] = "2029-02-28"
    assert _three_paths(data, dt.date(2028, 2, 29)) == (True, True, True)
    data["serviceLines"][0]["dateOfService"] = "2029-03-01"
    assert _three_paths(data, dt.date(2028, 2, 29)) == (False, False, False)


# --- settings -----------------------------------------------------------------------------


def test_limits_come_from_the_environment() -> None:
    limits = Limits.from_env(
        {"CLAIMSCRUB_MAX_JSON_DEPTH": "8", "CLAIMSCRUB_MAX_SERVICE_LINES": "9"}
    )
    assert (limits.max_depth, limits.max_service_lines) == (8, 9)
    assert Limits.from_env({}) == DEFAULTS
    with pytest.raises(LimitsError, match="CLAIMSCRUB_MAX_INT_DIGITS"):
        Limits.from_env({"CLAIMSCRUB_MAX_INT_DIGITS": "0"})


def test_a_bad_limit_stops_a_service_at_start_up() -> None:
    with pytest.raises(SettingsError, match="CLAIMSCRUB_MAX_JSON_DEPTH"):
        Settings.from_env(
            "units", grpc_port=1, metrics_port=2, env={"CLAIMSCRUB_MAX_JSON_DEPTH": "deep"}
        )
    with pytest.raises(SettingsError, match="CLAIMSCRUB_MAX_CLAIM_BYTES"):
        Settings.from_env(
            "units",
            grpc_port=1,
            metrics_port=2,
            env={"CLAIMSCRUB_MAX_CLAIM_BYTES": "900000", "CLAIMSCRUB_MAX_MESSAGE_BYTES": "1000000"},
        )


def _date_paths(cls: type, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every date field reachable from a model dataclass, by attribute path
    (a tuple of dataclasses counts as its first element)."""
    paths: list[tuple[str, ...]] = []
    for name, hint in typing.get_type_hints(cls).items():
        kinds = {hint, *typing.get_args(hint)}
        for kind in list(kinds):
            kinds.update(typing.get_args(kind))
        if dt.date in kinds:
            paths.append((*prefix, name))
        for kind in kinds:
            if isinstance(kind, type) and dataclasses.is_dataclass(kind):
                paths += _date_paths(kind, (*prefix, name))
    return paths


def _replace_at(obj: Any, path: tuple[str, ...], value: dt.date) -> Any:
    head, *rest = path
    current = getattr(obj, head)
    if not rest:
        return dataclasses.replace(obj, **{head: value})
    if type(current) is tuple:
        return dataclasses.replace(obj, **{head: (_replace_at(current[0], tuple(rest), value),)})
    return dataclasses.replace(obj, **{head: _replace_at(current, tuple(rest), value)})


@pytest.mark.parametrize("path", _date_paths(Claim), ids=".".join)
def test_every_date_field_of_the_model_is_range_checked(path: tuple[str, ...]) -> None:
    parsed = parse_claim(contract_example(), today=TODAY)
    assert parsed.claim is not None
    claim = _replace_at(parsed.claim, path, dt.date(1899, 12, 31))
    assert dt.date(1899, 12, 31) in claim_dates(claim)
    assert not dates_in_range(claim, TODAY)

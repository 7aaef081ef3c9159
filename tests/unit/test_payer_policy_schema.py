"""Payer policy files against the published JSON Schema (contract §2, docs/reference-data.md).

Every field of the contract's table is in the schema, loads into the policy,
and a bad value is refused in one line naming the record and the field; a
bad record refuses the whole file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from claimscrub.core.edits import Severity
from claimscrub.core.payers import (
    AuthorizationRule,
    Condition,
    PayerEdit,
    PayerPolicies,
    ReferenceDataError,
    TimelyFiling,
    UnitRule,
    policy_schema,
)

REPO = Path(__file__).resolve().parents[2]
DOS = dt.date(2026, 5, 4)

# The contract's table (§2), field by field.
CONTRACT_FIELDS = {
    "payerId",
    "unitRule",
    "medicareRules",
    "timelyFiling",
    "therapyModifiersRequired",
    "planOfCareRequired",
    "retroactiveEnrollmentDays",
    "visitLimitPerYear",
    "authorizationRequired",
    "edits",
    "effectiveDate",
}

FULL: dict[str, Any] = {
    "payerId": "acme-full",
    "effectiveDate": "2026-01-01",
    "unitRule": "PER_CODE",
    "medicareRules": False,
    "timelyFiling": {"days": 90},
    "therapyModifiersRequired": False,
    "planOfCareRequired": True,
    "retroactiveEnrollmentDays": 14,
    "visitLimitPerYear": 24,
    "authorizationRequired": {"afterVisits": 8},
    "edits": [
        {
            "id": "R-1",
            "description": "every condition",
            "severity": "WARNING",
            "carc": "CO-97",
            "when": {
                "codes": ["97150"],
                "withCodes": ["97530"],
                "modifiersPresent": ["GP"],
                "modifiersAbsent": ["59"],
                "placesOfService": ["11"],
                "diagnosisPrefixes": ["M54"],
                "unitsOver": 1,
                "dayUnitsOver": 2,
            },
        }
    ],
}


def _load(tmp_path: Path, *records: Any) -> PayerPolicies:
    path = tmp_path / "payers.json"
    path.write_text(json.dumps(list(records)), encoding="utf-8")
    return PayerPolicies.load(path)


def test_the_schema_is_valid_2020_12_and_holds_every_contract_field() -> None:
    schema = policy_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["properties"]) == CONTRACT_FIELDS | {"timelyFilingDays"}
    jsonschema.Draft202012Validator(schema).validate(FULL)


def test_the_docs_publish_the_schema_and_every_field() -> None:
    doc = (REPO / "docs" / "reference-data.md").read_text(encoding="utf-8")
    assert "services/core/data/payer_policy.schema.json" in doc
    for field in [
        *policy_schema()["properties"],
        *policy_schema()["$defs"]["condition"]["properties"],
    ]:
        assert f"`{field}`" in doc, field


def test_every_field_loads_into_the_policy(tmp_path: Path) -> None:
    policy = _load(tmp_path, FULL).for_payer("ACME-FULL", DOS)
    assert policy.payer_id == "ACME-FULL"
    assert policy.effective_date == dt.date(2026, 1, 1)
    assert policy.unit_rule is UnitRule.PER_CODE
    assert policy.medicare_rules is False
    assert policy.timely_filing == TimelyFiling(days=90)
    assert policy.therapy_modifiers_required is False
    assert policy.plan_of_care_required is True
    assert policy.retroactive_enrollment_days == 14
    assert policy.visit_limit_per_year == 24
    assert policy.authorization == AuthorizationRule(after_visits=8)
    assert policy.edits == (
        PayerEdit(
            "R-1",
            Severity.WARNING,
            "CO-97",
            Condition(
                codes=frozenset({"97150"}),
                with_codes=frozenset({"97530"}),
                modifiers_present=frozenset({"GP"}),
                modifiers_absent=frozenset({"59"}),
                places_of_service=frozenset({"11"}),
                diagnosis_prefixes=("M54",),
                units_over=1,
                day_units_over=2,
            ),
        ),
    )


def test_an_unlisted_payer_gets_the_medicare_defaults() -> None:
    policy = PayerPolicies.defaults().for_payer("NOBODY", DOS)
    assert policy.unit_rule is UnitRule.TOTAL_TIME
    assert policy.medicare_rules is True
    assert policy.timely_filing == TimelyFiling(calendar_years=1)
    assert policy.therapy_modifiers_required is True
    assert policy.plan_of_care_required is True
    # 42 CFR 424.521(a): up to 30 days before the effective date of billing privileges
    assert policy.retroactive_enrollment_days == 30
    assert policy.visit_limit_per_year is None
    assert policy.authorization is None
    assert policy.edits == ()


def test_plan_of_care_and_retroactive_days_default_by_medicare_rules(tmp_path: Path) -> None:
    payers = _load(
        tmp_path,
        {"payerId": "COMM", "medicareRules": False},
        {"payerId": "MCR-LIKE", "unitRule": "PER_CODE"},
        {"payerId": "OWN", "medicareRules": False, "planOfCareRequired": True,
         "retroactiveEnrollmentDays": 30},
    )  # fmt: skip
    commercial = payers.for_payer("COMM", DOS)
    assert (commercial.plan_of_care_required, commercial.retroactive_enrollment_days) == (False, 0)
    medicare = payers.for_payer("MCR-LIKE", DOS)
    assert (medicare.plan_of_care_required, medicare.retroactive_enrollment_days) == (True, 30)
    own = payers.for_payer("OWN", DOS)
    assert (own.plan_of_care_required, own.retroactive_enrollment_days) == (True, 30)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, AuthorizationRule(0)), (False, None), ({"afterVisits": 0}, AuthorizationRule(0))],
)
def test_authorization_required_forms(
    tmp_path: Path, value: Any, expected: AuthorizationRule | None
) -> None:
    payers = _load(tmp_path, {"payerId": "A", "authorizationRequired": value})
    assert payers.for_payer("A", DOS).authorization == expected


def _edit(**fields: Any) -> dict[str, Any]:
    return {"id": "E1", "severity": "ERROR", "carc": "CO-4", "when": {"codes": ["97110"]}} | fields


BAD: list[tuple[dict[str, Any], str]] = [
    ({"payerId": ""}, "payerId"),
    ({"unitRule": "SOMETIMES"}, "unitRule"),
    ({"medicareRules": "yes"}, "medicareRules"),
    ({"timelyFiling": {"weeks": 3}}, "timelyFiling"),
    ({"timelyFilingDays": 0}, "timelyFilingDays"),
    ({"therapyModifiersRequired": 1}, "therapyModifiersRequired"),
    ({"planOfCareRequired": None}, "planOfCareRequired"),
    ({"retroactiveEnrollmentDays": -1}, "retroactiveEnrollmentDays"),
    ({"retroactiveEnrollmentDays": 1.5}, "retroactiveEnrollmentDays"),
    ({"visitLimitPerYear": "12"}, "visitLimitPerYear"),
    ({"visitLimitPerYear": -1}, "visitLimitPerYear"),
    ({"authorizationRequired": "yes"}, "authorizationRequired"),
    ({"authorizationRequired": {"afterVisits": -1}}, "authorizationRequired"),
    ({"authorizationRequired": {"after": 3}}, "authorizationRequired"),
    ({"effectiveDate": "01/02/2026"}, "effectiveDate"),
    ({"effectiveDate": "2026-02-30"}, "effectiveDate"),
    ({"edits": {}}, "edits"),
    ({"unitrule": "PER_CODE"}, "unitrule"),
    ({"edits": [_edit(id="")]}, "edits[0].id"),
    ({"edits": [_edit(), _edit()]}, "edits[1].id"),
    ({"edits": [_edit(severity="FATAL")]}, "edits[0].severity"),
    ({"edits": [_edit(carc="97")]}, "edits[0].carc"),
    ({"edits": [_edit(when={})]}, "edits[0].when"),
    ({"edits": [_edit(when={"procedure": ["97110"]})]}, "edits[0].when"),
    ({"edits": [_edit(when={"codes": "97110"})]}, "edits[0].when.codes"),
    ({"edits": [_edit(when={"codes": []})]}, "edits[0].when.codes"),
    ({"edits": [_edit(when={"codes": ["97110", "9711"]})]}, "edits[0].when.codes[1]"),
    ({"edits": [_edit(when={"withCodes": [97530]})]}, "edits[0].when.withCodes[0]"),
    ({"edits": [_edit(when={"modifiersPresent": ["5"]})]}, "edits[0].when.modifiersPresent[0]"),
    ({"edits": [_edit(when={"modifiersAbsent": "59"})]}, "edits[0].when.modifiersAbsent"),
    ({"edits": [_edit(when={"placesOfService": ["1"]})]}, "edits[0].when.placesOfService[0]"),
    (
        {"edits": [_edit(when={"diagnosisPrefixes": ["m54"]})]},
        "edits[0].when.diagnosisPrefixes[0]",
    ),
    ({"edits": [_edit(when={"unitsOver": -1})]}, "edits[0].when.unitsOver"),
    ({"edits": [_edit(when={"dayUnitsOver": "3"})]}, "edits[0].when.dayUnitsOver"),
]


@pytest.mark.parametrize(("fields", "field"), BAD, ids=[f for _, f in BAD])
def test_a_bad_value_is_refused_naming_record_and_field(
    tmp_path: Path, fields: dict[str, Any], field: str
) -> None:
    good = {"payerId": "GOOD"}
    with pytest.raises(ReferenceDataError) as caught:
        _load(tmp_path, good, good | {"payerId": "OTHER"}, {"payerId": "BAD"} | fields)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"payers.json record 3: {field}: "), message


def test_a_missing_field_and_a_missing_rule_part_are_named(tmp_path: Path) -> None:
    with pytest.raises(ReferenceDataError, match=r"^payers.json record 1: payerId: missing$"):
        _load(tmp_path, {"unitRule": "PER_CODE"})
    no_when = {"id": "E1", "severity": "ERROR"}
    with pytest.raises(ReferenceDataError, match=r"record 1: edits\[0\]\.when: missing$"):
        _load(tmp_path, {"payerId": "X", "edits": [no_when]})


def test_the_message_says_what_the_field_must_be(tmp_path: Path) -> None:
    rule = _edit(when={"codes": "97110"})
    with pytest.raises(ReferenceDataError) as caught:
        _load(
            tmp_path,
            {"payerId": "A"},
            {"payerId": "B"},
            {"payerId": "C", "edits": [_edit(), rule | {"id": "E2"}]},
        )
    assert str(caught.value) == (
        "payers.json record 3: edits[1].when.codes: must be a non-empty list of procedure codes"
    )


def test_two_versions_with_one_effective_date_are_refused(tmp_path: Path) -> None:
    v = {"payerId": "ACME", "effectiveDate": "2026-01-01"}
    with pytest.raises(ReferenceDataError, match=r"^payers.json record 2: effectiveDate: "):
        _load(tmp_path, v, v | {"payerId": "acme"})
    with pytest.raises(ReferenceDataError, match=r"^payers.json record 2: effectiveDate: "):
        _load(tmp_path, {"payerId": "ACME"}, {"payerId": "ACME"})


def test_comment_keys_are_allowed(tmp_path: Path) -> None:
    record = {"payerId": "A", "_source": "x", "edits": [_edit(_why="y")]}
    assert _load(tmp_path, record).for_payer("A", DOS).edits[0].rule_id == "E1"


def test_the_bundled_example_file_is_valid() -> None:
    payers = PayerPolicies.load(REPO / "examples" / "payers.json")
    assert set(payers.by_payer) == {"ACME-COMMERCIAL", "SUMMIT-HEALTH", "MEDICARE"}

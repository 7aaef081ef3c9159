"""Payer policies (contract §2), in dated versions, validated against a JSON Schema.

Each record of a payers file is one version of one payer's policy, checked
against ``data/payer_policy.schema.json`` (published: docs/reference-data.md).
A file is validated whole before any of it is used; the first problem is
reported in one line naming the record and the field.

A field left out takes the Medicare default (``data/payer_defaults.json``);
``planOfCareRequired`` and ``retroactiveEnrollmentDays`` default by the
version's ``medicareRules``. A version does not inherit from the payer's
earlier ones: each is the whole policy from its ``effectiveDate``.

:meth:`PayerPolicies.for_payer` picks the version in force on a date of
service: the latest whose ``effectiveDate`` is on or before it. A date before
the payer's first version gets that first version (a payer listed in the file
is never judged by Medicare's rules for want of an older version); a version
without ``effectiveDate`` applies from the beginning. A payer not listed gets
the Medicare defaults.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import jsonschema

from claimscrub.core.edits import Severity
from claimscrub.core.versions import content_hash, join_ids, version_id

if TYPE_CHECKING:
    from claimscrub.core.claim import Claim

_PACKAGE = "claimscrub.core"
SCHEMA_RESOURCE = "data/payer_policy.schema.json"


class UnitRule(StrEnum):
    TOTAL_TIME = "TOTAL_TIME"
    PER_CODE = "PER_CODE"


@dataclass(frozen=True, slots=True)
class TimelyFiling:
    """A payer's filing limit: whole calendar years or a number of days.

    Exactly one of the two is set. A limit of N calendar years ends on the
    same month and day N years after the date of service (42 CFR 424.44:
    "12 months, or 1 calendar year, after the date of service"); a 29 February
    date of service ends on 28 February when that year has no 29th.
    """

    calendar_years: int | None = None
    days: int | None = None

    def due_date(self, dos: dt.date) -> dt.date:
        """The last submission date within the limit for a date of service."""
        if self.days is not None:
            return dos + dt.timedelta(days=self.days)
        assert self.calendar_years is not None
        year = dos.year + self.calendar_years
        try:
            return dos.replace(year=year)
        except ValueError:  # 29 February in a year without one
            return dt.date(year, 2, 28)

    @property
    def least_days(self) -> int:
        """Days after any date of service that are always within the limit
        (N calendar years hold at least 365 N days)."""
        return self.days if self.days is not None else 365 * (self.calendar_years or 0)

    def describe(self) -> str:
        if self.days is not None:
            return f"{self.days} days"
        years = self.calendar_years
        return f"{years} calendar year{'' if years == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class AuthorizationRule:
    """Which of the year's visits need a prior authorization: those after the
    ``after_visits``-th (0: every visit)."""

    after_visits: int = 0


@dataclass(frozen=True, slots=True)
class Condition:
    """A declarative edit's condition on one line (docs/reference-data.md).

    Every condition given must hold; within a list any entry matches. An
    empty set or ``None`` is a condition not given.
    """

    codes: frozenset[str] = frozenset()
    with_codes: frozenset[str] = frozenset()
    modifiers_present: frozenset[str] = frozenset()
    modifiers_absent: frozenset[str] = frozenset()
    places_of_service: frozenset[str] = frozenset()
    diagnosis_prefixes: tuple[str, ...] = ()
    units_over: int | None = None
    day_units_over: int | None = None


@dataclass(frozen=True, slots=True)
class PayerEdit:
    """One of the payer's own edits: raised as PAYER_RULE with this id in ``reference``."""

    rule_id: str
    severity: Severity
    carc: str
    when: Condition


@dataclass(frozen=True, slots=True)
class PayerPolicy:
    payer_id: str
    unit_rule: UnitRule
    medicare_rules: bool
    timely_filing: TimelyFiling
    therapy_modifiers_required: bool = True
    plan_of_care_required: bool = True
    retroactive_enrollment_days: int = 30
    visit_limit_per_year: int | None = None
    authorization: AuthorizationRule | None = None
    edits: tuple[PayerEdit, ...] = ()
    effective_date: dt.date | None = None
    #: ``PAYER@<effective date or base>.<hash of the record>`` (core.versions),
    #: reported in a result's referenceVersions.
    version_id: str = ""


class ReferenceDataError(ValueError):
    """A reference data file is unreadable or has an invalid record."""


# --- validation ------------------------------------------------------------------


def policy_schema() -> dict[str, Any]:
    """The published JSON Schema of one payer policy record."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


@cache
def _schema_text() -> str:
    return resources.files(_PACKAGE).joinpath(SCHEMA_RESOURCE).read_text("utf-8")


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(policy_schema())


def _field_path(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(error: jsonschema.ValidationError) -> str:
    """``field.path: what is wrong`` for one schema violation."""
    path = _field_path(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "not" and isinstance(error.validator_value, dict):
        return f"{path or 'record'}: {error.validator_value.get('errorMessage', 'not allowed')}"
    if "errorMessage" in schema:
        return f"{path or 'record'}: {schema['errorMessage']}"
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        return f"{_join(path, missing[0] if missing else '?')}: missing"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known and not k.startswith("_"))
        return f"{_join(path, extra[0] if extra else '?')}: unknown field"
    if error.validator == "type":
        return f"{path or 'record'}: must be of type {error.validator_value}"
    return f"{path or 'record'}: {error.message}"


def validation_problem(raw: Any) -> str | None:
    """The first problem of one policy record against the schema, or ``None``.

    Several problems: the deepest field first (the most specific), then the
    schema's order, so a file gets the same message every time.
    """
    errors = list(_validator().iter_errors(raw))
    if not errors:
        return None
    best = max(errors, key=lambda e: len(e.absolute_path))
    return _describe(best)


# --- building a policy ---------------------------------------------------------


def _date(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise _Invalid(f"{field}: must be a date YYYY-MM-DD") from exc


class _Invalid(ValueError):
    """A record's problem beyond the schema's reach; the loader adds the record."""


def _condition(raw: Mapping[str, Any]) -> Condition:
    def codes(key: str) -> frozenset[str]:
        return frozenset(raw.get(key, ()))

    return Condition(
        codes=codes("codes"),
        with_codes=codes("withCodes"),
        modifiers_present=codes("modifiersPresent"),
        modifiers_absent=codes("modifiersAbsent"),
        places_of_service=codes("placesOfService"),
        diagnosis_prefixes=tuple(raw.get("diagnosisPrefixes", ())),
        units_over=raw.get("unitsOver"),
        day_units_over=raw.get("dayUnitsOver"),
    )


def _edits(raw: list[Mapping[str, Any]]) -> tuple[PayerEdit, ...]:
    seen: dict[str, int] = {}
    out: list[PayerEdit] = []
    for i, item in enumerate(raw):
        rule_id = item["id"]
        if rule_id in seen:
            raise _Invalid(f"edits[{i}].id: repeats edits[{seen[rule_id]}].id")
        seen[rule_id] = i
        out.append(
            PayerEdit(
                rule_id, Severity(item["severity"]), item.get("carc", ""), _condition(item["when"])
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Defaults:
    fields: Mapping[str, Any]
    by_medicare_rules: Mapping[bool, Mapping[str, Any]]


def _build(raw: Mapping[str, Any], defaults: _Defaults) -> PayerPolicy:
    """A policy from a record the schema accepted, its gaps filled by the defaults."""
    medicare = raw.get("medicareRules", defaults.fields["medicareRules"])
    merged: dict[str, Any] = {**defaults.fields, **defaults.by_medicare_rules[medicare], **raw}
    if "timelyFilingDays" in raw:
        merged["timelyFiling"] = {"days": raw["timelyFilingDays"]}
    ((unit, number),) = merged["timelyFiling"].items()
    filing = TimelyFiling(days=number) if unit == "days" else TimelyFiling(calendar_years=number)
    auth = merged.get("authorizationRequired", False)
    authorization = (
        AuthorizationRule(auth["afterVisits"])
        if isinstance(auth, dict)
        else (AuthorizationRule(0) if auth else None)
    )
    effective = raw.get("effectiveDate")
    return PayerPolicy(
        payer_id=merged["payerId"].upper(),
        unit_rule=UnitRule(merged["unitRule"]),
        medicare_rules=medicare,
        timely_filing=filing,
        therapy_modifiers_required=merged["therapyModifiersRequired"],
        plan_of_care_required=merged["planOfCareRequired"],
        retroactive_enrollment_days=merged["retroactiveEnrollmentDays"],
        visit_limit_per_year=merged.get("visitLimitPerYear"),
        authorization=authorization,
        edits=_edits(merged.get("edits", [])),
        effective_date=_date(effective, "effectiveDate") if effective is not None else None,
    )


def _checked(raw: Any, where: str, defaults: _Defaults) -> PayerPolicy:
    if not isinstance(raw, dict):
        raise ReferenceDataError(f"{where}: a payer policy must be a JSON object")
    problem = validation_problem(raw)
    if problem is not None:
        raise ReferenceDataError(f"{where}: {problem}")
    try:
        policy = _build(raw, defaults)
    except _Invalid as exc:
        raise ReferenceDataError(f"{where}: {exc}") from exc
    digest = content_hash([canonical_record(raw)])
    vid = f"{policy.payer_id}@{version_id(policy.effective_date, digest)}"
    return replace(policy, version_id=vid)


def canonical_record(raw: Mapping[str, Any]) -> bytes:
    """A policy record as bytes that do not depend on its key order or spacing."""
    return json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()


@cache
def _bundled_defaults() -> tuple[_Defaults, PayerPolicy]:
    data = json.loads(resources.files(_PACKAGE).joinpath("data/payer_defaults.json").read_text())
    fields = {k: v for k, v in data["policy"].items() if not k.startswith("_")}
    by_medicare = {
        flag: {k: v for k, v in data["byMedicareRules"][str(flag).lower()].items() if k[0] != "_"}
        for flag in (True, False)
    }
    bare = _Defaults(MappingProxyType(fields), MappingProxyType({True: {}, False: {}}))
    # The defaults obey the schema like any policy (a bad edit to them fails loudly).
    for flag in (True, False):
        _checked({**fields, **by_medicare[flag]}, "payer_defaults.json", bare)
    defaults = _Defaults(MappingProxyType(fields), MappingProxyType(by_medicare))
    default = _checked(fields, "payer_defaults.json", defaults)
    digest = content_hash([canonical_record(data)])
    return defaults, replace(default, version_id=version_id(None, digest, prefix="defaults"))


_CHOSEN_MAX = 65_536
_last_lines: tuple[Claim, PayerPolicies, tuple[PayerPolicy, ...]] | None = None


@dataclass(frozen=True, slots=True)
class PayerPolicies:
    default: PayerPolicy
    #: payer → its versions, oldest first (a version without effectiveDate first)
    by_payer: Mapping[str, tuple[PayerPolicy, ...]]
    # Answers by (payer, DOS): every rule asks per line, several times a claim,
    # and a billing run has few payers and dates. Bounded by clearing.
    _chosen: dict[tuple[str, dt.date], PayerPolicy] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _any: dict[tuple[str, Callable[[PayerPolicy], object]], bool] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def for_payer(self, payer_id: str, dos: dt.date) -> PayerPolicy:
        """The payer's version in force on ``dos`` (see the module docstring)."""
        key = (payer_id, dos)
        chosen = self._chosen.get(key)
        if chosen is None:
            if len(self._chosen) >= _CHOSEN_MAX:
                self._chosen.clear()
            chosen = self._chosen[key] = self._version(payer_id, dos)
        return chosen

    def for_lines(self, claim: Claim) -> tuple[PayerPolicy, ...]:
        """:meth:`for_payer` on each service line's date of service, in line order.

        The checks of one process judge the same claim one after the other and
        most judge each line under its policy: the last claim's answer is kept
        (claims are immutable; the entry holds the claim, so identity says it
        still holds)."""
        global _last_lines
        last = _last_lines
        if last is not None and last[0] is claim and last[1] is self:
            return last[2]
        lines = claim.service_lines
        payer_id = claim.payer_id
        if not lines:
            found: tuple[PayerPolicy, ...] = ()
        else:
            first = lines[0].date_of_service
            if all(line.date_of_service == first for line in lines):
                found = (self.for_payer(payer_id, first),) * len(lines)
            else:
                found = tuple(self.for_payer(payer_id, line.date_of_service) for line in lines)
        _last_lines = (claim, self, found)
        return found

    def any_version(self, payer_id: str, test: Callable[[PayerPolicy], object]) -> bool:
        """Whether any version of the payer's policy passes ``test``: a rule whose
        policy field is unset in every version has nothing to judge on any date.
        ``test`` is a pure function of the policy (its answers are kept)."""
        key = (payer_id, test)
        known = self._any.get(key)
        if known is None:
            versions = self.by_payer.get(payer_id.upper()) or (self.default,)
            if len(self._any) >= _CHOSEN_MAX:
                self._any.clear()
            known = self._any[key] = any(test(version) for version in versions)
        return known

    def _version(self, payer_id: str, dos: dt.date) -> PayerPolicy:
        versions = self.by_payer.get(payer_id.upper())
        if not versions:
            return self.default
        chosen = versions[0]
        for version in versions[1:]:
            assert version.effective_date is not None
            if version.effective_date > dos:
                break
            chosen = version
        return chosen

    def version_ids(self, payer_id: str, dates: Iterable[dt.date]) -> str:
        """The ids of the payer's versions in force on ``dates`` (referenceVersions)."""
        return join_ids(self.for_payer(payer_id, d).version_id for d in sorted(set(dates)))

    def overridden_by(self, other: PayerPolicies) -> PayerPolicies:
        """These policies with every payer ``other`` lists taking ``other``'s versions."""
        return PayerPolicies(self.default, MappingProxyType({**self.by_payer, **other.by_payer}))

    @classmethod
    def defaults(cls) -> PayerPolicies:
        return cls(_bundled_defaults()[1], MappingProxyType({}))

    @classmethod
    def from_records(cls, records: list[Any], name: str) -> PayerPolicies:
        """Policies from a file's records, every record validated before any is used."""
        defaults, default = _bundled_defaults()
        versions: dict[str, dict[dt.date | None, PayerPolicy]] = {}
        for i, raw in enumerate(records):
            where = f"{name} record {i + 1}"
            policy = _checked(raw, where, defaults)
            by_date = versions.setdefault(policy.payer_id, {})
            if policy.effective_date in by_date:
                when = policy.effective_date or "no effectiveDate"
                raise ReferenceDataError(
                    f"{where}: effectiveDate: a second version of {policy.payer_id} with {when}"
                )
            by_date[policy.effective_date] = policy
        by_payer = {
            payer: tuple(by_date[d] for d in sorted(by_date, key=lambda d: d or dt.date.min))
            for payer, by_date in versions.items()
        }
        return cls(default, MappingProxyType(by_payer))

    @classmethod
    def load(cls, path: Path | None) -> PayerPolicies:
        """Read a payers file (JSON array or JSON Lines); ``None`` gives the defaults."""
        if path is None:
            return cls.defaults()
        return cls.from_records(read_json_records(path), path.name)


def read_json_records(path: Path) -> list[Any]:
    """A reference file as a list of records: a JSON array, one object, or JSON Lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReferenceDataError(f"{path}: cannot read ({exc.strerror})") from exc
    stripped = text.lstrip()
    if not stripped:
        return []
    try:
        if stripped.startswith("["):
            data = json.loads(text)
            if not isinstance(data, list):  # pragma: no cover - '[' always parses to a list
                raise ReferenceDataError(f"{path}: expected a JSON array")
            return data
        if path.suffix == ".jsonl" or "\n{" in stripped:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return [json.loads(text)]
    except json.JSONDecodeError as exc:
        raise ReferenceDataError(f"{path}: not valid JSON (line {exc.lineno})") from exc

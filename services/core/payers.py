"""Payer policies (contract §2): unit rule, Medicare rules, timely filing limit.

A payer that is not listed gets the Medicare defaults, which live in the
bundled data file next to this module rather than in code.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any


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

    def describe(self) -> str:
        if self.days is not None:
            return f"{self.days} days"
        years = self.calendar_years
        return f"{years} calendar year{'' if years == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class PayerPolicy:
    payer_id: str
    unit_rule: UnitRule
    medicare_rules: bool
    timely_filing: TimelyFiling


class ReferenceDataError(ValueError):
    """A reference data file is unreadable or has an invalid record."""


def _policy(raw: Any, where: str, default: PayerPolicy | None) -> PayerPolicy:
    if not isinstance(raw, dict):
        raise ReferenceDataError(f"{where}: a payer policy must be an object")
    payer_id = raw.get("payerId", default.payer_id if default else None)
    if not isinstance(payer_id, str) or not payer_id:
        raise ReferenceDataError(f"{where}: payerId missing")
    try:
        rule = UnitRule(str(raw.get("unitRule", default.unit_rule if default else "")))
    except ValueError as exc:
        raise ReferenceDataError(f"{where}: unitRule must be TOTAL_TIME or PER_CODE") from exc
    medicare = raw.get("medicareRules", default.medicare_rules if default else None)
    if not isinstance(medicare, bool):
        raise ReferenceDataError(f"{where}: medicareRules must be true or false")
    filing = _timely_filing(raw, where, default.timely_filing if default else None)
    return PayerPolicy(payer_id.upper(), rule, medicare, filing)


def _positive(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value > 0


def _timely_filing(raw: dict[str, Any], where: str, default: TimelyFiling | None) -> TimelyFiling:
    """``timelyFiling`` ({"calendarYears": N} or {"days": N}), else the older
    ``timelyFilingDays: N`` read as {"days": N}, else the default."""
    if "timelyFiling" in raw and "timelyFilingDays" in raw:
        raise ReferenceDataError(f"{where}: give timelyFiling or timelyFilingDays, not both")
    if "timelyFilingDays" in raw:
        days = raw["timelyFilingDays"]
        if not _positive(days):
            raise ReferenceDataError(f"{where}: timelyFilingDays must be a positive integer")
        return TimelyFiling(days=days)
    value = raw.get("timelyFiling")
    if value is None:
        if default is None:
            raise ReferenceDataError(f"{where}: timelyFiling missing")
        return default
    shape = f'{where}: timelyFiling must be {{"calendarYears": N}} or {{"days": N}}, N > 0'
    if not isinstance(value, dict) or len(value) != 1:
        raise ReferenceDataError(shape)
    ((unit, number),) = value.items()
    if unit not in ("calendarYears", "days") or not _positive(number):
        raise ReferenceDataError(shape)
    if unit == "days":
        return TimelyFiling(days=number)
    return TimelyFiling(calendar_years=number)


def _bundled_default() -> PayerPolicy:
    text = resources.files("claimscrub.core").joinpath("data/payer_defaults.json").read_text()
    return _policy(json.loads(text), "payer_defaults.json", None)


@dataclass(frozen=True, slots=True)
class PayerPolicies:
    default: PayerPolicy
    by_payer: dict[str, PayerPolicy]

    def for_payer(self, payer_id: str) -> PayerPolicy:
        return self.by_payer.get(payer_id.upper(), self.default)

    @classmethod
    def defaults(cls) -> PayerPolicies:
        return cls(_bundled_default(), {})

    @classmethod
    def load(cls, path: Path | None) -> PayerPolicies:
        """Read a payers file (JSON array or JSON Lines); ``None`` gives the defaults."""
        base = cls.defaults()
        if path is None:
            return base
        records = read_json_records(path)
        by_payer: dict[str, PayerPolicy] = {}
        for i, raw in enumerate(records):
            policy = _policy(raw, f"{path.name} record {i + 1}", base.default)
            by_payer[policy.payer_id] = policy
        return cls(base.default, by_payer)


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

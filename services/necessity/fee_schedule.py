"""A payer fee schedule: the allowed amount per unit of a procedure code.

Optional reference data for the KX threshold, which accrues allowed amounts
(domain §4): a line's own ``allowedAmount`` first, else the fee schedule's
amount for its code times its units, else its charge. Nothing is loaded by
default and no fee values are bundled; pass the payer's schedule with
``--fee-schedule FILE`` (services: CLAIMSCRUB_FEE_SCHEDULE_FILE).

A file is JSON: ``{"sample": bool, "fees": [...]}`` or a bare array of fees::

    {"code": "97110", "allowedAmount": "30.50", "effectiveDate": "2026-01-01",
     "endDate": "2026-12-31", "payers": ["MEDICARE"]}

``allowedAmount`` is per unit. ``effectiveDate`` / ``endDate`` (inclusive)
and ``payers`` (empty or absent: every payer) are optional. Where several
fees apply to a line, one naming the payer wins over one for every payer,
then the latest ``effectiveDate``. A file whose ``sample`` is true is
labelled a sample in the edits that use it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from claimscrub.core.claim import AMOUNT_RE
from claimscrub.core.json_files import listed, read_json
from claimscrub.core.payers import ReferenceDataError

_CODE_RE = re.compile(r"^[A-Z0-9]{5}$")


@dataclass(frozen=True, slots=True)
class Fee:
    code: str
    amount: Decimal
    effective: dt.date | None
    end: dt.date | None
    payers: frozenset[str]

    def applies(self, payer_id: str, dos: dt.date) -> bool:
        if self.payers and payer_id.upper() not in self.payers:
            return False
        if self.effective is not None and dos < self.effective:
            return False
        return self.end is None or dos <= self.end


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    by_code: dict[str, tuple[Fee, ...]]
    is_sample: bool
    source: str

    def amount_per_unit(self, payer_id: str, code: str, dos: dt.date) -> Decimal | None:
        listed = self.by_code.get(code)
        if not listed:
            return None
        fees = [f for f in listed if f.applies(payer_id, dos)]
        if not fees:
            return None
        best = max(fees, key=lambda f: (bool(f.payers), f.effective or dt.date.min))
        return best.amount


def _date(raw: dict[str, Any], key: str, where: str) -> dt.date | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ReferenceDataError(f"{where}: '{key}' must be a date YYYY-MM-DD")


def _fee(raw: Any, where: str) -> Fee:
    if not isinstance(raw, dict):
        raise ReferenceDataError(f"{where}: a fee must be an object")
    code = raw.get("code")
    if not isinstance(code, str) or not _CODE_RE.match(code.strip().upper()):
        raise ReferenceDataError(f"{where}: 'code' must be a 5-character procedure code")
    amount = raw.get("allowedAmount")
    if not isinstance(amount, str) or not AMOUNT_RE.match(amount.strip()) or "-" in amount:
        raise ReferenceDataError(f"{where}: 'allowedAmount' must be a decimal string, 0 or more")
    payers = raw.get("payers", [])
    if not isinstance(payers, list) or not all(isinstance(p, str) for p in payers):
        raise ReferenceDataError(f"{where}: 'payers' must be a list of payer ids")
    effective, end = _date(raw, "effectiveDate", where), _date(raw, "endDate", where)
    if effective is not None and end is not None and end < effective:
        raise ReferenceDataError(f"{where}: 'endDate' is before 'effectiveDate'")
    return Fee(
        code.strip().upper(),
        Decimal(amount.strip()),
        effective,
        end,
        frozenset(p.strip().upper() for p in payers),
    )


def parse_fee_schedule(data: Any, name: str) -> FeeSchedule:
    raw_fees, sample = listed(data, "fees", name, "an array of fees")
    by_code: dict[str, list[Fee]] = {}
    for i, raw in enumerate(raw_fees):
        fee = _fee(raw, f"{name} fee {i + 1}")
        by_code.setdefault(fee.code, []).append(fee)
    return FeeSchedule({k: tuple(v) for k, v in by_code.items()}, sample, name)


def load_fee_schedule_files(paths: Sequence[Path]) -> FeeSchedule | None:
    """The fees of every file as one schedule; ``None`` when no file is given."""
    if not paths:
        return None
    by_code: dict[str, tuple[Fee, ...]] = {}
    sample = False
    for path in paths:
        loaded = parse_fee_schedule(read_json(path), path.name)
        for code, fees in loaded.by_code.items():
            by_code[code] = by_code.get(code, ()) + fees
        sample = sample or loaded.is_sample
    return FeeSchedule(by_code, sample, ", ".join(p.name for p in paths))

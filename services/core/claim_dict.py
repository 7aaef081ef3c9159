"""The fast way from a well-formed contract-JSON claim to the typed :class:`Claim`.

The counterpart of :mod:`claimscrub.core.claim_message` for JSON input
(`claimscrub scrub`, JSON events): when every value already has its JSON
type (strings, integers, lists, objects) and is in range, the claim is
built directly. Anything else (a number as a string, a float, a missing or
empty required field, a bad date) gives way to
:func:`~claimscrub.core.claim.parse_claim`, which owns every problem text
and the proto3-style number reading. ``tests/unit/test_claim_dict.py`` holds
the two to the same claims.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from claimscrub.core import limits
from claimscrub.core.claim import (
    AMOUNT_RE,
    Address,
    Claim,
    Patient,
    PlanOfCare,
    PriorAuthorization,
    Provider,
    ServiceLine,
    Therapy,
    dates_in_range,
)
from claimscrub.core.claim_message import GiveWay, date_text, not_checked_names, upper_codes

_INT32_MAX = 2**31 - 1


def _text(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not str:
        raise GiveWay
    return value.strip() or None


def _required(obj: dict[str, Any], key: str) -> str:
    value = _text(obj, key)
    if value is None:
        raise GiveWay
    return value


def _date(obj: dict[str, Any], key: str) -> dt.date | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not str:
        raise GiveWay
    return date_text(value)


# Amount texts repeat (a clinic's charges, a fee schedule's amounts): each is
# checked and converted once. Decimals are immutable, so claims may share one.
_AMOUNTS: dict[str, Decimal] = {}
_AMOUNTS_MAX = 4_096


def _amount(obj: dict[str, Any], key: str) -> Decimal | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not str:
        raise GiveWay
    known = _AMOUNTS.get(value)
    if known is not None:
        return known
    text = value.strip()
    if not AMOUNT_RE.match(text):
        raise GiveWay
    amount = Decimal(text)
    if len(_AMOUNTS) >= _AMOUNTS_MAX:
        _AMOUNTS.clear()
    _AMOUNTS[value] = amount
    return amount


def _count(obj: dict[str, Any], key: str, minimum: int) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not int or not minimum <= value <= _INT32_MAX:
        raise GiveWay
    return value


def _object(obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = obj.get(key)
    if value is None or type(value) is dict:
        return value
    raise GiveWay


def _list(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if type(value) is not list:
        raise GiveWay
    return value


def _codes(obj: dict[str, Any], key: str) -> tuple[str, ...]:
    items = _list(obj, key)
    for item in items:
        if type(item) is not str:
            raise GiveWay
    return upper_codes(items)


def _list_of_text(obj: dict[str, Any], key: str) -> list[str]:
    items = _list(obj, key)
    if items and any(type(item) is not str for item in items):
        raise GiveWay
    return items


def _pointers(obj: dict[str, Any], key: str) -> tuple[int, ...]:
    items = _list(obj, key)
    for item in items:
        if type(item) is not int or not -(2**31) <= item <= _INT32_MAX:
            raise GiveWay
    return tuple(items)


def _provider(data: dict[str, Any], key: str) -> Provider | None:
    p = _object(data, key)
    if p is None:
        return None
    return Provider(
        npi=_text(p, "npi"),
        name=_text(p, "name"),
        tax_id=_text(p, "taxId"),
        taxonomy=_text(p, "taxonomy"),
    )


def _patient(data: dict[str, Any]) -> Patient | None:
    p = _object(data, "patient")
    if p is None:
        return None
    a = _object(p, "address")
    address = None
    if a is not None:
        address = Address(
            line1=_text(a, "line1"),
            city=_text(a, "city"),
            state=_text(a, "state"),
            zip=_text(a, "zip"),
        )
    return Patient(
        member_id=_text(p, "memberId"),
        mrn=_text(p, "mrn"),
        first_name=_text(p, "firstName"),
        last_name=_text(p, "lastName"),
        birth_date=_date(p, "birthDate"),
        sex=_text(p, "sex"),
        address=address,
        phone=_text(p, "phone"),
        email=_text(p, "email"),
        ssn=_text(p, "ssn"),
    )


def _therapy(data: dict[str, Any]) -> Therapy | None:
    t = _object(data, "therapy")
    if t is None:
        return None
    c = _object(t, "planOfCare")
    poc = None
    if c is not None:
        poc = PlanOfCare(
            certified_date=_date(c, "certifiedDate"),
            start_date=_date(c, "startDate"),
            end_date=_date(c, "endDate"),
        )
    discipline = _text(t, "discipline")
    return Therapy(
        discipline=discipline.upper() if discipline else None,
        plan_of_care=poc,
        treatment_days_since_progress_report=_count(t, "treatmentDaysSinceProgressReport", 0),
        amount_used_ytd=_amount(t, "amountUsedYtd"),
        amount_used_ytd_pt_slp=_amount(t, "amountUsedYtdPtSlp"),
        amount_used_ytd_ot=_amount(t, "amountUsedYtdOt"),
        visits_used_ytd=_count(t, "visitsUsedYtd", 0),
    )


def _prior_authorization(data: dict[str, Any]) -> PriorAuthorization | None:
    a = _object(data, "priorAuthorization")
    if a is None:
        return None
    return PriorAuthorization(
        number=_text(a, "number"),
        start_date=_date(a, "startDate"),
        end_date=_date(a, "endDate"),
        visits=_count(a, "visits", 0),
    )


def _lines(data: dict[str, Any]) -> tuple[ServiceLine, ...]:
    lines = []
    seen: set[int] = set()
    raw_lines = _list(data, "serviceLines")
    if len(raw_lines) > limits.current().max_service_lines:
        raise GiveWay
    for line in raw_lines:
        if type(line) is not dict:
            raise GiveWay
        number = _count(line, "lineNumber", 1)
        units = _count(line, "units", 0)
        dos = _date(line, "dateOfService")
        if number is None or units is None or dos is None or number in seen:
            raise GiveWay
        seen.add(number)
        lines.append(
            ServiceLine(
                line_number=number,
                date_of_service=dos,
                procedure_code=_required(line, "procedureCode").upper(),
                units=units,
                modifiers=_codes(line, "modifiers"),
                minutes=_count(line, "minutes", 0),
                charge_amount=_amount(line, "chargeAmount"),
                diagnosis_pointers=_pointers(line, "diagnosisPointers"),
                place_of_service=_text(line, "placeOfService"),
                allowed_amount=_amount(line, "allowedAmount"),
            )
        )
    if not lines:
        raise GiveWay
    return tuple(lines)


def claim_from_dict(data: Any, today: dt.date | None = None) -> Claim | None:
    """The claim ``parse_claim`` would build from ``data`` (processing date
    ``today``), or ``None`` when ``data`` is not plainly well formed (the
    general parser then answers)."""
    if type(data) is not dict:
        return None
    try:
        claim = Claim(
            claim_id=_required(data, "claimId"),
            payer_id=_required(data, "payerId").upper(),
            service_lines=_lines(data),
            submission_date=_date(data, "submissionDate"),
            patient=_patient(data),
            billing_provider=_provider(data, "billingProvider"),
            rendering_provider=_provider(data, "renderingProvider"),
            referring_provider=_provider(data, "referringProvider"),
            diagnoses=_codes(data, "diagnoses"),
            therapy=_therapy(data),
            note=_text(data, "note"),
            prior_authorization=_prior_authorization(data),
            not_checked=not_checked_names(_list_of_text(data, "notChecked")),
        )
    except GiveWay:
        return None
    return claim if dates_in_range(claim, today) else None

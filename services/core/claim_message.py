"""The fast way from a protobuf ``Claim`` to the typed :class:`Claim`.

Every service decodes every claim it reads, and the general path (the
message to its JSON dict, then :func:`~claimscrub.core.claim.parse_claim`)
is most of what a simple check costs. Protobuf has already fixed each
field's type, so a *valid* claim can be built straight from the message.

This module only builds valid claims: the moment a value is missing, empty
where it is required, or out of its range, it gives up (returns ``None``) and
the caller takes the general path, which owns every problem text. So there
is still one parser of record; this is a shortcut that must agree with it,
and ``tests/unit/test_claim_message.py`` holds the two to the same output
over generated and deliberately broken messages.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from claimscrub.core import limits
from claimscrub.core.claim import (
    AMOUNT_RE,
    DATE_RE,
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
from claimscrub.core.not_checked import NOT_CHECKED_NAMES
from claimscrub.v1 import claim_pb2

_CACHE_SIZE = 4096
_DATES: dict[str, dt.date] = {}


class GiveWay(Exception):
    """The general parser must answer this claim (raised by the shortcuts' helpers)."""


def date_text(value: str) -> dt.date | None:
    # proto3 leaves an unset string empty, which the general path reads as absent.
    if not value:
        return None
    known = _DATES.get(value)
    if known is not None:
        return known
    text = value.strip()
    if not text:
        return None
    if not DATE_RE.match(text):
        raise GiveWay
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise GiveWay from None
    # A claim's dates repeat within it and across claims (dates of service,
    # plan of care); dates are immutable, so one object can serve them all.
    if len(_DATES) >= _CACHE_SIZE:
        _DATES.clear()
    _DATES[value] = day
    return day


def _amount(value: str) -> Decimal | None:
    # Unlike a date, an amount of only spaces is a problem, not an absence.
    if not value:
        return None
    text = value.strip()
    if not AMOUNT_RE.match(text):
        raise GiveWay
    return Decimal(text)


def upper_codes(values: list[str]) -> tuple[str, ...]:
    out = []
    for v in values:
        text = v.strip()
        if not text:
            raise GiveWay
        out.append(text.upper())
    return tuple(out)


def not_checked_names(values: list[str]) -> frozenset[str]:
    if not values:
        return _NONE_CHECKED
    names = frozenset(upper_codes(values))
    if not names <= NOT_CHECKED_NAMES:
        raise GiveWay
    return names


_NONE_CHECKED: frozenset[str] = frozenset()

_ProviderField = Literal["billing_provider", "rendering_provider", "referring_provider"]


def _provider(msg: claim_pb2.Claim, name: _ProviderField) -> Provider | None:
    if not msg.HasField(name):
        return None
    p = getattr(msg, name)
    return Provider(
        npi=p.npi.strip() or None,
        name=p.name.strip() or None,
        tax_id=p.tax_id.strip() or None,
        taxonomy=p.taxonomy.strip() or None,
    )


def _patient(msg: claim_pb2.Claim) -> Patient | None:
    if not msg.HasField("patient"):
        return None
    p = msg.patient
    address = None
    if p.HasField("address"):
        a = p.address
        address = Address(
            line1=a.line1.strip() or None,
            city=a.city.strip() or None,
            state=a.state.strip() or None,
            zip=a.zip.strip() or None,
        )
    return Patient(
        member_id=p.member_id.strip() or None,
        mrn=p.mrn.strip() or None,
        first_name=p.first_name.strip() or None,
        last_name=p.last_name.strip() or None,
        birth_date=date_text(p.birth_date),
        sex=p.sex.strip() or None,
        address=address,
        phone=p.phone.strip() or None,
        email=p.email.strip() or None,
        ssn=p.ssn.strip() or None,
    )


def _therapy(msg: claim_pb2.Claim) -> Therapy | None:
    if not msg.HasField("therapy"):
        return None
    t = msg.therapy
    poc = None
    if t.HasField("plan_of_care"):
        c = t.plan_of_care
        poc = PlanOfCare(
            certified_date=date_text(c.certified_date),
            start_date=date_text(c.start_date),
            end_date=date_text(c.end_date),
        )
    days = None
    if t.HasField("treatment_days_since_progress_report"):
        days = t.treatment_days_since_progress_report
        if days < 0:
            raise GiveWay
    visits = None
    if t.HasField("visits_used_ytd"):
        visits = t.visits_used_ytd
        if visits < 0:
            raise GiveWay
    discipline = t.discipline.strip()
    return Therapy(
        discipline=discipline.upper() if discipline else None,
        plan_of_care=poc,
        treatment_days_since_progress_report=days,
        amount_used_ytd=_amount(t.amount_used_ytd),
        amount_used_ytd_pt_slp=_amount(t.amount_used_ytd_pt_slp),
        amount_used_ytd_ot=_amount(t.amount_used_ytd_ot),
        visits_used_ytd=visits,
    )


def _prior_authorization(msg: claim_pb2.Claim) -> PriorAuthorization | None:
    if not msg.HasField("prior_authorization"):
        return None
    a = msg.prior_authorization
    visits = None
    if a.HasField("visits"):
        visits = a.visits
        if visits < 0:
            raise GiveWay
    return PriorAuthorization(
        number=a.number.strip() or None,
        start_date=date_text(a.start_date),
        end_date=date_text(a.end_date),
        visits=visits,
    )


def _lines(msg: claim_pb2.Claim) -> tuple[ServiceLine, ...]:
    lines = []
    seen: set[int] = set()
    if len(msg.service_lines) > limits.current().max_service_lines:
        raise GiveWay
    for line in msg.service_lines:
        if not (line.HasField("line_number") and line.HasField("units")):
            raise GiveWay
        number, units = line.line_number, line.units
        code = line.procedure_code.strip()
        if number < 1 or number in seen or units < 0 or not code:
            raise GiveWay
        seen.add(number)
        minutes = None
        if line.HasField("minutes"):
            minutes = line.minutes
            if minutes < 0:
                raise GiveWay
        dos = date_text(line.date_of_service)
        if dos is None:
            raise GiveWay
        lines.append(
            ServiceLine(
                line_number=number,
                date_of_service=dos,
                procedure_code=code.upper(),
                units=units,
                modifiers=upper_codes(line.modifiers),  # type: ignore[arg-type]
                minutes=minutes,
                charge_amount=_amount(line.charge_amount),
                diagnosis_pointers=tuple(line.diagnosis_pointers),
                place_of_service=line.place_of_service.strip() or None,
                allowed_amount=_amount(line.allowed_amount),
            )
        )
    if not lines:
        raise GiveWay
    return tuple(lines)


def claim_from_message(msg: claim_pb2.Claim, today: dt.date | None = None) -> Claim | None:
    """The claim ``parse_claim`` would build from this message (processing
    date ``today``), or ``None`` when the message has any problem (the general
    parser then reports it)."""
    claim_id = msg.claim_id.strip()
    payer_id = msg.payer_id.strip()
    if not claim_id or not payer_id:
        return None
    try:
        claim = Claim(
            claim_id=claim_id,
            payer_id=payer_id.upper(),
            service_lines=_lines(msg),
            submission_date=date_text(msg.submission_date),
            patient=_patient(msg),
            billing_provider=_provider(msg, "billing_provider"),
            rendering_provider=_provider(msg, "rendering_provider"),
            referring_provider=_provider(msg, "referring_provider"),
            diagnoses=upper_codes(msg.diagnoses),  # type: ignore[arg-type]
            therapy=_therapy(msg),
            note=msg.note.strip() or None,
            prior_authorization=_prior_authorization(msg),
            not_checked=not_checked_names(msg.not_checked),  # type: ignore[arg-type]
        )
    except GiveWay:
        return None
    return claim if dates_in_range(claim, today) else None

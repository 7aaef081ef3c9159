"""The claim as the rules see it, and the one parser that builds it.

Rules never read raw JSON or protobuf: they get a validated, typed
:class:`Claim`. Everything the contract marks optional is ``None`` (or empty)
when absent, so a rule that needs a value can tell "missing" from "zero".

The parser reports problems as field paths and reasons only, never values:
problem text ends up in MALFORMED_CLAIM messages, and claims carry PHI.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from claimscrub.core import limits as input_limits
from claimscrub.core.limits import EARLIEST_DATE, latest_date
from claimscrub.core.not_checked import NOT_CHECKED_NAMES

# The shapes of a date and an amount; the shortcuts for well-formed claims
# (claim_message, claim_dict) accept exactly these too.
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
AMOUNT_RE = re.compile(r"^-?\d+(\.\d{1,2})?$")


@dataclass(frozen=True, slots=True)
class Address:
    line1: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None


@dataclass(frozen=True, slots=True)
class Patient:
    member_id: str | None = None
    mrn: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    birth_date: dt.date | None = None
    sex: str | None = None
    address: Address | None = None
    phone: str | None = None
    email: str | None = None
    ssn: str | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    npi: str | None = None
    name: str | None = None
    tax_id: str | None = None
    taxonomy: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceLine:
    line_number: int
    date_of_service: dt.date
    procedure_code: str
    units: int
    modifiers: tuple[str, ...] = ()
    minutes: int | None = None
    charge_amount: Decimal | None = None
    diagnosis_pointers: tuple[int, ...] = ()
    place_of_service: str | None = None
    allowed_amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PlanOfCare:
    certified_date: dt.date | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Therapy:
    discipline: str | None = None
    plan_of_care: PlanOfCare | None = None
    treatment_days_since_progress_report: int | None = None
    #: one figure for every threshold group (see the KX rule for when it counts)
    amount_used_ytd: Decimal | None = None
    amount_used_ytd_pt_slp: Decimal | None = None
    amount_used_ytd_ot: Decimal | None = None
    visits_used_ytd: int | None = None


@dataclass(frozen=True, slots=True)
class PriorAuthorization:
    number: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    visits: int | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    claim_id: str
    payer_id: str
    service_lines: tuple[ServiceLine, ...]
    submission_date: dt.date | None = None
    patient: Patient | None = None
    billing_provider: Provider | None = None
    rendering_provider: Provider | None = None
    referring_provider: Provider | None = None
    diagnoses: tuple[str, ...] = ()
    therapy: Therapy | None = None
    note: str | None = None
    prior_authorization: PriorAuthorization | None = None
    #: Checks the claim's source has no input for (claimscrub.core.not_checked);
    #: set by the X12 intake, empty for contract JSON.
    not_checked: frozenset[str] = frozenset()


@dataclass(slots=True)
class ParsedClaim:
    """The outcome of parsing: a claim, or the problems that stopped it.

    ``claim_id`` is filled whenever the input had a usable one, so even a
    malformed claim can be answered under its own id.
    """

    claim_id: str
    claim: Claim | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.claim is not None and not self.problems


_INT32 = (-(2**31), 2**31 - 1)
_INT32_MIN, _INT32_MAX = _INT32


def proto_int(value: object) -> int | None:
    """An integer the way proto3 JSON reads one into an int32 field, else None.

    Mirrors ``google.protobuf.json_format._ConvertInteger`` (ints, integral
    floats, numeric strings without spaces; never booleans) so that a claim
    parsed straight from JSON and one that went through protobuf agree.
    """
    if type(value) is int:  # the common case, answered before the general one
        return value if _INT32_MIN <= value <= _INT32_MAX else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    if isinstance(value, str) and " " in value:
        return None
    try:
        number = int(value)
    except (ValueError, OverflowError):
        try:
            f = float(value)
        except ValueError:
            return None
        if not f.is_integer():
            return None
        number = int(f)
    if not _INT32[0] <= number <= _INT32[1]:
        return None
    return number


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _is_mapping(value: object) -> bool:
    # isinstance against the Mapping ABC is slow; parsed JSON holds plain dicts.
    return type(value) is dict or isinstance(value, Mapping)


_DATE_RANGE_PROBLEM = "must be a date from 1900-01-01 to a year after the processing date"


def claim_dates(claim: Claim) -> list[dt.date | None]:
    """Every date field of a claim (None where absent), dates of service first.

    Written out, not found by reflection, because the fast paths ask it of every
    claim; tests/unit/test_limits.py holds it to the dataclasses' date fields,
    so a date field added to the model without being added here fails there.
    """
    days: list[dt.date | None] = [line.date_of_service for line in claim.service_lines]
    days.append(claim.submission_date)
    if claim.patient is not None:
        days.append(claim.patient.birth_date)
    therapy = claim.therapy
    if therapy is not None and therapy.plan_of_care is not None:
        plan = therapy.plan_of_care
        days += (plan.certified_date, plan.start_date, plan.end_date)
    auth = claim.prior_authorization
    if auth is not None:
        days += (auth.start_date, auth.end_date)
    return days


def dates_in_range(claim: Claim, today: dt.date | None = None) -> bool:
    """Whether every date of the claim is within contract §1's range: the fast
    paths (claim_message, claim_dict) ask this of what they built, so they
    accept exactly the dates :func:`parse_claim` accepts."""
    days = [day for day in claim_dates(claim) if day is not None]
    if not days:
        return True
    return min(days) >= EARLIEST_DATE and max(days) <= latest_date(today or dt.date.today())


class _Reader:
    """Typed field access that records problems instead of raising.

    Each field is named by the object it is in (``where``, empty at the top
    level) and its key; the path ``where.key`` is only built for a problem.
    """

    def __init__(self, today: dt.date | None = None) -> None:
        self.problems: list[str] = []
        self.latest = latest_date(today or dt.date.today())

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(f"{path}: {reason}")

    def obj(self, data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
        value = data.get(key)
        if value is None:
            return None
        if not _is_mapping(value):
            self.problem(_path(where, key), "must be an object")
            return None
        return value  # type: ignore[no-any-return]

    def text(
        self, data: Mapping[str, Any], key: str, where: str, *, required: bool = False
    ) -> str | None:
        value = data.get(key)
        if type(value) is str:
            stripped = value.strip()
            if stripped:
                return stripped
        elif value is not None and not isinstance(value, str):
            self.problem(_path(where, key), "must be a string")
            return None
        elif isinstance(value, str) and value.strip():
            return value.strip()
        if required:
            self.problem(_path(where, key), "missing")
        return None

    def integer(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        *,
        required: bool = False,
        minimum: int | None = None,
    ) -> int | None:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(_path(where, key), "missing")
            return None
        value = proto_int(value)
        if value is None:
            self.problem(_path(where, key), "must be an integer")
            return None
        if minimum is not None and value < minimum:
            self.problem(_path(where, key), f"must be at least {minimum}")
            return None
        return value

    def date(
        self, data: Mapping[str, Any], key: str, where: str, *, required: bool = False
    ) -> dt.date | None:
        value = data.get(key)
        if type(value) is str:  # text()'s answer for a string, without the call
            value = value.strip()
            if not value:
                if required:
                    self.problem(_path(where, key), "missing")
                return None
        else:
            value = self.text(data, key, where, required=required)
            if value is None:
                return None
        if not DATE_RE.match(value):
            self.problem(_path(where, key), "must be a date YYYY-MM-DD")
            return None
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            self.problem(_path(where, key), "must be a date YYYY-MM-DD")
            return None
        if not EARLIEST_DATE <= day <= self.latest:
            self.problem(_path(where, key), _DATE_RANGE_PROBLEM)
            return None
        return day

    def amount(self, data: Mapping[str, Any], key: str, where: str) -> Decimal | None:
        value = data.get(key)
        if value is None:
            return None
        if type(value) is str:
            text = value.strip()
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(_path(where, key), "must be a decimal amount")
            return None
        else:
            text = str(value).strip()
        if not AMOUNT_RE.match(text):
            self.problem(_path(where, key), "must be a decimal amount")
            return None
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
            self.problem(_path(where, key), "must be a decimal amount")
            return None

    def _list(self, data: Mapping[str, Any], key: str, where: str) -> Sequence[Any]:
        value = data.get(key)
        if value is None:
            return ()
        if type(value) is not list and (
            not isinstance(value, Sequence) or isinstance(value, str | bytes)
        ):
            self.problem(_path(where, key), "must be a list")
            return ()
        return value

    def text_list(self, data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        out: list[str] = []
        for i, item in enumerate(self._list(data, key, where)):
            if not isinstance(item, str) or not item.strip():
                self.problem(f"{_path(where, key)}[{i}]", "must be a non-empty string")
                continue
            out.append(item.strip().upper())
        return tuple(out)

    def int_list(self, data: Mapping[str, Any], key: str, where: str) -> tuple[int, ...]:
        out: list[int] = []
        for i, item in enumerate(self._list(data, key, where)):
            number = proto_int(item)
            if number is None:
                self.problem(f"{_path(where, key)}[{i}]", "must be an integer")
                continue
            out.append(number)
        return tuple(out)


def _provider(r: _Reader, data: Mapping[str, Any], key: str) -> Provider | None:
    raw = r.obj(data, key, "")
    if raw is None:
        return None
    return Provider(
        npi=r.text(raw, "npi", key),
        name=r.text(raw, "name", key),
        tax_id=r.text(raw, "taxId", key),
        taxonomy=r.text(raw, "taxonomy", key),
    )


def _patient(r: _Reader, data: Mapping[str, Any]) -> Patient | None:
    raw = r.obj(data, "patient", "")
    if raw is None:
        return None
    addr_raw = r.obj(raw, "address", "patient")
    address = None
    if addr_raw is not None:
        where = "patient.address"
        address = Address(
            line1=r.text(addr_raw, "line1", where),
            city=r.text(addr_raw, "city", where),
            state=r.text(addr_raw, "state", where),
            zip=r.text(addr_raw, "zip", where),
        )
    return Patient(
        member_id=r.text(raw, "memberId", "patient"),
        mrn=r.text(raw, "mrn", "patient"),
        first_name=r.text(raw, "firstName", "patient"),
        last_name=r.text(raw, "lastName", "patient"),
        birth_date=r.date(raw, "birthDate", "patient"),
        sex=r.text(raw, "sex", "patient"),
        address=address,
        phone=r.text(raw, "phone", "patient"),
        email=r.text(raw, "email", "patient"),
        ssn=r.text(raw, "ssn", "patient"),
    )


def _therapy(r: _Reader, data: Mapping[str, Any]) -> Therapy | None:
    raw = r.obj(data, "therapy", "")
    if raw is None:
        return None
    poc_raw = r.obj(raw, "planOfCare", "therapy")
    poc = None
    if poc_raw is not None:
        where = "therapy.planOfCare"
        poc = PlanOfCare(
            certified_date=r.date(poc_raw, "certifiedDate", where),
            start_date=r.date(poc_raw, "startDate", where),
            end_date=r.date(poc_raw, "endDate", where),
        )
    discipline = r.text(raw, "discipline", "therapy")
    return Therapy(
        discipline=discipline.upper() if discipline else None,
        plan_of_care=poc,
        treatment_days_since_progress_report=r.integer(
            raw, "treatmentDaysSinceProgressReport", "therapy", minimum=0
        ),
        amount_used_ytd=r.amount(raw, "amountUsedYtd", "therapy"),
        amount_used_ytd_pt_slp=r.amount(raw, "amountUsedYtdPtSlp", "therapy"),
        amount_used_ytd_ot=r.amount(raw, "amountUsedYtdOt", "therapy"),
        visits_used_ytd=r.integer(raw, "visitsUsedYtd", "therapy", minimum=0),
    )


def _prior_authorization(r: _Reader, data: Mapping[str, Any]) -> PriorAuthorization | None:
    raw = r.obj(data, "priorAuthorization", "")
    if raw is None:
        return None
    where = "priorAuthorization"
    return PriorAuthorization(
        number=r.text(raw, "number", where),
        start_date=r.date(raw, "startDate", where),
        end_date=r.date(raw, "endDate", where),
        visits=r.integer(raw, "visits", where, minimum=0),
    )


def _lines(r: _Reader, data: Mapping[str, Any]) -> tuple[ServiceLine, ...]:
    raw_lines = data.get("serviceLines")
    if raw_lines is None or (isinstance(raw_lines, list) and not raw_lines):
        r.problem("serviceLines", "at least one service line is required")
        return ()
    if not isinstance(raw_lines, list):
        r.problem("serviceLines", "must be a list")
        return ()
    most = input_limits.current().max_service_lines
    if len(raw_lines) > most:
        # Not read further: the claim is answered whole, whatever its lines say.
        r.problem("serviceLines", f"at most {most} service lines a claim")
        return ()
    lines: list[ServiceLine] = []
    seen: set[int] = set()
    for i, raw in enumerate(raw_lines):
        path = f"serviceLines[{i}]"
        if not _is_mapping(raw):
            r.problem(path, "must be an object")
            continue
        # A well-formed value is taken as is; anything else goes through the
        # reader, which records the problem (in the same field order).
        number = raw.get("lineNumber")
        if type(number) is not int or not 1 <= number <= _INT32_MAX:
            number = r.integer(raw, "lineNumber", path, required=True, minimum=1)
        dos = r.date(raw, "dateOfService", path, required=True)
        code = r.text(raw, "procedureCode", path, required=True)
        units = raw.get("units")
        if type(units) is not int or not 0 <= units <= _INT32_MAX:
            units = r.integer(raw, "units", path, required=True, minimum=0)
        minutes = raw.get("minutes")
        if minutes is not None and (type(minutes) is not int or not 0 <= minutes <= _INT32_MAX):
            minutes = r.integer(raw, "minutes", path, minimum=0)
        if number is not None:
            if number in seen:
                r.problem(f"{path}.lineNumber", "duplicated")
            seen.add(number)
        line_fields_ok = number is not None and dos is not None and code and units is not None
        modifiers = r.text_list(raw, "modifiers", path)
        pointers = r.int_list(raw, "diagnosisPointers", path)
        charge = r.amount(raw, "chargeAmount", path)
        pos = r.text(raw, "placeOfService", path)
        allowed = r.amount(raw, "allowedAmount", path)
        if line_fields_ok:
            assert number is not None and dos is not None and code and units is not None
            lines.append(
                ServiceLine(
                    line_number=number,
                    date_of_service=dos,
                    procedure_code=code.upper(),
                    units=units,
                    modifiers=modifiers,
                    minutes=minutes,
                    charge_amount=charge,
                    diagnosis_pointers=pointers,
                    place_of_service=pos,
                    allowed_amount=allowed,
                )
            )
    return tuple(lines)


def _not_checked(r: _Reader, data: Mapping[str, Any]) -> frozenset[str]:
    names = r.text_list(data, "notChecked", "")
    for i, name in enumerate(names):
        if name not in NOT_CHECKED_NAMES:
            r.problem(f"notChecked[{i}]", "not a check name of notChecked")
    return frozenset(names)


def claim_id_of(data: object) -> str:
    """The claim's id if the input has a usable one, else an empty string."""
    if _is_mapping(data):
        assert isinstance(data, Mapping)
        value = data.get("claimId")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def parse_claim(data: object, today: dt.date | None = None) -> ParsedClaim:
    """Validate a claim in the contract's JSON shape (§1) and build a :class:`Claim`.

    Never raises for bad input: every problem is reported, so the caller can
    answer with MALFORMED_CLAIM and move on to the next claim. ``today`` is
    the processing date that bounds the claim's dates (default: today).
    """
    claim_id = claim_id_of(data)
    if not _is_mapping(data):
        return ParsedClaim(claim_id, None, ["claim: must be a JSON object"])
    assert isinstance(data, Mapping)
    r = _Reader(today)
    r.text(data, "claimId", "", required=True)
    payer_id = r.text(data, "payerId", "", required=True)
    lines = _lines(r, data)
    claim = Claim(
        claim_id=claim_id,
        payer_id=(payer_id or "").upper(),
        service_lines=lines,
        submission_date=r.date(data, "submissionDate", ""),
        patient=_patient(r, data),
        billing_provider=_provider(r, data, "billingProvider"),
        rendering_provider=_provider(r, data, "renderingProvider"),
        referring_provider=_provider(r, data, "referringProvider"),
        diagnoses=r.text_list(data, "diagnoses", ""),
        therapy=_therapy(r, data),
        note=r.text(data, "note", ""),
        prior_authorization=_prior_authorization(r, data),
        not_checked=_not_checked(r, data),
    )
    if r.problems:
        return ParsedClaim(claim_id, None, r.problems)
    return ParsedClaim(claim_id, claim)

"""Enrollment records (contract §2): the model, its validation, its bytes.

One record per provider and payer, keyed ``npi:payerId`` on the compacted
topic ``providers.enrollment``. The same parser reads the CLI's
``--enrollment FILE``, the records ``claimscrub enrollment load`` publishes,
and the events the service consumes, so a record means the same everywhere.

Problems are reported by field name and reason only: a reference file line
can be echoed into logs, and reasons must stay free of any value.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from claimscrub.core.payers import ReferenceDataError, read_json_records
from claimscrub.enrollment.npi import npi_problem
from claimscrub.v1 import enrollment_pb2

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class EnrollmentStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PENDING = "PENDING"
    TERMINATED = "TERMINATED"
    REVOKED = "REVOKED"


class RecordError(ReferenceDataError):
    """An enrollment record that cannot be used; the message names fields only."""


@dataclass(frozen=True, slots=True)
class EnrollmentRecord:
    npi: str
    payer_id: str
    status: EnrollmentStatus
    effective_date: dt.date | None = None
    termination_date: dt.date | None = None
    taxonomy: str | None = None
    license_expires: dt.date | None = None
    excluded: bool = False

    @property
    def key(self) -> str:
        return record_key(self.npi, self.payer_id)


def normalise_payer(payer_id: str) -> str:
    # Claims' payerId is upper-cased by the claim parser; keys must agree.
    return payer_id.strip().upper()


def record_key(npi: str, payer_id: str) -> str:
    """The topic key of a provider's record with a payer: ``npi:payerId``."""
    return f"{npi.strip()}:{normalise_payer(payer_id)}"


def _text(raw: Mapping[str, Any], name: str, problems: list[str]) -> str | None:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        problems.append(f"{name} must be a string")
        return None
    return value.strip()


def _date(raw: Mapping[str, Any], name: str, problems: list[str]) -> dt.date | None:
    text = _text(raw, name, problems)
    if text is None:
        return None
    if _DATE_RE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    problems.append(f"{name} must be a date YYYY-MM-DD")
    return None


def parse_record(raw: object) -> EnrollmentRecord:
    """Validate one record in the contract's JSON shape; raises :class:`RecordError`.

    Beyond the types: the NPI must be valid (a record with a mistyped NPI
    would never match a claim), ACTIVE and TERMINATED records need the
    effective date that opens their window, TERMINATED needs the date that
    closes it, and a termination cannot precede the effective date.
    """
    if not isinstance(raw, Mapping):
        raise RecordError("a record must be a JSON object")
    problems: list[str] = []
    npi = _text(raw, "npi", problems)
    payer = _text(raw, "payerId", problems)
    status_text = _text(raw, "status", problems)
    effective = _date(raw, "effectiveDate", problems)
    terminated = _date(raw, "terminationDate", problems)
    license_expires = _date(raw, "licenseExpires", problems)
    taxonomy = _text(raw, "taxonomy", problems)
    excluded = raw.get("excluded", False)
    if not isinstance(excluded, bool):
        problems.append("excluded must be true or false")
        excluded = False
    if npi is None:
        problems.append("npi missing")
    elif (problem := npi_problem(npi)) is not None:
        problems.append(f"npi {problem.value}")
    if payer is None:
        problems.append("payerId missing")
    status: EnrollmentStatus | None = None
    if status_text is None:
        problems.append("status missing")
    else:
        try:
            status = EnrollmentStatus(status_text.upper())
        except ValueError:
            problems.append("status must be ACTIVE, PENDING, TERMINATED or REVOKED")
    # Checked on the raw field so a malformed date is reported once, not twice.
    windowed = (EnrollmentStatus.ACTIVE, EnrollmentStatus.TERMINATED)
    if status in windowed and _text(raw, "effectiveDate", []) is None:
        problems.append(f"effectiveDate missing (required for {status})")
    if status is EnrollmentStatus.TERMINATED and _text(raw, "terminationDate", []) is None:
        problems.append("terminationDate missing (required for TERMINATED)")
    if effective and terminated and terminated < effective:
        problems.append("terminationDate is before effectiveDate")
    if problems:
        raise RecordError("; ".join(problems))
    assert npi is not None and payer is not None and status is not None
    return EnrollmentRecord(
        npi=npi,
        payer_id=normalise_payer(payer),
        status=status,
        effective_date=effective,
        termination_date=terminated,
        taxonomy=taxonomy.upper() if taxonomy else None,
        license_expires=license_expires,
        excluded=excluded,
    )


def read_records(path: Path) -> list[EnrollmentRecord]:
    """An enrollment file (JSON array or JSON Lines), every record valid.

    All or nothing: one bad record fails the file with its 1-based number, so
    a half-loaded file never silently drops providers. A provider and payer
    listed twice is an error too (the topic would keep only the last).
    """
    records: list[EnrollmentRecord] = []
    seen: set[str] = set()
    for i, raw in enumerate(read_json_records(path), start=1):
        try:
            record = parse_record(raw)
        except RecordError as exc:
            raise RecordError(f"{path.name} record {i}: {exc}") from None
        if record.key in seen:
            raise RecordError(f"{path.name} record {i}: npi and payerId listed twice")
        seen.add(record.key)
        records.append(record)
    return records


# --- bytes on providers.enrollment ---------------------------------------------


def record_to_pb(record: EnrollmentRecord) -> enrollment_pb2.EnrollmentRecord:
    return enrollment_pb2.EnrollmentRecord(
        npi=record.npi,
        payer_id=record.payer_id,
        status=record.status.value,
        effective_date=record.effective_date.isoformat() if record.effective_date else "",
        termination_date=record.termination_date.isoformat() if record.termination_date else "",
        taxonomy=record.taxonomy or "",
        license_expires=record.license_expires.isoformat() if record.license_expires else "",
        excluded=record.excluded,
    )


def encode_record(record: EnrollmentRecord) -> bytes:
    return record_to_pb(record).SerializeToString()


def decode_record(value: bytes) -> EnrollmentRecord:
    """A record event's value: protobuf EnrollmentRecord, or the contract's JSON.

    JSON is accepted (a value starting with ``{``) for producers that cannot
    write protobuf, as on claims.submitted.
    """
    data: object
    if value.lstrip()[:1] == b"{":
        try:
            data = json.loads(value.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise RecordError("value is not valid JSON") from None
    else:
        msg = enrollment_pb2.EnrollmentRecord()
        try:
            msg.ParseFromString(value)
        except DecodeError:
            raise RecordError("value is not a protobuf EnrollmentRecord") from None
        data = json_format.MessageToDict(msg)
    return parse_record(data)

"""Claim de-identification by allow-list (HIPAA Safe Harbor, domain §8).

``data/deidentify_policy.json`` lists every field of the contract's claim
(§1) with what becomes of it: kept if its value has the expected form
(codes, units, minutes, charges, allowed and year-to-date amounts, visit
counts, payer, provider NPIs), replaced by a keyed pseudonym (member ID,
MRN, SSN, claimId, tax id, prior authorisation number), cut (ZIP to ZIP3,
dates to the year or shifted per patient, birth date to a year and an age,
90+ over 89), redacted (the note) or removed (names, street, city, phone, e-mail).
Anything else is dropped and counted: an unknown field fails closed.

Works on the contract JSON, not on the parsed model, so a claim the checks
call malformed is still de-identified (and a bad value in a kept field is
dropped, its path noted) instead of being lost to analytics.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from claimscrub.core.codec import dict_to_message
from claimscrub.redaction.config import DateMode, RedactionConfig
from claimscrub.redaction.known import KnownPhi, known_phi, text_at
from claimscrub.redaction.pseudonym import Pseudonymizer
from claimscrub.redaction.rules import RulesError, data_json
from claimscrub.redaction.text import Redactor, default_redactor
from claimscrub.v1 import redaction_service_pb2, results_pb2

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True, slots=True)
class Policy:
    schemas: Mapping[str, Mapping[str, tuple[str, str] | None]]
    formats: Mapping[str, re.Pattern[str]]
    prefixes: Mapping[str, str]
    restricted_zip3: frozenset[str]
    max_age: int
    over_max_label: str
    hex_chars: int

    @classmethod
    @functools.cache
    def bundled(cls) -> Policy:
        raw = data_json("deidentify_policy.json")
        schemas: dict[str, dict[str, tuple[str, str] | None]] = {}
        for name, fields in raw["schemas"].items():
            schemas[name] = {
                field: (None if rule is None else (str(rule[0]), str(rule[1])))
                for field, rule in fields.items()
            }
        if "claim" not in schemas:
            raise RulesError("deidentify_policy.json: schemas.claim is missing")
        return cls(
            schemas=schemas,
            formats={k: re.compile(v) for k, v in raw["formats"].items()},
            prefixes=dict(raw["token_prefixes"]),
            restricted_zip3=frozenset(raw["restricted_zip3"]),
            max_age=int(raw["max_age"]),
            over_max_label=str(raw["age_over_max"]),
            hex_chars=int(raw["token_hex_chars"]),
        )


def _iso_date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or not _DATE.match(value.strip()):
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


class _Walk:
    """One claim's de-identification: the transforms, with the claim's context."""

    def __init__(
        self,
        d: Deidentifier,
        claim: Mapping[str, Any],
        known: KnownPhi,
        patient_token: str,
        today: dt.date,
    ) -> None:
        self.d = d
        self.known = known
        self.dropped: list[str] = []
        self.unknown = 0
        self.offset = (
            d.pseudonyms.day_offset(patient_token, d.config.shift_max_days)
            if d.config.date_mode is DateMode.SHIFT
            else 0
        )
        lines = claim.get("serviceLines")
        service_dates = [
            day
            for line in (lines if isinstance(lines, list) else [])
            if isinstance(line, Mapping) and (day := _iso_date(line.get("dateOfService")))
        ]
        self.reference_date = (
            min(service_dates) if service_dates else _iso_date(claim.get("submissionDate")) or today
        )

    def drop(self, path: str) -> None:
        self.dropped.append(path)

    def obj(self, schema_name: str, value: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(value, Mapping):
            self.drop(path or "claim")
            return None
        schema = self.d.policy.schemas[schema_name]
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key not in schema:
                self.unknown += 1
                continue
            rule = schema[key]
            if rule is None or item is None:
                continue
            target, transform = rule
            sub = f"{path}.{key}" if path else str(key)
            result = self.apply(transform, item, sub)
            if result is None:
                continue
            if target == "":
                if isinstance(result, dict):
                    out.update(result)
            else:
                out[target] = result
        return out

    def apply(self, transform: str, value: Any, path: str) -> Any:
        # A claim has some seventy fields: each transform's handler is looked
        # up once per process, not once per field.
        found = _HANDLERS.get(transform)
        if found is None:
            kind, _, arg = transform.partition(":")
            handler: _Handler | None = getattr(_Walk, f"t_{kind}", None)
            if handler is None:
                raise RulesError(f"deidentify_policy.json: unknown transform {transform!r}")
            found = _HANDLERS[transform] = (handler, arg)
        return found[0](self, found[1], value, path)

    def t_object(self, schema: str, value: Any, path: str) -> Any:
        return self.obj(schema, value, path)

    def t_list(self, inner: str, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            self.drop(path)
            return None
        out = []
        for i, item in enumerate(value):
            result = self.apply(inner, item, f"{path}[{i}]")
            if result is not None:
                out.append(result)
        return out

    def t_format(self, name: str, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            self.drop(path)
            return None
        text = value.strip().upper()
        if not self.d.policy.formats[name].match(text):
            self.drop(path)
            return None
        return text

    def t_int(self, _arg: str, value: Any, path: str) -> Any:
        # The record's integer fields are int32, as the claim's are.
        if isinstance(value, bool):
            self.drop(path)
            return None
        if isinstance(value, int):
            if _INT32_MIN <= value <= _INT32_MAX:
                return value
            self.drop(path)
            return None
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,9}", value.strip()):
            return int(value.strip())
        self.drop(path)
        return None

    def t_token(self, kind: str, value: Any, path: str) -> Any:
        if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
            self.drop(path)
            return None
        return self.d.pseudonyms.token(self.d.policy.prefixes[kind], str(value))

    def t_date(self, _arg: str, value: Any, path: str) -> Any:
        day = _iso_date(value)
        if day is None:
            self.drop(path)
            return None
        if self.d.config.date_mode is DateMode.YEAR:
            return f"{day.year:04d}"
        return (day + dt.timedelta(days=self.offset)).isoformat()

    def t_birth(self, _arg: str, value: Any, path: str) -> Any:
        birth = _iso_date(value)
        if birth is None or birth > self.reference_date:
            self.drop(path)
            return None
        age = _age(birth, self.reference_date)
        if age > self.d.policy.max_age:
            label = self.d.policy.over_max_label
            return {"birthYear": label, "age": label}
        return {"birthYear": f"{birth.year:04d}", "age": str(age)}

    def t_zip3(self, _arg: str, value: Any, path: str) -> Any:
        text = value.strip() if isinstance(value, str) else ""
        if not self.d.policy.formats["zip"].match(text):
            self.drop(path)
            return None
        zip3 = text[:3]
        return "000" if zip3 in self.d.policy.restricted_zip3 else zip3

    def t_text(self, _arg: str, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            self.drop(path)
            return None
        return self.d.redact(value, self.known)


_Handler = Callable[[_Walk, str, Any, str], Any]
# transform (as the policy writes it, "object:patient") -> its handler and argument
_HANDLERS: dict[str, tuple[_Handler, str]] = {}


class Deidentifier:
    """Claims (contract JSON) to :class:`DeidentifiedClaim` messages."""

    def __init__(
        self,
        config: RedactionConfig,
        *,
        policy: Policy | None = None,
        redactor: Redactor | None = None,
        on_redacted: Callable[[Mapping[str, int]], None] | None = None,
    ) -> None:
        """``on_redacted`` hears the counts of PHI spans removed from each text."""
        self.config = config
        self._on_redacted = on_redacted
        self.policy = policy or Policy.bundled()
        self.redactor = redactor or default_redactor()
        self.pseudonyms = Pseudonymizer(config.key, self.policy.hex_chars)

    def redact(self, text: str, known: KnownPhi | None = None) -> str:
        redacted = self.redactor.redact(text, known)
        if self._on_redacted is not None and redacted.counts:
            self._on_redacted(redacted.counts)
        return redacted.text

    def claim_token(self, claim_id: str) -> str:
        return self.pseudonyms.token(self.policy.prefixes["claimId"], claim_id)

    def patient_token(self, claim: Mapping[str, Any], fallback_id: str = "") -> str:
        """Who the claim is about, as a token: member ID (with the payer),
        else MRN (with the billing NPI), else name and birth date, else the
        claim itself. The per-patient date shift is keyed by it."""
        prefix = self.policy.prefixes["patient"]
        member = text_at(claim, "patient", "memberId")
        if member:
            return self.pseudonyms.token(prefix, f"member:{text_at(claim, 'payerId')}:{member}")
        mrn = text_at(claim, "patient", "mrn")
        if mrn:
            npi = text_at(claim, "billingProvider", "npi")
            return self.pseudonyms.token(prefix, f"mrn:{npi}:{mrn}")
        first, last = text_at(claim, "patient", "firstName"), text_at(claim, "patient", "lastName")
        birth = text_at(claim, "patient", "birthDate")
        if (first or last) and birth:
            return self.pseudonyms.token(prefix, f"person:{last}:{first}:{birth}".lower())
        return self.pseudonyms.token(prefix, f"claim:{text_at(claim, 'claimId') or fallback_id}")

    def deidentify(
        self,
        claim: Any,
        *,
        result: results_pb2.ScrubResult | None = None,
        fallback_id: str = "",
        today: dt.date | None = None,
    ) -> redaction_service_pb2.DeidentifiedClaim:
        """The de-identified claim; ``fallback_id`` stands in for a missing
        claimId (the record key, as the checks do)."""
        data: Mapping[str, Any] = claim if isinstance(claim, Mapping) else {}
        known = known_phi(data)
        patient_token = self.patient_token(data, fallback_id)
        walk = _Walk(self, data, known, patient_token, today or dt.date.today())
        out = walk.obj("claim", claim, "") or {}
        if "claimToken" not in out:
            claim_id = text_at(data, "claimId") or fallback_id
            if claim_id:
                out["claimToken"] = self.claim_token(claim_id)
        out["patientToken"] = patient_token
        out["dateMode"] = self.config.date_mode.value
        msg = dict_to_message(out, redaction_service_pb2.DeidentifiedClaim())
        msg.dropped_fields.extend(walk.dropped)
        msg.unknown_fields = walk.unknown
        if result is not None:
            msg.result.CopyFrom(self.deidentify_result(result, msg.claim_token, known))
        return msg

    def deidentify_result(
        self,
        result: results_pb2.ScrubResult,
        claim_token: str,
        known: KnownPhi | None = None,
    ) -> results_pb2.ScrubResult:
        """A result under the claim's token, its messages redacted (they are
        written from codes and numbers already; this is the second line)."""
        out = results_pb2.ScrubResult()
        out.CopyFrom(result)
        out.claim_id = claim_token
        for e in out.edits:
            e.message = self.redact(e.message, known)
        return out


def to_json(msg: redaction_service_pb2.DeidentifiedClaim) -> dict[str, Any]:
    """The contract-style JSON of a de-identified claim (lowerCamelCase)."""
    return json_format.MessageToDict(msg)

"""Reference data of the ENROLLMENT check besides the records: which discipline
a taxonomy belongs to, which discipline a therapy modifier marks, and the
date policy (boundary days; how long before the effective date a payer
lets services be billed is its policy's ``retroactiveEnrollmentDays``). All
of it is bundled data under ``data/``; :mod:`claimscrub.enrollment.rules`
stays pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

from claimscrub.core.payers import ReferenceDataError

_PACKAGE = "claimscrub.enrollment"
DISCIPLINES = frozenset({"PT", "OT", "SLP"})


@dataclass(frozen=True, slots=True)
class TaxonomyInfo:
    discipline: str
    assistant: bool


@dataclass(frozen=True, slots=True)
class EnrollmentReference:
    taxonomies: Mapping[str, TaxonomyInfo]
    #: therapy modifier (GP, GO, GN) → discipline (PT, OT, SLP)
    modifier_disciplines: Mapping[str, str]
    termination_date_covered: bool
    license_valid_on_expiry_date: bool

    def taxonomy(self, code: str | None) -> TaxonomyInfo | None:
        return self.taxonomies.get(code.strip().upper()) if code else None

    @classmethod
    def load(cls) -> EnrollmentReference:
        tax = _bundled("data/taxonomies.json")
        policy = _bundled("data/policy.json")
        return cls(
            taxonomies=MappingProxyType(_taxonomies(tax)),
            modifier_disciplines=MappingProxyType(_modifiers(tax)),
            termination_date_covered=_policy_value(policy, "terminationDateCovered", bool),
            license_valid_on_expiry_date=_policy_value(policy, "licenseValidOnExpiryDate", bool),
        )


def _bundled(resource: str) -> Any:
    name = resource.rsplit("/", 1)[-1]
    try:
        return json.loads(resources.files(_PACKAGE).joinpath(resource).read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise ReferenceDataError(f"{name}: not valid JSON (line {exc.lineno})") from exc


def _taxonomies(data: Any) -> dict[str, TaxonomyInfo]:
    block = data.get("taxonomies") if isinstance(data, dict) else None
    if not isinstance(block, dict):
        raise ReferenceDataError("taxonomies.json: 'taxonomies' must be an object")
    out: dict[str, TaxonomyInfo] = {}
    for code, info in block.items():
        if code.startswith("_"):
            continue
        if (
            not isinstance(info, dict)
            or info.get("discipline") not in DISCIPLINES
            or not isinstance(info.get("assistant"), bool)
        ):
            raise ReferenceDataError(
                f"taxonomies.json: {code} needs discipline PT, OT or SLP and assistant true/false"
            )
        out[code.upper()] = TaxonomyInfo(info["discipline"], info["assistant"])
    return out


def _modifiers(data: Any) -> dict[str, str]:
    block = data.get("therapyModifiers")
    if not isinstance(block, dict):
        raise ReferenceDataError("taxonomies.json: 'therapyModifiers' must be an object")
    out = {k.upper(): v for k, v in block.items() if not k.startswith("_")}
    if not out or any(v not in DISCIPLINES for v in out.values()):
        raise ReferenceDataError("taxonomies.json: therapyModifiers must map to PT, OT or SLP")
    return out


def _policy_value(data: Any, key: str, kind: type) -> Any:
    entry = data.get(key) if isinstance(data, dict) else None
    value = entry.get("value") if isinstance(entry, dict) else None
    # bool is an int: an int setting must not accept true/false.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ReferenceDataError(f"policy.json: '{key}.value' must be a {kind.__name__}")
    return value

"""Coverage policies: which ICD-10-CM diagnoses support a procedure.

A policy file is JSON: an object ``{"sample": bool, "policies": [...]}`` or a
bare array of policies. Each policy::

    {"id": "L12345", "label": "...", "payers": ["MEDICARE"],
     "procedures": ["97110", "97530"],
     "supportingDiagnoses": ["M62.81", "R26-R29", "M25.511-M25.519"]}

``payers`` empty or absent: every payer. A diagnosis entry is a code, which
also covers its extensions (``Z96.6`` covers ``Z96.651``), or an inclusive
range ``START-END`` compared on the endpoints' own length (``M00-M99`` covers
every M code). Dots are ignored, as on an 837 claim.

DIAGNOSIS_NOT_SUPPORTED is reported only for procedures some loaded policy
covers; a procedure no policy names is not judged. The bundled file holds a
SAMPLE policy only (the CMS billing article A56566's lists were not
retrieved, domain §5).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from claimscrub.core.json_files import listed, read_json
from claimscrub.core.payers import ReferenceDataError

_SAMPLE_RESOURCE = "data/coverage_sample.json"
_CODE_RE = re.compile(r"^[A-Z0-9]{5}$")
_DX_RE = re.compile(r"^[A-Z][0-9][0-9A-Z]{0,5}$")


def normalise_diagnosis(code: str) -> str:
    return code.replace(".", "").strip().upper()


@dataclass(frozen=True, slots=True)
class DiagnosisRange:
    start: str
    end: str

    def covers(self, normalised: str) -> bool:
        return (
            normalised[: len(self.start)] >= self.start and normalised[: len(self.end)] <= self.end
        )


@dataclass(frozen=True, slots=True)
class CoveragePolicy:
    policy_id: str
    label: str
    payers: frozenset[str]
    procedures: frozenset[str]
    supporting: tuple[DiagnosisRange, ...]

    def applies(self, payer_id: str, code: str) -> bool:
        return code in self.procedures and (not self.payers or payer_id.upper() in self.payers)

    def supports(self, normalised_diagnosis: str) -> bool:
        return any(r.covers(normalised_diagnosis) for r in self.supporting)


_COVERING_MAX = 65_536


@dataclass(frozen=True, slots=True)
class CoveragePolicies:
    policies: tuple[CoveragePolicy, ...]
    is_sample: bool
    source: str
    # Answers by (payer, code): the rule asks per line and a billing run has
    # few payers and codes. Bounded by clearing.
    _covering: dict[tuple[str, str], tuple[CoveragePolicy, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def covering(self, payer_id: str, code: str) -> tuple[CoveragePolicy, ...]:
        key = (payer_id, code)
        found = self._covering.get(key)
        if found is None:
            if len(self._covering) >= _COVERING_MAX:
                self._covering.clear()
            found = self._covering[key] = tuple(
                p for p in self.policies if p.applies(payer_id, code)
            )
        return found


def _range(entry: Any, where: str) -> DiagnosisRange:
    if not isinstance(entry, str) or not entry.strip():
        raise ReferenceDataError(f"{where}: a supporting diagnosis must be a code or a range")
    parts = [normalise_diagnosis(p) for p in entry.split("-")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(_DX_RE.match(p) for p in parts) or parts[0] > parts[1]:
        raise ReferenceDataError(
            f"{where}: '{entry}' is not an ICD-10-CM code or a START-END range"
        )
    return DiagnosisRange(parts[0], parts[1])


def _strings(raw: Any, key: str, where: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReferenceDataError(f"{where}: '{key}' must be a list of strings")
    return [v.strip().upper() for v in value]


def _policy(raw: Any, where: str) -> CoveragePolicy:
    if not isinstance(raw, dict):
        raise ReferenceDataError(f"{where}: a policy must be an object")
    policy_id = raw.get("id")
    if not isinstance(policy_id, str) or not policy_id.strip():
        raise ReferenceDataError(f"{where}: 'id' missing")
    procedures = _strings(raw, "procedures", where)
    bad = [p for p in procedures if not _CODE_RE.match(p)]
    if bad or not procedures:
        raise ReferenceDataError(f"{where}: 'procedures' must list 5-character codes")
    dx = raw.get("supportingDiagnoses")
    if not isinstance(dx, list) or not dx:
        raise ReferenceDataError(f"{where}: 'supportingDiagnoses' must be a non-empty list")
    label = raw.get("label", "")
    return CoveragePolicy(
        policy_id=policy_id.strip(),
        label=label if isinstance(label, str) else "",
        payers=frozenset(_strings(raw, "payers", where)),
        procedures=frozenset(procedures),
        supporting=tuple(_range(e, f"{where} supportingDiagnoses[{i}]") for i, e in enumerate(dx)),
    )


def parse_coverage(data: Any, name: str, *, bundled: bool = False) -> CoveragePolicies:
    raw_policies, sample = listed(data, "policies", name, "array of policies")
    policies = tuple(_policy(p, f"{name} policy {i + 1}") for i, p in enumerate(raw_policies))
    source = f"bundled sample {name}" if bundled else name
    return CoveragePolicies(policies, sample or bundled, source)


def load_coverage_files(paths: Sequence[Path]) -> CoveragePolicies:
    policies: list[CoveragePolicy] = []
    sample = False
    for path in paths:
        loaded = parse_coverage(read_json(path), path.name)
        policies.extend(loaded.policies)
        sample = sample or loaded.is_sample
    return CoveragePolicies(tuple(policies), sample, ", ".join(p.name for p in paths))


def bundled_sample() -> CoveragePolicies:
    text = resources.files("claimscrub.necessity").joinpath(_SAMPLE_RESOURCE).read_text("utf-8")
    return parse_coverage(json.loads(text), Path(_SAMPLE_RESOURCE).name, bundled=True)

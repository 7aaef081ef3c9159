"""Reference data for the NECESSITY check, loaded once at start-up.

Every list, threshold and phrase lives in ``data/`` (each file says where its
facts come from); the rules in :mod:`claimscrub.necessity.rules` only read
:class:`NecessityReference`. The user replaces the PTP table (``--ptp`` /
CLAIMSCRUB_PTP_FILE), the coverage policies (``--coverage`` /
CLAIMSCRUB_COVERAGE_FILE) and the PFS code statuses (``--code-status`` /
CLAIMSCRUB_CODE_STATUS_FILE); the bundled ones are labelled samples. A fee
schedule (``--fee-schedule`` / CLAIMSCRUB_FEE_SCHEDULE_FILE) is optional and
has no bundled default. The MUE table is the UNITS check's (``--mue`` /
CLAIMSCRUB_MUE_FILE, :func:`claimscrub.units.reference.base_mue`), read
here for the MAI 2/3 day totals across a beneficiary's claims.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from claimscrub.core.claim import Claim
from claimscrub.core.payers import PayerPolicies, ReferenceDataError
from claimscrub.core.versions import (
    CODE_STATUS,
    COVERAGE,
    FEE_SCHEDULE,
    MUE,
    PAYERS,
    PTP,
    Dated,
    Version,
    content_hash,
    version_id,
)
from claimscrub.necessity import code_status as code_status_file
from claimscrub.necessity import coverage as coverage_file
from claimscrub.necessity import ptp_file
from claimscrub.necessity.code_status import CodeStatusTable
from claimscrub.necessity.coverage import CoveragePolicies
from claimscrub.necessity.documentation import DocumentationRules, parse_documentation
from claimscrub.necessity.fee_schedule import FeeSchedule, load_fee_schedule_files
from claimscrub.necessity.ptp_file import PtpTable
from claimscrub.units.reference import MueTable, base_mue

_PACKAGE = "claimscrub.necessity"


@dataclass(frozen=True, slots=True)
class Threshold:
    amount: Decimal
    #: "confirmed" (read in a CMS text) or "secondary" (trade sources only).
    status: str


@dataclass(frozen=True, slots=True)
class TaxonomyRole:
    discipline: str
    assistant: bool


@dataclass(frozen=True, slots=True)
class StatusMeaning:
    """What a PFS status indicator raises: the edit code and a phrase for its message."""

    edit: str
    meaning: str


#: The edits a PFS status may raise (pfs_status.json names one of them per status).
STATUS_EDITS = frozenset({"PROCEDURE_NOT_VALID_FOR_PAYER", "PROCEDURE_BUNDLED"})


_ON_MAX = 8_192


@dataclass(frozen=True, slots=True)
class NecessityReference:
    """Everything the NECESSITY check reads besides the claim and its state."""

    always_therapy: frozenset[str]
    #: evaluation and re-evaluation code -> its discipline (PT, OT, SLP)
    evaluations: Mapping[str, str]
    #: code -> the one discipline whose modifier it takes (evaluations and CR10176's GN-only)
    discipline_codes: Mapping[str, str]
    #: GP/GO/GN -> PT/OT/SLP
    therapy_modifiers: Mapping[str, str]
    #: CQ/CO -> the discipline whose therapy modifier it goes with
    assistant_modifiers: Mapping[str, str]
    kx_modifier: str
    #: NCCI-associated modifiers that bypass an indicator-1 pair with a therapy code
    therapy_bypass_modifiers: frozenset[str]
    #: those that bypass a pair of two non-therapy codes (adds the global and other ones)
    bypass_modifiers: frozenset[str]
    modifier_59: str
    x_modifiers: frozenset[str]
    taxonomies: Mapping[str, TaxonomyRole]
    #: discipline -> threshold group (PT_SLP, OT), and the groups' labels
    groups: Mapping[str, str]
    group_labels: Mapping[str, str]
    kx_thresholds: Mapping[int, Threshold]
    review_threshold: Threshold
    review_through_year: int
    certification_max_days: int
    certification_signature_days: int
    progress_report_days: int
    #: days of earlier claims' lines kept for the cross-claim edits (necessity.history)
    line_history_days: int
    ptp: PtpTable
    code_status: CodeStatusTable
    #: PFS status indicator -> the edit it raises under Medicare rules
    status_meanings: Mapping[str, StatusMeaning]
    coverage: CoveragePolicies
    documentation: DocumentationRules
    payers: PayerPolicies
    #: allowed amounts per code for KX accrual; None when no schedule is loaded
    fee_schedule: FeeSchedule | None = None
    #: the UNITS check's MUE table (units.reference), for MAI 2/3 day totals across claims
    mue: MueTable | None = None
    #: kind (ptp, coverage, code-status, fee-schedule) -> its versions; the
    #: fields above hold the latest until :meth:`on` picks those of a date
    dated: Mapping[str, Dated[Any]] = field(default_factory=lambda: MappingProxyType({}))
    _by_versions: dict[tuple[str, ...], NecessityReference] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # The answer of :meth:`on` per date: rules ask it per line and per day.
    _on: dict[dt.date, NecessityReference] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def on(self, dos: dt.date) -> NecessityReference:
        """This reference with every table in the version in force on ``dos``."""
        found = self._on.get(dos)
        if found is None:
            if len(self._on) >= _ON_MAX:
                self._on.clear()
            found = self._on[dos] = self._in_force(dos)
        return found

    def _in_force(self, dos: dt.date) -> NecessityReference:
        dated = self.dated
        if all(len(d.versions) == 1 for d in dated.values()):
            return self
        chosen = {kind: d.on(dos) for kind, d in dated.items()}
        key = tuple(v.version_id for v in chosen.values())
        found = self._by_versions.get(key)
        if found is None:
            found = replace(self, **{_FIELDS[k]: v.table for k, v in chosen.items()})
            if len(self._by_versions) > 64:  # a handful of quarters in practice
                self._by_versions.clear()
            self._by_versions[key] = found
        return found

    def with_versions(
        self, tables: Mapping[str, Dated[Any]], payers: PayerPolicies | None = None
    ) -> NecessityReference:
        """This reference with other versions of some kinds, or other payer policies."""
        dated = {**self.dated, **{k: v for k, v in tables.items() if k in _FIELDS}}
        latest = {_FIELDS[k]: d.latest.table for k, d in dated.items()}
        return replace(self, **latest, dated=MappingProxyType(dated), payers=payers or self.payers)

    def versions_for(self, claim: Claim) -> dict[str, str]:
        dates = [line.date_of_service for line in claim.service_lines]
        if not dates:
            return {}
        out = {PAYERS: self.payers.version_ids(claim.payer_id, dates)}
        for kind, d in self.dated.items():
            ids = [d.on(day) for day in sorted(set(dates))]
            if any(v.table is not None for v in ids):
                out[kind] = d.ids_on(dates)
        return out

    def modifier_for(self, discipline: str) -> str:
        """The therapy modifier of a discipline (PT -> GP)."""
        for modifier, d in self.therapy_modifiers.items():
            if d == discipline:
                return modifier
        raise KeyError(discipline)

    def assistant_modifier_for(self, discipline: str) -> str | None:
        for modifier, d in self.assistant_modifiers.items():
            if d == discipline:
                return modifier
        return None

    @classmethod
    def load(
        cls,
        *,
        ptp_paths: Sequence[Path] = (),
        coverage_paths: Sequence[Path] = (),
        payers_path: Path | None = None,
        code_status_paths: Sequence[Path] = (),
        fee_schedule_paths: Sequence[Path] = (),
        mue_path: Path | None = None,
        payers: PayerPolicies | None = None,
    ) -> NecessityReference:
        """Load the bundled data; PTP, coverage, code statuses and MUE from the given
        files, else the samples."""
        codes = _bundled_json("therapy_codes.json")
        modifiers = _bundled_json("modifiers.json")
        taxonomy = _bundled_json("taxonomy.json")
        thresholds = _bundled_json("thresholds.json")
        therapy = _str_map(_block(modifiers, "therapy", "modifiers.json"), "modifiers")
        assistant = _str_map(_block(modifiers, "assistant", "modifiers.json"), "modifiers")
        bypass = _block(modifiers, "ptp_bypass", "modifiers.json")
        therapy_bypass = [m for kind in ("anatomic", "therapy") for m in _str_list(bypass, kind)]
        other_bypass = [m for kind in ("global", "other") for m in _str_list(bypass, kind)]
        misuse = _block(modifiers, "ncci_misuse", "modifiers.json")
        evaluations = _str_map(_block(codes, "evaluations", "therapy_codes.json"), "codes")
        specific = _str_map(_block(codes, "discipline_specific", "therapy_codes.json"), "codes")
        unknown = sorted({*evaluations.values(), *specific.values()} - set(therapy.values()))
        if unknown:
            raise ReferenceDataError(
                f"therapy_codes.json: discipline {unknown[0]} has no therapy modifier"
            )
        ptp = base_version(PTP, ptp_paths, "ptp_sample.csv")
        coverage = base_version(COVERAGE, coverage_paths, "coverage_sample.json")
        code_status = base_version(CODE_STATUS, code_status_paths, "pfs_status_sample.csv")
        fees = base_version(FEE_SCHEDULE, fee_schedule_paths, None)
        mue = base_mue(mue_path)
        groups = _block(thresholds, "groups", "thresholds.json")
        plan = _block(thresholds, "plan_of_care", "thresholds.json")
        review = _block(thresholds, "medical_review", "thresholds.json")
        cross = _block(thresholds, "cross_claim", "thresholds.json")
        return cls(
            always_therapy=frozenset(
                _str_list(_block(codes, "always_therapy", "therapy_codes.json"), "codes")
            ),
            evaluations=MappingProxyType(evaluations),
            discipline_codes=MappingProxyType(_disciplines(evaluations, specific)),
            therapy_modifiers=MappingProxyType(therapy),
            assistant_modifiers=MappingProxyType(assistant),
            kx_modifier=str(_block(modifiers, "kx", "modifiers.json").get("modifier", "KX")),
            therapy_bypass_modifiers=frozenset(therapy_bypass),
            bypass_modifiers=frozenset(therapy_bypass + other_bypass),
            modifier_59=str(misuse.get("modifier_59", "")).strip().upper(),
            x_modifiers=frozenset(_str_list(misuse, "x_modifiers")),
            taxonomies=MappingProxyType(_taxonomies(taxonomy)),
            groups=MappingProxyType(_str_map(groups, "disciplines")),
            group_labels=MappingProxyType(_str_map(groups, "labels")),
            kx_thresholds=MappingProxyType(_kx(thresholds)),
            review_threshold=Threshold(
                _amount(review.get("amount"), "medical_review.amount"),
                str(review.get("status", "")),
            ),
            review_through_year=_int(review.get("through_year"), "medical_review.through_year"),
            certification_max_days=_int(
                plan.get("certification_max_days"), "plan_of_care.certification_max_days"
            ),
            certification_signature_days=_int(
                plan.get("certification_signature_days"),
                "plan_of_care.certification_signature_days",
            ),
            progress_report_days=_int(
                plan.get("progress_report_treatment_days"),
                "plan_of_care.progress_report_treatment_days",
            ),
            ptp=ptp.table,
            code_status=code_status.table,
            line_history_days=_int(cross.get("line_history_days"), "cross_claim.line_history_days"),
            status_meanings=MappingProxyType(_status_meanings(_bundled_json("pfs_status.json"))),
            coverage=coverage.table,
            documentation=parse_documentation(
                _bundled_json("documentation.json"), "documentation.json"
            ),
            payers=payers if payers is not None else PayerPolicies.load(payers_path),
            fee_schedule=fees.table,
            mue=mue.table,
            dated=MappingProxyType(
                {
                    PTP: Dated.single(ptp),
                    COVERAGE: Dated.single(coverage),
                    CODE_STATUS: Dated.single(code_status),
                    FEE_SCHEDULE: Dated.single(fees),
                    MUE: Dated.single(mue),
                }
            ),
        )


#: kind -> the NecessityReference field holding its table
_FIELDS = {
    PTP: "ptp",
    COVERAGE: "coverage",
    CODE_STATUS: "code_status",
    FEE_SCHEDULE: "fee_schedule",
    MUE: "mue",
}


def load_table(kind: str, paths: Sequence[Path]) -> Any:
    """A table of ``kind`` from its files, with the loader of its CLI flag;
    raises ReferenceDataError naming the file, line and field."""
    if kind == PTP:
        return ptp_file.load_ptp_files(paths)
    if kind == COVERAGE:
        return coverage_file.load_coverage_files(paths)
    if kind == CODE_STATUS:
        return code_status_file.load_code_status_files(paths)
    if kind == FEE_SCHEDULE:
        return load_fee_schedule_files(paths)
    raise ValueError(f"not a necessity table kind: {kind}")


def _bundled_table(kind: str) -> Any:
    if kind == PTP:
        return ptp_file.bundled_sample()
    if kind == COVERAGE:
        return coverage_file.bundled_sample()
    return code_status_file.bundled_sample()


def base_version(kind: str, paths: Sequence[Path], bundled: str | None) -> Version[Any]:
    """The version of ``kind`` read from files named by flags or variables, else
    the bundled sample (``bundled``: its resource name; ``None``: no table)."""
    if paths:
        raws: list[bytes] = []
        for p in paths:
            try:
                raws.append(p.read_bytes())
            except OSError as exc:
                raise ReferenceDataError(f"{p.name}: cannot read ({exc.strerror})") from exc
        table = load_table(kind, paths)
        prefix = "sample" if getattr(table, "is_sample", False) else "base"
        vid = version_id(None, content_hash(raws), prefix=prefix)
        return Version(kind, vid, None, table, ", ".join(p.name for p in paths))
    if bundled is None:
        return Version(kind, "none", None, None)
    raw = resources.files(_PACKAGE).joinpath(f"data/{bundled}").read_bytes()
    vid = version_id(None, content_hash([raw]), prefix="sample")
    return Version(kind, vid, None, _bundled_table(kind), f"bundled sample {bundled}")


def _bundled_json(name: str) -> dict[str, Any]:
    text = resources.files(_PACKAGE).joinpath(f"data/{name}").read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReferenceDataError(f"{name}: not valid JSON (line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise ReferenceDataError(f"{name}: expected a JSON object")
    return data


def _block(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    block = data.get(key)
    if not isinstance(block, dict):
        raise ReferenceDataError(f"{where}: '{key}' must be an object")
    return block


def _str_list(block: Mapping[str, Any], key: str) -> list[str]:
    value = block.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ReferenceDataError(f"'{key}' must be a list of strings")
    return [v.strip().upper() for v in value]


def _str_map(block: Mapping[str, Any], key: str) -> dict[str, str]:
    value = block.get(key)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ReferenceDataError(f"'{key}' must map strings to strings")
    return {k.strip().upper(): v.strip() for k, v in value.items()}


def _amount(value: Any, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ReferenceDataError(f"{where} must be a decimal amount") from None


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ReferenceDataError(f"{where} must be a positive integer")
    return value


def _taxonomies(data: Mapping[str, Any]) -> dict[str, TaxonomyRole]:
    out: dict[str, TaxonomyRole] = {}
    for code, raw in _block(data, "taxonomies", "taxonomy.json").items():
        if not isinstance(raw, dict) or not isinstance(raw.get("discipline"), str):
            raise ReferenceDataError(f"taxonomy.json: {code} needs a discipline")
        out[code.strip().upper()] = TaxonomyRole(raw["discipline"], raw.get("assistant") is True)
    return out


def _kx(data: Mapping[str, Any]) -> dict[int, Threshold]:
    years = _block(_block(data, "kx", "thresholds.json"), "years", "thresholds.json kx")
    out: dict[int, Threshold] = {}
    for year, raw in years.items():
        if not year.isdigit() or not isinstance(raw, dict):
            raise ReferenceDataError(f"thresholds.json: kx year {year} must be YYYY: {{...}}")
        out[int(year)] = Threshold(
            _amount(raw.get("amount"), f"kx.{year}.amount"), str(raw.get("status", ""))
        )
    return out


def _disciplines(evaluations: Mapping[str, str], specific: Mapping[str, str]) -> dict[str, str]:
    out = dict(evaluations)
    for code, discipline in specific.items():
        if out.setdefault(code, discipline) != discipline:
            raise ReferenceDataError(
                f"therapy_codes.json: {code} has discipline {out[code]} as an evaluation "
                f"and {discipline} as a discipline-specific code"
            )
    return out


def _status_meanings(data: Mapping[str, Any]) -> dict[str, StatusMeaning]:
    out: dict[str, StatusMeaning] = {}
    for status, raw in _block(data, "statuses", "pfs_status.json").items():
        if not isinstance(raw, dict) or raw.get("edit") not in STATUS_EDITS:
            raise ReferenceDataError(
                f"pfs_status.json: status {status} must name an edit: "
                + " or ".join(sorted(STATUS_EDITS))
            )
        meaning = raw.get("meaning")
        if not isinstance(meaning, str) or not meaning.strip():
            raise ReferenceDataError(f"pfs_status.json: status {status} needs a meaning")
        out[status.strip().upper()] = StatusMeaning(str(raw["edit"]), meaning.strip())
    return out

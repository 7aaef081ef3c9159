"""Reference data for the UNITS check: timed/untimed code lists, MUE table, payer policies.

All file reading for the check lives here; :mod:`claimscrub.units.rules` is pure.

The MUE loader reads the CMS practitioner MUE CSV exactly as CMS publishes it
(domain §2): a copyright preamble of arbitrary lines (which may hold commas and
quoted multi-line text), then a header row whose first cell is
``HCPCS/CPT Code``, then one row per code. The bundled ``data/mue_sample.csv``
has that layout but carries SAMPLE values only; a user passes the current
quarter's file instead.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from claimscrub.core.claim import Claim
from claimscrub.core.payers import PayerPolicies, ReferenceDataError
from claimscrub.core.versions import MUE, PAYERS, Dated, Version, content_hash, version_id

_PACKAGE = "claimscrub.units"
_CODES_RESOURCE = "data/codes.json"
_MUE_SAMPLE_RESOURCE = "data/mue_sample.csv"

#: Text in a MUE file's preamble that marks it as claimscrub's sample table.
SAMPLE_MARKER = "CLAIMSCRUB SAMPLE MUE VALUES"

_HEADER_FIRST_CELL = "hcpcs/cpt code"
_CODE_RE = re.compile(r"^[A-Z0-9]{5}$")
_VALUE_RE = re.compile(r"^\d+$")
_MAI_RE = re.compile(r"^([123])(?!\d)")


@dataclass(frozen=True, slots=True)
class MueEntry:
    """One row of the MUE table: the most units of ``code`` on a line or a day."""

    code: str
    value: int
    mai: int
    rationale: str


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # CMS files have shipped in Windows-1252 (e.g. the (R) sign in the preamble).
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise ReferenceDataError(f"{name}: not a UTF-8 or Windows-1252 text file") from exc


def _clean(cell: str) -> str:
    return cell.replace("\ufeff", "").strip()


@dataclass(frozen=True, slots=True)
class _MueColumns:
    code: int
    value: int
    mai: int
    rationale: int | None


def _columns(header: list[str], where: str) -> _MueColumns:
    names = [_clean(cell).lower() for cell in header]

    def find(predicate: str) -> int | None:
        for i, name in enumerate(names):
            if predicate in name:
                return i
        return None

    value = find("mue values")
    mai = find("adjudication indicator")
    rationale = find("rationale")
    if value is None or mai is None:
        raise ReferenceDataError(
            f"{where}: header lacks the 'MUE Values' or 'MUE Adjudication Indicator' column"
        )
    return _MueColumns(code=0, value=value, mai=mai, rationale=rationale)


def _parse_mue(text: str, name: str) -> tuple[dict[str, MueEntry], str]:
    """The MUE rows of a CMS-layout CSV, and the preamble text before its header."""
    reader = csv.reader(io.StringIO(text, newline=""))
    preamble: list[str] = []
    columns: _MueColumns | None = None
    entries: dict[str, MueEntry] = {}
    try:
        for row in reader:
            cells = [_clean(cell) for cell in row]
            if columns is None:
                if cells and cells[0].lower() == _HEADER_FIRST_CELL:
                    columns = _columns(cells, f"{name} line {reader.line_num}")
                else:
                    preamble.append(" ".join(cells))
                continue
            if not any(cells):
                continue
            where = f"{name} line {reader.line_num}"
            if len(cells) <= max(columns.value, columns.mai):
                raise ReferenceDataError(f"{where}: too few columns")
            code = cells[columns.code].upper()
            if not _CODE_RE.match(code):
                raise ReferenceDataError(f"{where}: HCPCS/CPT code must be 5 letters or digits")
            value_text = cells[columns.value]
            if not _VALUE_RE.match(value_text):
                # Blank or non-numeric: CMS withholds some values as confidential.
                continue
            mai_match = _MAI_RE.match(cells[columns.mai])
            if mai_match is None:
                raise ReferenceDataError(
                    f"{where}: MUE Adjudication Indicator must start with 1, 2 or 3"
                )
            if code in entries:
                raise ReferenceDataError(f"{where}: code {code} listed twice")
            rationale = ""
            if columns.rationale is not None and columns.rationale < len(cells):
                rationale = _one_line(cells[columns.rationale])
            entries[code] = MueEntry(code, int(value_text), int(mai_match.group(1)), rationale)
    except csv.Error as exc:
        raise ReferenceDataError(
            f"{name} line {reader.line_num}: not valid CSV ({_one_line(str(exc))})"
        ) from exc
    if columns is None:
        raise ReferenceDataError(f"{name}: no header row starting with 'HCPCS/CPT Code'")
    return entries, "\n".join(preamble)


def load_mue_csv(path: Path) -> dict[str, MueEntry]:
    """Read a CMS practitioner MUE CSV (preamble, header, rows) into ``{code: entry}``.

    Rows whose value is blank or non-numeric (CMS withholds some values as
    confidential) are skipped. Anything else wrong raises
    :class:`~claimscrub.core.payers.ReferenceDataError` with a one-line reason
    naming the file and line.
    """
    return _read_mue_file(path)[0]


def _read_mue_file(path: Path) -> tuple[dict[str, MueEntry], str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReferenceDataError(f"{path.name}: cannot read ({exc.strerror})") from exc
    return _parse_mue(_decode(raw, path.name), path.name)


def _code_list(data: Any, key: str) -> frozenset[str]:
    block = data.get(key) if isinstance(data, dict) else None
    codes = block.get("codes") if isinstance(block, dict) else None
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise ReferenceDataError(f"codes.json: '{key}.codes' must be a list of code strings")
    cleaned = [c.strip().upper() for c in codes]
    bad = [c for c in cleaned if not _CODE_RE.match(c)]
    if bad:
        raise ReferenceDataError(f"codes.json: '{key}.codes' has a code that is not 5 characters")
    return frozenset(cleaned)


def _bundled_text(resource: str) -> str:
    return resources.files(_PACKAGE).joinpath(resource).read_text(encoding="utf-8-sig")


def load_code_lists() -> tuple[frozenset[str], frozenset[str]]:
    """The bundled timed (15-minute) and untimed code lists (domain §1.3)."""
    try:
        data = json.loads(_bundled_text(_CODES_RESOURCE))
    except json.JSONDecodeError as exc:
        raise ReferenceDataError(f"codes.json: not valid JSON (line {exc.lineno})") from exc
    timed = _code_list(data, "timed")
    untimed = _code_list(data, "untimed")
    both = sorted(timed & untimed)
    if both:
        raise ReferenceDataError(f"codes.json: codes both timed and untimed: {', '.join(both)}")
    return timed, untimed


@dataclass(frozen=True, slots=True)
class MueTable:
    """A loaded MUE table: rows per code, whether it is a sample, where it came from.

    The UNITS check reads it per claim; the NECESSITY check reads the same
    table for the MAI 2/3 day totals across a beneficiary's claims."""

    entries: Mapping[str, MueEntry]
    is_sample: bool
    source: str


def mue_table(raw: bytes, name: str, *, bundled: bool = False) -> MueTable:
    """A MUE table from a file's bytes (a sample when bundled or marked so)."""
    entries, preamble = _parse_mue(_decode(raw, name), name)
    sample = bundled or SAMPLE_MARKER.lower() in preamble.lower()
    return MueTable(
        MappingProxyType(entries), sample, f"bundled sample {name}" if bundled else name
    )


def mue_version(
    files: Sequence[tuple[str, bytes]], effective: dt.date | None, vid: str | None = None
) -> Version[MueTable]:
    """A MUE version from one file (``[(name, bytes)]``); raises ReferenceDataError."""
    if len(files) != 1:
        raise ReferenceDataError(f"a MUE version is one file, not {len(files)}")
    name, raw = files[0]
    table = mue_table(raw, name)
    vid = vid or version_id(effective, content_hash([raw]))
    return Version(MUE, vid, effective, table, name)


def base_mue(path: Path | None) -> Version[MueTable]:
    """The MUE version of a file named by a flag or variable, else the bundled sample."""
    if path is None:
        raw = resources.files(_PACKAGE).joinpath(_MUE_SAMPLE_RESOURCE).read_bytes()
        name = Path(_MUE_SAMPLE_RESOURCE).name
        table = mue_table(raw, name, bundled=True)
        return Version(MUE, version_id(None, content_hash([raw]), prefix="sample"), None, table)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReferenceDataError(f"{path.name}: cannot read ({exc.strerror})") from exc
    table = mue_table(raw, path.name)
    prefix = "sample" if table.is_sample else "base"
    return Version(
        MUE, version_id(None, content_hash([raw]), prefix=prefix), None, table, path.name
    )


@dataclass(frozen=True, slots=True)
class UnitsReference:
    """Everything the UNITS check reads besides the claim.

    ``mue`` is the table of the version :meth:`on` chose (the latest one on a
    reference not yet resolved to a date); the rules resolve it per day.
    """

    timed_codes: frozenset[str]
    untimed_codes: frozenset[str]
    mue: Mapping[str, MueEntry]
    mue_is_sample: bool
    mue_source: str
    payers: PayerPolicies
    mue_versions: Dated[MueTable] | None = None
    _by_version: dict[str, UnitsReference] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def on(self, dos: dt.date) -> UnitsReference:
        """This reference with the MUE table in force on ``dos``."""
        dated = self.mue_versions
        if dated is None or len(dated.versions) == 1:
            return self
        version = dated.on(dos)
        found = self._by_version.get(version.version_id)
        if found is None:
            t = version.table
            found = replace(self, mue=t.entries, mue_is_sample=t.is_sample, mue_source=t.source)
            self._by_version[version.version_id] = found
        return found

    def with_versions(
        self, mue: Dated[MueTable] | None = None, payers: PayerPolicies | None = None
    ) -> UnitsReference:
        """This reference with other MUE versions or payer policies (newly published)."""
        out = self
        if mue is not None:
            t = mue.latest.table
            out = replace(
                out, mue=t.entries, mue_is_sample=t.is_sample, mue_source=t.source, mue_versions=mue
            )
        if payers is not None:
            out = replace(out, payers=payers)
        return out

    def versions_for(self, claim: Claim) -> dict[str, str]:
        dates = [line.date_of_service for line in claim.service_lines]
        if not dates:
            return {}
        out = {PAYERS: self.payers.version_ids(claim.payer_id, dates)}
        if self.mue_versions is not None:
            out[MUE] = self.mue_versions.ids_on(dates)
        return out

    @classmethod
    def load(
        cls,
        mue_path: Path | None = None,
        payers_path: Path | None = None,
        *,
        payers: PayerPolicies | None = None,
    ) -> UnitsReference:
        """Load the reference data; ``None`` picks the bundled file (MUE: the labelled
        sample, :func:`base_mue`). ``payers``, when given, stands for ``payers_path``'s
        policies, already loaded."""
        timed, untimed = load_code_lists()
        base = base_mue(mue_path)
        return cls(
            timed_codes=timed,
            untimed_codes=untimed,
            mue=base.table.entries,
            mue_is_sample=base.table.is_sample,
            mue_source=base.table.source,
            payers=payers if payers is not None else PayerPolicies.load(payers_path),
            mue_versions=Dated.single(base),
        )

"""Medicare Physician Fee Schedule (PFS) status indicators per HCPCS code.

A code-status file is CSV: notice lines, then a header row naming at least
``HCPCS`` and ``STATUS CODE`` (case-insensitive; columns found by name, others
ignored), then one row per code::

    HCPCS,MOD,STATUS CODE,EFFECTIVE DATE,END DATE
    97014,,I,,
    97010,,B,20200101,

``MOD`` (optional) holds a payment modifier: rows with one (26, TC, 53) give the
status of that code-modifier combination, not of the code, and are skipped.
``EFFECTIVE DATE`` and ``END DATE`` (optional, YYYYMMDD, YYYY-MM-DD or
MM/DD/YYYY; blank for open) bound the dates of service a row applies to, the
end date included; of the rows in force on a date, the latest effective wins.
The columns carry the PFS Relative Value File's own names, so its HCPCS, MOD
and STATUS CODE columns under a one-row header load as they are.

The bundled file is a SAMPLE holding only the statuses the domain reference
states (97014 I, G0283 A, 97010 B); a file whose notice carries
:data:`SAMPLE_MARKER` counts as a sample.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from claimscrub.core.payers import ReferenceDataError

SAMPLE_MARKER = "CLAIMSCRUB SAMPLE PFS STATUS"
_SAMPLE_RESOURCE = "data/pfs_status_sample.csv"

_CODE_RE = re.compile(r"^[A-Z0-9]{5}$")
_STATUS_RE = re.compile(r"^[A-Z]$")
_HCPCS = "HCPCS"
_STATUS_NAMES = ("STATUS CODE", "STATUS")
_MOD = "MOD"
_EFFECTIVE = "EFFECTIVE DATE"
_END = "END DATE"


@dataclass(frozen=True, slots=True)
class CodeStatus:
    hcpcs: str
    status: str
    effective: dt.date | None
    end: dt.date | None

    def in_force(self, dos: dt.date) -> bool:
        if self.effective is not None and dos < self.effective:
            return False
        return self.end is None or dos <= self.end


@dataclass(frozen=True, slots=True)
class CodeStatusTable:
    by_code: Mapping[str, tuple[CodeStatus, ...]]
    is_sample: bool
    source: str

    def status_on(self, code: str, dos: dt.date) -> str | None:
        """The code's status indicator on ``dos``; ``None`` when the table has none."""
        rows = self.by_code.get(code)
        if rows is None:
            return None
        in_force = [r for r in rows if r.in_force(dos)]
        if not in_force:
            return None
        return max(in_force, key=lambda r: r.effective or dt.date.min).status

    @classmethod
    def from_rows(
        cls, rows: Iterable[CodeStatus], *, is_sample: bool, source: str
    ) -> CodeStatusTable:
        by_code: dict[str, list[CodeStatus]] = {}
        for row in rows:
            by_code.setdefault(row.hcpcs, []).append(row)
        return cls(MappingProxyType({k: tuple(v) for k, v in by_code.items()}), is_sample, source)


def _date(text: str, where: str, column: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    for fmt in ("%Y%m%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ReferenceDataError(f"{where}: {column} must be YYYYMMDD")


def _header(cells: Sequence[str]) -> dict[str, int] | None:
    names = [c.strip().upper() for c in cells]
    if _HCPCS not in names:
        return None
    status = next((names.index(n) for n in _STATUS_NAMES if n in names), None)
    if status is None:
        return None
    columns = {_HCPCS: names.index(_HCPCS), "STATUS": status}
    for optional in (_MOD, _EFFECTIVE, _END):
        if optional in names:
            columns[optional] = names.index(optional)
    return columns


def _cell(cells: Sequence[str], columns: Mapping[str, int], name: str) -> str:
    i = columns.get(name)
    return cells[i].strip() if i is not None and i < len(cells) else ""


def parse_code_status_text(text: str, name: str) -> tuple[list[CodeStatus], str]:
    """The rows of one code-status file, and the notice text before its header."""
    reader = csv.reader(io.StringIO(text, newline=""))
    notice: list[str] = []
    columns: dict[str, int] | None = None
    rows: list[CodeStatus] = []
    try:
        for raw in reader:
            cells = [c.replace("\ufeff", "") for c in raw]
            if columns is None:
                columns = _header(cells)
                if columns is None:
                    notice.append(" ".join(cells))
                continue
            if not any(c.strip() for c in cells):
                continue
            where = f"{name} line {reader.line_num}"
            if _cell(cells, columns, _MOD):
                continue  # a code-modifier combination's status, not the code's
            code = _cell(cells, columns, _HCPCS).upper()
            if not _CODE_RE.match(code):
                raise ReferenceDataError(f"{where}: HCPCS must be a 5-character code")
            status = _cell(cells, columns, "STATUS").upper()
            if not _STATUS_RE.match(status):
                raise ReferenceDataError(f"{where}: STATUS CODE must be one letter")
            effective = _date(_cell(cells, columns, _EFFECTIVE), where, _EFFECTIVE)
            end = _date(_cell(cells, columns, _END), where, _END)
            if effective is not None and end is not None and end < effective:
                raise ReferenceDataError(f"{where}: END DATE is before EFFECTIVE DATE")
            rows.append(CodeStatus(code, status, effective, end))
    except csv.Error as exc:
        raise ReferenceDataError(f"{name} line {reader.line_num}: not valid CSV") from exc
    if columns is None:
        raise ReferenceDataError(f"{name}: no header row naming HCPCS and STATUS CODE")
    return rows, "\n".join(notice)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # CMS files are Windows-1252 (the (R) and section signs of their notices).
        return raw.decode("cp1252", errors="replace")


def load_code_status_files(paths: Sequence[Path]) -> CodeStatusTable:
    rows: list[CodeStatus] = []
    sample = False
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ReferenceDataError(f"{path.name}: cannot read ({exc.strerror})") from exc
        found, notice = parse_code_status_text(_decode(raw), path.name)
        rows.extend(found)
        sample = sample or SAMPLE_MARKER.lower() in notice.lower()
    source = ", ".join(p.name for p in paths)
    return CodeStatusTable.from_rows(rows, is_sample=sample, source=source)


def bundled_sample() -> CodeStatusTable:
    text = resources.files("claimscrub.necessity").joinpath(_SAMPLE_RESOURCE).read_text("utf-8")
    rows, _ = parse_code_status_text(text, Path(_SAMPLE_RESOURCE).name)
    return CodeStatusTable.from_rows(
        rows, is_sample=True, source=f"bundled sample {Path(_SAMPLE_RESOURCE).name}"
    )

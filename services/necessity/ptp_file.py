"""The NCCI procedure-to-procedure (PTP) table, read from CMS's practitioner file layout.

CMS publishes the practitioner PTP edits quarterly in four files
(``ccipra-vNNNr0-f1`` ... ``-f4``), each a notice, a header (in the text
files wrapped over several lines), then one row per edit: column 1 code,
column 2 code, "in existence prior to 1996" flag (``*``), effective date,
deletion date (``*`` for none), modifier indicator (0 not allowed, 1 allowed,
9 not applicable) and rationale (domain §3). Dates are ``YYYYMMDD``.

This loader takes that layout as the tab-separated text CMS ships or as CSV
(for example the Excel file saved as CSV): every line before the first row
that looks like an edit is notice or header; after it, a line that is not a
valid edit is an error naming the file and line. A pair may appear on
several rows (CMS files repeat pairs with different dates); all are kept and
the rows in force on the date of service decide.

The deletion date is read as the last date of service the edit applies to
(CMS files carry quarter-end deletion dates such as 20041231); that reading
lives in :meth:`PtpEdit.in_force` only.
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

#: Text in a PTP file's notice that marks it as claimscrub's sample table.
SAMPLE_MARKER = "CLAIMSCRUB SAMPLE PTP PAIRS"
_SAMPLE_RESOURCE = "data/ptp_sample.csv"

_CODE_RE = re.compile(r"^[A-Z0-9]{5}$")
_INDICATORS = frozenset({0, 1, 9})


@dataclass(frozen=True, slots=True)
class PtpEdit:
    column1: str
    column2: str
    effective: dt.date
    deletion: dt.date | None
    indicator: int
    rationale: str

    def in_force(self, dos: dt.date) -> bool:
        """Whether the edit applies on ``dos``; indicator 9 never applies."""
        if self.indicator == 9 or dos < self.effective:
            return False
        return self.deletion is None or dos <= self.deletion


@dataclass(frozen=True, slots=True)
class PtpTable:
    pairs: Mapping[tuple[str, str], tuple[PtpEdit, ...]]
    codes: frozenset[str]
    is_sample: bool
    source: str
    #: column 2 code -> the column 1 codes it pairs with (any date)
    column1_of: Mapping[str, frozenset[str]]

    def edit_for(self, column1: str, column2: str, dos: dt.date) -> PtpEdit | None:
        """The edit of this ordered pair in force on ``dos``; indicator 0 wins over 1."""
        listed = self.pairs.get((column1, column2))
        if listed is None:  # most pairs of a claim's codes are no PTP pair
            return None
        rows = [e for e in listed if e.in_force(dos)]
        if not rows:
            return None
        return min(rows, key=lambda e: e.indicator)

    @classmethod
    def from_edits(cls, edits: Iterable[PtpEdit], *, is_sample: bool, source: str) -> PtpTable:
        pairs: dict[tuple[str, str], list[PtpEdit]] = {}
        for e in edits:
            pairs.setdefault((e.column1, e.column2), []).append(e)
        codes = frozenset(c for pair in pairs for c in pair)
        column1_of: dict[str, set[str]] = {}
        for col1, col2 in pairs:
            column1_of.setdefault(col2, set()).add(col1)
        return cls(
            MappingProxyType({k: tuple(v) for k, v in pairs.items()}),
            codes,
            is_sample,
            source,
            MappingProxyType({k: frozenset(v) for k, v in column1_of.items()}),
        )


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # CMS text files are Windows-1252/Latin-1 (the (R) and section signs of the notice).
        return raw.decode("cp1252", errors="replace")


def _date(text: str) -> dt.date | None:
    text = text.strip()
    for fmt in ("%Y%m%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _looks_like_edit(cells: Sequence[str]) -> bool:
    return (
        len(cells) >= 6
        and bool(_CODE_RE.match(cells[0].upper()))
        and bool(_CODE_RE.match(cells[1].upper()))
        and _date(cells[3]) is not None
    )


def _edit(cells: Sequence[str], where: str) -> PtpEdit:
    if len(cells) < 6:
        raise ReferenceDataError(f"{where}: too few columns for a PTP edit")
    col1, col2 = cells[0].upper(), cells[1].upper()
    if not _CODE_RE.match(col1) or not _CODE_RE.match(col2):
        raise ReferenceDataError(f"{where}: column 1 and column 2 must be 5-character codes")
    effective = _date(cells[3])
    if effective is None:
        raise ReferenceDataError(f"{where}: effective date must be YYYYMMDD")
    deletion_text = cells[4].strip()
    deletion = None
    if deletion_text not in ("", "*"):
        deletion = _date(deletion_text)
        if deletion is None:
            raise ReferenceDataError(f"{where}: deletion date must be YYYYMMDD or *")
    indicator_text = cells[5].strip()
    if not indicator_text.isdigit() or int(indicator_text) not in _INDICATORS:
        raise ReferenceDataError(f"{where}: modifier indicator must be 0, 1 or 9")
    rationale = " ".join(cells[6].split()) if len(cells) > 6 else ""
    return PtpEdit(col1, col2, effective, deletion, int(indicator_text), rationale)


def parse_ptp_text(text: str, name: str) -> tuple[list[PtpEdit], str]:
    """The edits of one PTP file, and the notice text before them."""
    tab_separated = any(line.count("\t") >= 5 for line in text.splitlines()[:200])
    if tab_separated:
        # CMS text files do not quote; a rationale may hold a quote character.
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
    notice: list[str] = []
    edits: list[PtpEdit] = []
    started = False
    try:
        for row in reader:
            cells = [c.replace("\ufeff", "").strip() for c in row]
            if not started:
                if _looks_like_edit(cells):
                    started = True
                else:
                    notice.append(" ".join(cells))
                    continue
            if not any(cells):
                continue
            edits.append(_edit(cells, f"{name} line {reader.line_num}"))
    except csv.Error as exc:
        raise ReferenceDataError(f"{name} line {reader.line_num}: not valid CSV") from exc
    if not started:
        raise ReferenceDataError(f"{name}: no PTP edit rows (column 1, column 2, dates, indicator)")
    return edits, "\n".join(notice)


def load_ptp_files(paths: Sequence[Path]) -> PtpTable:
    """Read one or more PTP files (CMS splits a quarter into four) into one table.

    The table counts as a sample when any file's notice carries :data:`SAMPLE_MARKER`.
    """
    edits: list[PtpEdit] = []
    sample = False
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ReferenceDataError(f"{path.name}: cannot read ({exc.strerror})") from exc
        rows, notice = parse_ptp_text(_decode(raw, path.name), path.name)
        edits.extend(rows)
        sample = sample or SAMPLE_MARKER.lower() in notice.lower()
    source = ", ".join(p.name for p in paths)
    return PtpTable.from_edits(edits, is_sample=sample, source=source)


def bundled_sample() -> PtpTable:
    text = resources.files("claimscrub.necessity").joinpath(_SAMPLE_RESOURCE).read_text("utf-8")
    rows, _ = parse_ptp_text(text, Path(_SAMPLE_RESOURCE).name)
    return PtpTable.from_edits(rows, is_sample=True, source="bundled sample ptp_sample.csv")

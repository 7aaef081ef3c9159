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
lives in :meth:`PtpTable._best_row` only.

A quarter holds about 1.5 million rows, so the table is columnar: codes are
interned to small integers, each row is one slot in a few ``array`` columns
(column 1 code, effective and deletion day ordinals, indicator, rationale),
and the rows are grouped by column 2 code and sorted by column 1 code within
a group, so a pair is a binary search in its column 2 group. Files are read
line by line; no list of rows or row objects is built. Two bounded caches
hold the pairs looked up last (a clinic's claims carry a few dozen codes).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import re
from array import array
from bisect import bisect_left
from collections.abc import Collection, Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from claimscrub.core.payers import ReferenceDataError

if TYPE_CHECKING:
    import _csv

#: Text in a PTP file's notice that marks it as claimscrub's sample table.
SAMPLE_MARKER = "CLAIMSCRUB SAMPLE PTP PAIRS"
_SAMPLE_RESOURCE = "data/ptp_sample.csv"

_CODE_RE = re.compile(r"^[A-Z0-9]{5}$")
_INDICATORS = {"0": 0, "1": 1, "9": 9}
#: Deletion ordinal of an edit with no deletion date: after every date of service.
_NEVER = 0xFFFFFFFF
#: Lines read before deciding between the tab-separated and the CSV layout.
_SNIFF_LINES = 200
_CP1252_FALLBACK = "claimscrub-cp1252"
#: Entries of each lookup cache of a table before it is emptied.
_CACHE_ENTRIES = 8192


def _cp1252(exc: UnicodeError) -> tuple[str, int]:
    # CMS text files are Windows-1252/Latin-1 (the (R) and section signs of the
    # notice): bytes that are not UTF-8 are read as Windows-1252, as they stream.
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("cp1252", errors="replace"), exc.end


codecs.register_error(_CP1252_FALLBACK, _cp1252)


class PtpEdit(NamedTuple):
    """One row of a PTP file (a named tuple: a table makes them as they are looked up)."""

    column1: str
    column2: str
    effective: dt.date
    deletion: dt.date | None
    indicator: int
    rationale: str


class _Pairs(Collection[tuple[str, str]]):
    """The distinct (column 1, column 2) pairs of a table, read from its columns."""

    __slots__ = ("_table",)

    def __init__(self, table: PtpTable) -> None:
        self._table = table

    def __iter__(self) -> Iterator[tuple[str, str]]:
        t = self._table
        for i2, code2 in enumerate(t._codes):
            last = -1
            for at in range(t._start[i2], t._start[i2 + 1]):
                i1 = t._column1[at]
                if i1 != last:
                    last = i1
                    yield t._codes[i1], code2

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, pair: object) -> bool:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            return False
        rows = self._table._rows_of(str(pair[0]), str(pair[1]))
        return rows[0] < rows[1]


class PtpTable:
    """Every row of one or more PTP files, in columns grouped by column 2 code."""

    __slots__ = (
        "_candidates",
        "_codes",
        "_column1",
        "_deletion",
        "_edits_of",
        "_effective",
        "_index",
        "_indicator",
        "_rationale",
        "_rationales",
        "_start",
        "codes",
        "is_sample",
        "source",
    )

    def __init__(self, rows: _Rows, *, is_sample: bool, source: str) -> None:
        self.is_sample = is_sample
        self.source = source
        self._codes: list[str] = rows.codes
        self._index: dict[str, int] = rows.index
        #: every code of any pair
        self.codes: frozenset[str] = frozenset(rows.codes)
        self._rationales: list[str] = rows.rationales
        order = _grouped_order(rows.column1, rows.column2, len(rows.codes))
        self._start = _group_starts(rows.column2, len(rows.codes))
        self._column1 = array("I", map(rows.column1.__getitem__, order))
        self._effective = array("I", map(rows.effective.__getitem__, order))
        self._deletion = array("I", map(rows.deletion.__getitem__, order))
        self._indicator = array("B", map(rows.indicator.__getitem__, order))
        self._rationale = array("I", map(rows.rationale.__getitem__, order))
        # Bounded caches of the pairs looked up (the working set of a clinic's
        # claims is small): pair -> its edits, a day's codes -> their pairs.
        # pair -> (its first row, its edits), or () for no pair
        self._edits_of: dict[tuple[str, str], tuple[int, tuple[PtpEdit, ...]] | tuple[()]] = {}
        self._candidates: dict[tuple[str, ...], tuple[tuple[str, str, int, int], ...]] = {}

    def __len__(self) -> int:
        """The number of rows (edits), repeated pairs counted once per row."""
        return len(self._column1)

    @property
    def pairs(self) -> Collection[tuple[str, str]]:
        return _Pairs(self)

    def _rows_of(self, column1: str, column2: str) -> tuple[int, int]:
        """The slice of rows of this ordered pair (empty when it is no pair)."""
        i2 = self._index.get(column2)
        i1 = self._index.get(column1)
        if i1 is None or i2 is None:
            return 0, 0
        lo, hi = self._start[i2], self._start[i2 + 1]
        col1 = self._column1
        first = bisect_left(col1, i1, lo, hi)
        last = first
        while last < hi and col1[last] == i1:
            last += 1
        return first, last

    def _best_row(self, lo: int, hi: int, day: int) -> int:
        """Of the rows lo..hi of one pair, the one in force on ``day``, or -1.

        In force: effective date <= ``day`` <= deletion date (none: no end).
        Indicator 9 never applies; among the rows in force indicator 0 wins over
        1, and of equal indicators the first row read.
        """
        best, best_indicator = -1, 10
        indicator = self._indicator
        for at in range(lo, hi):
            ind = indicator[at]
            if (
                ind < best_indicator
                and ind != 9
                and self._effective[at] <= day <= self._deletion[at]
            ):
                best, best_indicator = at, ind
        return best

    def _edit(self, row: int, column1: str, column2: str) -> PtpEdit:
        deletion = self._deletion[row]
        return PtpEdit(
            column1,
            column2,
            dt.date.fromordinal(self._effective[row]),
            None if deletion == _NEVER else dt.date.fromordinal(deletion),
            self._indicator[row],
            self._rationales[self._rationale[row]],
        )

    def edit_for(self, column1: str, column2: str, dos: dt.date) -> PtpEdit | None:
        """The edit of this ordered pair in force on ``dos``; indicator 0 wins over 1."""
        key = (column1, column2)
        cached = self._edits_of.get(key)
        if not cached:
            if cached is not None:  # (): most pairs of a claim's codes are no PTP pair
                return None
            lo, hi = self._rows_of(column1, column2)
            cached = (lo, tuple([self._edit(r, column1, column2) for r in range(lo, hi)]))
            if len(self._edits_of) >= _CACHE_ENTRIES:
                self._edits_of.clear()
            if lo == hi:
                self._edits_of[key] = ()
                return None
            self._edits_of[key] = cached
        lo, listed = cached
        row = self._best_row(lo, lo + len(listed), dos.toordinal())
        return None if row < 0 else listed[row - lo]

    def pairs_among(self, codes: Iterable[str], dos: dt.date) -> dict[str, list[tuple[str, int]]]:
        """Every pair of two different ``codes`` in force on ``dos``: column 2 code ->
        [(column 1 code, modifier indicator)]."""
        key = tuple(codes)
        candidates = self._candidates.get(key)
        if candidates is None:
            candidates = self._pairs_of(key)
            if len(self._candidates) >= _CACHE_ENTRIES:
                self._candidates.clear()
            self._candidates[key] = candidates
        found: dict[str, list[tuple[str, int]]] = {}
        if not candidates:
            return found
        day = dos.toordinal()
        for code2, code1, lo, hi in candidates:
            row = self._best_row(lo, hi, day)
            if row >= 0:
                found.setdefault(code2, []).append((code1, self._indicator[row]))
        return found

    def _pairs_of(self, codes: tuple[str, ...]) -> tuple[tuple[str, str, int, int], ...]:
        """(column 2, column 1, first row, end row) of each pair among ``codes``."""
        index = self._index
        known = [(c, i) for c in dict.fromkeys(codes) if (i := index.get(c)) is not None]
        start, col1 = self._start, self._column1
        out: list[tuple[str, str, int, int]] = []
        for code2, i2 in known:
            lo, hi = start[i2], start[i2 + 1]
            if lo == hi:
                continue
            for code1, i1 in known:
                at = bisect_left(col1, i1, lo, hi)
                if i1 == i2 or at == hi or col1[at] != i1:
                    continue
                end = at
                while end < hi and col1[end] == i1:
                    end += 1
                out.append((code2, code1, at, end))
        return tuple(out)

    def edits(self) -> Iterator[PtpEdit]:
        """Every row as an edit, grouped by column 2 code (for tests and tools)."""
        for i2, code2 in enumerate(self._codes):
            for row in range(self._start[i2], self._start[i2 + 1]):
                yield self._edit(row, self._codes[self._column1[row]], code2)

    @classmethod
    def from_edits(cls, edits: Iterable[PtpEdit], *, is_sample: bool, source: str) -> PtpTable:
        rows = _Rows()
        for e in edits:
            rows.add_edit(e)
        return cls(rows, is_sample=is_sample, source=source)


def _grouped_order(column1: array[int], column2: array[int], n_codes: int) -> array[int]:
    """Row numbers ordered by (column 2, column 1, row read): two stable counting sorts."""
    by_column1 = _counting_sort(column1, range(len(column1)), n_codes)
    return _counting_sort(column2, by_column1, n_codes)


def _counting_sort(keys: array[int], order: Iterable[int], n_keys: int) -> array[int]:
    position = _group_starts(keys, n_keys)
    out = array("I", bytes(4 * len(keys)))
    for row in order:
        k = keys[row]
        out[position[k]] = row
        position[k] += 1
    return out


def _group_starts(keys: array[int], n_keys: int) -> array[int]:
    """For each key k, where its group starts in key order; entry n_keys is the end."""
    counts = array("I", bytes(4 * (n_keys + 1)))
    for k in keys:
        counts[k + 1] += 1
    total = 0
    for k in range(n_keys + 1):
        total += counts[k]
        counts[k] = total
    return counts


class _Rows:
    """Rows as read, in columns: codes interned, dates as day ordinals."""

    def __init__(self) -> None:
        self.codes: list[str] = []
        self.index: dict[str, int] = {}
        self.column1: array[int] = array("I")
        self.column2: array[int] = array("I")
        self.effective: array[int] = array("I")
        self.deletion: array[int] = array("I")
        self.indicator: array[int] = array("B")
        self.rationale: array[int] = array("I")
        self.rationales: list[str] = []
        # Cell text as read -> its value, for the cells of the rows after the first.
        self._raw_codes: dict[str, int] = {}
        self._rationale_index: dict[str, int] = {}
        self._dates: dict[str, int] = {}
        self._deletions: dict[str, int] = {}

    def code(self, text: str) -> int:
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.codes)
            self.codes.append(text)
        return i

    def rationale_of(self, raw: str) -> int:
        i = self._rationale_index.get(raw)
        if i is None:
            text = " ".join(raw.split())
            try:
                i = self.rationales.index(text)
            except ValueError:
                i = len(self.rationales)
                self.rationales.append(text)
            self._rationale_index[raw] = i
        return i

    def date(self, text: str) -> int | None:
        """The day ordinal of a date cell; dates repeat, so each text is parsed once."""
        day = self._dates.get(text)
        if day is None:
            parsed = _date(text)
            if parsed is None:
                return None
            day = self._dates[text] = parsed.toordinal()
        return day

    def add_edit(self, e: PtpEdit) -> None:
        self.column1.append(self.code(e.column1))
        self.column2.append(self.code(e.column2))
        self.effective.append(e.effective.toordinal())
        self.deletion.append(_NEVER if e.deletion is None else e.deletion.toordinal())
        self.indicator.append(e.indicator)
        self.rationale.append(self.rationale_of(e.rationale))

    def read(self, lines: Iterable[str], name: str) -> str:
        """Append the edits of one file's lines; return the notice before them."""
        it = iter(lines)
        head = list(itertools.islice(it, _SNIFF_LINES))
        tab_separated = any(line.count("\t") >= 5 for line in head)
        rest = itertools.chain(head, it)
        if tab_separated:
            # CMS text files do not quote; a rationale may hold a quote character.
            reader = csv.reader(rest, delimiter="\t", quoting=csv.QUOTE_NONE)
        else:
            reader = csv.reader(rest)
        notice: list[str] = []
        try:
            for row in reader:
                cells = [c.replace("\ufeff", "").strip() for c in row]
                if _looks_like_edit(cells):
                    self._row(cells, f"{name} line {reader.line_num}")
                    break
                notice.append(" ".join(cells))
            else:
                raise ReferenceDataError(
                    f"{name}: no PTP edit rows (column 1, column 2, dates, indicator)"
                )
            self._rows(reader, name)
        except csv.Error as exc:
            raise ReferenceDataError(f"{name} line {reader.line_num}: not valid CSV") from exc
        return "\n".join(notice)

    def _rows(self, reader: _csv.Reader, name: str) -> None:
        # The hot loop of a 1.5-million-row file: cached lookups first, the
        # checks of _row only for a cell not seen before or a bad row.
        codes, dates, deletions = self._raw_codes, self._dates, self._deletions
        rationales = self._rationale_index
        column1, column2 = self.column1, self.column2
        effective, deletion = self.effective, self.deletion
        indicator, rationale = self.indicator, self.rationale
        for row in reader:
            if len(row) < 7:
                if len(row) < 6:
                    self._row(row, f"{name} line {reader.line_num}")
                    continue
                row.append("")
            i1 = codes.get(row[0])
            i2 = codes.get(row[1])
            eff = dates.get(row[3])
            gone = deletions.get(row[4])
            ind = _INDICATORS.get(row[5])
            why = rationales.get(row[6])
            if (
                i1 is None
                or i2 is None
                or eff is None
                or gone is None
                or ind is None
                or why is None
            ):
                self._row(row, f"{name} line {reader.line_num}")
                continue
            column1.append(i1)
            column2.append(i2)
            effective.append(eff)
            deletion.append(gone)
            indicator.append(ind)
            rationale.append(why)

    def _row(self, cells: Sequence[str], where: str) -> None:
        """Check and append one row, caching its cells for the rows after it; a row of
        empty cells (as spreadsheets save after the last row) is skipped."""
        if not any(c.strip() for c in cells):
            return
        if len(cells) < 6:
            raise ReferenceDataError(f"{where}: too few columns for a PTP edit")
        raw1, raw2 = cells[0], cells[1]
        col1, col2 = raw1.strip().upper(), raw2.strip().upper()
        if not _CODE_RE.match(col1) or not _CODE_RE.match(col2):
            raise ReferenceDataError(f"{where}: column 1 and column 2 must be 5-character codes")
        i1 = self._raw_codes[raw1] = self.code(col1)
        i2 = self._raw_codes[raw2] = self.code(col2)
        effective = self.date(cells[3])
        if effective is None:
            raise ReferenceDataError(f"{where}: effective date must be YYYYMMDD")
        deletion_text = cells[4]
        if deletion_text.strip() in ("", "*"):
            deletion = _NEVER
        else:
            parsed = self.date(deletion_text)
            if parsed is None:
                raise ReferenceDataError(f"{where}: deletion date must be YYYYMMDD or *")
            deletion = parsed
        self._deletions[deletion_text] = deletion
        indicator_text = cells[5].strip()
        indicator = int(indicator_text) if indicator_text.isdigit() else -1
        if indicator not in _INDICATORS.values():
            raise ReferenceDataError(f"{where}: modifier indicator must be 0, 1 or 9")
        self.column1.append(i1)
        self.column2.append(i2)
        self.effective.append(effective)
        self.deletion.append(deletion)
        self.indicator.append(indicator)
        self.rationale.append(self.rationale_of(cells[6] if len(cells) > 6 else ""))


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


def parse_ptp_text(text: str, name: str) -> tuple[list[PtpEdit], str]:
    """The edits of one PTP file in the order read, and the notice text before them."""
    rows = _Rows()
    notice = rows.read(io.StringIO(text, newline=""), name)
    table = PtpTable(rows, is_sample=False, source=name)
    # The table groups by column 2; put the edits back in the order read.
    order = _grouped_order(rows.column1, rows.column2, len(rows.codes))
    grouped = list(table.edits())
    edits: list[PtpEdit | None] = [None] * len(grouped)
    for at, row in enumerate(order):
        edits[row] = grouped[at]
    return [e for e in edits if e is not None], notice


def _file_lines(path: Path) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8-sig", errors=_CP1252_FALLBACK, newline="") as f:
            yield from f
    except OSError as exc:
        raise ReferenceDataError(f"{path.name}: cannot read ({exc.strerror})") from exc


def load_ptp_files(paths: Sequence[Path]) -> PtpTable:
    """Read one or more PTP files (CMS splits a quarter into four) into one table.

    The table counts as a sample when any file's notice carries :data:`SAMPLE_MARKER`.
    """
    rows = _Rows()
    sample = False
    for path in paths:
        notice = rows.read(_file_lines(path), path.name)
        sample = sample or SAMPLE_MARKER.lower() in notice.lower()
    source = ", ".join(p.name for p in paths)
    return PtpTable(rows, is_sample=sample, source=source)


def bundled_sample() -> PtpTable:
    text = resources.files("claimscrub.necessity").joinpath(_SAMPLE_RESOURCE).read_text("utf-8")
    rows = _Rows()
    rows.read(io.StringIO(text, newline=""), Path(_SAMPLE_RESOURCE).name)
    return PtpTable(rows, is_sample=True, source="bundled sample ptp_sample.csv")

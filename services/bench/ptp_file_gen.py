"""A synthetic full-size practitioner PTP file in CMS's layout, for tests and the bench.

    python -m claimscrub.bench.ptp_file_gen OUT_DIR [--rows 1500000] [--seed 16] [--csv]

CMS ships a quarter's practitioner PTP edits as four files
(``ccipra-vNNNr0-f1`` ... ``-f4``) split by column 1 code, about 1.5 million
rows in all; each is a notice, a header and one row per edit (column 1,
column 2, the pre-1996 flag ``*``, effective date, deletion date or ``*``,
modifier indicator 0/1/9, rationale), sorted by column 1 then column 2. This
writes files in that layout, either CMS's tab-separated text (Windows-1252,
CRLF, the header wrapped over four lines) or CSV, as
:mod:`claimscrub.necessity.ptp_file` reads them.

The rows are SYNTHETIC, not CMS edits: codes drawn from the 5-character
CPT/HCPCS code space (anesthesia, surgery, radiology, laboratory, medicine,
Category III ``nnnnT``, HCPCS Level II), column 2 codes skewed towards a few
hundred codes that pair with many, one pair in eight on two rows (deleted,
then added again later), about a quarter of the rows deleted with a
quarter-end deletion date, some deleted retroactively with indicator 9. The
notice carries the sample marker, so a table read from them says its pairs
are samples. The pairs of the bundled sample table (``ptp_sample.csv``) are
written as they are and no other pair is made of two of their codes or the
bench claims' codes, so claims scrubbed against either table get the same
PTP edits: the bench can compare the two on lookup cost alone.

Deterministic: one seed, one output, byte for byte. Rows are written as they
are drawn, one column 1 code at a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from claimscrub.bench.claims import CODES
from claimscrub.necessity.ptp_file import SAMPLE_MARKER, PtpEdit, bundled_sample

FULL_SIZE_ROWS = 1_500_000
DEFAULT_SEED = 16
FILES = 4

# Code families and how many codes each holds in the synthetic code space.
_NUMERIC_RANGES = (
    (100, 1999, 250),  # anesthesia
    (10004, 69990, 6500),  # surgery
    (70010, 79999, 900),  # radiology
    (80047, 89398, 1100),  # pathology and laboratory
    (90281, 99607, 1600),  # medicine, physical medicine and E/M
)
_CATEGORY_III = (42, 950, 350)
_LEVEL_II = ("A", "C", "E", "G", "J", "L", "Q")
_LEVEL_II_PER_LETTER = 100
#: Column 2 codes that pair with many column 1 codes (as 36000 or 96360 do).
_POPULAR = 300
_POPULAR_SHARE = 0.3
_REPEATED_PAIR = 0.12
_DELETED = 0.2
_INDICATOR_0 = 0.12

_RATIONALES = (
    "Mutually exclusive procedures",
    "CPT Manual or CMS manual coding instruction",
    "Standards of medical / surgical practice",
    "HCPCS/CPT procedure code definition",
    "Misuse of column two code with column one code",
    "More extensive procedure",
    "Anesthesia service included in surgical procedure",
    "CPT separate procedure definition",
    "Sequential procedure",
    "Laboratory panel",
    "Add-on code with primary procedure",
)

_NOTICE = (
    f"{SAMPLE_MARKER} - SYNTHETIC FULL-SIZE FILE IN THE CMS PRACTITIONER PTP LAYOUT, "
    "NOT CMS EDITS (claimscrub.bench.ptp_file_gen, seed {seed}, file {part} of {files})",
    "CPT only copyright American Medical Association. All rights reserved.\u00ae "
    "Only code numbers appear here, drawn at random.",
)
_TEXT_HEADER = (
    ("Column 1", "Column 2", "*=in existence", "Effective", "Deletion", "Modifier", "PTP Edit"),
    ("", "", "prior to 1996", "Date", "Date", "0=not allowed", "Rationale"),
    ("", "", "", "", "*=no data", "1=allowed", ""),
    ("", "", "", "", "", "9=not applicable", ""),
)
_CSV_HEADER = (
    "Column 1,Column 2,*=in existence prior to 1996,Effective Date,Deletion Date *=no data,"
    "Modifier 0=not allowed 1=allowed 9=not applicable,PTP Edit Rationale"
)


def _quarters() -> list[dt.date]:
    return [dt.date(y, m, 1) for y in range(1996, 2027) for m in (1, 4, 7, 10)]


def _quarter_end(start: dt.date) -> dt.date:
    nxt = dt.date(start.year + (start.month == 10), (start.month + 2) % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def code_space(rng: random.Random, keep: frozenset[str]) -> list[str]:
    """Distinct 5-character codes in sorted order, ``keep`` among them."""
    codes: set[str] = set(keep)
    for lo, hi, n in _NUMERIC_RANGES:
        codes.update(f"{v:05d}" for v in rng.sample(range(lo, hi + 1), n))
    lo, hi, n = _CATEGORY_III
    codes.update(f"{v:04d}T" for v in rng.sample(range(lo, hi + 1), n))
    for letter in _LEVEL_II:
        codes.update(f"{letter}{v:04d}" for v in rng.sample(range(10000), _LEVEL_II_PER_LETTER))
    return sorted(codes)


def _fmt(day: dt.date | None) -> str:
    return "*" if day is None else day.strftime("%Y%m%d")


class _Drawer:
    """Draws the rows of one column 1 code."""

    def __init__(
        self,
        rng: random.Random,
        codes: list[str],
        sample: list[PtpEdit],
        protected: frozenset[str],
    ) -> None:
        self.rng = rng
        self.codes = codes
        self.popular = rng.sample(codes, _POPULAR)
        self.quarters = _quarters()
        self.protected = protected
        self.sample_rows: dict[str, list[PtpEdit]] = {}
        for e in sample:
            self.sample_rows.setdefault(e.column1, []).append(e)

    def _partners(self, col1: str, n: int) -> list[str]:
        rng = self.rng
        n = min(n, len(self.codes) - 1)
        n_popular = min(int(n * _POPULAR_SHARE), len(self.popular))
        chosen = set(rng.sample(self.popular, n_popular))
        while len(chosen) < n:
            chosen.update(rng.sample(self.codes, n - len(chosen)))
        chosen.discard(col1)
        if col1 in self.protected:
            # The sample table's pairs alone among these codes (module docstring).
            chosen -= self.protected
        return sorted(chosen)

    def _dated_rows(self, col1: str, col2: str) -> Iterator[tuple[str, ...]]:
        rng = self.rng
        q = self.quarters
        rationale = rng.choice(_RATIONALES)
        active = "0" if rng.random() < _INDICATOR_0 else "1"
        first = rng.randrange(len(q) - 2)
        effective = q[first]
        if rng.random() < _REPEATED_PAIR:
            # Deleted at a quarter's end, then in force again from a later quarter.
            end = rng.randrange(first, len(q) - 1)
            again = rng.randrange(end + 1, len(q))
            yield self._row(col1, col2, effective, _quarter_end(q[end]), active, rationale)
            yield self._row(col1, col2, q[again], None, active, rationale)
        elif rng.random() < _DELETED:
            if rng.random() < 0.25:
                # Deleted retroactively: never in force.
                yield self._row(col1, col2, effective, effective, "9", rationale)
            else:
                gone = _quarter_end(q[rng.randrange(first, len(q))])
                yield self._row(col1, col2, effective, gone, active, rationale)
        else:
            yield self._row(col1, col2, effective, None, active, rationale)

    @staticmethod
    def _row(
        col1: str, col2: str, eff: dt.date, gone: dt.date | None, ind: str, why: str
    ) -> tuple[str, ...]:
        prior = "*" if eff == dt.date(1996, 1, 1) else ""
        return (col1, col2, prior, _fmt(eff), _fmt(gone), ind, why)

    def rows(self, col1: str, n: int) -> Iterator[tuple[str, ...]]:
        listed = {e.column2: e for e in self.sample_rows.get(col1, [])}
        for col2 in sorted({*self._partners(col1, n), *listed}):
            e = listed.get(col2)
            if e is not None:
                yield self._row(col1, col2, e.effective, e.deletion, str(e.indicator), e.rationale)
            else:
                yield from self._dated_rows(col1, col2)


def file_names(files: int = FILES, *, csv: bool = False, version: str = "v321r0") -> list[str]:
    return [f"ccipra-{version}-f{i}.{'csv' if csv else 'txt'}" for i in range(1, files + 1)]


def _open(path: Path, csv: bool) -> TextIO:
    if csv:
        return path.open("w", encoding="utf-8", newline="\n")
    return path.open("w", encoding="cp1252", newline="\r\n")


def _header(out: TextIO, csv: bool, seed: int, part: int, files: int) -> None:
    for line in _NOTICE:
        out.write(line.format(seed=seed, part=part, files=files) + "\n")
    if csv:
        out.write(_CSV_HEADER + "\n")
    else:
        for cells in _TEXT_HEADER:
            out.write("\t".join(cells) + "\n")


def generate(
    out_dir: Path,
    rows: int = FULL_SIZE_ROWS,
    *,
    seed: int = DEFAULT_SEED,
    files: int = FILES,
    csv: bool = False,
) -> list[Path]:
    """Write ``rows`` rows over ``files`` files in ``out_dir``; return their paths."""
    rng = random.Random(seed)
    sample = list(bundled_sample().edits())
    protected = CODES | {c for e in sample for c in (e.column1, e.column2)}
    codes = code_space(rng, protected)
    drawer = _Drawer(rng, codes, sample, protected)
    # Most codes are some pair's column 1 code; CMS's files list them in order.
    column1 = sorted(set(rng.sample(codes, len(codes) * 7 // 10)) | drawer.sample_rows.keys())
    paths = [out_dir / name for name in file_names(files, csv=csv)]
    out_dir.mkdir(parents=True, exist_ok=True)
    sep = "," if csv else "\t"
    written = 0
    part = 0
    out = _open(paths[0], csv)
    try:
        _header(out, csv, seed, 1, files)
        for i, col1 in enumerate(column1):
            if written >= rows:
                break
            if written >= rows * (part + 1) // files and part + 1 < files:
                out.close()
                part += 1
                out = _open(paths[part], csv)
                _header(out, csv, seed, part + 1, files)
            left = len(column1) - i
            mean = (rows - written) / left
            n = rows - written if left == 1 else 1 + int(rng.expovariate(1 / max(1.0, mean)))
            for row in drawer.rows(col1, n):
                out.write(sep.join(row) + "\n")
                written += 1
                if written >= rows:
                    break
    finally:
        out.close()
    # Files the rows did not reach still carry their notice and header.
    for later in range(part + 1, files):
        with _open(paths[later], csv) as out:
            _header(out, csv, seed, later + 1, files)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m claimscrub.bench.ptp_file_gen",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--rows", type=int, default=FULL_SIZE_ROWS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--files", type=int, default=FILES)
    parser.add_argument(
        "--csv", action="store_true", help="CSV instead of CMS's tab-separated text"
    )
    args = parser.parse_args(argv)
    for path in generate(args.out_dir, args.rows, seed=args.seed, files=args.files, csv=args.csv):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

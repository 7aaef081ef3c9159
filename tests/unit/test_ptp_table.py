"""The full-size PTP table: the synthetic CMS-layout file, and the compact table read from it.

The table must answer as a plain reading of the PTP rows does (domain §3 and
ptp_file's module docstring): among a pair's rows, those in force on the date
of service (effective date <= DOS <= deletion date, no deletion date for
``*``) decide; indicator 9 never applies; indicator 0 wins over 1; of equal
indicators the first row of the file. ``_reference`` below is that plain
reading, over rows split from the file text by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claimscrub.bench import ptp_file_gen
from claimscrub.bench.claims import CODES
from claimscrub.necessity.ptp_file import (
    SAMPLE_MARKER,
    PtpEdit,
    PtpTable,
    bundled_sample,
    load_ptp_files,
    parse_ptp_text,
)

UNIT_ROWS = 200_000
#: Issue 16: the full-size table adds at most 150 MB RSS to the service holding it.
FULL_SIZE_RSS_MB = 150.0

Rows = dict[tuple[str, str], list[PtpEdit]]


def _date(text: str) -> dt.date | None:
    return None if text == "*" else dt.datetime.strptime(text, "%Y%m%d").date()


def _rows_by_hand(paths: Iterable[Path]) -> Rows:
    """The rows of generated text files: after the notice and the 4-line header."""
    rows: Rows = {}
    for path in paths:
        lines = path.read_bytes().decode("cp1252").split("\r\n")
        for line in lines[6:]:
            if not line:
                continue
            c1, c2, _, eff, gone, ind, why = line.split("\t")
            effective = _date(eff)
            assert effective is not None
            rows.setdefault((c1, c2), []).append(
                PtpEdit(c1, c2, effective, _date(gone), int(ind), why)
            )
    return rows


def _reference(rows: Rows, c1: str, c2: str, dos: dt.date) -> PtpEdit | None:
    in_force = [
        e
        for e in rows.get((c1, c2), [])
        if e.indicator != 9 and e.effective <= dos and (e.deletion is None or dos <= e.deletion)
    ]
    return min(in_force, key=lambda e: e.indicator) if in_force else None


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return ptp_file_gen.generate(tmp_path_factory.mktemp("ptp"), UNIT_ROWS)


@pytest.fixture(scope="module")
def by_hand(generated: list[Path]) -> Rows:
    return _rows_by_hand(generated)


@pytest.fixture(scope="module")
def table(generated: list[Path]) -> PtpTable:
    return load_ptp_files(generated)


# The generator: CMS's practitioner layout, four files, deterministic.


def test_generated_files_are_the_cms_layout(generated: list[Path], by_hand: Rows) -> None:
    assert [p.name for p in generated] == [f"ccipra-v321r0-f{i}.txt" for i in (1, 2, 3, 4)]
    edits = [e for listed in by_hand.values() for e in listed]
    assert len(edits) == UNIT_ROWS
    assert all(len(c) == 5 for e in edits for c in (e.column1, e.column2))
    assert {e.indicator for e in edits} == {0, 1, 9}
    deleted = [e for e in edits if e.deletion is not None]
    assert 0.15 < len(deleted) / len(edits) < 0.5
    assert all(e.deletion is None or e.deletion >= e.effective for e in edits)
    assert sum(len(v) > 1 for v in by_hand.values()) > len(by_hand) // 20
    # Category III (nnnnT) and HCPCS Level II (letter + 4 digits) among the codes.
    codes = {c for pair in by_hand for c in pair}
    assert any(c.endswith("T") for c in codes) and any(c[0].isalpha() for c in codes)


def test_each_file_is_sorted_by_column_1_then_column_2_and_split_by_column_1(
    generated: list[Path],
) -> None:
    last: list[tuple[str, str]] = []
    for path in generated:
        pairs = [(e.column1, e.column2) for v in _rows_by_hand([path]).values() for e in v]
        lines = path.read_bytes().decode("cp1252").split("\r\n")[6:]
        in_file = [tuple(line.split("\t")[:2]) for line in lines if line]
        assert in_file == sorted(in_file)
        assert len(pairs) == len(in_file)
        if last:
            assert last[-1][0] < in_file[0][0]
        last = [(str(a), str(b)) for a, b in in_file]


def test_notice_and_header_are_read_as_such(generated: list[Path]) -> None:
    head = generated[0].read_bytes().decode("cp1252").split("\r\n")[:6]
    assert head[0].startswith(SAMPLE_MARKER) and "NOT CMS EDITS" in head[0]
    assert "\u00ae" in head[1]
    assert head[2].split("\t")[:2] == ["Column 1", "Column 2"]


def test_same_seed_same_bytes_other_seed_other_rows(tmp_path: Path) -> None:
    a = ptp_file_gen.generate(tmp_path / "a", 3000, seed=5)
    b = ptp_file_gen.generate(tmp_path / "b", 3000, seed=5)
    c = ptp_file_gen.generate(tmp_path / "c", 3000, seed=6)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]


def test_csv_and_text_files_of_one_seed_load_the_same_edits(tmp_path: Path) -> None:
    text = load_ptp_files(ptp_file_gen.generate(tmp_path / "t", 5000, seed=2))
    csv = load_ptp_files(ptp_file_gen.generate(tmp_path / "c", 5000, seed=2, csv=True))
    assert sorted(text.edits(), key=repr) == sorted(csv.edits(), key=repr)
    assert csv.is_sample and text.is_sample


def test_empty_rows_a_spreadsheet_saves_after_the_last_row_are_skipped(tmp_path: Path) -> None:
    (path,) = ptp_file_gen.generate(tmp_path, 500, files=1, csv=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(",,,,,,\n\n,,,,,,,\n")
    assert len(load_ptp_files([path])) == 500


def test_the_sample_pairs_are_the_only_pairs_among_the_bench_codes(by_hand: Rows) -> None:
    sample = {(e.column1, e.column2): e for e in bundled_sample().edits()}
    protected = CODES | {c for pair in sample for c in pair}
    among = {pair for pair in by_hand if pair[0] in protected and pair[1] in protected}
    assert among == set(sample)
    assert all(by_hand[pair] == [e] for pair, e in sample.items())


# The compact table against the plain reading.


def test_the_full_table_holds_every_row(table: PtpTable, by_hand: Rows) -> None:
    assert len(table) == UNIT_ROWS
    assert set(table.pairs) == set(by_hand)
    assert table.codes == {c for pair in by_hand for c in pair}
    assert table.is_sample


def _dates_around(edits: Iterable[PtpEdit]) -> set[dt.date]:
    out: set[dt.date] = set()
    day = dt.timedelta(days=1)
    for e in edits:
        out.update((e.effective - day, e.effective))
        if e.deletion is not None:
            out.update((e.deletion, e.deletion + day))
    return out


def test_edit_for_answers_as_the_rows_read_by_hand(table: PtpTable, by_hand: Rows) -> None:
    rng = random.Random(11)
    pairs = rng.sample(sorted(by_hand), 3000)
    codes = sorted(table.codes)
    for _ in range(1000):  # code pairs that are mostly no PTP pair
        pairs.append((rng.choice(codes), rng.choice(codes)))
    checked = found = 0
    for c1, c2 in pairs:
        listed = by_hand.get((c1, c2), [])
        dates = _dates_around(listed) | {dt.date(2026, 5, 4), dt.date(1995, 12, 31)}
        for dos in dates:
            expected = _reference(by_hand, c1, c2, dos)
            assert table.edit_for(c1, c2, dos) == expected, (c1, c2, dos)
            checked += 1
            found += expected is not None
    assert found > checked // 4


def test_pairs_among_a_days_codes_match_edit_for(table: PtpTable, by_hand: Rows) -> None:
    rng = random.Random(12)
    codes = sorted(table.codes)
    by_column2: dict[str, list[str]] = {}
    for c1, c2 in by_hand:
        by_column2.setdefault(c2, []).append(c1)
    for _ in range(500):
        c2 = rng.choice(sorted(by_column2))
        day = [c2, *rng.sample(by_column2[c2], min(2, len(by_column2[c2])))]
        day += rng.sample(codes, 3)
        listed = [e for a in day for e in by_hand.get((a, c2), [])]
        dos = rng.choice(sorted(_dates_around(listed) | {dt.date(2026, 5, 4)}))
        expected: dict[str, list[tuple[str, int]]] = {}
        for b in dict.fromkeys(day):
            for a in dict.fromkeys(day):
                e = _reference(by_hand, a, b, dos) if a != b else None
                if e is not None:
                    expected.setdefault(b, []).append((a, e.indicator))
        got = table.pairs_among(day, dos)
        assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in expected.items()}


_codes = st.sampled_from(["97140", "97530", "97110", "0042T", "G0283"])
# A short span, so that dates of service fall on effective and deletion dates.
_days = st.dates(dt.date(2020, 1, 1), dt.date(2020, 1, 20))


@st.composite
def _edits(draw: st.DrawFn) -> PtpEdit:
    effective = draw(_days)
    deletion = draw(st.none() | _days.filter(lambda d: d >= effective))
    return PtpEdit(
        draw(_codes),
        draw(_codes),
        effective,
        deletion,
        draw(st.sampled_from([0, 1, 9])),
        draw(st.sampled_from(["a", "b"])),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(_edits(), max_size=30), st.lists(st.tuples(_codes, _codes, _days), max_size=20))
def test_any_table_answers_as_its_rows(
    edits: list[PtpEdit], queries: list[tuple[str, str, dt.date]]
) -> None:
    rows: Rows = {}
    for e in edits:
        rows.setdefault((e.column1, e.column2), []).append(e)
    table = PtpTable.from_edits(edits, is_sample=False, source="test")
    for c1, c2, dos in queries:
        expected = _reference(rows, c1, c2, dos)
        assert table.edit_for(c1, c2, dos) == expected
        assert table.edit_for(c1, c2, dos) == expected  # cached
        back = _reference(rows, c2, c1, dos)
        among = {
            col2: [(col1, e.indicator)]
            for col1, col2, e in ((c1, c2, expected), (c2, c1, back))
            if e is not None and c1 != c2
        }
        assert table.pairs_among([c1, c2], dos) == among
        assert table.pairs_among([c1, c2], dos) == among  # cached
    # The same rows written as CMS text and read back.
    text = "Column 1\tColumn 2\t*\tEffective\tDeletion\tModifier\tRationale\n" + "".join(
        f"{e.column1}\t{e.column2}\t\t{e.effective:%Y%m%d}\t"
        f"{'*' if e.deletion is None else f'{e.deletion:%Y%m%d}'}\t{e.indicator}\t{e.rationale}\n"
        for e in edits
    )
    if edits:
        assert parse_ptp_text(text, "t.txt")[0] == edits


# Memory: measured in a fresh process, so nothing else this test run loaded counts.


def _load_figures(paths: list[Path]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "claimscrub.bench.ptp_table", "--load-only", *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures


def test_the_table_adds_its_share_of_the_full_size_memory_bound(generated: list[Path]) -> None:
    figures = _load_figures(generated)
    assert figures["rows"] == UNIT_ROWS
    assert figures["rss_added_mb"] <= FULL_SIZE_RSS_MB * UNIT_ROWS / ptp_file_gen.FULL_SIZE_ROWS


def test_a_full_size_file_loads_within_the_memory_bound(tmp_path: Path) -> None:
    paths = ptp_file_gen.generate(tmp_path, ptp_file_gen.FULL_SIZE_ROWS)
    figures = _load_figures(paths)
    assert figures["rows"] == ptp_file_gen.FULL_SIZE_ROWS
    assert figures["rss_added_mb"] <= FULL_SIZE_RSS_MB

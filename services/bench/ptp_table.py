"""The full-size PTP table: load time, memory and lookup cost beside the sample table.

    python -m claimscrub.bench.ptp_table [--rows 1500000] [--ptp FILE ...] [--runs 5]

Without ``--ptp`` it writes a synthetic full-size PTP file
(:mod:`claimscrub.bench.ptp_file_gen`, four files, CMS's tab-separated
layout) to a temporary folder and reads that. Figures:

* load: parse and build of the table in a fresh process (wall and CPU
  seconds), and the RSS the table adds there (VmRSS after the load minus
  before, and the peak VmHWM during it);
* lookups, sample table and full table in alternating runs, the best run of
  each, in CPU time: ``edit_for`` on pairs of the table in force on the date
  (hit) and on code pairs that are no pair (miss), ``in codes``, and the PTP
  rule (``ptp_edits``) on the bench's generated claims, per claim. The
  lookups go over a working set of 1,000 pairs (a clinic's claims carry a few
  dozen codes), and for the full table also over 20,000 distinct pairs
  ("full cold").

Only the table's public interface is used (``edit_for``, ``codes``,
``pairs``, ``ptp_edits``), so the same file can be run by path against
another checkout: ``python services/bench/ptp_table.py --ptp FILE ...``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DOS = dt.date(2026, 5, 4)
PROBES = 20_000
#: Distinct pairs of a clinic's working set (its claims carry a few dozen codes).
HOT = 1_000


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def load_figures(paths: Sequence[Path]) -> dict[str, float]:
    """Load the table in this process; meant for a fresh process (``--load-only``)."""
    from claimscrub.necessity import ptp_file

    ptp_file.bundled_sample()  # the module and its imports, outside the figure
    before = _status_kb("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    table: Any = ptp_file.load_ptp_files(list(paths))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = _status_kb("VmRSS")
    # Another checkout's table may be a mapping of pairs to their rows.
    rows = len(table) if hasattr(table, "__len__") else sum(map(len, table.pairs.values()))
    return {
        "rows": rows,
        "codes": len(table.codes),
        "load_s": wall,
        "load_cpu_s": cpu,
        "rss_added_mb": (after - before) / 1024,
        "peak_rss_mb": _status_kb("VmHWM") / 1024,
    }


def load_in_subprocess(paths: Sequence[Path]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--load-only", *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures


def _probes(
    table: Any, rng: random.Random, distinct: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """PROBES lookups over ``distinct`` pairs of the table in force on DOS (hits) and
    ``distinct`` code pairs that are no pair (misses)."""
    hits: list[tuple[str, str]] = []
    seen = 0
    for pair in table.pairs:  # reservoir sample of the pairs in force
        if table.edit_for(pair[0], pair[1], DOS) is None:
            continue
        seen += 1
        if len(hits) < distinct:
            hits.append(pair)
        elif (j := rng.randrange(seen)) < distinct:
            hits[j] = pair
    codes = sorted(table.codes)
    misses: list[tuple[str, str]] = []
    while len(misses) < distinct:
        a, b = rng.choice(codes), rng.choice(codes)
        if table.edit_for(a, b, DOS) is None:
            misses.append((a, b))
    rng.shuffle(hits)
    return [hits[i % len(hits)] for i in range(PROBES)], misses * (PROBES // distinct)


def _ns_per(work: Callable[[], int], n: int) -> float:
    work()  # the table's caches as the working set leaves them
    # CPU time of this thread: on a shared machine, waiting for a core is not counted.
    started = time.thread_time()
    work()
    return (time.thread_time() - started) * 1e9 / n


def lookup_figures(tables: dict[str, Any], runs: int) -> dict[str, dict[str, float]]:
    """ns per lookup in each table; a table named "X cold" is table X looked up over
    PROBES distinct pairs, every other over a working set of HOT pairs."""
    from claimscrub.bench.claims import make_claims
    from claimscrub.core.claim import parse_claim
    from claimscrub.necessity.reference import NecessityReference
    from claimscrub.necessity.rules.ptp import ptp_edits

    rng = random.Random(4)
    claims = [parse_claim(c).claim for c in make_claims(2000, "PT")]
    parsed = [c for c in claims if c is not None]
    base = NecessityReference.load()
    work: dict[str, dict[str, Callable[[], int]]] = {}
    per: dict[str, dict[str, int]] = {}
    for name, table in tables.items():
        hits, misses = _probes(table, rng, PROBES if name.endswith(" cold") else HOT)
        codes = [c for pair in misses for c in pair]
        ref = _with_table(base, table)
        edit_for, known = table.edit_for, table.codes

        def hit(hits: list[tuple[str, str]] = hits, f: Any = edit_for) -> int:
            return sum(f(a, b, DOS) is not None for a, b in hits)

        def miss(misses: list[tuple[str, str]] = misses, f: Any = edit_for) -> int:
            return sum(f(a, b, DOS) is None for a, b in misses)

        def member(codes: list[str] = codes, known: Any = known) -> int:
            return sum(c in known for c in codes)

        def rule(ref: Any = ref) -> int:
            return sum(len(ptp_edits(c, ref)) for c in parsed)

        work[name] = {"edit_for_hit": hit, "edit_for_miss": miss, "in_codes": member, "rule": rule}
        per[name] = {
            "edit_for_hit": len(hits),
            "edit_for_miss": len(misses),
            "in_codes": len(codes),
            "rule": len(parsed),
        }
    best: dict[str, dict[str, float]] = {n: {} for n in tables}
    for _ in range(runs):  # alternating: a slow spell of the machine hits every table
        for name in tables:
            for what, fn in work[name].items():
                ns = _ns_per(fn, per[name][what])
                best[name][what] = min(best[name].get(what, float("inf")), ns)
    for name in tables:
        best[name]["rule_edits"] = float(work[name]["rule"]())
    return best


def _with_table(base: Any, table: Any) -> Any:
    import dataclasses

    return dataclasses.replace(base, ptp=table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m claimscrub.bench.ptp_table",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--ptp", type=Path, nargs="+", help="PTP files (default: generated)")
    parser.add_argument("--rows", type=int, default=1_500_000, help="rows of the generated file")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load-only", type=Path, nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_only:
        print(json.dumps(load_figures(args.load_only)))
        return 0

    from claimscrub.necessity import ptp_file

    with tempfile.TemporaryDirectory(prefix="claimscrub-ptp-") as tmp:
        paths = args.ptp
        if not paths:
            from claimscrub.bench.ptp_file_gen import generate

            started = time.perf_counter()
            paths = generate(Path(tmp), args.rows)
            print(f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
        load = load_in_subprocess(paths)
        print(
            f"load {load['rows']:,.0f} rows, {load['codes']:,.0f} codes: "
            f"{load['load_s']:.2f} s ({load['load_cpu_s']:.2f} CPU s), "
            f"RSS +{load['rss_added_mb']:.1f} MB (peak {load['peak_rss_mb']:.0f} MB)"
        )
        full = ptp_file.load_ptp_files(paths)
        tables = {"sample": ptp_file.bundled_sample(), "full": full, "full cold": full}
        lookups = lookup_figures(tables, args.runs)
    print(f"best of {args.runs} alternating runs, CPU ns per lookup (rule: per claim)")
    print(f"{'':14}" + "".join(f"{name:>11}" for name in tables))
    for what in ("edit_for_hit", "edit_for_miss", "in_codes", "rule"):
        print(f"{what:14}" + "".join(f"{lookups[name][what]:11.0f}" for name in tables))
    print(json.dumps({"load": load, "lookups": lookups}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Result rendering for the terminal: JSON Lines or a table for people."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

from claimscrub.core.results import ScrubResult
from claimscrub.core.versions import ordered_versions


def json_line(result: ScrubResult) -> str:
    return json.dumps(result.to_json(), separators=(",", ":"), ensure_ascii=False)


def table(results: Sequence[ScrubResult], out: TextIO) -> None:
    headers = ("CLAIM", "STATUS", "LINE", "CODE", "SEVERITY", "MESSAGE")
    rows: list[tuple[str, ...]] = []
    for r in results:
        if not r.edits:
            rows.append((r.claim_id, r.status.value, "", "", "", ""))
        for i, e in enumerate(r.edits):
            rows.append(
                (
                    r.claim_id if i == 0 else "",
                    r.status.value if i == 0 else "",
                    str(e.line_number) if e.line_number else "claim",
                    e.code,
                    e.severity.value,
                    e.message,
                )
            )
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(headers)
    ]
    widths[-1] = 0  # the message column is free width

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    print(fmt(headers), file=out)
    for row in rows:
        print(fmt(row), file=out)
    counts = Counter(r.status.value for r in results)
    summary = ", ".join(f"{counts[s]} {s}" for s in ("CLEAN", "REVIEW", "HOLD") if counts[s])
    print(f"\n{len(results)} claims: {summary}", file=out)


def detail(results: Sequence[ScrubResult], out: TextIO) -> None:
    """Each result as a block: every edit with its CARC and the rule that
    raised it (a payer's own edit names its id), then the reference data
    versions that judged the claim."""
    for r in results:
        print(f"{r.claim_id}  {r.status.value}", file=out)
        for e in r.edits:
            where = f"line {e.line_number}" if e.line_number else "claim"
            rule = f"rule {e.reference}" if e.reference else ""
            extra = "  ".join(x for x in (e.carc, rule) if x)
            print(f"  {where:<8} {e.code}  {e.severity.value}  {extra}".rstrip(), file=out)
            print(f"           {e.message}", file=out)
        if r.not_checked:
            print(f"  not checked: {', '.join(r.not_checked)}", file=out)
        versions = ordered_versions(r.reference_versions)
        if versions:
            judged = ", ".join(f"{kind} {vid}" for kind, vid in versions.items())
            print(f"  judged with: {judged}", file=out)


class Progress:
    """A one-line progress counter on stderr, only when a person is watching."""

    def __init__(
        self, total: int, label: str, *, stream: TextIO = sys.stderr, min_total: int = 200
    ) -> None:
        self._total = total
        self._label = label
        self._stream = stream
        self._on = stream.isatty() and total >= min_total
        self._step = max(1, total // 100)

    def update(self, done: int) -> None:
        if self._on and (done % self._step == 0 or done == self._total):
            pct = 100 * done // max(1, self._total)
            self._stream.write(f"\r{self._label} {done}/{self._total} ({pct}%)")
            self._stream.flush()

    def close(self) -> None:
        if self._on:
            self._stream.write("\n")
            self._stream.flush()


def write_ready(path: str, claims: Sequence[Any], clean: Sequence[bool], *, jsonl: bool) -> None:
    """The input claims that came out CLEAN, as given: JSON Lines for
    ``.jsonl`` input, else a JSON array."""
    ready = [c for c, ok in zip(claims, clean, strict=True) if ok]
    with open(path, "w", encoding="utf-8") as f:
        if jsonl:
            for claim in ready:
                f.write(json.dumps(claim, separators=(",", ":"), ensure_ascii=False) + "\n")
        else:
            json.dump(ready, f, ensure_ascii=False, indent=1)
            f.write("\n")

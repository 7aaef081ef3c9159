"""A found piece of PHI, and how overlapping finds become one span."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """``text[start:end]`` is PHI of ``type`` (NAME, DATE, PHONE, ...)."""

    start: int
    end: int
    type: str
    # Spans from the claim's own known values: they win over other finds.
    known: bool = False


def merge(spans: Iterable[Span], priority: Mapping[str, int]) -> list[Span]:
    """Overlapping spans become one covering both; it takes the type of the
    longest part (a URL holding a name is a URL), then of a known value,
    then by ``priority``."""
    out: list[Span] = []
    group: list[Span] = []
    end = -1
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if group and span.start >= end:
            out.append(_combine(group, priority))
            group = []
        group.append(span)
        end = max(end, span.end) if len(group) > 1 else span.end
    if group:
        out.append(_combine(group, priority))
    return out


def _combine(group: list[Span], priority: Mapping[str, int]) -> Span:
    if len(group) == 1:
        return group[0]
    start = min(s.start for s in group)
    end = max(s.end for s in group)
    best = min(
        group,
        key=lambda s: (-(s.end - s.start), not s.known, priority.get(s.type, len(priority))),
    )
    return Span(start, end, best.type, any(s.known for s in group))

"""NCCI procedure-to-procedure pairs on one date of service, domain §3.

For two lines on the same date whose codes are a PTP pair in force on that
date (effective and deletion dates, :meth:`PtpTable.pairs_among`): indicator 0
always conflicts; indicator 1 conflicts unless either line carries a bypass
modifier; indicator 9 never applies. When either line is a therapy line only
59, XE, XS, XP, XU and the anatomic modifiers bypass (NCCI policy manual
ch.1); 24, 25, 57, 58, 78, 79, 27 and 91 bypass only pairs of two
non-therapy codes (``modifiers.json``). One PTP_CONFLICT sits on each column
2 line, the one a payer denies (CO-236), naming the column 1 codes and lines
it pairs with. One claim has one rendering provider, so the pairs apply
across disciplines, as CMS applies them for the same provider and day.

Across claims (contract §4: "on this claim or an earlier one"): a column 2
line is paired too with the column 1 lines of the beneficiary's earlier
claims (:mod:`~claimscrub.necessity.history`) for the same rendering provider
and date, under the same indicator and bypass rules; the message names such a
line by its number only ("line 2 of an earlier claim"). Only the later claim's
column 2 line is flagged: an earlier claim's result is never revised. A line
repeating a line of an earlier claim (DUPLICATE_CLAIM,
:mod:`~claimscrub.necessity.rules.cross_claim`) is not paired with earlier
claims, and an earlier line repeating a still earlier one is named once.

NCCI_MODIFIER_MISUSE: 59 and an X modifier (XE/XS/XP/XU) on one line; 59 is
for when no X modifier fits, never alongside one.
"""

from __future__ import annotations

from collections.abc import Sequence

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.core.edits import Edit, edit
from claimscrub.necessity.history import History, rendering_npi, seen_lines
from claimscrub.necessity.lines import code_label, is_therapy_line, line_context
from claimscrub.necessity.reference import NecessityReference
from claimscrub.necessity.rules.cross_claim import distinct_past, repeated_lines

#: How many column 1 lines one PTP_CONFLICT names before "and N more".
NAMED_PAIRS = 5


def _bypassed(a: ServiceLine, b: ServiceLine, ref: NecessityReference) -> bool:
    therapy = is_therapy_line(a, ref) or is_therapy_line(b, ref)
    allowed = ref.therapy_bypass_modifiers if therapy else ref.bypass_modifiers
    return not (allowed.isdisjoint(a.modifiers) and allowed.isdisjoint(b.modifiers))


def _why(indicators: set[int]) -> str:
    if indicators == {0}:
        return "modifier indicator 0: no modifier bypasses it"
    bypass = "59, XE, XS, XP, XU or an anatomic modifier on either line"
    if indicators == {1}:
        return f"modifier indicator 1 and no bypass modifier ({bypass})"
    return f"indicator 0 pairs are never bypassed; indicator 1 pairs need {bypass}"


#: (0 for a line of this claim, 1 for an earlier claim's; its line number; column 1
#: code; modifier indicator): this claim's lines sort first.
_Hit = tuple[int, int, str, int]


def _conflict(col2: ServiceLine, hits: list[_Hit], ref: NecessityReference) -> Edit:
    hits.sort()
    indicators = {indicator for _, _, _, indicator in hits}
    mixed = len(indicators) > 1

    def name(earlier: int, n: int, code: str, indicator: int) -> str:
        where = f"line {n} of an earlier claim" if earlier else f"line {n}"
        return f"{code} ({where}, indicator {indicator})" if mixed else f"{code} ({where})"

    names = [name(*hit) for hit in hits[:NAMED_PAIRS]]
    more = len(hits) - NAMED_PAIRS
    named = ", ".join(names) + (f" and {more} more" if more > 0 else "")
    what = "an NCCI pair" if len(hits) == 1 else "NCCI pairs"
    sample = " (sample PTP pair)" if ref.ptp.is_sample else ""
    return edit(
        "PTP_CONFLICT",
        col2.line_number,
        f"{col2.procedure_code} is the column 2 code of {what} with {named} on one date of "
        f"service; {_why(indicators)}{sample}",
    )


def _day_edits(
    day: Sequence[ServiceLine],
    ref: NecessityReference,
    earlier: Sequence[ServiceLine] = (),
    repeats: frozenset[int] = frozenset(),
) -> list[Edit]:
    """``earlier``: the day's lines of earlier claims (same provider), as lines;
    ``repeats``: this claim's lines that repeat one of them (paired within the claim only)."""
    by_code: dict[str, list[tuple[int, ServiceLine]]] = {}
    ref = ref.on(day[0].date_of_service)  # the PTP version in force that day
    for line in day:
        by_code.setdefault(line.procedure_code, []).append((0, line))
    for line in earlier:
        by_code.setdefault(line.procedure_code, []).append((1, line))
    # Lines of one code share a lookup; the lines of a day share their date.
    pairs = ref.ptp.pairs_among(by_code, day[0].date_of_service)
    edits: list[Edit] = []
    for col2 in day:
        partners = pairs.get(col2.procedure_code)
        if not partners:
            continue
        hits: list[_Hit] = []
        for code, indicator in partners:
            for whose, col1 in by_code[code]:
                if whose and col2.line_number in repeats:
                    continue
                if indicator == 1 and _bypassed(col1, col2, ref):
                    continue
                hits.append((whose, col1.line_number, code, indicator))
        if hits:
            edits.append(_conflict(col2, hits, ref))
    return edits


def ptp_edits(claim: Claim, ref: NecessityReference, history: History | None = None) -> list[Edit]:
    days: dict[object, list[ServiceLine]] = {}
    for line, on in zip(claim.service_lines, line_context(claim, ref).refs, strict=True):
        if line.procedure_code in on.ptp.codes:
            days.setdefault(line.date_of_service, []).append(line)
    past = seen_lines(history, claim.claim_id) if days else []
    earlier: dict[object, list[ServiceLine]] = {}
    repeats: frozenset[int] = frozenset()
    if past:
        npi = rendering_npi(claim)
        for p in distinct_past(past):
            if (
                p.npi == npi
                and p.date_of_service in days
                and p.code in ref.on(p.date_of_service).ptp.codes
            ):
                earlier.setdefault(p.date_of_service, []).append(
                    ServiceLine(p.line_number, p.date_of_service, p.code, p.units, p.modifiers)
                )
        repeats = frozenset(repeated_lines(claim, past))
    return [
        e
        for dos, day in days.items()
        if len(day) > 1 or dos in earlier
        for e in _day_edits(day, ref, earlier.get(dos, ()), repeats)
    ]


def ncci_modifier_edits(claim: Claim, ref: NecessityReference) -> list[Edit]:
    edits: list[Edit] = []
    for line in claim.service_lines:
        if ref.modifier_59 not in line.modifiers:
            continue
        x = sorted({m for m in line.modifiers if m in ref.x_modifiers})
        if x:
            edits.append(
                edit(
                    "NCCI_MODIFIER_MISUSE",
                    line.line_number,
                    f"{code_label(line.procedure_code, ref)} carries {ref.modifier_59} and "
                    f"{' and '.join(x)}; use the X modifier alone ({ref.modifier_59} only when "
                    "no X modifier fits)",
                )
            )
    return edits

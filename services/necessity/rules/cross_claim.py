"""The edits that need the beneficiary's earlier claims: MUE day totals and duplicate lines.

Pure functions of (claim, reference, history): the earlier claims are the
lines :func:`~claimscrub.necessity.history.seen_lines` returns, those of the
claims recorded before this claimId first was. They never include the claim's
own earlier deliveries, nor claims that came after its first delivery, so a
redelivered or corrected claim gets the same edits again.

* **Duplicate lines** (CMS Pub. 100-04 Ch.1 §120; contract §4 DUPLICATE_CLAIM):
  a line identical in rendering provider, date of service, code, modifiers
  (in any order) and units to a line of an earlier claim of the beneficiary
  under another claimId is DUPLICATE_CLAIM on that line, whatever the
  claim's other lines. The result layer keeps only the whole-claim edit (line
  0) when the claim repeats an earlier one entirely (core.results).
  A repeated line is the same service again: it adds no units to a day's MUE
  total and is paired with no earlier line for PTP, and an earlier line that
  repeats a still earlier one counts once.
* **MUE day totals across claims** (NCCI MUE policy; contract §4
  MUE_EXCEEDED): for a code whose MUE Adjudication Indicator is 2 or 3, the
  units of every claim for one beneficiary, rendering provider and date of
  service add up. The claim whose units take the day past the MUE value gets
  MUE_EXCEEDED on the line where the running total (earlier claims first,
  then this claim's lines in line order) first passes it. When the claim's
  own units of the code that day already pass the value, the UNITS check
  reports it (units.rules) and this rule stays silent, so one line never gets
  both. MAI 1 values cap a single line: the UNITS check alone applies them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.core.edits import Edit, edit
from claimscrub.necessity.history import (
    History,
    PastLine,
    line_modifiers,
    rendering_npi,
    seen_lines,
)
from claimscrub.necessity.reference import NecessityReference

LineKey = tuple[str, dt.date, str, tuple[str, ...], int]


def past_key(p: PastLine) -> LineKey:
    return (p.npi, p.date_of_service, p.code, p.modifiers, p.units)


def line_key(npi: str, line: ServiceLine) -> LineKey:
    return (
        npi,
        line.date_of_service,
        line.procedure_code.strip().upper(),
        line_modifiers(line.modifiers),
        line.units,
    )


def distinct_past(past: Sequence[PastLine]) -> list[PastLine]:
    """The earlier lines without those repeating a line of a still earlier claim."""
    first: dict[LineKey, str] = {}
    out: list[PastLine] = []
    for p in past:
        owner = first.setdefault(past_key(p), p.claim_id)
        if owner == p.claim_id:
            out.append(p)
    return out


def repeated_lines(claim: Claim, past: Sequence[PastLine]) -> dict[int, PastLine]:
    """Line number -> the earliest earlier line (of another claim) it repeats."""
    earliest: dict[LineKey, PastLine] = {}
    for p in past:
        earliest.setdefault(past_key(p), p)
    npi = rendering_npi(claim)
    out: dict[int, PastLine] = {}
    for line in claim.service_lines:
        hit = earliest.get(line_key(npi, line))
        if hit is not None:
            out[line.line_number] = hit
    return out


def duplicate_line_edits(
    claim: Claim, ref: NecessityReference, history: History | None
) -> list[Edit]:
    del ref  # the rule reads no reference data; the signature is every rule's
    past = seen_lines(history, claim.claim_id)
    if not past:
        return []  # the beneficiary's first claim: nothing to repeat
    repeats = repeated_lines(claim, past)
    return [
        edit(
            "DUPLICATE_CLAIM",
            number,
            "same patient, rendering provider, date of service, code, modifiers and units "
            f"as line {p.line_number} of claim {p.claim_id}",
        )
        for number, p in sorted(repeats.items())
    ]


def _mue_suffix(value: int, mai: int, sample: bool) -> str:
    text = f"MUE {value} per day (MAI {mai})"
    return text + " (sample MUE value)" if sample else text


def mue_day_edits(claim: Claim, ref: NecessityReference, history: History | None) -> list[Edit]:
    if ref.mue is None or not history:
        return []
    past = seen_lines(history, claim.claim_id)
    if not past:
        return []
    repeats = repeated_lines(claim, past)
    npi = rendering_npi(claim)
    earlier: dict[tuple[dt.date, str], int] = {}
    for p in distinct_past(past):
        if p.npi == npi:
            earlier[(p.date_of_service, p.code)] = (
                earlier.get((p.date_of_service, p.code), 0) + p.units
            )
    own: dict[tuple[dt.date, str], list[ServiceLine]] = {}
    for line in sorted(claim.service_lines, key=lambda ln: ln.line_number):
        own.setdefault((line.date_of_service, line.procedure_code), []).append(line)
    edits: list[Edit] = []
    for (dos, code), lines in own.items():
        table = ref.on(dos).mue  # the MUE version in force that day
        if table is None:
            continue
        entry = table.entries.get(code)
        if entry is None or entry.mai == 1:
            continue
        if sum(line.units for line in lines) > entry.value:
            continue  # the UNITS check's own per-claim MUE edit holds this day
        before = earlier.get((dos, code.strip().upper()), 0)
        counted = [line for line in lines if line.line_number not in repeats]
        running = before
        for line in counted:
            running += line.units
            if running > entry.value:
                billed = sum(ln.units for ln in counted)
                edits.append(
                    edit(
                        "MUE_EXCEEDED",
                        line.line_number,
                        f"{code} billed {billed} unit{'s' if billed != 1 else ''} on this claim "
                        f"and {before} on earlier claims for the same beneficiary, rendering "
                        "provider and date of service; "
                        + _mue_suffix(entry.value, entry.mai, table.is_sample),
                    )
                )
                break
    return edits

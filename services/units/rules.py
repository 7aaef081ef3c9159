"""The UNITS check as pure functions: timed units, untimed units, MUE.

Rules (domain §1–2, contract §4), applied per date of service:

* **Timed codes** (15-minute codes): under the payer's ``TOTAL_TIME`` rule
  (Medicare's 8-minute rule, CMS Pub. 100-04 Ch.5 §20.2) the day's total timed
  minutes decide the day's units, which are then spread over the codes by the
  CMS method (:func:`allocate_units`); under ``PER_CODE`` each code's own
  minutes decide its units. A timed line without minutes is reported and its
  arithmetic skipped: the check never guesses a pass. A claim whose source
cannot carry minutes (``NotChecked.TIMED_MINUTES``) skips that report: its
result lists the rule as not checked instead.
* **Untimed codes** are 1 unit per code per day; their minutes never count.
* **MUE**: MAI 1 caps the units on one line, MAI 2/3 the units per code per day.
  Across a beneficiary's claims the MAI 2/3 day total is the necessity
  check's (necessity.rules.cross_claim), which stays silent where this
  per-claim edit fires.

When one timed code sits on several lines of a day, its minutes and units are
pooled: CMS allocates units to services (codes), not to claim lines.

Messages are written from reference codes, line numbers and counts only. They
never carry a date, a name or any other claim text (results leave the clinical
boundary, and dates of service are PHI under HIPAA Safe Harbor). Every code a
message names is one the reference data lists, not raw claim input.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.core.edits import Edit, edit
from claimscrub.core.not_checked import NotChecked
from claimscrub.core.payers import UnitRule
from claimscrub.units.reference import MueEntry, UnitsReference

__all__ = [
    "allocate_units",
    "allocation_bounds",
    "check_units",
    "is_valid_allocation",
    "units_for_minutes",
]

MINUTES_PER_UNIT = 15
MINIMUM_BILLABLE_MINUTES = 8


# --- time arithmetic ---------------------------------------------------------


def units_for_minutes(total: int) -> int:
    """Units that ``total`` timed minutes support: 0 below 8, then ``(total + 7) // 15``.

    Reproduces the CMS table: 8–22 → 1, 23–37 → 2, 38–52 → 3, ...
    """
    if total < 0:
        raise ValueError("minutes cannot be negative")
    if total < MINIMUM_BILLABLE_MINUTES:
        return 0
    return (total + 7) // MINUTES_PER_UNIT


def _check_minutes(minutes: Mapping[int, int]) -> None:
    if min(minutes.values(), default=0) < 0:
        raise ValueError("minutes cannot be negative")


def _extras(minutes: Mapping[int, int]) -> int:
    """Units still owed once every service has its whole 15-minute units."""
    owed = units_for_minutes(sum(minutes.values()))
    return owed - sum(m // MINUTES_PER_UNIT for m in minutes.values())


def allocate_units(minutes: Mapping[int, int]) -> dict[int, int]:
    """Spread the total's units over services the CMS way (domain §1.1).

    ``minutes`` maps a key (a line number) to that service's timed minutes.
    Each service gets ``minutes // 15`` whole units; the units still owed go,
    one each, to the largest leftovers ``minutes % 15``; ties go to the lower key.
    The result sums to ``units_for_minutes(sum(minutes))``.
    """
    _check_minutes(minutes)
    units = {key: m // MINUTES_PER_UNIT for key, m in minutes.items()}
    by_leftover = sorted(minutes, key=lambda key: (-(minutes[key] % MINUTES_PER_UNIT), key))
    for key in by_leftover[: _extras(minutes)]:
        units[key] += 1
    return units


def allocation_bounds(minutes: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    """For each key, the fewest and most units any CMS-valid allocation gives it.

    A service gets its whole units, plus one more when its leftover is among the
    largest: a leftover strictly above the cut-off (the smallest leftover that
    still gets a unit) must get it, one below must not, and one equal to it may,
    unless every tied service is needed to make up the total.
    """
    _check_minutes(minutes)
    floors = {key: m // MINUTES_PER_UNIT for key, m in minutes.items()}
    extras = _extras(minutes)
    if extras <= 0:
        return {key: (f, f) for key, f in floors.items()}
    leftovers = sorted((m % MINUTES_PER_UNIT for m in minutes.values()), reverse=True)
    # extras never exceeds the number of services with a leftover (each leftover
    # is at most 14), so the cut-off is a positive leftover.
    cut = leftovers[extras - 1]
    above = sum(1 for r in leftovers if r > cut)
    tied = sum(1 for r in leftovers if r == cut)
    # The tied services share what is left after those above the cut; when it
    # covers all of them, the tie is no choice and each must get its unit.
    tie_low = 1 if extras - above == tied else 0
    bounds: dict[int, tuple[int, int]] = {}
    for key, m in minutes.items():
        leftover = m % MINUTES_PER_UNIT
        if leftover > cut:
            extra = (1, 1)
        elif leftover == cut:
            extra = (tie_low, 1)
        else:
            extra = (0, 0)
        bounds[key] = (floors[key] + extra[0], floors[key] + extra[1])
    return bounds


def is_valid_allocation(minutes: Mapping[int, int], units: Mapping[int, int]) -> bool:
    """True when ``units`` is an allocation the CMS method allows, ties either way.

    Every service gets its whole units or one more, exactly the owed number of
    services get one more, and no service with a strictly larger leftover is
    passed over for a smaller one. That also gives 15+ minutes at least 1 unit
    and 30+ at least 2. A key of ``units`` absent from ``minutes`` makes it invalid;
    a key of ``minutes`` absent from ``units`` counts as 0 units.
    """
    if not units.keys() <= minutes.keys():
        return False
    if sum(units.values()) != units_for_minutes(sum(minutes.values())):
        return False
    bounds = allocation_bounds(minutes)
    return all(low <= units.get(key, 0) <= high for key, (low, high) in bounds.items())


# --- message helpers ---------------------------------------------------------


def _units(n: int) -> str:
    return f"{n} unit" if n == 1 else f"{n} units"


def _line_list(lines: Sequence[ServiceLine]) -> str:
    numbers = [str(line.line_number) for line in lines]
    word = "line" if len(numbers) == 1 else "lines"
    return f"{word} {', '.join(numbers)}"


def _range(low: int, high: int) -> str:
    return str(low) if low == high else f"{low} or {high}"


class _CodeGroup(NamedTuple):
    """One code's lines on one date of service, pooled (:func:`_groups`)."""

    # A NamedTuple with its sums as fields rather than a frozen dataclass with
    # properties: several are made per claim and the rules read each sum
    # several times.
    code: str
    lines: tuple[ServiceLine, ...]
    #: the first line's number, which keys the group in the allocation rules
    key: int
    units: int
    #: the lines' minutes, a line without any counting 0
    minutes: int
    has_all_minutes: bool

    @property
    def label(self) -> str:
        """The code, with its lines when it spans more than one."""
        if len(self.lines) == 1:
            return self.code
        return f"{self.code} ({_line_list(self.lines)})"

    def line_passing(self, limit: int) -> ServiceLine:
        """The line where the running unit total first exceeds ``limit`` (else the first)."""
        running = 0
        for line in self.lines:
            running += line.units
            if running > limit:
                return line
        return self.lines[0]


def _groups(lines: Iterable[ServiceLine]) -> list[_CodeGroup]:
    by_code: dict[str, list[ServiceLine]] = {}
    for line in lines:
        by_code.setdefault(line.procedure_code, []).append(line)
    out: list[_CodeGroup] = []
    for code, group in by_code.items():
        units = minutes = 0
        has_all_minutes = True
        for line in group:
            units += line.units
            if line.minutes is None:
                has_all_minutes = False
            else:
                minutes += line.minutes
        out.append(
            _CodeGroup(code, tuple(group), group[0].line_number, units, minutes, has_all_minutes)
        )
    return out


def _by_day(lines: Iterable[ServiceLine]) -> list[list[ServiceLine]]:
    days: dict[dt.date, list[ServiceLine]] = {}
    for line in sorted(lines, key=lambda ln: ln.line_number):
        days.setdefault(line.date_of_service, []).append(line)
    return [days[day] for day in sorted(days)]


# --- timed codes -------------------------------------------------------------


def _minutes_missing(timed: Sequence[ServiceLine]) -> list[Edit]:
    return [
        edit(
            "TIMED_MINUTES_MISSING",
            line.line_number,
            f"{line.procedure_code} is a timed code with no documented minutes; "
            "its units cannot be checked against time",
        )
        for line in timed
        if line.minutes is None
    ]


def _total_time(timed: Sequence[ServiceLine]) -> list[Edit]:
    """Medicare's total-time rule for one date of service."""
    if not timed or any(line.minutes is None for line in timed):
        return []
    groups = _groups(timed)
    # Keyed by each code's first line (line numbers are unique in a parsed claim).
    minutes = {g.key: g.minutes for g in groups}
    units = {g.key: g.units for g in groups}
    total = sum(minutes.values())
    billed = sum(units.values())
    supported = units_for_minutes(total)

    if total < MINIMUM_BILLABLE_MINUTES:
        return [
            edit(
                "TIMED_UNDER_8_MINUTES",
                line.line_number,
                f"{line.procedure_code} billed {_units(line.units)}; {total} total timed "
                "minutes on the date of service support 0 (under 8 minutes)",
            )
            for line in timed
            if line.units >= 1
        ]

    if billed != supported:
        if len(groups) == 1:
            billed_text = f"{groups[0].label} billed {_units(billed)}; {total} timed minutes"
        else:
            billed_text = f"timed codes on {_line_list(timed)} billed {_units(billed)}; "
            billed_text += f"{total} total timed minutes"
        summary = f"{billed_text} support {supported}"
        if billed > supported:
            line = _first_over_bound(timed, groups, allocation_bounds(minutes))
            return [edit("UNITS_EXCEED_TIME", line.line_number, summary)]
        return [edit("UNITS_BELOW_TIME", timed[0].line_number, summary)]

    # One code takes every unit the total supports, which billed == supported
    # has just confirmed: only several codes can share them out wrongly.
    if len(groups) == 1 or is_valid_allocation(minutes, units):
        return []
    bounds = allocation_bounds(minutes)
    edits: list[Edit] = []
    for g in groups:
        low, high = bounds[g.key]
        if low <= g.units <= high:
            continue
        line = g.line_passing(high) if g.units > high else g.lines[0]
        edits.append(
            edit(
                "UNITS_ALLOCATION",
                line.line_number,
                f"{g.label} billed {_units(g.units)}; its {g.minutes} minutes should get "
                f"{_range(low, high)} of the {_units(supported)} that {total} total timed "
                "minutes support",
            )
        )
    return edits


def _first_over_bound(
    timed: Sequence[ServiceLine],
    groups: Sequence[_CodeGroup],
    bounds: Mapping[int, tuple[int, int]],
) -> ServiceLine:
    """The first line at which a code's units pass the most any valid allocation gives it.

    Falls back to the line with the most units (the first such) when no code is over.
    """
    high_by_code = {g.code: bounds[g.key][1] for g in groups}
    running: dict[str, int] = {}
    for line in timed:
        running[line.procedure_code] = running.get(line.procedure_code, 0) + line.units
        if running[line.procedure_code] > high_by_code[line.procedure_code]:
            return line
    return max(timed, key=lambda ln: (ln.units, -ln.line_number))


def _per_code(timed: Sequence[ServiceLine]) -> list[Edit]:
    """The per-code ("substantial portion") rule for one date of service."""
    edits: list[Edit] = []
    for g in _groups(timed):
        if not g.has_all_minutes:
            continue  # TIMED_MINUTES_MISSING already says why
        supported = units_for_minutes(g.minutes)
        if g.minutes < MINIMUM_BILLABLE_MINUTES:
            edits.extend(
                edit(
                    "TIMED_UNDER_8_MINUTES",
                    line.line_number,
                    f"{g.label} billed {_units(g.units)}; its {g.minutes} timed minutes "
                    "support 0 under the per-code rule (under 8 minutes)",
                )
                for line in g.lines
                if line.units >= 1
            )
            continue
        summary = (
            f"{g.label} billed {_units(g.units)}; {g.minutes} timed minutes support "
            f"{supported} under the per-code rule"
        )
        if g.units > supported:
            edits.append(edit("UNITS_EXCEED_TIME", g.line_passing(supported).line_number, summary))
        elif g.units < supported:
            edits.append(edit("UNITS_BELOW_TIME", g.lines[0].line_number, summary))
    return edits


# --- untimed codes and MUE ---------------------------------------------------


def _untimed(day: Sequence[ServiceLine], untimed_codes: frozenset[str]) -> list[Edit]:
    edits: list[Edit] = []
    for g in _groups(line for line in day if line.procedure_code in untimed_codes):
        if g.units > 1:
            edits.append(
                edit(
                    "UNTIMED_MULTIPLE_UNITS",
                    g.line_passing(1).line_number,
                    f"{g.label} billed {_units(g.units)} on one date of service; "
                    "an untimed code is billed as 1 unit",
                )
            )
    return edits


def _mue_suffix(entry: MueEntry, per: str, sample: bool) -> str:
    text = f"MUE {entry.value} per {per} (MAI {entry.mai})"
    return text + " (sample MUE value)" if sample else text


def _mue(day: Sequence[ServiceLine], ref: UnitsReference) -> list[Edit]:
    edits: list[Edit] = []
    ref = ref.on(day[0].date_of_service)  # the MUE version in force that day
    for g in _groups(line for line in day if line.procedure_code in ref.mue):
        entry = ref.mue[g.code]
        if entry.mai == 1:
            edits.extend(
                edit(
                    "MUE_EXCEEDED",
                    line.line_number,
                    f"{g.code} billed {_units(line.units)} on one line; "
                    + _mue_suffix(entry, "line", ref.mue_is_sample),
                )
                for line in g.lines
                if line.units > entry.value
            )
        elif g.units > entry.value:
            edits.append(
                edit(
                    "MUE_EXCEEDED",
                    g.line_passing(entry.value).line_number,
                    f"{g.label} billed {_units(g.units)} on one date of service; "
                    + _mue_suffix(entry, "day", ref.mue_is_sample),
                )
            )
    return edits


# --- the check ---------------------------------------------------------------


def check_units(claim: Claim, ref: UnitsReference) -> list[Edit]:
    """The UNITS check: every units edit for ``claim``, sorted by line number then code."""
    edits: list[Edit] = []
    for day in _by_day(claim.service_lines):
        # Each day under the payer's policy in force on that day.
        rule = ref.payers.for_payer(claim.payer_id, day[0].date_of_service).unit_rule
        timed = [line for line in day if line.procedure_code in ref.timed_codes]
        if not claim.not_checked or NotChecked.TIMED_MINUTES not in claim.not_checked:
            edits.extend(_minutes_missing(timed))
        if rule is UnitRule.PER_CODE:
            edits.extend(_per_code(timed))
        else:
            edits.extend(_total_time(timed))
        edits.extend(_untimed(day, ref.untimed_codes))
        edits.extend(_mue(day, ref))
    edits.sort(key=lambda e: (e.line_number, e.code))
    return edits

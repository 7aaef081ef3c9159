"""Which lines are therapy, and under which discipline and threshold group they are billed."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.core.payers import PayerPolicy
from claimscrub.necessity.reference import NecessityReference


def is_therapy_line(line: ServiceLine, ref: NecessityReference) -> bool:
    # This and line_discipline run several times per line, from most rules:
    # no sets or generators.
    if line.procedure_code in ref.always_therapy:
        return True
    return not ref.therapy_modifiers.keys().isdisjoint(line.modifiers)


def line_discipline(line: ServiceLine, claim: Claim, ref: NecessityReference) -> str | None:
    """The discipline a therapy line is billed under: its one therapy modifier, else the
    claim's ``therapy.discipline``; ``None`` when neither settles it."""
    therapy = ref.therapy_modifiers
    found: str | None = None
    for m in line.modifiers:
        if m in therapy:
            discipline = therapy[m]
            if found is None:
                found = discipline
            elif discipline != found:
                return None  # several disciplines: none settles it
    if found is not None:
        return found
    if claim.therapy and claim.therapy.discipline in ref.groups:
        return claim.therapy.discipline
    return None


def line_group(line: ServiceLine, claim: Claim, ref: NecessityReference) -> str | None:
    discipline = line_discipline(line, claim, ref)
    return ref.groups.get(discipline) if discipline else None


def code_label(code: str, ref: NecessityReference) -> str:
    """A procedure code for an edit message when the reference data knows it; raw claim
    input never reaches a message."""
    known = (
        code in ref.always_therapy
        or code in ref.ptp.codes
        or code in ref.documentation.by_code
        or code in ref.code_status.by_code
        or any(code in p.procedures for p in ref.coverage.policies)
    )
    return code if known else "the procedure"


class LineRole(NamedTuple):
    """A line as :func:`is_therapy_line`, :func:`line_discipline` and :func:`line_group` see it."""

    therapy: bool
    discipline: str | None
    group: str | None


# Several rules and the history update ask for the same claim's roles one
# after the other: the last claim's are kept. Claims and references are
# immutable, and the entry holds both, so identity says the answer still holds.
_last: tuple[Claim, NecessityReference, tuple[LineRole, ...]] | None = None


def line_roles(claim: Claim, ref: NecessityReference) -> tuple[LineRole, ...]:
    """The role of each of the claim's service lines, in their order."""
    global _last
    last = _last
    if last is not None and last[0] is claim and last[1] is ref:
        return last[2]
    out: list[LineRole] = []
    groups = ref.groups
    for line in claim.service_lines:
        discipline = line_discipline(line, claim, ref)
        out.append(
            LineRole(
                is_therapy_line(line, ref),
                discipline,
                groups.get(discipline) if discipline else None,
            )
        )
    found = tuple(out)
    _last = (claim, ref, found)
    return found


class LineContext(NamedTuple):
    """What a claim's lines are judged under, one entry per line in line order:
    the payer's policy version and the reference data in force on each line's
    date of service (``PayerPolicies.for_payer``, ``NecessityReference.on``)."""

    policies: tuple[PayerPolicy, ...]
    refs: tuple[NecessityReference, ...]


_last_context: tuple[Claim, NecessityReference, LineContext] | None = None


def line_context(claim: Claim, ref: NecessityReference) -> LineContext:
    """The claim's :class:`LineContext`: most rules ask for both per line, so they
    are looked up once per date of service and claim (the last claim's are kept,
    by identity, as :func:`line_roles` keeps its roles)."""
    global _last_context
    last = _last_context
    if last is not None and last[0] is claim and last[1] is ref:
        return last[2]
    lines = claim.service_lines
    for_payer = ref.payers.for_payer
    payer_id = claim.payer_id
    first = lines[0].date_of_service if lines else None
    if first is None:
        found = LineContext((), ())
    elif all(line.date_of_service == first for line in lines):
        # The usual claim: every line on one date.
        n = len(lines)
        found = LineContext((for_payer(payer_id, first),) * n, (ref.on(first),) * n)
    else:
        by_date: dict[dt.date, tuple[PayerPolicy, NecessityReference]] = {}
        for line in lines:
            dos = line.date_of_service
            if dos not in by_date:
                by_date[dos] = (for_payer(payer_id, dos), ref.on(dos))
        found = LineContext(
            tuple(by_date[line.date_of_service][0] for line in lines),
            tuple(by_date[line.date_of_service][1] for line in lines),
        )
    _last_context = (claim, ref, found)
    return found

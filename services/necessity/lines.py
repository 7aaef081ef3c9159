"""Which lines are therapy, and under which discipline and threshold group they are billed."""

from __future__ import annotations

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
# Roles by (code, modifiers, the claim's therapy.discipline) for one reference.
_RoleKey = tuple[str, tuple[str, ...], str | None]
_roles_of: tuple[NecessityReference | None, dict[_RoleKey, LineRole]] = (None, {})
_ROLES_MAX = 4_096


def line_roles(claim: Claim, ref: NecessityReference) -> tuple[LineRole, ...]:
    """The role of each of the claim's service lines, in their order."""
    global _last
    last = _last
    if last is not None and last[0] is claim and last[1] is ref:
        return last[2]
    global _roles_of
    known = _roles_of[1] if _roles_of[0] is ref else None
    if known is None or len(known) >= _ROLES_MAX:
        known = {}
        _roles_of = (ref, known)
    therapy = claim.therapy
    claim_discipline = therapy.discipline if therapy else None
    out: list[LineRole] = []
    for line in claim.service_lines:
        # A role depends on the code, the modifiers and the claim's discipline only.
        key = (line.procedure_code, line.modifiers, claim_discipline)
        role = known.get(key)
        if role is None:
            discipline = line_discipline(line, claim, ref)
            role = known[key] = LineRole(
                is_therapy_line(line, ref),
                discipline,
                ref.groups.get(discipline) if discipline else None,
            )
        out.append(role)
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
    policies = ref.payers.for_lines(claim)
    first = lines[0].date_of_service if lines else None
    if first is None:
        found = LineContext(policies, ())
    elif all(line.date_of_service == first for line in lines):
        # The usual claim: every line on one date.
        found = LineContext(policies, (ref.on(first),) * len(lines))
    else:
        on = ref.on
        found = LineContext(policies, tuple(on(line.date_of_service) for line in lines))
    _last_context = (claim, ref, found)
    return found

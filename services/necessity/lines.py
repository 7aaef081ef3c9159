"""Which lines are therapy, and under which discipline and threshold group they are billed."""

from __future__ import annotations

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.necessity.reference import NecessityReference


def is_therapy_line(line: ServiceLine, ref: NecessityReference) -> bool:
    return line.procedure_code in ref.always_therapy or any(
        m in ref.therapy_modifiers for m in line.modifiers
    )


def line_discipline(line: ServiceLine, claim: Claim, ref: NecessityReference) -> str | None:
    """The discipline a therapy line is billed under: its one therapy modifier, else the
    claim's ``therapy.discipline``; ``None`` when neither settles it."""
    disciplines = {ref.therapy_modifiers[m] for m in line.modifiers if m in ref.therapy_modifiers}
    if len(disciplines) == 1:
        return disciplines.pop()
    if not disciplines and claim.therapy and claim.therapy.discipline in ref.groups:
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
        or any(code in p.procedures for p in ref.coverage.policies)
    )
    return code if known else "the procedure"

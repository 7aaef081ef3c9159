"""The payer's own declarative edits (PAYER_RULE; docs/reference-data.md).

Each rule of the payer's policy version in force on a date of service is
tried on every line of that date. A line matches when every condition the
rule gives holds (within a list, any entry matches):

* ``codes``: the line's procedure code is one of them;
* ``withCodes``: another line of the same date of service has one of them;
* ``modifiersPresent``: the line carries at least one of them;
* ``modifiersAbsent``: the line carries none of them;
* ``placesOfService``: the line's place of service is one of them;
* ``diagnosisPrefixes``: a diagnosis the line points to (every diagnosis of
  the claim when it points to none) starts with one of them, dots ignored;
* ``unitsOver``: the line's units are more than N.

``dayUnitsOver: N`` counts instead: the units of the matching lines of the
date, in line order; the edit goes on the line that takes the total over N.
Otherwise each matching line gets the edit. Severity and CARC are the rule's,
``reference`` its id; the message is written from the rule's codes and the
claim's numbers.
"""

from __future__ import annotations

import datetime as dt

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.core.edits import Edit, edit
from claimscrub.core.payers import Condition, PayerEdit, PayerPolicy
from claimscrub.necessity.lines import code_label
from claimscrub.necessity.reference import NecessityReference


def _diagnoses(line: ServiceLine, claim: Claim) -> list[str]:
    codes = claim.diagnoses
    if line.diagnosis_pointers:
        codes = tuple(codes[p - 1] for p in line.diagnosis_pointers if 0 < p <= len(codes))
    return [c.replace(".", "").strip().upper() for c in codes]


def _reasons(
    when: Condition, line: ServiceLine, day: list[ServiceLine], claim: Claim
) -> list[str] | None:
    """What the line matched, for the message; ``None`` when a condition fails."""
    reasons: list[str] = []
    if when.codes and line.procedure_code not in when.codes:
        return None
    if when.with_codes:
        others = sorted(
            {o.procedure_code for o in day if o.line_number != line.line_number} & when.with_codes
        )
        if not others:
            return None
        reasons.append(f"with {', '.join(others)} on the same date of service")
    if when.modifiers_present:
        present = sorted(when.modifiers_present.intersection(line.modifiers))
        if not present:
            return None
        reasons.append(f"with {', '.join(present)}")
    if when.modifiers_absent:
        if not when.modifiers_absent.isdisjoint(line.modifiers):
            return None
        reasons.append(f"without {' or '.join(sorted(when.modifiers_absent))}")
    if when.places_of_service:
        if line.place_of_service not in when.places_of_service:
            return None
        reasons.append(f"in place of service {line.place_of_service}")
    if when.diagnosis_prefixes:
        pointed = _diagnoses(line, claim)
        hit = sorted({p for p in when.diagnosis_prefixes for d in pointed if d.startswith(p)})
        if not hit:
            return None
        reasons.append(f"for a diagnosis in {', '.join(hit)}")
    if when.units_over is not None:
        if line.units <= when.units_over:
            return None
        reasons.append(f"billed {line.units} units on the line, over {when.units_over}")
    return reasons


def _rule_edits(
    rule: PayerEdit, day: list[ServiceLine], claim: Claim, ref: NecessityReference
) -> list[Edit]:
    def raise_on(line: ServiceLine, reasons: list[str]) -> Edit:
        label = code_label(line.procedure_code, ref)
        if line.procedure_code in rule.when.codes:
            label = line.procedure_code  # a code the payer's own rule names
        what = " ".join([label, *reasons]) if reasons else label
        return edit(
            "PAYER_RULE",
            line.line_number,
            f"{what}: the payer's rule does not allow it",
            reference=rule.rule_id,
            severity=rule.severity,
            carc=rule.carc,
        )

    matched = [(ln, r) for ln in day if (r := _reasons(rule.when, ln, day, claim)) is not None]
    cap = rule.when.day_units_over
    if cap is None:
        return [raise_on(line, reasons) for line, reasons in matched]
    total = 0
    for line, reasons in matched:
        total += line.units
        if total > cap:
            return [raise_on(line, [*reasons, f"brings the day to {total} units, over {cap}"])]
    return []


def _has_edits(policy: PayerPolicy) -> bool:
    return bool(policy.edits)


def payer_rule_edits(claim: Claim, ref: NecessityReference) -> list[Edit]:
    if not ref.payers.any_version(claim.payer_id, _has_edits):
        return []
    days: dict[dt.date, list[ServiceLine]] = {}
    for line in sorted(claim.service_lines, key=lambda ln: ln.line_number):
        days.setdefault(line.date_of_service, []).append(line)
    edits: list[Edit] = []
    for dos in sorted(days):
        for rule in ref.payers.for_payer(claim.payer_id, dos).edits:
            edits.extend(_rule_edits(rule, days[dos], claim, ref))
    return edits

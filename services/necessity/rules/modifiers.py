"""Therapy modifiers (GP/GO/GN) and assistant modifiers (CQ/CO), domain §4.

* An always-therapy code needs exactly one of GP/GO/GN (CR10176) -
  THERAPY_MODIFIER_MISSING without one (when the payer's policy in force on
  the line's date has ``therapyModifiersRequired``, the default),
  THERAPY_MODIFIER_CONFLICT with several (whatever the payer: the modifiers
  contradict each other).
* An evaluation carries its own discipline's modifier (97161-97164 GP,
  97165-97168 GO, the SLP evaluations GN), and CR10176's discipline-specific
  codes (92521-92524, 92597, 92607) take GN only: another discipline's
  modifier is a conflict, none at all is MISSING naming the one it needs.
* CQ goes only with GP, CO only with GO (never on GN lines).
* Assistants do not evaluate (BPM ch.15 §230.1): CQ or CO on an evaluation
  or re-evaluation code is a conflict.
* Under Medicare rules (the policy in force on the line's date), a line
  rendered by a PT or OT assistant needs CQ or CO
  (ASSISTANT_MODIFIER_MISSING); on an evaluation the message says that
  assistants do not evaluate, as CQ/CO there would be a conflict. When the
  role cannot be found the check says so (CHECK_INCOMPLETE) rather than
  passing the line.
"""

from __future__ import annotations

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.core.edits import Edit, edit
from claimscrub.necessity.lines import code_label, line_context
from claimscrub.necessity.reference import NecessityReference
from claimscrub.necessity.roles import ProviderRole, medicare_rules_on, role_needed


def _therapy_modifiers(line: ServiceLine, ref: NecessityReference) -> list[str]:
    return [m for m in line.modifiers if m in ref.therapy_modifiers]


def _line_edits(line: ServiceLine, ref: NecessityReference, modifier_required: bool) -> list[Edit]:
    edits: list[Edit] = []
    n = line.line_number
    code = line.procedure_code  # labelled (code_label) only in a message: most lines get none
    therapy = _therapy_modifiers(line, ref)
    distinct = sorted(set(therapy))
    evaluation = ref.evaluations.get(line.procedure_code)
    own = ref.discipline_codes.get(line.procedure_code)
    if modifier_required and line.procedure_code in ref.always_therapy and not therapy:
        needs = ref.modifier_for(own) if own else "GP, GO or GN"
        edits.append(
            edit(
                "THERAPY_MODIFIER_MISSING",
                n,
                f"{code_label(code, ref)} is always therapy and needs {needs}",
            )
        )
    if len(distinct) > 1:
        edits.append(
            edit(
                "THERAPY_MODIFIER_CONFLICT",
                n,
                f"{code_label(code, ref)} carries {' and '.join(distinct)}; "
                "a line takes one therapy modifier",
            )
        )
    elif own and distinct and ref.therapy_modifiers[distinct[0]] != own:
        what = f"a {own} evaluation" if evaluation else f"{own}-specific"
        edits.append(
            edit(
                "THERAPY_MODIFIER_CONFLICT",
                n,
                f"{code_label(code, ref)} is {what} and takes {ref.modifier_for(own)} only, "
                f"not {distinct[0]}",
            )
        )
    if ref.assistant_modifiers.keys().isdisjoint(line.modifiers):
        return edits  # most lines: no CQ/CO to pair
    if evaluation:
        on_line = " and ".join(sorted(m for m in line.modifiers if m in ref.assistant_modifiers))
        edits.append(
            edit(
                "THERAPY_MODIFIER_CONFLICT",
                n,
                f"{on_line} on {code_label(code, ref)}: assistants do not evaluate, "
                "an evaluation takes no CQ/CO",
                reference="CMS Pub. 100-02 Ch.15 §230.1",
            )
        )
    disciplines = {ref.therapy_modifiers[m] for m in therapy}
    for modifier in sorted({m for m in line.modifiers if m in ref.assistant_modifiers}):
        goes_with = ref.assistant_modifiers[modifier]
        if disciplines != {goes_with}:
            edits.append(
                edit(
                    "THERAPY_MODIFIER_CONFLICT",
                    n,
                    f"{modifier} goes only with {ref.modifier_for(goes_with)}",
                )
            )
    return edits


def therapy_modifier_edits(claim: Claim, ref: NecessityReference) -> list[Edit]:
    return [
        e
        for line, policy in zip(claim.service_lines, line_context(claim, ref).policies, strict=True)
        for e in _line_edits(line, ref, policy.therapy_modifiers_required)
    ]


def assistant_edits(claim: Claim, ref: NecessityReference, role: ProviderRole) -> list[Edit]:
    """ASSISTANT_MODIFIER_MISSING for an assistant's lines without CQ/CO (Medicare rules)."""
    if not role_needed(claim, ref):
        return []
    if not role.known:
        return [
            edit(
                "CHECK_INCOMPLETE",
                0,
                "NECESSITY could not verify CQ/CO: the rendering provider's role is unknown ("
                + (role.unknown_reason or "no source")
                + ")",
            )
        ]
    if not role.assistant or role.discipline is None:
        return []
    needed = ref.assistant_modifier_for(role.discipline)
    if needed is None:
        return []
    own = ref.modifier_for(role.discipline)
    edits: list[Edit] = []
    for line in claim.service_lines:
        if own not in line.modifiers or needed in line.modifiers:
            continue
        if not medicare_rules_on(claim, line, ref):
            continue
        label = code_label(line.procedure_code, ref)
        # CQ/CO would make an evaluation a conflict: the fault is who evaluated.
        fix = (
            "assistants do not evaluate (CMS Pub. 100-02 Ch.15 §230.1)"
            if line.procedure_code in ref.evaluations
            else f"{own} lines need {needed}"
        )
        edits.append(
            edit(
                "ASSISTANT_MODIFIER_MISSING",
                line.line_number,
                f"{label}: the rendering provider is a {role.discipline} assistant; {fix}",
            )
        )
    return edits

"""Documentation completeness and code choice from the treatment note, domain §5.

For each code with documentation rules (``data/documentation.json``; 97530
today), on the code's first line:

* CODE_CHOICE_REVIEW when the note reads as another code's service (97530:
  strengthening, range of motion or endurance with no functional task;
  consider 97110);
* DOCUMENTATION_INCOMPLETE listing the elements the note does not show
  (all of them when there is no note). An element the code-choice edit
  already accounts for (the functional activity) is not listed twice.

Messages carry element labels and codes only: never a word of the note.
"""

from __future__ import annotations

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.core.edits import Edit, edit
from claimscrub.necessity.documentation import Note, missing_elements, reads_as_other_code
from claimscrub.necessity.reference import NecessityReference


def documentation_edits(claim: Claim, ref: NecessityReference) -> list[Edit]:
    rules = ref.documentation
    first_lines: dict[str, ServiceLine] = {}
    for line in sorted(claim.service_lines, key=lambda ln: ln.line_number):
        if line.procedure_code in rules.by_code:
            first_lines.setdefault(line.procedure_code, line)
    if not first_lines:
        return []
    note = Note(claim.note) if claim.note else None
    edits: list[Edit] = []
    for code, line in sorted(first_lines.items()):
        doc = rules.by_code[code]
        if note is None:
            labels = [rules.label(e) for e in doc.elements]
            edits.append(
                edit(
                    "DOCUMENTATION_INCOMPLETE",
                    line.line_number,
                    f"{code} has no treatment note; it must show {', '.join(labels)}",
                )
            )
            continue
        missing = missing_elements(note, doc, rules)
        if doc.code_choice is not None and reads_as_other_code(note, doc, rules):
            choice = doc.code_choice
            edits.append(
                edit(
                    "CODE_CHOICE_REVIEW",
                    line.line_number,
                    f"the {code} note describes {choice.describes}; consider {choice.consider}",
                )
            )
            missing = [e for e in missing if e != choice.unless]
        if missing:
            edits.append(
                edit(
                    "DOCUMENTATION_INCOMPLETE",
                    line.line_number,
                    f"the {code} note does not show: " + ", ".join(rules.label(e) for e in missing),
                )
            )
    return edits

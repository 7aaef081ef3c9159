"""Codes the payer does not pay: Medicare PFS status indicators, domain §1.3.

Under a payer whose policy in force on the line's date of service has
``medicareRules``, each line's code is looked
up in the code-status table (``--code-status`` / CLAIMSCRUB_CODE_STATUS_FILE,
else the bundled sample) for its date of service; ``pfs_status.json`` says
which statuses raise which edit:

* PROCEDURE_NOT_VALID_FOR_PAYER (status I): Medicare does not recognise the
  code (97014; it pays G0283).
* PROCEDURE_BUNDLED (status B): never paid separately (97010).

A code the table does not list is not judged.
"""

from __future__ import annotations

from claimscrub.core.claim import Claim
from claimscrub.core.edits import Edit, edit
from claimscrub.necessity.lines import code_label, line_context
from claimscrub.necessity.reference import NecessityReference


def code_status_edits(claim: Claim, ref: NecessityReference) -> list[Edit]:
    edits: list[Edit] = []
    context = line_context(claim, ref)
    for line, policy, on in zip(claim.service_lines, context.policies, context.refs, strict=True):
        if not policy.medicare_rules:
            continue
        table = on.code_status  # the version in force that day
        sample = " (sample PFS status)" if table.is_sample else ""
        status = table.status_on(line.procedure_code, line.date_of_service)
        meaning = ref.status_meanings.get(status) if status else None
        if meaning is None:
            continue
        edits.append(
            edit(
                meaning.edit,
                line.line_number,
                f"{code_label(line.procedure_code, ref)} has Medicare PFS status {status} on the "
                f"date of service: {meaning.meaning}{sample}",
            )
        )
    return edits

"""NCCI procedure-to-procedure pairs on one date of service, domain §3.

For two lines on the same date whose codes are a PTP pair in force on that
date (effective and deletion dates, :meth:`PtpEdit.in_force`): indicator 0
always conflicts; indicator 1 conflicts unless either line carries an
NCCI-associated modifier (anatomic, global or other, e.g. 59 or XU);
indicator 9 never applies. The edit sits on the column 2 line, the one a
payer denies (CO-236). One claim has one rendering provider, so the pairs
apply across disciplines, as CMS applies them for the same provider and day.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.core.edits import Edit, edit
from claimscrub.necessity.reference import NecessityReference


def _bypassed(a: ServiceLine, b: ServiceLine, ref: NecessityReference) -> bool:
    return any(m in ref.bypass_modifiers for m in (*a.modifiers, *b.modifiers))


def _day_edits(day: Sequence[ServiceLine], ref: NecessityReference) -> list[Edit]:
    edits: list[Edit] = []
    sample = " (sample PTP pair)" if ref.ptp.is_sample else ""
    for col1, col2 in itertools.permutations(day, 2):
        if col1.procedure_code == col2.procedure_code:
            continue
        found = ref.ptp.edit_for(col1.procedure_code, col2.procedure_code, col2.date_of_service)
        if found is None:
            continue
        if found.indicator == 0:
            why = "modifier indicator 0: no modifier bypasses it"
        elif _bypassed(col1, col2, ref):
            continue
        else:
            why = (
                "modifier indicator 1 and no NCCI-associated modifier (e.g. 59, XU) on either line"
            )
        edits.append(
            edit(
                "PTP_CONFLICT",
                col2.line_number,
                f"{found.column2} is the column 2 code of an NCCI pair with {found.column1} "
                f"(line {col1.line_number}) on one date of service; {why}{sample}",
            )
        )
    return edits


def ptp_edits(claim: Claim, ref: NecessityReference) -> list[Edit]:
    days: dict[object, list[ServiceLine]] = {}
    for line in claim.service_lines:
        if line.procedure_code in ref.ptp.codes:
            days.setdefault(line.date_of_service, []).append(line)
    return [e for day in days.values() if len(day) > 1 for e in _day_edits(day, ref)]

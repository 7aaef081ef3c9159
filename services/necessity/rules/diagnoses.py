"""Diagnoses: present, pointed at, in ICD-10-CM form, and supporting the procedure.

* DIAGNOSIS_MISSING: the claim has no diagnosis (whole claim); a line has no
  pointer, or a pointer to no diagnosis; a diagnosis is not in ICD-10-CM form
  (a letter, a digit, a letter or digit, then up to four more after an
  optional dot - the 3-7 character structure of ICD-10-CM codes).
* DIAGNOSIS_NOT_SUPPORTED: a procedure a loaded coverage policy covers, when
  none of the line's valid pointed diagnoses is on that policy's list (a line
  with no valid pointed diagnosis has its DIAGNOSIS_MISSING instead).

Messages name diagnoses by position, never by value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from claimscrub.core.claim import Claim
from claimscrub.core.edits import Edit, edit
from claimscrub.necessity.coverage import CoveragePolicy, normalise_diagnosis
from claimscrub.necessity.lines import code_label, line_context
from claimscrub.necessity.reference import NecessityReference

ICD10CM = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")


def diagnosis_edits(claim: Claim, ref: NecessityReference) -> list[Edit]:
    if not claim.diagnoses:
        return [edit("DIAGNOSIS_MISSING", 0, "the claim has no diagnosis")]
    edits: list[Edit] = []
    valid = {i for i, dx in enumerate(claim.diagnoses, start=1) if ICD10CM.match(dx)}
    edits.extend(
        edit("DIAGNOSIS_MISSING", 0, f"diagnosis {i} is not an ICD-10-CM code")
        for i in range(1, len(claim.diagnoses) + 1)
        if i not in valid
    )
    count = len(claim.diagnoses)
    # Each pointed diagnosis is normalised and judged against a policy once per
    # claim, not once per line that points at it.
    normalised: dict[int, str] = {}
    supported: dict[tuple[int, str], bool] = {}
    for line, on in zip(claim.service_lines, line_context(claim, ref).refs, strict=True):
        code = line.procedure_code  # labelled (code_label) only in a message: most lines get none
        if not line.diagnosis_pointers:
            edits.append(
                edit(
                    "DIAGNOSIS_MISSING",
                    line.line_number,
                    f"{code_label(code, ref)} has no diagnosis pointer",
                )
            )
            continue
        dangling = sorted({p for p in line.diagnosis_pointers if not 1 <= p <= count})
        if dangling:
            edits.append(
                edit(
                    "DIAGNOSIS_MISSING",
                    line.line_number,
                    f"{code_label(code, ref)}: pointer {', '.join(map(str, dangling))} "
                    "points to no diagnosis "
                    f"(the claim has {count})",
                )
            )
        coverage = on.coverage  # the version in force that day
        policies = coverage.covering(claim.payer_id, line.procedure_code)
        if not policies:
            continue
        pointed: list[str] = []
        for p in line.diagnosis_pointers:
            if 1 <= p <= count and p in valid:
                dx = normalised.get(p)
                if dx is None:
                    dx = normalised[p] = normalise_diagnosis(claim.diagnoses[p - 1])
                pointed.append(dx)
        if not pointed:
            continue  # nothing valid to judge: DIAGNOSIS_MISSING already says why
        if not _any_supports(policies, pointed, supported):
            names = ", ".join(p.policy_id for p in policies)
            sample = " (sample coverage policy)" if coverage.is_sample else ""
            edits.append(
                edit(
                    "DIAGNOSIS_NOT_SUPPORTED",
                    line.line_number,
                    f"{code_label(code, ref)}: no pointed diagnosis is on the supporting list "
                    f"of {names}{sample}",
                )
            )
    return edits


def _any_supports(
    policies: Sequence[CoveragePolicy], pointed: list[str], known: dict[tuple[int, str], bool]
) -> bool:
    """Whether a policy supports a pointed diagnosis; ``known`` remembers the answers
    for the claim (by policy object, as two files may reuse an id, and diagnosis)."""
    for policy in policies:
        for dx in pointed:
            key = (id(policy), dx)
            answer = known.get(key)
            if answer is None:
                answer = known[key] = policy.supports(dx)
            if answer:
                return True
    return False

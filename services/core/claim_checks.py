"""Claim-level edits (check CLAIM): malformed input and timely filing.

Every check service runs these before its own rules, so a bad claim gets an
answer from whichever check sees it first and the combined result is the same.
"""

from __future__ import annotations

import datetime as dt

from claimscrub.core.claim import ParsedClaim
from claimscrub.core.edits import Edit, edit
from claimscrub.core.payers import PayerPolicies

# A MALFORMED_CLAIM message lists field paths; a claim with dozens of bad
# fields must still give a readable edit.
_MAX_PROBLEMS_LISTED = 10


def malformed_edits(parsed: ParsedClaim) -> list[Edit]:
    if not parsed.problems:
        return []
    shown = parsed.problems[:_MAX_PROBLEMS_LISTED]
    more = len(parsed.problems) - len(shown)
    text = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
    return [edit("MALFORMED_CLAIM", 0, f"invalid claim: {text}")]


def timely_filing_edits(parsed: ParsedClaim, payers: PayerPolicies, today: dt.date) -> list[Edit]:
    """TIMELY_FILING for each line submitted after its date of service's due date.

    The due date follows the payer's limit (:class:`TimelyFiling`: calendar
    years or days) in the policy version in force on the line's date of
    service; the submission date is the claim's own, else the
    processing date. The message holds day counts and the limit, no date: a
    date of service is PHI.
    """
    claim = parsed.claim
    if claim is None:
        return []
    submitted = claim.submission_date or today
    out: list[Edit] = []
    for line, policy in zip(claim.service_lines, payers.for_lines(claim), strict=True):
        limit = policy.timely_filing
        age = (submitted - line.date_of_service).days
        if age <= limit.least_days:
            continue  # within any reading of the limit: the usual line, no due date needed
        due = limit.due_date(line.date_of_service)
        if submitted > due:
            allowed = (due - line.date_of_service).days
            span = "" if limit.days is not None else f" ({allowed} days for this date of service)"
            out.append(
                edit(
                    "TIMELY_FILING",
                    line.line_number,
                    f"{line.procedure_code} submitted {age} days after the date of service; "
                    f"payer limit is {limit.describe()}{span}",
                )
            )
    return out


def claim_level_edits(parsed: ParsedClaim, payers: PayerPolicies, today: dt.date) -> list[Edit]:
    return malformed_edits(parsed) + timely_filing_edits(parsed, payers, today)

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
    """TIMELY_FILING for each line whose DOS is past the payer's filing limit.

    The limit is counted from the date of service to the submission date
    (the claim's own, else the processing date), per the payer's policy.
    """
    claim = parsed.claim
    if claim is None:
        return []
    limit = payers.for_payer(claim.payer_id).timely_filing_days
    submitted = claim.submission_date or today
    out: list[Edit] = []
    for line in claim.service_lines:
        age = (submitted - line.date_of_service).days
        if age > limit:
            out.append(
                edit(
                    "TIMELY_FILING",
                    line.line_number,
                    f"{line.procedure_code} submitted {age} days after the date of service; "
                    f"payer limit is {limit} days",
                )
            )
    return out


def claim_level_edits(parsed: ParsedClaim, payers: PayerPolicies, today: dt.date) -> list[Edit]:
    return malformed_edits(parsed) + timely_filing_edits(parsed, payers, today)

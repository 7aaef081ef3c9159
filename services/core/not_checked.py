"""Checks a claim's source leaves without input (contract §3 ``notChecked``).

A claim from an 837P cannot carry some inputs at all (docs/x12.md). Its
:attr:`~claimscrub.core.claim.Claim.not_checked` names the checks that need
them; each of those rules skips the claim instead of reporting the input
missing (which would hold a claim for what its format cannot say), and the
result lists them. A contract-JSON claim has an empty set: there a missing
field is the sender's to fix and the rules report it.
"""

from __future__ import annotations

from enum import StrEnum


class NotChecked(StrEnum):
    #: TIMED_MINUTES_MISSING and the time arithmetic of the UNITS check.
    TIMED_MINUTES = "TIMED_MINUTES"
    #: PLAN_OF_CARE_MISSING for want of a certification, and what counts from it.
    PLAN_OF_CARE_CERTIFICATION = "PLAN_OF_CARE_CERTIFICATION"
    #: PROGRESS_REPORT_OVERDUE (no count of treatment days since the last report).
    PROGRESS_REPORT = "PROGRESS_REPORT"
    #: The KX threshold's year-to-date amount: lines that pass it on this
    #: claim's own amounts are still flagged; the rest are not reported unverified.
    KX_THRESHOLD = "KX_THRESHOLD"
    #: The year's visits before this claim (``therapy.visitsUsedYtd``): visits
    #: that pass the payer's limit on this claim's own count are still flagged.
    VISIT_LIMIT = "VISIT_LIMIT"
    #: The prior authorization's dates and visit count (an 837P carries its
    #: number only): a required authorization the claim lacks is still flagged.
    AUTHORIZATION = "AUTHORIZATION"


#: Every name a claim's ``notChecked`` may hold; the parsers refuse any other
#: (MALFORMED_CLAIM), so a sender cannot waive a check this list does not name.
NOT_CHECKED_NAMES: frozenset[str] = frozenset(n.value for n in NotChecked)

"""DUPLICATE_CLAIM: the same services already scrubbed under another claimId.

One rule for the stream and the CLI: the first claimId seen with a duplicate
fingerprint (claimscrub.core.fingerprint) owns it; any *other* claimId with
that fingerprint is a duplicate of the owner. The owner itself resubmitted
(same claimId, any version) is never its own duplicate. On the stream "first"
is the order in which the aggregator publishes; in `claimscrub scrub` it is
input order.
"""

from __future__ import annotations

from claimscrub.core.edits import Edit, edit


def duplicate_edit(owner: str) -> Edit:
    # The other claim's id is what a biller needs to find it; ids are not PHI
    # here (results carry them, contract §3).
    return edit(
        "DUPLICATE_CLAIM",
        0,
        f"same patient, providers, dates of service, codes, modifiers and units as claim {owner}",
    )


def duplicate_edits(owner: str | None, claim_id: str) -> list[Edit]:
    """The edit for a claim whose fingerprint is owned by ``owner`` (None: nobody yet)."""
    if owner is None or owner == claim_id:
        return []
    return [duplicate_edit(owner)]


class BatchDuplicates:
    """The rule over one batch, in the order claims are offered."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    def check(self, claim_id: str, fingerprint: str) -> list[Edit]:
        """Record the claim and return its DUPLICATE_CLAIM edit, if any."""
        if not fingerprint:
            return []
        owner = self._owners.setdefault(fingerprint, claim_id)
        return duplicate_edits(owner, claim_id)

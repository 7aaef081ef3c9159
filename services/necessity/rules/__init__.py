"""The NECESSITY check as one pure function of (claim, reference data, state).

``check_necessity`` reads the claim, the reference data, the beneficiary's
history (year-to-date amounts, treatment days: :mod:`~claimscrub.necessity.history`)
and the rendering provider's role (:mod:`~claimscrub.necessity.roles`), and
returns edits. The edits that compare the claim with the beneficiary's
earlier claims keep the catalogue's check (MUE_EXCEEDED is a UNITS edit,
DUPLICATE_CLAIM a CLAIM edit) though this check computes them
(:mod:`~claimscrub.necessity.rules.cross_claim`). It does no I/O: the services
look the role up and keep the history in the stream engine's state, the CLI
keeps it in memory; both then call this.
"""

from __future__ import annotations

from claimscrub.core.claim import Claim
from claimscrub.core.edits import Edit
from claimscrub.necessity.history import History
from claimscrub.necessity.reference import NecessityReference
from claimscrub.necessity.roles import ProviderRole
from claimscrub.necessity.rules.code_status import code_status_edits
from claimscrub.necessity.rules.cross_claim import duplicate_line_edits, mue_day_edits
from claimscrub.necessity.rules.diagnoses import diagnosis_edits
from claimscrub.necessity.rules.documentation import documentation_edits
from claimscrub.necessity.rules.modifiers import assistant_edits, therapy_modifier_edits
from claimscrub.necessity.rules.payer_rules import payer_rule_edits
from claimscrub.necessity.rules.plan_of_care import plan_of_care_edits, progress_edits
from claimscrub.necessity.rules.ptp import ncci_modifier_edits, ptp_edits
from claimscrub.necessity.rules.thresholds import threshold_edits
from claimscrub.necessity.rules.visits import authorization_edits, visit_limit_edits

__all__ = ["check_necessity"]


def check_necessity(
    claim: Claim,
    *,
    ref: NecessityReference,
    history: History | None,
    role: ProviderRole,
) -> list[Edit]:
    """Every NECESSITY edit for ``claim``, sorted by line number then code."""
    edits = [
        *therapy_modifier_edits(claim, ref),
        *assistant_edits(claim, ref, role),
        *threshold_edits(claim, ref, history),
        *ptp_edits(claim, ref, history),
        *ncci_modifier_edits(claim, ref),
        *code_status_edits(claim, ref),
        *diagnosis_edits(claim, ref),
        *plan_of_care_edits(claim, ref),
        *progress_edits(claim, ref, history),
        *documentation_edits(claim, ref),
        *visit_limit_edits(claim, ref),
        *authorization_edits(claim, ref),
        *payer_rule_edits(claim, ref),
        *mue_day_edits(claim, ref, history),
        *duplicate_line_edits(claim, ref, history),
    ]
    edits.sort(key=lambda e: (e.line_number, e.code))
    return edits

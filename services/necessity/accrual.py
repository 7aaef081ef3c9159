"""What counts toward a KX threshold group: each line's amount, and the year to date before a claim.

The KX and medical review thresholds are on allowed amounts, per beneficiary,
calendar year and group (PT and SLP together, OT apart; domain §4). Billed
charges overstate allowed amounts, so a line accrues, in this order: its
``allowedAmount``; else the loaded fee schedule's amount for its code, payer
and date of service times its units; else its ``chargeAmount``. The rule and
the beneficiary history use this one function, so what a claim added to the
history is what the rule counted for it.
"""

from __future__ import annotations

from collections.abc import Set
from decimal import Decimal
from typing import NamedTuple

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.necessity.fee_schedule import FeeSchedule
from claimscrub.necessity.lines import line_context
from claimscrub.necessity.reference import NecessityReference

ALLOWED = "allowed amount"
FEE_SCHEDULE = "fee schedule amount"
SAMPLE_FEE_SCHEDULE = "sample fee schedule amount"
CHARGE = "charge"

#: The claim's per-group year-to-date fields (contract §2), by threshold group id.
_YTD_FIELDS = {
    "PT_SLP": ("amount_used_ytd_pt_slp", "amountUsedYtdPtSlp"),
    "OT": ("amount_used_ytd_ot", "amountUsedYtdOt"),
}


class Accrual(NamedTuple):
    """A line's amount toward its group, and which source it came from
    (:data:`ALLOWED`, :data:`FEE_SCHEDULE`, :data:`CHARGE`); ``None`` and ""
    when the line has none of them."""

    # A NamedTuple rather than a frozen dataclass: one is made per line and claim.
    amount: Decimal | None
    basis: str


def line_accrual(line: ServiceLine, payer_id: str, ref: NecessityReference) -> Accrual:
    return _accrual(line, payer_id, ref.on(line.date_of_service).fee_schedule)


def _accrual(line: ServiceLine, payer_id: str, schedule: FeeSchedule | None) -> Accrual:
    """``schedule``: the fee schedule in force on the line's date of service."""
    if line.allowed_amount is not None:
        return Accrual(line.allowed_amount, ALLOWED)
    if schedule is not None:
        per_unit = schedule.amount_per_unit(payer_id, line.procedure_code, line.date_of_service)
        if per_unit is not None:
            basis = SAMPLE_FEE_SCHEDULE if schedule.is_sample else FEE_SCHEDULE
            return Accrual(per_unit * line.units, basis)
    if line.charge_amount is not None:
        return Accrual(line.charge_amount, CHARGE)
    return _NONE


_NONE = Accrual(None, "")

# The KX rule and the history update ask for the same claim's accruals one
# after the other: the last claim's are kept for the second caller. Claims and
# references are immutable, so identity says the answer still holds.
_last: tuple[Claim, NecessityReference, tuple[Accrual, ...]] | None = None


def claim_accruals(claim: Claim, ref: NecessityReference) -> tuple[Accrual, ...]:
    """:func:`line_accrual` of each of the claim's service lines, in their order."""
    global _last
    last = _last
    if last is not None and last[0] is claim and last[1] is ref:
        return last[2]
    payer_id = claim.payer_id
    found = tuple(
        _accrual(line, payer_id, on.fee_schedule)
        for line, on in zip(claim.service_lines, line_context(claim, ref).refs, strict=True)
    )
    _last = (claim, ref, found)
    return found


class YearToDate(NamedTuple):
    """The group's amount used this year before the claim, from eligibility,
    or ``None`` with the reason it is not known."""

    # A NamedTuple rather than a frozen dataclass: one is made per claim and group.
    amount: Decimal | None
    problem: str = ""


def ytd_before(claim: Claim, group: str, claim_groups: Set[str]) -> YearToDate:
    """``therapy.amountUsedYtdPtSlp`` / ``amountUsedYtdOt`` for ``group``; else
    the single ``amountUsedYtd`` when every grouped therapy line of the claim
    (``claim_groups``) is in ``group``. A single amount over lines of several
    groups cannot be split between them, so it counts for none: unknown."""
    therapy = claim.therapy
    attr, name = _YTD_FIELDS.get(group, ("", ""))
    if therapy is not None and attr:
        own: Decimal | None = getattr(therapy, attr)
        if own is not None:
            return YearToDate(own)
    single = therapy.amount_used_ytd if therapy else None
    if single is not None:
        if set(claim_groups) <= {group}:
            return YearToDate(single)
        return YearToDate(
            None,
            "therapy.amountUsedYtd cannot be attributed to one group: the claim has lines "
            "of several threshold groups (send amountUsedYtdPtSlp and amountUsedYtdOt)",
        )
    wanted = f"therapy.{name} (or amountUsedYtd)" if name else "therapy.amountUsedYtd"
    return YearToDate(None, f"{wanted} missing")

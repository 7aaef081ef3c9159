"""KX threshold and the targeted medical review threshold, domain §4.

Under Medicare rules (only lines whose date of service falls under a payer
policy version with ``medicareRules`` count), per beneficiary, calendar year and threshold group
(PT+SLP, OT): the year-to-date amount before this claim is the group's
eligibility figure (``therapy.amountUsedYtdPtSlp`` / ``amountUsedYtdOt``, or
the single ``amountUsedYtd`` when all the claim's therapy lines are in one
group: :func:`~claimscrub.necessity.accrual.ytd_before`) plus the other
claims this check has recorded for that year and group
(:mod:`claimscrub.necessity.history`). The claim's therapy lines are then
added in date-of-service and line order, each at its allowed amount, else
the fee schedule's, else its charge (:func:`~claimscrub.necessity.accrual.line_accrual`);
the messages say which:

* KX_MODIFIER_REQUIRED on the line whose amount passes the year's threshold
  and on every later line of the group, unless the line carries KX;
* MEDICAL_REVIEW_THRESHOLD (warning) on the first line over the review
  threshold ($3,000 per group), once per claim and group: a claim beyond it
  may be picked for targeted medical review.

"Passes" means strictly over the amount: reaching it exactly is within it.
The year-to-date figure is taken to be for the year of the claim's earliest
date of service. When an amount the answer depends on is unknown (the
group's year to date, a line with no amount at all, an earlier claim's
line with none, the year's threshold), the lines that provably pass are still
flagged and the rest are reported as not verified (CHECK_INCOMPLETE), never
passed silently, except for a claim whose source cannot carry a year to date
at all (``NotChecked.KX_THRESHOLD``, an 837P): its result lists the threshold
as not checked instead of holding the claim.
"""

from __future__ import annotations

from decimal import Decimal

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.core.edits import Edit, edit
from claimscrub.core.not_checked import NotChecked
from claimscrub.necessity.accrual import Accrual, claim_accruals, ytd_before
from claimscrub.necessity.history import History, seen_amount, seen_incomplete
from claimscrub.necessity.lines import code_label, line_context, line_roles
from claimscrub.necessity.reference import NecessityReference, Threshold


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _threshold_text(year: int, t: Threshold) -> str:
    text = f"the {year} KX threshold {_money(t.amount)}"
    return text if t.status == "confirmed" else f"{text} ({t.status} source)"


def _counted(accrual: Accrual) -> str:
    if accrual.amount is None:
        return "this line has no allowed amount, fee schedule amount or charge"
    return f"this line counted at its {accrual.basis} {_money(accrual.amount)}"


def _why_unknown(
    key: tuple[int, str],
    line_number: int,
    accrual: Accrual,
    ytd_problem: dict[tuple[int, str], str],
    history_gap: set[tuple[int, str]],
    group_label: str,
) -> str:
    if key in ytd_problem:
        return ytd_problem[key]
    if accrual.amount is None:
        return f"no allowedAmount, fee schedule amount or chargeAmount on line {line_number}"
    if key in history_gap:
        return f"an earlier {group_label} claim of {key[0]} had a line with no amount"
    return "an earlier line's amount is missing"


def _reached(
    line: ServiceLine,
    ref: NecessityReference,
    group_label: str,
    year: int,
    after: Decimal,
    exact: bool,
    accrual: Accrual,
) -> str:
    # Written only for a line that gets an edit: most lines get none.
    return (
        f"{code_label(line.procedure_code, ref)} brings the {group_label} therapy amount for "
        f"{year} to {'at least ' if not exact else ''}{_money(after)} ({_counted(accrual)})"
    )


def threshold_edits(claim: Claim, ref: NecessityReference, history: History | None) -> list[Edit]:
    counted: list[tuple[ServiceLine, Accrual, str | None]] = []
    claim_groups: set[str] = set()
    for line, accrual, role, policy in zip(
        claim.service_lines,
        claim_accruals(claim, ref),
        line_roles(claim, ref),
        line_context(claim, ref).policies,
        strict=True,
    ):
        if role.therapy and policy.medicare_rules:
            counted.append((line, accrual, role.group))
            if role.group is not None:
                claim_groups.add(role.group)
    if not counted:
        return []
    if len(counted) > 1:
        counted.sort(key=lambda c: (c[0].date_of_service, c[0].line_number))
    base_year = counted[0][0].date_of_service.year
    ytd_not_carried = bool(claim.not_checked) and NotChecked.KX_THRESHOLD in claim.not_checked
    kx = ref.kx_modifier
    # Per (year, group): the amount known so far (a lower bound) and whether it
    # is exact; and why not, for the group's year to date.
    running: dict[tuple[int, str], tuple[Decimal, bool]] = {}
    ytd_problem: dict[tuple[int, str], str] = {}
    history_gap: set[tuple[int, str]] = set()
    # Groups whose year to date the claim's source cannot carry (an 837P), and
    # groups with a line of unknown amount: only the latter is left unverified.
    ytd_untold: set[tuple[int, str]] = set()
    amount_gap: set[tuple[int, str]] = set()
    reviewed: set[tuple[int, str]] = set()
    edits: list[Edit] = []
    unverified: list[str] = []
    review = ref.review_threshold
    review_through = ref.review_through_year
    for line, accrual, group in counted:
        if group is None:
            continue  # no discipline: THERAPY_MODIFIER_MISSING/CONFLICT already says why
        year = line.date_of_service.year
        key = (year, group)
        if key not in running:
            start = seen_amount(history, year, group, claim.claim_id)
            exact = True
            if seen_incomplete(history, year, group, claim.claim_id):
                exact = False
                history_gap.add(key)
            if year == base_year:
                ytd = ytd_before(claim, group, claim_groups)
                if ytd.amount is None:
                    exact = False
                    if ytd_not_carried:
                        ytd_untold.add(key)
                    else:
                        ytd_problem[key] = ytd.problem
                else:
                    start += ytd.amount
            running[key] = (start, exact)
        before, exact = running[key]
        amount = accrual.amount
        if amount is None:
            after = before
            exact = False
            amount_gap.add(key)
        else:
            after = before + amount
            if key in history_gap:
                amount_gap.add(key)
        running[key] = (after, exact)
        if kx not in line.modifiers:
            threshold = ref.kx_thresholds.get(year)
            if threshold is None:
                unverified.append(f"no KX threshold on file for {year}")
            elif after > threshold.amount:
                label = ref.group_labels.get(group, group)  # only for a message
                edits.append(
                    edit(
                        "KX_MODIFIER_REQUIRED",
                        line.line_number,
                        f"{_reached(line, ref, label, year, after, exact, accrual)}, over "
                        f"{_threshold_text(year, threshold)}; the line needs KX",
                    )
                )
            elif not exact and not (key in ytd_untold and key not in amount_gap):
                label = ref.group_labels.get(group, group)
                unverified.append(
                    _why_unknown(key, line.line_number, accrual, ytd_problem, history_gap, label)
                )
        if key not in reviewed and year <= review_through and after > review.amount:
            reviewed.add(key)
            label = ref.group_labels.get(group, group)
            edits.append(
                edit(
                    "MEDICAL_REVIEW_THRESHOLD",
                    line.line_number,
                    f"{_reached(line, ref, label, year, after, exact, accrual)}, over the "
                    f"{_money(review.amount)} targeted medical review "
                    "threshold",
                )
            )
    if unverified:
        reasons = sorted(set(unverified))
        edits.append(
            edit(
                "CHECK_INCOMPLETE",
                0,
                "NECESSITY could not verify the KX threshold: " + "; ".join(reasons),
            )
        )
    return edits

"""KX threshold and the targeted medical review threshold, domain §4.

Under Medicare rules, per beneficiary, calendar year and threshold group
(PT+SLP, OT): the year-to-date amount before this claim is
``therapy.amountUsedYtd`` plus the other claims this check has recorded for
that year and group (:mod:`claimscrub.necessity.history`). The claim's
therapy lines are then added in date-of-service and line order:

* KX_MODIFIER_REQUIRED on the line whose amount passes the year's threshold
  and on every later line of the group, unless the line carries KX;
* MEDICAL_REVIEW_THRESHOLD (warning) on the first line over the review
  threshold ($3,000 per group), once per claim and group: a claim beyond it
  may be picked for targeted medical review.

"Passes" means strictly over the amount. ``amountUsedYtd`` is taken to be for
the year of the claim's earliest date of service. When an amount the answer
depends on is missing (``amountUsedYtd``, a line's ``chargeAmount``, the
year's threshold), the lines that provably pass are still flagged and the
rest are reported as not verified (CHECK_INCOMPLETE), never passed silently,
except for a claim whose source cannot carry ``amountUsedYtd`` at all
(``NotChecked.KX_THRESHOLD``, an 837P): its result lists the threshold as
not checked instead of holding the claim.
"""

from __future__ import annotations

from decimal import Decimal

from claimscrub.core.claim import Claim
from claimscrub.core.edits import Edit, edit
from claimscrub.core.not_checked import NotChecked
from claimscrub.necessity.history import History, seen_amount
from claimscrub.necessity.lines import code_label, is_therapy_line, line_group
from claimscrub.necessity.reference import NecessityReference, Threshold


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _threshold_text(year: int, t: Threshold) -> str:
    text = f"the {year} KX threshold {_money(t.amount)}"
    return text if t.status == "confirmed" else f"{text} ({t.status} source)"


def threshold_edits(claim: Claim, ref: NecessityReference, history: History | None) -> list[Edit]:
    if not ref.payers.for_payer(claim.payer_id).medicare_rules:
        return []
    lines = sorted(
        (ln for ln in claim.service_lines if is_therapy_line(ln, ref)),
        key=lambda ln: (ln.date_of_service, ln.line_number),
    )
    if not lines:
        return []
    base_year = lines[0].date_of_service.year
    ytd = claim.therapy.amount_used_ytd if claim.therapy else None
    ytd_not_carried = NotChecked.KX_THRESHOLD in claim.not_checked
    kx = ref.kx_modifier
    # Per (year, group): the amount known so far (a lower bound) and whether it is exact.
    running: dict[tuple[int, str], tuple[Decimal, bool]] = {}
    reviewed: set[tuple[int, str]] = set()
    edits: list[Edit] = []
    unverified: list[str] = []
    for line in lines:
        group = line_group(line, claim, ref)
        if group is None:
            continue  # no discipline: THERAPY_MODIFIER_MISSING/CONFLICT already says why
        year = line.date_of_service.year
        key = (year, group)
        if key not in running:
            start = seen_amount(history, year, group, claim.claim_id)
            exact = True
            if year == base_year:
                if ytd is None:
                    exact = False
                else:
                    start += ytd
            running[key] = (start, exact)
        before, exact = running[key]
        after = before + (line.charge_amount or Decimal(0))
        exact = exact and line.charge_amount is not None
        running[key] = (after, exact)
        label = code_label(line.procedure_code, ref)
        group_label = ref.group_labels.get(group, group)
        threshold = ref.kx_thresholds.get(year)
        if kx not in line.modifiers:
            if threshold is None:
                unverified.append(f"no KX threshold on file for {year}")
            elif after > threshold.amount:
                edits.append(
                    edit(
                        "KX_MODIFIER_REQUIRED",
                        line.line_number,
                        f"{label} brings the {group_label} therapy amount for {year} to "
                        f"{'at least ' if not exact else ''}{_money(after)}, over "
                        f"{_threshold_text(year, threshold)}; the line needs KX",
                    )
                )
            elif not exact and not (ytd is None and ytd_not_carried and year == base_year):
                unverified.append(
                    "therapy.amountUsedYtd missing"
                    if ytd is None and year == base_year
                    else f"chargeAmount missing on line {line.line_number}"
                    if line.charge_amount is None
                    else "an earlier line's chargeAmount is missing"
                )
        review = ref.review_threshold
        if key not in reviewed and year <= ref.review_through_year and after > review.amount:
            reviewed.add(key)
            edits.append(
                edit(
                    "MEDICAL_REVIEW_THRESHOLD",
                    line.line_number,
                    f"{label} brings the {group_label} therapy amount for {year} to "
                    f"{'at least ' if not exact else ''}{_money(after)}, over the "
                    f"{_money(review.amount)} targeted medical review threshold",
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

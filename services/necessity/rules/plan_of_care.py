"""Plan of care and progress reports, domain §5 (CMS Pub. 100-02 Ch.15 §220.1.3, §220.3.D).

The plan-of-care edits judge the therapy lines whose date of service falls
under a payer policy version with ``planOfCareRequired`` (default: the
version's ``medicareRules``); progress reports are judged for every payer.

* PLAN_OF_CARE_MISSING: the claim has therapy lines but no plan of care
  with a certification date (line 0); or a therapy line dated before the
  plan's ``startDate`` (the initial treatment), which that plan does not
  cover (on the line).
* PLAN_OF_CARE_EXPIRED: a therapy line's date of service is after the plan's
  end date, or more than 90 calendar days (thresholds.json) after the initial
  treatment (``startDate``; the evaluation counts), whichever comes first.
  Without a ``startDate`` the 90 days run from ``certifiedDate``, which is
  never earlier than the initial treatment, so this errs towards passing.
* PLAN_OF_CARE_CERT_LATE: the certification was signed more than 30 days
  (thresholds.json) after the initial treatment (line 0; needs ``startDate``).
* PROGRESS_REPORT_OVERDUE: more than 10 treatment days since the last
  progress report, counted per discipline on the first line of the first
  date past the limit. ``therapy.treatmentDaysSinceProgressReport`` is read
  as the count before this claim (like ``amountUsedYtd``), and each distinct
  date of service on the claim adds one day. Without it, the count goes on
  from the last claim that reported one, else from the episode's start (the
  plan's start date), over the treatment days this check has recorded.

A claim whose source cannot carry the certification or the progress count
(``claim.not_checked``, an 837P) is not reported for them.
"""

from __future__ import annotations

import datetime as dt

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.core.edits import Edit, edit
from claimscrub.core.not_checked import NotChecked
from claimscrub.necessity.history import (
    History,
    progress_anchor,
    reported_discipline,
    seen_days,
)
from claimscrub.necessity.lines import (
    code_label,
    is_therapy_line,
    line_context,
    line_discipline,
    line_roles,
)
from claimscrub.necessity.reference import NecessityReference


def plan_of_care_edits(claim: Claim, ref: NecessityReference) -> list[Edit]:
    lines = [
        ln
        for ln, role, policy in zip(
            claim.service_lines,
            line_roles(claim, ref),
            line_context(claim, ref).policies,
            strict=True,
        )
        if role.therapy and policy.plan_of_care_required
    ]
    if not lines:
        return []
    plan = claim.therapy.plan_of_care if claim.therapy else None
    if plan is None or plan.certified_date is None:
        if NotChecked.PLAN_OF_CARE_CERTIFICATION in claim.not_checked:
            return []  # the source cannot say; the result lists it as not checked
        what = "no plan of care" if plan is None else "a plan of care with no certification date"
        return [
            edit(
                "PLAN_OF_CARE_MISSING",
                0,
                f"{len(lines)} therapy line{'s' if len(lines) != 1 else ''} and {what}",
            )
        ]
    edits: list[Edit] = []
    start = plan.start_date
    if start is not None:
        late = (plan.certified_date - start).days
        if late > ref.certification_signature_days:
            edits.append(
                edit(
                    "PLAN_OF_CARE_CERT_LATE",
                    0,
                    f"the plan of care was certified {late} days after the initial treatment; "
                    f"certification is due within {ref.certification_signature_days} days",
                )
            )
    # Without the initial treatment's date the certification date stands in: it
    # cannot come before the initial treatment on a valid plan, so the 90 days
    # run no earlier than they should and no line is called expired too soon.
    if start is not None:
        anchor, anchor_name = start, "initial treatment"
    else:
        anchor, anchor_name = plan.certified_date, "certification (no initial treatment date)"
    limit = ref.certification_max_days
    for line in lines:
        dos = line.date_of_service
        if start is not None and dos < start:
            days = (start - dos).days
            label = code_label(line.procedure_code, ref)  # only for a message
            edits.append(
                edit(
                    "PLAN_OF_CARE_MISSING",
                    line.line_number,
                    f"{label} is {days} day{'s' if days != 1 else ''} before the plan of care "
                    "starts (its initial treatment); it is not furnished under that plan",
                )
            )
            continue
        if plan.end_date is not None and dos > plan.end_date:
            days = (dos - plan.end_date).days
            label = code_label(line.procedure_code, ref)
            edits.append(
                edit(
                    "PLAN_OF_CARE_EXPIRED",
                    line.line_number,
                    f"{label} is {days} day{'s' if days != 1 else ''} after the plan of care ended",
                )
            )
            continue
        since = (dos - anchor).days
        if since > limit:
            label = code_label(line.procedure_code, ref)
            edits.append(
                edit(
                    "PLAN_OF_CARE_EXPIRED",
                    line.line_number,
                    f"{label} is {since} days after the plan's {anchor_name}; "
                    f"a certification lasts at most {limit} days from the initial treatment "
                    "(recertify)",
                )
            )
    return edits


def _first_lines(claim: Claim, ref: NecessityReference) -> dict[str, dict[dt.date, ServiceLine]]:
    """Per discipline, per treatment date, the first therapy line of that date."""
    out: dict[str, dict[dt.date, ServiceLine]] = {}
    for line in sorted(claim.service_lines, key=lambda ln: (ln.date_of_service, ln.line_number)):
        if not is_therapy_line(line, ref):
            continue
        discipline = line_discipline(line, claim, ref)
        if discipline is not None:
            out.setdefault(discipline, {}).setdefault(line.date_of_service, line)
    return out


def progress_edits(claim: Claim, ref: NecessityReference, history: History | None) -> list[Edit]:
    if claim.not_checked and NotChecked.PROGRESS_REPORT in claim.not_checked:
        return []
    edits: list[Edit] = []
    reported = claim.therapy.treatment_days_since_progress_report if claim.therapy else None
    reported_for = reported_discipline(claim, ref) if reported is not None else None
    plan = claim.therapy.plan_of_care if claim.therapy else None
    limit = ref.progress_report_days
    for discipline, by_date in sorted(_first_lines(claim, ref).items()):
        dates = sorted(by_date)
        if reported is not None and discipline == reported_for:
            count, new_dates = reported, dates
        else:
            seen = seen_days(history, discipline, claim.claim_id)
            anchor = progress_anchor(history, discipline, claim.claim_id)
            if anchor is not None:
                through, count = anchor
                count += sum(1 for d in seen if through < d < dates[0])
            else:
                start = plan.start_date if plan else None
                count = sum(1 for d in seen if d < dates[0] and (start is None or d >= start))
            new_dates = [d for d in dates if d not in seen]
        for d in new_dates:
            count += 1
            if count > limit:
                line = by_date[d]
                edits.append(
                    edit(
                        "PROGRESS_REPORT_OVERDUE",
                        line.line_number,
                        f"{code_label(line.procedure_code, ref)} is {discipline} treatment day "
                        f"{count} since the last progress report; one is due at least every "
                        f"{limit} treatment days",
                    )
                )
                break
    return edits

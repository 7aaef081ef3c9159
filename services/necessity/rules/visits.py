"""Visit limits and prior authorizations of the payer's policy (contract §2, §4).

A **visit** is a distinct date of service with at least one therapy line; its
edits go on that date's first therapy line. Visits are numbered per calendar
year: the claim's first year continues from ``therapy.visitsUsedYtd`` (the
visits already used that year, before this claim), so visit *k* of the year is
``visitsUsedYtd`` + its place among the claim's visits of that year; a later
year on the same claim counts from 1. Each visit is judged under the payer's
policy version in force on its date.

* VISIT_LIMIT_EXCEEDED: visit *k* > ``visitLimitPerYear``, on every visit over.
* AUTHORIZATION_MISSING: the visit needs an authorization (``authorizationRequired``
  ``true``: every visit; ``{"afterVisits": N}``: visits *k* > N) and the claim's
  ``priorAuthorization`` does not cover it: there is none; or its
  ``startDate``..``endDate`` (both days inside) does not hold the date of
  service; or the visit is past its ``visits``. The authorization's visits
  count from the first visit that needs one: visit *k* is its visit *k* − N
  (*k* under ``true``), which must be ≤ ``visits``. ``visitsUsedYtd`` stands in
  for the visits already used under the authorization: a payer whose
  authorizations start mid-year counts earlier visits against it. An
  authorization without dates or a visit count does not cover (the message
  names what it lacks).

Without ``visitsUsedYtd``, the visits that pass on the claim's own count are
still flagged and what cannot be told is reported as not verified
(CHECK_INCOMPLETE naming the field), never passed. A claim whose source cannot
carry it (``NotChecked.VISIT_LIMIT``, an 837P) is judged on its own count only;
one that cannot carry the authorization's dates and visits
(``NotChecked.AUTHORIZATION``) is flagged only for having no authorization.
Messages hold visit numbers and day counts, never a date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from claimscrub.core.claim import Claim, PriorAuthorization, ServiceLine
from claimscrub.core.edits import Edit, edit
from claimscrub.core.not_checked import NotChecked
from claimscrub.core.payers import PayerPolicy
from claimscrub.necessity.lines import is_therapy_line
from claimscrub.necessity.reference import NecessityReference

_YTD = "therapy.visitsUsedYtd is missing"


@dataclass(frozen=True, slots=True)
class Visit:
    date: dt.date
    line: ServiceLine
    #: the visit's number in its calendar year; ``None`` when the year to date is unknown
    number: int | None
    #: the least it can be (the claim's own count when the year to date is unknown)
    at_least: int


def claim_visits(claim: Claim, ref: NecessityReference) -> list[Visit]:
    first: dict[dt.date, ServiceLine] = {}
    for line in sorted(claim.service_lines, key=lambda ln: ln.line_number):
        if is_therapy_line(line, ref):
            first.setdefault(line.date_of_service, line)
    if not first:
        return []
    dates = sorted(first)
    ytd = claim.therapy.visits_used_ytd if claim.therapy else None
    counted: dict[int, int] = {}
    visits: list[Visit] = []
    for d in dates:
        counted[d.year] = place = counted.get(d.year, 0) + 1
        if d.year != dates[0].year:
            visits.append(Visit(d, first[d], place, place))
        elif ytd is None:
            visits.append(Visit(d, first[d], None, place))
        else:
            visits.append(Visit(d, first[d], ytd + place, ytd + place))
    return visits


def _visit(v: Visit) -> str:
    return f"visit {v.number}" if v.number is not None else f"visit {v.at_least} or later"


def _incomplete(what: str) -> Edit:
    return edit("CHECK_INCOMPLETE", 0, f"NECESSITY could not verify {what}: {_YTD}")


def _has_visit_limit(policy: PayerPolicy) -> bool:
    return policy.visit_limit_per_year is not None


def _needs_authorization(policy: PayerPolicy) -> bool:
    return policy.authorization is not None


def visit_limit_edits(claim: Claim, ref: NecessityReference) -> list[Edit]:
    if not ref.payers.any_version(claim.payer_id, _has_visit_limit):
        return []
    edits: list[Edit] = []
    unverified = False
    for v in claim_visits(claim, ref):
        limit = ref.payers.for_payer(claim.payer_id, v.date).visit_limit_per_year
        if limit is None:
            continue
        if v.at_least > limit:
            edits.append(
                edit(
                    "VISIT_LIMIT_EXCEEDED",
                    v.line.line_number,
                    f"{_visit(v)} of the calendar year; the payer allows {limit} a year",
                )
            )
        elif v.number is None:
            unverified = True
    if unverified and NotChecked.VISIT_LIMIT not in claim.not_checked:
        edits.append(_incomplete("the payer's visit limit"))
    return edits


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


# Why the authorization does not cover a visit; UNKNOWN when it cannot be told.
_UNKNOWN = "unknown"


def _not_covered(auth: PriorAuthorization | None, v: Visit, after: int, claim: Claim) -> str | None:
    if auth is None:
        return "the claim has none"
    if NotChecked.AUTHORIZATION in claim.not_checked:
        return None  # its dates and visits are not carried: the result says not checked
    if auth.start_date is None or auth.end_date is None:
        lacks = " and ".join(
            name
            for name, value in (("startDate", auth.start_date), ("endDate", auth.end_date))
            if value is None
        )
        return f"the authorization has no {lacks}"
    if v.date < auth.start_date:
        return f"the date of service is {_days((auth.start_date - v.date).days)} before it starts"
    if v.date > auth.end_date:
        return f"the date of service is {_days((v.date - auth.end_date).days)} after it ends"
    if auth.visits is None:
        return "the authorization has no visit count"
    used = v.at_least - after
    if used > auth.visits:
        which = f"{used}" if v.number is not None else f"{used} or later"
        return f"this is its visit {which} and it covers {auth.visits}"
    return None if v.number is not None else _UNKNOWN


def authorization_edits(claim: Claim, ref: NecessityReference) -> list[Edit]:
    if not ref.payers.any_version(claim.payer_id, _needs_authorization):
        return []
    edits: list[Edit] = []
    unverified = False
    auth = claim.prior_authorization
    for v in claim_visits(claim, ref):
        rule = ref.payers.for_payer(claim.payer_id, v.date).authorization
        if rule is None:
            continue
        if v.at_least <= rule.after_visits:
            # Needs none by its own count; the year to date may say otherwise.
            unverified = unverified or v.number is None
            continue
        why = _not_covered(auth, v, rule.after_visits, claim)
        if why == _UNKNOWN:
            unverified = True
        elif why is not None:
            n = rule.after_visits
            when = f"after {n} visits a year" if n else "for every visit"
            edits.append(
                edit(
                    "AUTHORIZATION_MISSING",
                    v.line.line_number,
                    f"{_visit(v)} of the calendar year needs a prior authorization (the payer "
                    f"requires one {when}); {why}",
                )
            )
    if unverified and NotChecked.VISIT_LIMIT not in claim.not_checked:
        edits.append(_incomplete("the prior authorization"))
    return edits

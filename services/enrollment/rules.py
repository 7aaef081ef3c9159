"""The ENROLLMENT check as pure functions: (claim, reference, table) → edits.

Rules (contract §4; domain §6):

* **NPI_INVALID** — the billing provider's NPI (required), and the rendering
  and referring providers' when the claim names them, must be 10 digits
  starting with 1 or 2 with a valid Luhn check digit (prefix 80840).
* **PROVIDER_NOT_ENROLLED** — the billing and rendering providers each need a
  record with the claim's payer whose status is ACTIVE (or TERMINATED, for
  services before the termination) and whose window covers the line's date
  of service: from the payer's ``retroactiveEnrollmentDays`` before the
  effective date (its policy version in force on that date: 30 under
  Medicare rules, 42 CFR 424.521(a), else 0) through the termination date. PENDING and REVOKED never
  cover a date. No record is never a pass; when the NPI has records with
  other payers only, the message says so.
* **CREDENTIAL_EXPIRED** — the record's licence expired before the DOS.
* **PROVIDER_EXCLUDED** — the record is flagged as on an exclusion list.
* **TAXONOMY_MISMATCH** (warning) — a line's therapy modifier (GP/GO/GN) marks
  another discipline than the rendering provider's taxonomy. The taxonomy is
  the claim's (what the payer sees), else the enrolled one; a taxonomy the
  reference does not list is never reported.

Referring providers are checked for a valid NPI only: the domain reference
gives no enrollment rule for them, and the check never invents one.

When the claim names no rendering provider the billing provider rendered the
service (837P sends the rendering loop only when it differs), so it takes
the rendering role for the taxonomy rule.

Findings that hold whatever the date (no record, status, exclusion) are
reported on the whole claim (line 0); date findings on each line they hit.
Messages are written from roles, statuses, counts and reference codes only:
never an NPI, a payer's name or a date (dates of service are PHI).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from claimscrub.core.claim import Claim, Provider
from claimscrub.core.edits import Edit, Severity, edit
from claimscrub.core.payers import PayerPolicies
from claimscrub.enrollment.npi import npi_problem
from claimscrub.enrollment.records import EnrollmentRecord, EnrollmentStatus
from claimscrub.enrollment.reference import EnrollmentReference, TaxonomyInfo
from claimscrub.enrollment.table import EnrollmentTable

__all__ = ["ProviderStanding", "check_enrollment", "date_findings", "provider_standing"]

# (edit code, message)
Finding = tuple[str, str]

_WINDOWED = (EnrollmentStatus.ACTIVE, EnrollmentStatus.TERMINATED)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def standing_findings(
    record: EnrollmentRecord | None, other_payers: int, subject: str
) -> list[Finding]:
    """What holds on every date: no record, a status that never covers, exclusion."""
    if record is None:
        if other_payers:
            payers = "payer" if other_payers == 1 else "payers"
            return [
                (
                    "PROVIDER_NOT_ENROLLED",
                    f"{subject} is enrolled with {other_payers} other {payers} "
                    "but has no enrollment record with this payer",
                )
            ]
        return [("PROVIDER_NOT_ENROLLED", f"{subject} has no enrollment record with this payer")]
    out: list[Finding] = []
    if record.status not in _WINDOWED:
        out.append(
            ("PROVIDER_NOT_ENROLLED", f"{subject}'s enrollment with this payer is {record.status}")
        )
    if record.excluded:
        out.append(("PROVIDER_EXCLUDED", f"{subject} is on an exclusion list"))
    return out


def _past(dos: dt.date, last: dt.date, last_day_counts: bool) -> bool:
    """Whether ``dos`` falls after a period ending on ``last``."""
    return dos > last or (dos == last and not last_day_counts)


def date_findings(
    record: EnrollmentRecord,
    dos: dt.date,
    ref: EnrollmentReference,
    subject: str,
    retroactive_days: int,
) -> list[Finding]:
    """What holds on one date of service: outside the enrollment window, licence expired.

    ``retroactive_days``: how long before the effective date the payer lets
    services be billed (its policy's ``retroactiveEnrollmentDays`` on ``dos``)."""
    out: list[Finding] = []
    if record.status in _WINDOWED and record.effective_date is not None:
        # Days from the date of service to the effective date: past the payer's
        # retroactive days, the date is before the window opens (a day count
        # rather than a date moved back, which costs a timedelta per line).
        before = (record.effective_date - dos).days
        ends = record.termination_date
        if before > retroactive_days:
            allowed = (
                f"billing is allowed from {_days(retroactive_days)} before"
                if retroactive_days
                else "this payer allows no billing before it"
            )
            out.append(
                (
                    "PROVIDER_NOT_ENROLLED",
                    f"date of service is {_days(before)} before the {subject}'s enrollment takes "
                    f"effect; {allowed}",
                )
            )
        elif ends is not None and _past(dos, ends, ref.termination_date_covered):
            after = (dos - ends).days
            when = "on the day" if after == 0 else f"{_days(after)} after"
            out.append(
                (
                    "PROVIDER_NOT_ENROLLED",
                    f"date of service is {when} the {subject}'s enrollment ended",
                )
            )
    expires = record.license_expires
    if expires is not None and _past(dos, expires, ref.license_valid_on_expiry_date):
        after = (dos - expires).days
        when = "on" if after == 0 else f"{_days(after)} before"
        out.append(
            ("CREDENTIAL_EXPIRED", f"{subject}'s licence expired {when} the date of service")
        )
    return out


# --- the claim -------------------------------------------------------------------


class _Role(NamedTuple):
    # A NamedTuple rather than a frozen dataclass: two or three per claim.
    name: str
    provider: Provider | None
    required: bool


def _roles(claim: Claim) -> list[_Role]:
    roles = [_Role("billing", claim.billing_provider, True)]
    if claim.rendering_provider is not None:
        roles.append(_Role("rendering", claim.rendering_provider, False))
    if claim.referring_provider is not None:
        roles.append(_Role("referring", claim.referring_provider, False))
    return roles


def _enrollment_edits(
    claim: Claim,
    npi: str,
    subject: str,
    ref: EnrollmentReference,
    table: EnrollmentTable,
    payers: PayerPolicies,
) -> list[Edit]:
    record = table.get(npi, claim.payer_id)
    other = table.other_payers(npi, claim.payer_id) if record is None else 0
    edits = [edit(code, 0, msg) for code, msg in standing_findings(record, other, subject)]
    if record is not None:
        for line, policy in zip(claim.service_lines, payers.for_lines(claim), strict=True):
            dos = line.date_of_service
            days = policy.retroactive_enrollment_days
            for code, msg in date_findings(record, dos, ref, subject, days):
                edits.append(edit(code, line.line_number, msg))
    return edits


def _taxonomy_edits(
    claim: Claim, role: str, npi: str | None, ref: EnrollmentReference, table: EnrollmentTable
) -> list[Edit]:
    provider = claim.rendering_provider or claim.billing_provider
    code = provider.taxonomy if provider is not None else None
    if not code and npi is not None:
        record = table.get(npi, claim.payer_id)
        code = record.taxonomy if record is not None else None
    info = ref.taxonomy(code)
    if info is None or code is None:
        return []
    kind = f"{info.discipline} assistant" if info.assistant else info.discipline
    edits: list[Edit] = []
    for line in claim.service_lines:
        marked = [m for m in line.modifiers if m in ref.modifier_disciplines]
        # Several therapy modifiers on a line is the NECESSITY check's conflict.
        if len(marked) != 1:
            continue
        modifier = marked[0]
        discipline = ref.modifier_disciplines[modifier]
        if discipline != info.discipline:
            edits.append(
                edit(
                    "TAXONOMY_MISMATCH",
                    line.line_number,
                    f"line billed with {modifier} ({discipline}) but the {role} provider's "
                    f"taxonomy {code.strip().upper()} is {kind}",
                )
            )
    return edits


def check_enrollment(
    claim: Claim, *, ref: EnrollmentReference, table: EnrollmentTable, payers: PayerPolicies
) -> list[Edit]:
    """Every ENROLLMENT edit for one claim, against the table as it stands now."""
    edits: list[Edit] = []
    valid: dict[str, str] = {}
    for role in _roles(claim):
        npi = role.provider.npi if role.provider is not None else None
        problem = npi_problem(npi)
        if problem is not None:
            edits.append(edit("NPI_INVALID", 0, f"{role.name} provider NPI {problem.value}"))
        elif npi is not None:
            valid[role.name] = npi
    # One NPI in two roles (a solo practitioner) is looked up once.
    by_npi: dict[str, list[str]] = {}
    for name in ("billing", "rendering"):
        if name in valid:
            by_npi.setdefault(valid[name], []).append(name)
    for npi, names in by_npi.items():
        subject = " and ".join(names) + " provider"
        edits.extend(_enrollment_edits(claim, npi, subject, ref, table, payers))
    rendering_role = "rendering" if claim.rendering_provider is not None else "billing"
    edits.extend(_taxonomy_edits(claim, rendering_role, valid.get(rendering_role), ref, table))
    return edits


# --- the lookup other services use -------------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderStanding:
    """What GetEnrollment answers: one provider with one payer on one date."""

    npi: str
    payer_id: str
    on: dt.date
    record: EnrollmentRecord | None
    taxonomy: TaxonomyInfo | None
    reasons: tuple[Edit, ...]

    @property
    def enrolled_on_date(self) -> bool:
        return not any(r.severity is Severity.ERROR for r in self.reasons)


def provider_standing(
    npi: str,
    payer_id: str,
    on: dt.date,
    *,
    ref: EnrollmentReference,
    table: EnrollmentTable,
    payers: PayerPolicies,
) -> ProviderStanding:
    """The same findings the claim rule makes, for one provider and date."""
    problem = npi_problem(npi)
    if problem is not None:
        reason = edit("NPI_INVALID", 0, f"provider NPI {problem.value}")
        return ProviderStanding(npi, payer_id, on, None, None, (reason,))
    record = table.get(npi, payer_id)
    other = table.other_payers(npi, payer_id) if record is None else 0
    findings = standing_findings(record, other, "provider")
    if record is not None:
        days = payers.for_payer(payer_id, on).retroactive_enrollment_days
        findings += date_findings(record, on, ref, "provider", days)
    return ProviderStanding(
        npi=npi,
        payer_id=payer_id,
        on=on,
        record=record,
        taxonomy=ref.taxonomy(record.taxonomy) if record is not None else None,
        reasons=tuple(edit(code, 0, msg) for code, msg in findings),
    )

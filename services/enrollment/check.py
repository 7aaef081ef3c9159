"""The ENROLLMENT check as a :class:`~claimscrub.core.checks.Check`.

The rules close over an :class:`EnrollmentTable`: in the service the table
follows providers.enrollment, so each claim is judged against the records as
they stand when it is processed; in the CLI it holds ``--enrollment FILE``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from claimscrub.core.checks import Check
from claimscrub.core.edits import CheckName
from claimscrub.core.payers import PayerPolicies
from claimscrub.core.versions import PAYERS
from claimscrub.enrollment.records import read_records
from claimscrub.enrollment.reference import EnrollmentReference
from claimscrub.enrollment.rules import check_enrollment
from claimscrub.enrollment.table import EnrollmentTable
from claimscrub.reference.follower import ReferenceSet
from claimscrub.runtime.settings import Settings


def enrollment_check(
    table: EnrollmentTable, ref: EnrollmentReference, payers: PayerPolicies
) -> Check:
    rules = partial(check_enrollment, ref=ref, table=table, payers=payers)
    return Check(CheckName.ENROLLMENT, rules, payers)


def follow_enrollment_reference(
    check: Check, settings: Settings, table: EnrollmentTable, ref: EnrollmentReference
) -> Check:
    """The service's check, following published payer policies."""
    from claimscrub.reference.live import follow_reference, merged_payers

    base = check.payers

    def build(refs: ReferenceSet) -> Check:
        return enrollment_check(table, ref, merged_payers(base, refs))

    return follow_reference(check, settings, kinds=(PAYERS,), build=build)


def load_enrollment_check(
    enrollment_file: Path | None, payers_file: Path | None, *, payers: PayerPolicies | None = None
) -> Check:
    """The check over a records file; without one the table is empty and every
    provider reads as not enrolled (no record is never a pass). ``payers``:
    ``payers_file``'s policies when the caller loaded them already."""
    records = read_records(enrollment_file) if enrollment_file is not None else []
    if payers is None:
        payers = PayerPolicies.load(payers_file)
    return enrollment_check(EnrollmentTable(records), EnrollmentReference.load(), payers)

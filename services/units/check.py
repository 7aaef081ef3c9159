"""The UNITS check as a :class:`~claimscrub.core.checks.Check`."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from claimscrub.core.checks import Check
from claimscrub.core.edits import CheckName
from claimscrub.core.payers import PayerPolicies
from claimscrub.core.versions import MUE, PAYERS
from claimscrub.reference.follower import ReferenceSet
from claimscrub.runtime.settings import Settings
from claimscrub.units.reference import UnitsReference
from claimscrub.units.rules import check_units


def units_check(ref: UnitsReference) -> Check:
    return Check(CheckName.UNITS, partial(check_units, ref=ref), ref.payers, ref.versions_for, ref)


def follow_units_reference(check: Check, settings: Settings) -> Check:
    """The service's check, following published MUE versions and payer policies."""
    from claimscrub.reference.live import follow_reference, merged_payers

    base = check.reference
    assert isinstance(base, UnitsReference)

    def build(refs: ReferenceSet) -> Check:
        payers = merged_payers(base.payers, refs)
        return units_check(base.with_versions(mue=refs.tables.get(MUE), payers=payers))

    return follow_reference(check, settings, kinds=(PAYERS, MUE), build=build)


def load_units_check(
    mue_file: Path | None, payers_file: Path | None, *, payers: PayerPolicies | None = None
) -> Check:
    """``payers``: ``payers_file``'s policies when the caller loaded them already."""
    return units_check(
        UnitsReference.load(mue_path=mue_file, payers_path=payers_file, payers=payers)
    )

"""The UNITS check as a :class:`~claimscrub.core.checks.Check`."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from claimscrub.core.checks import Check
from claimscrub.core.edits import CheckName
from claimscrub.units.reference import UnitsReference
from claimscrub.units.rules import check_units


def units_check(ref: UnitsReference) -> Check:
    return Check(CheckName.UNITS, partial(check_units, ref=ref), ref.payers)


def load_units_check(mue_file: Path | None, payers_file: Path | None) -> Check:
    return units_check(UnitsReference.load(mue_path=mue_file, payers_path=payers_file))

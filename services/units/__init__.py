"""The UNITS check: timed and untimed units, the 8-minute rule per payer, MUE.

Pure rule code in :mod:`claimscrub.units.rules`; reference data loading in
:mod:`claimscrub.units.reference` (bundled data under ``data/``).
"""

from claimscrub.units.reference import MueEntry, UnitsReference, load_mue_csv
from claimscrub.units.rules import (
    allocate_units,
    allocation_bounds,
    check_units,
    is_valid_allocation,
    units_for_minutes,
)

__all__ = [
    "MueEntry",
    "UnitsReference",
    "allocate_units",
    "allocation_bounds",
    "check_units",
    "is_valid_allocation",
    "load_mue_csv",
    "units_for_minutes",
]

"""Which checks `claimscrub scrub` runs, and the reference-data options they take.

Each check adds its options here and builds its :class:`Check` from them, the
same way its service builds it from environment variables.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from claimscrub.core.checks import Check
from claimscrub.core.payers import PayerPolicies


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def add_reference_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--payers",
        type=existing_file,
        metavar="FILE",
        help="payer policies, dated versions (JSON array or JSON Lines; docs/reference-data.md)",
    )
    parser.add_argument(
        "--mue",
        type=existing_file,
        metavar="FILE",
        help="CMS practitioner MUE CSV as published (default: bundled SAMPLE)",
    )
    parser.add_argument(
        "--enrollment",
        type=existing_file,
        metavar="FILE",
        help="provider enrollment records (JSON array or JSON Lines); "
        "without it no provider is enrolled",
    )
    parser.add_argument(
        "--ptp",
        type=existing_file,
        action="append",
        default=[],
        metavar="FILE",
        help="CMS practitioner PTP edits, CSV or CMS's tab-separated text; repeat for the "
        "quarter's four files (default: bundled SAMPLE pairs)",
    )
    parser.add_argument(
        "--coverage",
        type=existing_file,
        action="append",
        default=[],
        metavar="FILE",
        help="coverage policies, procedure -> supporting ICD-10-CM codes (default: bundled "
        "SAMPLE policy)",
    )
    parser.add_argument(
        "--code-status",
        type=existing_file,
        action="append",
        default=[],
        metavar="FILE",
        help="Medicare PFS status indicators per HCPCS code, CSV with HCPCS and STATUS CODE "
        "columns (default: bundled SAMPLE statuses)",
    )
    parser.add_argument(
        "--fee-schedule",
        type=existing_file,
        action="append",
        default=[],
        metavar="FILE",
        help="payer fee schedule, code -> allowed amount per unit, for the KX threshold "
        "(default: none; lines without allowedAmount then count their charge)",
    )


def build_checks(args: argparse.Namespace) -> list[Check]:
    """Every check, in contract order; raises ReferenceDataError for bad files."""
    from claimscrub.enrollment.check import load_enrollment_check
    from claimscrub.necessity.cli import load_cli_check
    from claimscrub.units.check import load_units_check

    # One copy of the payers file for every check and its reference data: the
    # claim-level edits (core.checks) and each claim's policies per line
    # (PayerPolicies.for_lines) are then worked out once per claim for all of them.
    payers = PayerPolicies.load(args.payers)
    return [
        load_units_check(args.mue, args.payers, payers=payers),
        # A Namespace built by hand (bench, tests) may leave the optional files out.
        load_cli_check(
            args.ptp,
            args.coverage,
            args.payers,
            getattr(args, "code_status", None) or (),
            getattr(args, "fee_schedule", None) or (),
            args.mue,
            payers,
        ),
        load_enrollment_check(args.enrollment, args.payers, payers=payers),
    ]

"""The NECESSITY check as `claimscrub scrub` builds it.

Without a cluster the rendering provider's role comes from the claim's
taxonomy only; with CLAIMSCRUB_ENROLLMENT_ADDR set (and the enrollment
service reachable) the CLI asks GetEnrollment as the service does. The
beneficiary tokens of the in-memory state use CLAIMSCRUB_HMAC_KEY like the
service (they never leave the process here).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from claimscrub.core.checks import Check
from claimscrub.core.payers import PayerPolicies, ReferenceDataError
from claimscrub.necessity.check import load_batch_check
from claimscrub.necessity.enrollment_client import SyncEnrollmentLookup
from claimscrub.necessity.settings import NecessitySettings
from claimscrub.runtime.settings import SettingsError


def load_cli_check(
    ptp_files: Sequence[Path],
    coverage_files: Sequence[Path],
    payers_file: Path | None,
    code_status_files: Sequence[Path] = (),
    fee_schedule_files: Sequence[Path] = (),
    mue_file: Path | None = None,
    payers: PayerPolicies | None = None,
) -> Check:
    try:
        own = NecessitySettings.from_env(_env_without_files())
    except SettingsError as exc:
        raise ReferenceDataError(str(exc)) from None
    lookup = (
        SyncEnrollmentLookup(own.enrollment_addr, own.enrollment_timeout_s)
        if own.enrollment_addr
        else None
    )
    return load_batch_check(
        ptp_files,
        coverage_files,
        payers_file,
        key=own.hmac_key,
        lookup=lookup,
        code_status_files=code_status_files,
        fee_schedule_files=fee_schedule_files,
        mue_file=mue_file,
        payers=payers,
    )


def _env_without_files() -> dict[str, str]:
    # The CLI takes reference files from its options (--ptp, --coverage,
    # --code-status, --fee-schedule) only,
    # as it does for --mue and --payers, so a shell that exported the service's
    # variables still scrubs with what the command line says.
    return {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "CLAIMSCRUB_PTP_FILE",
            "CLAIMSCRUB_COVERAGE_FILE",
            "CLAIMSCRUB_CODE_STATUS_FILE",
            "CLAIMSCRUB_FEE_SCHEDULE_FILE",
        )
    }

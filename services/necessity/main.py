"""Entry point of the necessity service (``claimscrub-necessity``).

Consumes claims.submitted, repartitions it by beneficiary, publishes
CheckResult(NECESSITY) on claims.checks and serves gRPC NecessityService.Check.
Reference data: CLAIMSCRUB_PTP_FILE, CLAIMSCRUB_COVERAGE_FILE,
CLAIMSCRUB_CODE_STATUS_FILE (bundled samples when unset),
CLAIMSCRUB_FEE_SCHEDULE_FILE (none when unset),
CLAIMSCRUB_MUE_FILE (the units service's MUE table, for MAI 2/3 day totals
across claims), CLAIMSCRUB_PAYERS_FILE. Provider roles the claim's taxonomy does not give
come from CLAIMSCRUB_ENROLLMENT_ADDR (GetEnrollment); beneficiary tokens are
keyed by the HMAC keyring, CLAIMSCRUB_HMAC_KEYS[_FILE] (or the single
CLAIMSCRUB_HMAC_KEY[_FILE]).
"""

from __future__ import annotations

import sys
from functools import partial

from claimscrub.core.checks import Check
from claimscrub.core.claim import Claim
from claimscrub.core.edits import Edit
from claimscrub.core.payers import ReferenceDataError
from claimscrub.core.versions import KINDS
from claimscrub.necessity.check import load_reference, necessity_check
from claimscrub.necessity.enrollment_client import (
    EnrollmentLookup,
    RoleCache,
    SyncEnrollmentLookup,
)
from claimscrub.necessity.history import History, date_shift, unseal
from claimscrub.necessity.reference import NecessityReference
from claimscrub.necessity.roles import resolve_role_sync
from claimscrub.necessity.rules import check_necessity
from claimscrub.necessity.servicer import NecessityServicer, registrar
from claimscrub.necessity.settings import NecessitySettings
from claimscrub.necessity.topology import StoredHistories, topology
from claimscrub.reference.follower import ReferenceSet
from claimscrub.reference.live import follow_reference, merged_payers
from claimscrub.runtime import runner
from claimscrub.runtime.keyring import Keyring
from claimscrub.runtime.logs import get_logger
from claimscrub.runtime.settings import SettingsError

GRPC_PORT = 50052
METRICS_PORT = 9102


def _stateless(claim: Claim, ref: NecessityReference) -> list[Edit]:
    # The Check's own rules; the stream and the servicer always pass rules bound
    # to the claim's history and looked-up role instead.
    return check_necessity(claim, ref=ref, history=None, role=resolve_role_sync(claim, ref, None))


def _rebuilt(base: NecessityReference, refs: ReferenceSet) -> Check:
    """The check over the base reference with the published versions in place."""
    ref = base.with_versions(refs.tables, merged_payers(base.payers, refs))
    return necessity_check(ref, partial(_stateless, ref=ref))


def main() -> None:
    settings = runner.settings_or_exit("necessity", grpc_port=GRPC_PORT, metrics_port=METRICS_PORT)
    log = get_logger("claimscrub.necessity")
    try:
        own = NecessitySettings.from_env()
    except SettingsError as exc:
        print(f"necessity: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        ref = load_reference(
            own.ptp_files,
            own.coverage_files,
            settings.payers_file,
            own.code_status_files,
            own.fee_schedule_files,
            settings.mue_file,
        )
    except ReferenceDataError as exc:
        print(f"necessity: reference data error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    log.info(
        "reference_loaded",
        ptp=ref.ptp.source,
        ptp_sample=ref.ptp.is_sample,
        coverage=ref.coverage.source,
        coverage_sample=ref.coverage.is_sample,
        code_status=ref.code_status.source,
        code_status_sample=ref.code_status.is_sample,
        fee_schedule=ref.fee_schedule.source if ref.fee_schedule else "none",
        fee_schedule_sample=bool(ref.fee_schedule and ref.fee_schedule.is_sample),
        mue=ref.mue.source if ref.mue else "none",
        mue_sample=bool(ref.mue and ref.mue.is_sample),
        payers_file=str(settings.payers_file or "defaults"),
        enrollment=own.enrollment_addr or "none (roles from the claim's taxonomy only)",
        enrollment_cache_s=own.enrollment_cache_s,
    )
    ring = own.keyring if own.keyring is not None else Keyring.single(own.hmac_key)
    log.info("hmac_keyring", current=ring.current_id, keys=len(ring.keys))
    if own.hmac_key_is_default:
        log.warning("hmac_key_default", detail="CLAIMSCRUB_HMAC_KEY unset: development key in use")
    # One cache of enrollment answers for the stream (blocking lookups: Quix
    # runs the step synchronously) and the gRPC servicer (asyncio).
    cache = RoleCache(own.enrollment_cache_s)
    tls = settings.grpc_client if settings.grpc_client is not None else False
    lookup = (
        EnrollmentLookup(own.enrollment_addr, own.enrollment_timeout_s, settings.grpc_client, cache)
        if own.enrollment_addr
        else None
    )
    sync_lookup = (
        SyncEnrollmentLookup(own.enrollment_addr, own.enrollment_timeout_s, tls, cache)
        if own.enrollment_addr
        else None
    )
    check = necessity_check(ref, partial(_stateless, ref=ref))
    check = follow_reference(check, settings, kinds=KINDS, build=partial(_rebuilt, ref))
    # Kept beside RocksDB until a few checkpoints have written them there.
    histories = StoredHistories(fresh_s=3 * settings.commit_interval_s + 2)

    def read_history(token: str) -> History | None:
        # Stored sealed (dates shifted, see necessity.history); the rules need real dates.
        return unseal(histories.get(token.encode()), date_shift(token, ring))

    servicer = NecessityServicer(
        check,
        ref,
        lookup=lookup,
        read_history=read_history,
        hmac_key=ring,
        instance=settings.instance,
    )
    runner.run(
        settings,
        lambda app: topology(
            app,
            settings,
            check=check,
            ref=ref,
            hmac_key=ring,
            lookup=sync_lookup,
            histories=histories,
        ),
        registrar(servicer),
        on_stop=sync_lookup.close if sync_lookup is not None else None,
    )


if __name__ == "__main__":
    main()

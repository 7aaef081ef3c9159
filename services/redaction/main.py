"""Entry point of the redaction service (``claimscrub-redaction``).

Consumes claims.submitted and claims.scrubbed, publishes the de-identified
claim with its result on claims.deidentified (key: the claim's token) and
each claim whose result is ready (CLAIMSCRUB_READY_STATUSES, default CLEAN)
as submitted on claims.ready (key: claimId); serves gRPC RedactionService
(RedactText, RedactClaim). The pseudonym key comes from CLAIMSCRUB_HMAC_KEY
or CLAIMSCRUB_HMAC_KEY_FILE; with CLAIMSCRUB_MODE=production the service does
not start without one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from claimscrub.redaction.config import DEV_KEY_WARNING, RedactionConfig
from claimscrub.redaction.deidentify import Deidentifier
from claimscrub.redaction.metrics import redaction_metrics
from claimscrub.redaction.ready import ready_statuses
from claimscrub.redaction.servicer import registrar
from claimscrub.redaction.topology import ENGINE_OPTIONS, topology
from claimscrub.runtime import runner
from claimscrub.runtime.env import SettingsError
from claimscrub.runtime.logs import get_logger

GRPC_PORT = 50054
METRICS_PORT = 9104


def main() -> None:
    # The pseudonym key first: without it nothing else matters.
    try:
        config = RedactionConfig.from_env()
        statuses = ready_statuses(os.environ)
    except SettingsError as exc:
        print(f"redaction: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    settings = runner.settings_or_exit("redaction", grpc_port=GRPC_PORT, metrics_port=METRICS_PORT)
    log = get_logger("claimscrub.redaction")
    if config.using_dev_key:
        log.warning("hmac_dev_key_in_use", detail=DEV_KEY_WARNING)
    log.info(
        "redaction_configured",
        mode=config.mode.value,
        date_mode=config.date_mode.value,
        shift_max_days=config.shift_max_days,
        ready_statuses=",".join(sorted(statuses)),
    )
    findings = redaction_metrics().findings

    def count(counts: Mapping[str, int]) -> None:
        for type_, n in counts.items():
            findings.labels(type_).inc(n)

    deid = Deidentifier(config, on_redacted=count)
    runner.run(
        settings,
        lambda app: topology(app, settings, deid, statuses),
        registrar(deid),
        app_options=ENGINE_OPTIONS,
    )


if __name__ == "__main__":
    main()

"""The aggregator's own configuration, read once from the environment.

The shared :class:`~claimscrub.runtime.settings.Settings` holds what every
service reads; these variables only concern the aggregator
(docs/configuration.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from claimscrub.core.edits import CheckName
from claimscrub.runtime import registry
from claimscrub.runtime.env import env_seconds
from claimscrub.runtime.settings import SettingsError

DEFAULT_CHECK_TIMEOUT_S = 30.0
DEFAULT_RETENTION_S = 7 * 24 * 3600.0
#: Contract §3 (revision): how long after a CHECK_INCOMPLETE result the
#: missing checks' verdicts still give the version its revision 2.
DEFAULT_LATE_VERDICT_S = 3600.0
# Above the necessity check's own enrollment lookup deadline (2 s), so a slow lookup
# still ends in an answer from necessity.
DEFAULT_SCRUB_DEADLINE_S = 3.0
#: Where each check's gRPC Check method is (CLAIMSCRUB_<SERVICE>_ADDR), and its
#: local default: the service registry's check services and ports.
CHECK_ADDRESS_VARIABLES: dict[CheckName, tuple[str, str]] = {
    CheckName(check): where for check, where in registry.check_addresses().items()
}


@dataclass(frozen=True, slots=True)
class AggregatorSettings:
    #: A required check that has not answered this long after a claim version's
    #: first verdict makes the result CHECK_INCOMPLETE.
    check_timeout_s: float
    #: How long published versions and fingerprints are remembered (identical
    #: redeliveries get no result, DUPLICATE_CLAIM is found) before they expire.
    retention_s: float
    #: Deadline of each check's Check call behind ScrubService.Scrub.
    scrub_deadline_s: float
    #: gRPC address of each required check.
    check_addresses: dict[CheckName, str]
    #: After a CHECK_INCOMPLETE result, how long every missing check may still
    #: answer and give the claim version its revision 2.
    late_verdict_s: float = DEFAULT_LATE_VERDICT_S

    @property
    def grace_s(self) -> float:
        """How long a done version stays in the claim-state table: long enough to
        absorb redeliveries and a restart's replay; the ledger remembers the rest."""
        return max(2 * self.check_timeout_s, 120.0)

    @classmethod
    def from_env(
        cls, required_checks: tuple[str, ...], env: Mapping[str, str] | None = None
    ) -> AggregatorSettings:
        e = os.environ if env is None else env
        addresses: dict[CheckName, str] = {}
        for name in required_checks:
            try:
                check = CheckName(name)
            except ValueError:
                raise SettingsError(f"CLAIMSCRUB_REQUIRED_CHECKS names no check: {name}") from None
            if check not in CHECK_ADDRESS_VARIABLES:
                raise SettingsError(f"CLAIMSCRUB_REQUIRED_CHECKS names no check service: {name}")
            variable, default = CHECK_ADDRESS_VARIABLES[check]
            addr = e.get(variable, "").strip() or default
            if ":" not in addr:
                raise SettingsError(f"{variable} must be HOST:PORT")
            addresses[check] = addr
        return cls(
            check_timeout_s=env_seconds(
                e, "CLAIMSCRUB_CHECK_TIMEOUT_SECONDS", DEFAULT_CHECK_TIMEOUT_S
            ),
            retention_s=env_seconds(e, "CLAIMSCRUB_RESULT_RETENTION_SECONDS", DEFAULT_RETENTION_S),
            scrub_deadline_s=env_seconds(
                e, "CLAIMSCRUB_SCRUB_DEADLINE_SECONDS", DEFAULT_SCRUB_DEADLINE_S
            ),
            check_addresses=addresses,
            late_verdict_s=env_seconds(
                e, "CLAIMSCRUB_LATE_VERDICT_SECONDS", DEFAULT_LATE_VERDICT_S
            ),
        )

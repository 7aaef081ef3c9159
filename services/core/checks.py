"""A check: its rules, closed over its reference data, plus the claim-level edits.

The Kafka agent, the gRPC servicer and the CLI all call :meth:`Check.run`,
which is why the three always agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from claimscrub.core.claim import Claim, ParsedClaim
from claimscrub.core.claim_checks import claim_level_edits
from claimscrub.core.edits import CheckName, Edit
from claimscrub.core.payers import PayerPolicies
from claimscrub.core.results import CheckResult

Rules = Callable[[Claim], list[Edit]]


@dataclass(frozen=True, slots=True)
class Check:
    name: CheckName
    rules: Rules
    payers: PayerPolicies

    def run(
        self,
        parsed: ParsedClaim,
        today: dt.date,
        *,
        submitted_at_ms: int = 0,
        producer: str = "",
    ) -> CheckResult:
        edits = claim_level_edits(parsed, self.payers, today)
        if parsed.ok and parsed.claim is not None:
            edits.extend(self.rules(parsed.claim))
        return CheckResult(
            claim_id=parsed.claim_id,
            check=self.name,
            edits=tuple(edits),
            submitted_at_ms=submitted_at_ms,
            producer=producer,
        )

"""A check: its rules, closed over its reference data, plus the claim-level edits.

The Kafka agent, the gRPC servicer and the CLI all call :meth:`Check.run`,
which is why the three always agree.

A stateful check (NECESSITY: year-to-date amounts per beneficiary) keeps the
same shape. Its rules close over a state object: in the CLI one that lives
for the batch, so claims accumulate in input order. A service holds the state
elsewhere (a Faust table) and passes ``rules`` bound to one claim's state to
:meth:`Check.run`, so the claim-level edits and the result stay shared code.
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
        rules: Rules | None = None,
    ) -> CheckResult:
        """The check's verdict; ``rules``, when given, stand in for the check's own
        for this one claim (a stateful check's rules bound to the claim's state)."""
        edits = claim_level_edits(parsed, self.payers, today)
        not_checked: tuple[str, ...] = ()
        if parsed.ok and parsed.claim is not None:
            edits.extend((rules or self.rules)(parsed.claim))
            not_checked = tuple(sorted(parsed.claim.not_checked))
        return CheckResult(
            claim_id=parsed.claim_id,
            check=self.name,
            edits=tuple(edits),
            submitted_at_ms=submitted_at_ms,
            producer=producer,
            not_checked=not_checked,
        )

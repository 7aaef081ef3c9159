"""A check: its rules, closed over its reference data, plus the claim-level edits.

The Kafka agent, the gRPC servicer and the CLI all call :meth:`Check.run`,
which is why the three always agree.

A stateful check (NECESSITY: year-to-date amounts per beneficiary) keeps the
same shape. Its rules close over a state object: in the CLI one that lives
for the batch, so claims accumulate in input order. A service holds the state
elsewhere (a stream engine state store) and passes ``rules`` bound to one claim's state to
:meth:`Check.run`, so the claim-level edits and the result stay shared code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from claimscrub.core.claim import Claim, ParsedClaim
from claimscrub.core.claim_checks import claim_level_edits
from claimscrub.core.edits import CheckName, Edit
from claimscrub.core.payers import PayerPolicies
from claimscrub.core.results import CheckResult

Rules = Callable[[Claim], list[Edit]]
#: The reference data versions a check reads on a claim's dates (core.versions).
VersionsOf = Callable[[Claim], Mapping[str, str]]


def payer_versions(payers: PayerPolicies) -> VersionsOf:
    """What a check that reads only payer policies reports: their versions on
    the claim's dates (every check judges timely filing by them)."""

    def versions(claim: Claim) -> Mapping[str, str]:
        dates = [line.date_of_service for line in claim.service_lines]
        return {"payers": payers.version_ids(claim.payer_id, dates)} if dates else {}

    return versions


_VERSIONS_MAX = 8_192
_NONE: Mapping[str, str] = MappingProxyType({})

# The checks of one process judge the same claim one after the other (the
# CLI, the synchronous API): what depends only on the claim (and the payer
# policies, today) is worked out for the first and kept for the others. The
# entry holds the claim, so an identity test cannot match a different one.
_last_claim_level: tuple[ParsedClaim, PayerPolicies, dt.date, tuple[Edit, ...]] | None = None
_last_dates: tuple[Claim, tuple[str, tuple[dt.date, ...]]] | None = None


def _claim_level(parsed: ParsedClaim, payers: PayerPolicies, today: dt.date) -> tuple[Edit, ...]:
    global _last_claim_level
    last = _last_claim_level
    if last is not None and last[0] is parsed and last[1] is payers and last[2] == today:
        return last[3]
    found = tuple(claim_level_edits(parsed, payers, today))
    _last_claim_level = (parsed, payers, today, found)
    return found


def _versions_key(claim: Claim) -> tuple[str, tuple[dt.date, ...]]:
    """What a claim's referenceVersions depend on: its payer and dates of service."""
    global _last_dates
    last = _last_dates
    if last is not None and last[0] is claim:
        return last[1]
    key = (claim.payer_id, tuple(sorted({ln.date_of_service for ln in claim.service_lines})))
    _last_dates = (claim, key)
    return key


@dataclass(frozen=True, slots=True)
class Check:
    name: CheckName
    rules: Rules
    payers: PayerPolicies
    versions: VersionsOf | None = None
    #: The reference object ``rules`` close over, for a stateful check that
    #: binds its rules to one claim's state (necessity): the pair stays consistent.
    reference: object = None
    #: In a service, the check in force: a newer Check once newly published
    #: reference data has loaded (runtime.reference_follower). Each claim is
    #: judged whole by the one :meth:`current` returns when it starts.
    live: Callable[[], Check] | None = None
    # referenceVersions by (payer, the claim's dates of service), all they depend on.
    _versions_of: dict[tuple[str, tuple[dt.date, ...]], Mapping[str, str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _versions(self, claim: Claim) -> Mapping[str, str]:
        key = _versions_key(claim)
        found = self._versions_of.get(key)
        if found is None:
            of = self.versions or payer_versions(self.payers)
            if len(self._versions_of) >= _VERSIONS_MAX:
                self._versions_of.clear()
            found = self._versions_of[key] = MappingProxyType(dict(of(claim)))
        return found

    def current(self) -> Check:
        return self.live() if self.live is not None else self

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
        if self.live is not None:
            return self.live().run(
                parsed, today, submitted_at_ms=submitted_at_ms, producer=producer, rules=rules
            )
        level = _claim_level(parsed, self.payers, today)
        claim = parsed.claim
        if claim is None or parsed.problems:  # not parsed.ok: claim-level edits only
            return CheckResult(
                claim_id=parsed.claim_id,
                check=self.name,
                edits=level,
                submitted_at_ms=submitted_at_ms,
                producer=producer,
                reference_versions=_NONE,
            )
        own = (rules or self.rules)(claim)
        return CheckResult(
            claim_id=parsed.claim_id,
            check=self.name,
            edits=(*level, *own) if level else tuple(own),
            submitted_at_ms=submitted_at_ms,
            producer=producer,
            not_checked=tuple(sorted(claim.not_checked)) if claim.not_checked else (),
            reference_versions=self._versions(claim),
        )

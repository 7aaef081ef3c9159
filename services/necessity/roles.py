"""The rendering provider's role (discipline, assistant or not) for CQ/CO.

The role comes first from the claim's own ``renderingProvider.taxonomy``
(``data/taxonomy.json``, NUCC codes of domain §6); when that is missing or
not listed, from the enrollment service's ``GetEnrollment`` over gRPC
(:mod:`claimscrub.necessity.enrollment_client`). It is only looked for when
it matters: a Medicare-rules claim with a PT or OT line that carries no
assistant modifier yet.

When the role cannot be found (no usable taxonomy and no lookup configured,
the lookup unreachable within its deadline, or the enrollment service not
knowing the provider), :class:`ProviderRole` says why, and the rules report
that CQ/CO could not be verified instead of passing the claim silently.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from claimscrub.core.claim import Claim, ServiceLine
from claimscrub.necessity.lines import line_context
from claimscrub.necessity.reference import NecessityReference


@dataclass(frozen=True, slots=True)
class ProviderRole:
    discipline: str | None = None
    assistant: bool | None = None
    #: "taxonomy", "enrollment", or "" when unknown or not needed
    source: str = ""
    #: why the role is unknown, written from fixed text only (no identifiers)
    unknown_reason: str = ""

    @property
    def known(self) -> bool:
        return self.discipline is not None and self.assistant is not None

    @classmethod
    def unknown(cls, reason: str) -> ProviderRole:
        return cls(unknown_reason=reason)


#: The role of a claim that needs none (no line where CQ/CO could be missing).
NOT_NEEDED = ProviderRole()


@dataclass(frozen=True, slots=True)
class LookupRequest:
    npi: str
    payer_id: str
    date: dt.date


class RoleLookup(Protocol):
    async def role(self, request: LookupRequest) -> ProviderRole: ...


class SyncRoleLookup(Protocol):
    def role(self, request: LookupRequest) -> ProviderRole: ...


# The role lookup and the assistant edits ask about the same claim one after
# the other: the last claim's answer is kept (claims and references are
# immutable; the entry holds both, so identity says it still holds).
_last_needed: tuple[Claim, NecessityReference, bool] | None = None


def role_needed(claim: Claim, ref: NecessityReference) -> bool:
    """Whether the claim has a line on which an assistant modifier could be missing."""
    global _last_needed
    last = _last_needed
    if last is not None and last[0] is claim and last[1] is ref:
        return last[2]
    needed = _role_needed(claim, ref)
    _last_needed = (claim, ref, needed)
    return needed


def _role_needed(claim: Claim, ref: NecessityReference) -> bool:
    assistant = ref.assistant_modifiers.keys()
    therapy = ref.therapy_modifiers
    for line, policy in zip(claim.service_lines, line_context(claim, ref).policies, strict=True):
        if not assistant.isdisjoint(line.modifiers):
            continue
        for m in line.modifiers:
            if m in therapy and ref.assistant_modifier_for(therapy[m]):
                if policy.medicare_rules:
                    return True
                break
    return False


def medicare_rules_on(claim: Claim, line: ServiceLine, ref: NecessityReference) -> bool:
    """Whether the payer's policy in force on the line's date of service has medicareRules."""
    return ref.payers.for_payer(claim.payer_id, line.date_of_service).medicare_rules


def role_from_taxonomy(claim: Claim, ref: NecessityReference) -> ProviderRole | None:
    provider = claim.rendering_provider
    taxonomy = (provider.taxonomy or "").upper() if provider else ""
    found = ref.taxonomies.get(taxonomy)
    if found is None:
        return None
    return ProviderRole(found.discipline, found.assistant, "taxonomy")


def plan_role(
    claim: Claim, ref: NecessityReference, *, lookup_available: bool
) -> ProviderRole | LookupRequest:
    """The role when the claim itself settles it, else what to ask the enrollment service."""
    if not role_needed(claim, ref):
        return NOT_NEEDED
    from_taxonomy = role_from_taxonomy(claim, ref)
    if from_taxonomy is not None:
        return from_taxonomy
    provider = claim.rendering_provider
    has_taxonomy = bool(provider and provider.taxonomy)
    taxonomy_text = (
        "the rendering taxonomy is not a listed PT/OT/SLP code"
        if has_taxonomy
        else "the claim has no rendering provider taxonomy"
    )
    if not lookup_available:
        return ProviderRole.unknown(f"{taxonomy_text} and no enrollment lookup is configured")
    if provider is None or not provider.npi:
        return ProviderRole.unknown(f"{taxonomy_text} and no rendering provider NPI to look up")
    first_dos = min(line.date_of_service for line in claim.service_lines)
    return LookupRequest(provider.npi, claim.payer_id, first_dos)


async def resolve_role(
    claim: Claim, ref: NecessityReference, lookup: RoleLookup | None
) -> ProviderRole:
    planned = plan_role(claim, ref, lookup_available=lookup is not None)
    if isinstance(planned, ProviderRole) or lookup is None:
        return planned if isinstance(planned, ProviderRole) else ProviderRole.unknown("no lookup")
    return await lookup.role(planned)


def resolve_role_sync(
    claim: Claim, ref: NecessityReference, lookup: SyncRoleLookup | None
) -> ProviderRole:
    planned = plan_role(claim, ref, lookup_available=lookup is not None)
    if isinstance(planned, ProviderRole) or lookup is None:
        return planned if isinstance(planned, ProviderRole) else ProviderRole.unknown("no lookup")
    return lookup.role(planned)

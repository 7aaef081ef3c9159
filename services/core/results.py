"""Check verdicts and their combination into one scrub result (contract §3).

:func:`combine` is the only place a status is derived, used alike by the
stream aggregator, the synchronous API and the in-process CLI, so the three
can never disagree about a claim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from claimscrub.core.edits import CheckName, Edit, Severity
from claimscrub.core.versions import merge_versions, ordered_versions

_NO_VERSIONS: Mapping[str, str] = MappingProxyType({})


class Status(StrEnum):
    HOLD = "HOLD"
    REVIEW = "REVIEW"
    CLEAN = "CLEAN"


@dataclass(frozen=True, slots=True)
class CheckResult:
    claim_id: str
    check: CheckName
    edits: tuple[Edit, ...]
    submitted_at_ms: int = 0
    producer: str = ""
    #: Set by the stream's check agents (claimscrub.core.fingerprint.stamp).
    claim_version: str = ""
    fingerprint: str = ""
    #: ``fingerprint`` under the keyring's earlier keys, newest first.
    earlier_fingerprints: tuple[str, ...] = ()
    #: The claim's ``not_checked`` (claimscrub.core.not_checked), for the result.
    not_checked: tuple[str, ...] = ()
    #: Kind -> id(s) of the reference data versions the check read (core.versions).
    reference_versions: Mapping[str, str] = field(default_factory=lambda: _NO_VERSIONS)


@dataclass(frozen=True, slots=True)
class ScrubResult:
    claim_id: str
    status: Status
    checks: tuple[str, ...]
    edits: tuple[Edit, ...] = field(default=())
    #: Rules the claim's source gave no input for (contract §3), sorted.
    not_checked: tuple[str, ...] = ()
    #: Kind -> id(s) of every reference data version that judged the claim (contract §3).
    reference_versions: Mapping[str, str] = field(default_factory=lambda: _NO_VERSIONS)
    #: Contract §3: 1 for a claim version's first result, 2 for the one that
    #: supersedes its CHECK_INCOMPLETE result.
    revision: int = 1

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "claimId": self.claim_id,
            "status": self.status.value,
            "checks": list(self.checks),
            "edits": [e.to_json() for e in self.edits],
        }
        if self.revision > 1:  # a first result omits it, as the contract's example does
            out["revision"] = self.revision
        if self.not_checked:  # omitted when empty, as proto3 JSON omits it
            out["notChecked"] = list(self.not_checked)
        if self.reference_versions:
            out["referenceVersions"] = ordered_versions(self.reference_versions)
        return out


_CHECK_ORDER = {name: i for i, name in enumerate(CheckName)}

DUPLICATE = "DUPLICATE_CLAIM"


def status_of(edits: Iterable[Edit]) -> Status:
    severities = {e.severity for e in edits}
    if Severity.ERROR in severities:
        return Status.HOLD
    if Severity.WARNING in severities:
        return Status.REVIEW
    return Status.CLEAN


def _edit_order(e: Edit) -> tuple[int, int, str]:
    return (e.line_number, _CHECK_ORDER.get(e.check, 99), e.code)


# Merged referenceVersions by the identity of the checks' maps: each check
# keeps one map per (payer, dates) (core.checks), so a run sees few
# combinations. An entry holds its maps, so their ids cannot be reused.
_merged: dict[tuple[int, ...], tuple[tuple[Mapping[str, str], ...], Mapping[str, str]]] = {}
_MERGED_MAX = 256


def _merged_versions(maps: list[Mapping[str, str]]) -> Mapping[str, str]:
    given = tuple(maps)
    key = tuple(map(id, given))
    found = _merged.get(key)
    # Equal tuples merge alike; the comparison is by identity first, so a hit is cheap.
    if found is not None and found[0] == given:
        return found[1]
    merged: Mapping[str, str] = MappingProxyType(merge_versions(given))
    if len(_merged) >= _MERGED_MAX:
        _merged.clear()
    _merged[key] = (given, merged)
    return merged


def combine(claim_id: str, results: Iterable[CheckResult]) -> ScrubResult:
    """One scrub result from the checks' verdicts.

    Every check also reports the claim-level edits (a malformed claim is
    malformed for each of them), so identical edits are kept once.
    """
    seen: set[tuple[str, str, int, str]] = set()
    edits: list[Edit] = []
    checks: list[str] = []
    not_checked: set[str] = set()
    versions: list[Mapping[str, str]] = []
    for result in sorted(results, key=lambda r: _CHECK_ORDER.get(r.check, 99)):
        name = str(result.check)  # a StrEnum's str() is its value
        if name not in checks:
            checks.append(name)
        if result.not_checked:
            not_checked.update(result.not_checked)
        versions.append(result.reference_versions)
        for e in result.edits:
            # A CheckName is a str equal to its value: the member itself keys alike.
            key = (e.code, e.check, e.line_number, e.message)
            if key not in seen:
                seen.add(key)
                edits.append(e)
    edits.sort(key=_edit_order)
    return ScrubResult(
        claim_id,
        status_of(edits),
        tuple(checks),
        tuple(edits),
        tuple(sorted(not_checked)),
        _merged_versions(versions),
    )


def with_claim_edits(result: ScrubResult, extra: Iterable[Edit]) -> ScrubResult:
    """The result with claim-level edits decided outside the checks added
    (CHECK_INCOMPLETE, DUPLICATE_CLAIM), ordered and judged as :func:`combine`
    does; ``checks`` still lists only the checks that answered."""
    added = [e for e in extra if e not in result.edits]
    if not added:
        return result
    kept: list[Edit] = list(result.edits)
    if any(e.code == DUPLICATE and e.line_number == 0 for e in added):
        # The whole claim repeats an earlier one: its one line-0 DUPLICATE_CLAIM
        # stands for the per-line ones (contract §4).
        kept = [e for e in kept if e.code != DUPLICATE]
    edits = sorted([*kept, *added], key=_edit_order)
    return ScrubResult(
        result.claim_id,
        status_of(edits),
        result.checks,
        tuple(edits),
        result.not_checked,
        result.reference_versions,
        result.revision,
    )

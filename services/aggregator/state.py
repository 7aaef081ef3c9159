"""Collecting the checks' verdicts per claim version, and the pure steps over it.

The state of one claimId is a small JSON-able dict, kept in the stream
engine's state store (RocksDB, and its changelog topic)::

    {"p": 3,                                   # partition of claims.checks
     "pending": {version: {"checks": {"UNITS": [edit, ...]}, "fp": fingerprint,
                           "efp": [earlier fingerprint, ...],  # after a key rotation
                           "firstMs": ..., "submittedAtMs": ...,
                           "notChecked": {"UNITS": [name, ...]}}},  # when any
     "done": {version: {"atMs": ..., "inc": incarnation, "fp": fingerprint,
                        "result": ScrubResult JSON,
                        # a CHECK_INCOMPLETE result within its late-verdict window:
                        "late": {"checks": ..., "versions": ..., "notChecked": ...,
                                 "missing": [check, ...]},
                        # after its revision 2 was forwarded:
                        "revAtMs": ...}}}

A version is *pending* until every required check answered (or the timeout
passed: CHECK_INCOMPLETE), then *done*: its combined result is forwarded to
the publishing step (claimscrub.aggregator.ledger), which decides
DUPLICATE_CLAIM and publishes once per version. Done versions are kept for a
grace period so redelivered verdicts are absorbed here, then dropped: the
ledger remembers what was published for the whole retention.

A version that completed with CHECK_INCOMPLETE keeps the verdicts it had for
its **late-verdict window** (``late_ms``, CLAIMSCRUB_LATE_VERDICT_SECONDS,
contract §3 ``revision``): when every missing check answers within it, the
version is forwarded once more as revision 2, combined from every verdict.

:func:`collect` and :func:`expire` are pure, so the idempotence rules are
testable without a broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from claimscrub.core.edits import CheckName, Edit, Severity, edit
from claimscrub.core.results import CheckResult, ScrubResult, Status, combine, with_claim_edits

State = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Completed:
    """One claim version's combined verdict, ready for the publishing step."""

    claim_id: str
    version: str
    fingerprint: str
    result: ScrubResult
    submitted_at_ms: int = 0
    #: Required checks that had not answered (CHECK_INCOMPLETE), in order.
    missing: tuple[str, ...] = ()
    #: The fingerprint under the keyring's earlier keys (CheckResult's).
    earlier_fingerprints: tuple[str, ...] = ()


def _earlier(entry: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(entry.get("efp", ()))


@dataclass(frozen=True, slots=True)
class Collected:
    state: State
    #: A version that just completed (or a done one to forward again).
    forward: Completed | None
    #: The verdict was already counted (a redelivery); nothing new happened.
    duplicate: bool


def edit_from_json(d: Mapping[str, Any]) -> Edit:
    return Edit(
        code=d["code"],
        severity=Severity(d["severity"]),
        check=CheckName(d["check"]),
        line_number=int(d["lineNumber"]),
        message=d["message"],
        carc=d.get("carc", ""),
        reference=d.get("reference", ""),
    )


def result_from_json(d: Mapping[str, Any]) -> ScrubResult:
    return ScrubResult(
        claim_id=d["claimId"],
        status=Status(d["status"]),
        checks=tuple(d["checks"]),
        edits=tuple(edit_from_json(e) for e in d["edits"]),
        reference_versions=MappingProxyType(dict(d.get("referenceVersions", {}))),
        not_checked=tuple(d.get("notChecked", ())),
        revision=int(d.get("revision", 1)),
    )


def incomplete_edit(check: str, within_s: float) -> Edit:
    return edit("CHECK_INCOMPLETE", 0, f"{check} did not answer within {within_s:g} s")


def _combined(
    claim_id: str,
    checks: Mapping[str, list[dict[str, Any]]],
    versions: Mapping[str, Mapping[str, str]],
    not_checked: Mapping[str, list[str]],
) -> ScrubResult:
    return combine(
        claim_id,
        (
            CheckResult(
                claim_id,
                CheckName(name),
                tuple(edit_from_json(e) for e in es),
                reference_versions=MappingProxyType(dict(versions.get(name, {}))),
                not_checked=tuple(not_checked.get(name, ())),
            )
            for name, es in checks.items()
        ),
    )


def _done_entry(c: Completed, now_ms: int, incarnation: str) -> dict[str, Any]:
    entry = {"atMs": now_ms, "inc": incarnation, "fp": c.fingerprint, "result": c.result.to_json()}
    if c.earlier_fingerprints:
        entry["efp"] = list(c.earlier_fingerprints)
    return entry


def collect(
    state: State | None,
    incoming: CheckResult,
    required: Iterable[str],
    *,
    now_ms: int,
    partition: int,
    incarnation: str,
    late_ms: int = 0,
) -> Collected:
    """Fold one verdict into its claim's state.

    A verdict for a check already counted in its version changes nothing. A
    verdict for a done version is a redelivery too; if that version was
    finished by an earlier incarnation of the aggregator (it crashed, or
    another instance owned the partition), its result is forwarded once more,
    because that forward may have been lost with the process: the publishing
    step never publishes a version twice, so forwarding again is always safe.

    A verdict of a check that a CHECK_INCOMPLETE result named as missing,
    arriving at most ``late_ms`` after that result, is kept; the one that
    completes the version forwards its revision 2 (:func:`_late_verdict`).
    """
    current = state or {}
    pending: dict[str, Any] = dict(current.get("pending", {}))
    done: dict[str, Any] = dict(current.get("done", {}))
    version = incoming.claim_version
    check = incoming.check.value

    if version in done:
        entry = done[version]
        late = entry.get("late")
        if late is not None and check in late["missing"]:
            return _late_verdict(
                current,
                incoming,
                now_ms=now_ms,
                partition=partition,
                incarnation=incarnation,
                late_ms=late_ms,
            )
        if entry.get("inc") == incarnation:
            return Collected(current, None, True)
        done[version] = {**entry, "inc": incarnation}
        again = Completed(
            claim_id=incoming.claim_id,
            version=version,
            fingerprint=entry.get("fp", ""),
            result=result_from_json(entry["result"]),
            earlier_fingerprints=_earlier(entry),
        )
        return Collected({"p": partition, "pending": pending, "done": done}, again, True)

    mine = pending.get(version)
    if mine is not None and check in mine["checks"]:
        return Collected(current, None, True)
    if mine is None:
        mine = {
            "checks": {},
            "fp": incoming.fingerprint,
            "firstMs": now_ms,
            "submittedAtMs": incoming.submitted_at_ms,
        }
        if incoming.earlier_fingerprints:
            mine["efp"] = list(incoming.earlier_fingerprints)
    checks = {**mine["checks"], check: [e.to_json() for e in incoming.edits]}
    versions = {**mine.get("versions", {}), check: dict(incoming.reference_versions)}
    not_checked: dict[str, list[str]] = dict(mine.get("notChecked", {}))
    if incoming.not_checked:  # kept only when there is some (an 837P claim)
        not_checked[check] = list(incoming.not_checked)
    mine = {
        **mine,
        "checks": checks,
        "versions": versions,
        "fp": mine["fp"] or incoming.fingerprint,
    }
    if not_checked:
        mine["notChecked"] = not_checked
    if not mine.get("efp") and incoming.earlier_fingerprints:
        mine["efp"] = list(incoming.earlier_fingerprints)
    if not set(required) <= set(checks):
        pending[version] = mine
        return Collected({"p": partition, "pending": pending, "done": done}, None, False)

    pending.pop(version, None)
    completed = Completed(
        claim_id=incoming.claim_id,
        version=version,
        fingerprint=mine["fp"],
        result=_combined(incoming.claim_id, checks, versions, not_checked),
        submitted_at_ms=mine["submittedAtMs"],
        earlier_fingerprints=_earlier(mine),
    )
    done[version] = _done_entry(completed, now_ms, incarnation)
    return Collected({"p": partition, "pending": pending, "done": done}, completed, False)


def _late_verdict(
    current: State,
    incoming: CheckResult,
    *,
    now_ms: int,
    partition: int,
    incarnation: str,
    late_ms: int,
) -> Collected:
    """A missing check's verdict after its version's CHECK_INCOMPLETE result."""
    version = incoming.claim_version
    done: dict[str, Any] = dict(current.get("done", {}))
    entry = done[version]
    if now_ms > int(entry["atMs"]) + late_ms:
        return Collected(current, None, False)  # past the window: the result stands
    late = entry["late"]
    check = incoming.check.value
    checks = {**late["checks"], check: [e.to_json() for e in incoming.edits]}
    versions = {**late.get("versions", {}), check: dict(incoming.reference_versions)}
    not_checked: dict[str, list[str]] = dict(late.get("notChecked", {}))
    if incoming.not_checked:
        not_checked[check] = list(incoming.not_checked)
    missing = [c for c in late["missing"] if c != check]
    state = {"p": partition, "pending": dict(current.get("pending", {})), "done": done}
    if missing:
        done[version] = {
            **entry,
            "late": {
                "checks": checks,
                "versions": versions,
                "notChecked": not_checked,
                "missing": missing,
            },
        }
        return Collected(state, None, False)
    result = replace(_combined(incoming.claim_id, checks, versions, not_checked), revision=2)
    revised = Completed(
        claim_id=incoming.claim_id,
        version=version,
        fingerprint=entry.get("fp", ""),
        result=result,
        submitted_at_ms=int(entry.get("submittedAtMs", 0)),
        earlier_fingerprints=_earlier(entry),
    )
    rest = {k: v for k, v in entry.items() if k != "late"}
    done[version] = {
        **rest,
        "inc": incarnation,
        "result": result.to_json(),
        "revAtMs": now_ms,
    }
    return Collected(state, revised, False)


def _forget_at_ms(entry: Mapping[str, Any], grace_ms: int, late_ms: int) -> int:
    """When a done version may be dropped: after the grace period, and not
    before its late-verdict window (inclusive) has passed."""
    at = int(entry["atMs"])
    if "late" in entry:
        return max(at + grace_ms, at + late_ms + 1)
    return int(entry.get("revAtMs", at)) + grace_ms


def expire(
    claim_id: str,
    state: State,
    required: Iterable[str],
    *,
    now_ms: int,
    timeout_ms: int,
    grace_ms: int,
    clock_start_ms: int,
    incarnation: str,
    late_ms: int = 0,
) -> tuple[State | None, list[Completed]]:
    """Time out pending versions and forget done ones past the grace period.

    A pending version times out ``timeout_ms`` after its first verdict arrived
    here, or after ``clock_start_ms`` if later: the moment this instance took
    the partition over, so verdicts that wait unread in claims.checks after a
    restart or a rebalance are not declared missing. With ``late_ms``, a
    timed-out version keeps its verdicts for late ones (:func:`collect`).
    Returns the new state
    (None: nothing left, delete the key) and the versions that completed.
    """
    pending: dict[str, Any] = dict(state.get("pending", {}))
    done: dict[str, Any] = dict(state.get("done", {}))
    order = list(required)
    out: list[Completed] = []
    for version, mine in list(pending.items()):
        if max(int(mine["firstMs"]), clock_start_ms) + timeout_ms > now_ms:
            continue
        missing = tuple(c for c in order if c not in mine["checks"])
        result = with_claim_edits(
            _combined(
                claim_id, mine["checks"], mine.get("versions", {}), mine.get("notChecked", {})
            ),
            (incomplete_edit(c, timeout_ms / 1000) for c in missing),
        )
        completed = Completed(
            claim_id=claim_id,
            version=version,
            fingerprint=mine["fp"],
            result=result,
            submitted_at_ms=mine["submittedAtMs"],
            missing=missing,
            earlier_fingerprints=_earlier(mine),
        )
        del pending[version]
        entry = _done_entry(completed, now_ms, incarnation)
        if late_ms > 0 and missing:
            entry["submittedAtMs"] = mine["submittedAtMs"]
            entry["late"] = {
                "checks": mine["checks"],
                "versions": mine.get("versions", {}),
                "notChecked": mine.get("notChecked", {}),
                "missing": list(missing),
            }
        done[version] = entry
        out.append(completed)
    for version, entry in list(done.items()):
        if _forget_at_ms(entry, grace_ms, late_ms) <= now_ms:
            del done[version]
    if not pending and not done:
        return None, out
    return {"p": state.get("p", -1), "pending": pending, "done": done}, out


def is_due(
    state: State,
    *,
    now_ms: int,
    timeout_ms: int,
    grace_ms: int,
    clock_start_ms: int,
    late_ms: int = 0,
) -> bool:
    """Whether :func:`expire` would change anything (cheap: the timer asks first)."""
    for mine in state.get("pending", {}).values():
        if max(int(mine["firstMs"]), clock_start_ms) + timeout_ms <= now_ms:
            return True
    return any(
        _forget_at_ms(e, grace_ms, late_ms) <= now_ms for e in state.get("done", {}).values()
    )


def due_at_ms(
    state: State, *, timeout_ms: int, grace_ms: int, clock_start_ms: int, late_ms: int = 0
) -> int | None:
    """The earliest time :func:`is_due` turns true for this state (None: never,
    the state holds nothing). ``is_due(now_ms=t)`` is ``due_at_ms(...) <= t``,
    so a timer can keep states in order of this time instead of asking each."""
    times = [
        max(int(mine["firstMs"]), clock_start_ms) + timeout_ms
        for mine in state.get("pending", {}).values()
    ]
    times.extend(_forget_at_ms(e, grace_ms, late_ms) for e in state.get("done", {}).values())
    return min(times) if times else None

"""The ready stage as pure steps: which claims go to claims.ready, and when.

``claims.ready`` (contract §6) carries a claim, exactly as it was submitted,
once its result is one of the ready statuses (``CLAIMSCRUB_READY_STATUSES``,
default ``CLEAN``), once per claim version. The claim (from claims.submitted)
and its result (from claims.scrubbed) arrive in either order; the state of a
claimId holds what has come of each version so far:

    {"claims": {version: {"value": b64, "headers": [[name, b64], ...]}},
     "verdicts": {version: {"status": "HOLD", "revision": 1, "waits": true}},
     "sent": [version, ...]}

A waiting claim is the claim as submitted (PHI): it is kept only while its
verdict may still make it ready, i.e. until the first result arrives, or,
when that result carries CHECK_INCOMPLETE, until revision 2 (contract §3)
settles it. A verdict that cannot make it ready drops the claim at once.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from claimscrub.runtime.env import SettingsError

READY_STATUSES_VARIABLE = "CLAIMSCRUB_READY_STATUSES"
STATUSES = ("CLEAN", "REVIEW", "HOLD")
DEFAULT_READY_STATUSES = frozenset({"CLEAN"})
#: The edit after which the aggregator may send revision 2 (contract §3).
INCOMPLETE_CODE = "CHECK_INCOMPLETE"

ReadyState = dict[str, Any]
Headers = Sequence[tuple[str, bytes]]


def ready_statuses(env: Mapping[str, str]) -> frozenset[str]:
    """CLAIMSCRUB_READY_STATUSES: a comma list of CLEAN, REVIEW, HOLD (default CLEAN)."""
    raw = env.get(READY_STATUSES_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_READY_STATUSES
    names = {part.strip().upper() for part in raw.split(",") if part.strip()}
    unknown = sorted(names - set(STATUSES))
    if unknown or not names:
        raise SettingsError(
            f"{READY_STATUSES_VARIABLE} must be a comma list of {', '.join(STATUSES)}"
        )
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the ready stage reads of a ScrubResult."""

    version: str
    status: str
    revision: int
    #: Carries CHECK_INCOMPLETE: a later revision may change the status.
    incomplete: bool


@dataclass(frozen=True, slots=True)
class ReadyClaim:
    """A claim to publish on claims.ready: its bytes and headers as submitted."""

    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class ReadyStep:
    state: ReadyState
    ready: ReadyClaim | None = None
    #: The event changed nothing (a redelivery, or a version already settled).
    duplicate: bool = False


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _stored(value: bytes, headers: Headers) -> dict[str, Any]:
    return {"value": _b64(value), "headers": [[name, _b64(v)] for name, v in headers]}


def _claim_of(stored: Mapping[str, Any]) -> ReadyClaim:
    return ReadyClaim(
        base64.b64decode(stored["value"]),
        [(name, base64.b64decode(v)) for name, v in stored["headers"]],
    )


def _copy(state: ReadyState | None) -> ReadyState:
    s = state or {}
    return {
        "claims": dict(s.get("claims", {})),
        "verdicts": dict(s.get("verdicts", {})),
        "sent": list(s.get("sent", [])),
    }


def _may_change(verdict: Mapping[str, Any]) -> bool:
    # Only a first result with CHECK_INCOMPLETE is followed by another revision.
    return bool(verdict.get("waits")) and int(verdict.get("revision", 1)) < 2


def _settle(state: ReadyState, version: str, statuses: frozenset[str]) -> ReadyStep:
    """Both sides of ``version`` may be present: publish, drop or keep waiting."""
    verdict = state["verdicts"].get(version)
    stored = state["claims"].get(version)
    if verdict is None or stored is None:
        return ReadyStep(state)
    if verdict["status"] in statuses:
        del state["claims"][version]
        del state["verdicts"][version]
        state["sent"].append(version)
        return ReadyStep(state, _claim_of(stored))
    if not _may_change(verdict):
        del state["claims"][version]
    return ReadyStep(state)


def on_claim(
    state: ReadyState | None,
    version: str,
    value: bytes,
    headers: Headers,
    statuses: frozenset[str],
) -> ReadyStep:
    """A claim version as submitted: published if its verdict already made it
    ready, kept if its verdict is still to come, dropped otherwise."""
    current = _copy(state)
    if version in current["sent"] or version in current["claims"]:
        return ReadyStep(current, duplicate=True)
    verdict = current["verdicts"].get(version)
    if verdict is not None and verdict["status"] not in statuses and not _may_change(verdict):
        # Settled, and not ready: nothing to keep (a redelivery after the verdict).
        return ReadyStep(current, duplicate=True)
    current["claims"][version] = _stored(value, headers)
    return _settle(current, version, statuses)


def on_verdict(state: ReadyState | None, verdict: Verdict, statuses: frozenset[str]) -> ReadyStep:
    """A claim version's result: the highest revision counts (contract §3)."""
    current = _copy(state)
    version = verdict.version
    if version in current["sent"]:
        return ReadyStep(current, duplicate=True)
    known = current["verdicts"].get(version)
    if known is not None and int(known["revision"]) >= verdict.revision:
        return ReadyStep(current, duplicate=True)
    current["verdicts"][version] = {
        "status": verdict.status,
        "revision": verdict.revision,
        "waits": verdict.incomplete,
    }
    return _settle(current, version, statuses)

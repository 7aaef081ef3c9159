"""What the aggregator remembers per claim, and the pure step that updates it.

The state is a small JSON-able dict so it can live in a Faust table (and its
changelog). :func:`apply` is pure: given the state and one CheckResult it
says what the new state is and whether a ScrubResult is due, which makes the
idempotence rules testable without a broker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from claimscrub.core.edits import CheckName, Edit, Severity
from claimscrub.core.results import CheckResult, ScrubResult, combine

State = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Step:
    state: State
    result: ScrubResult | None
    duplicate: bool


def _edit_from_json(d: dict[str, Any]) -> Edit:
    return Edit(
        code=d["code"],
        severity=Severity(d["severity"]),
        check=CheckName(d["check"]),
        line_number=int(d["lineNumber"]),
        message=d["message"],
        carc=d.get("carc", ""),
        reference=d.get("reference", ""),
    )


def apply(state: State | None, incoming: CheckResult, required: Iterable[str]) -> Step:
    """Fold one verdict into a claim's state.

    A verdict for a check already counted, or for a claim already published,
    changes nothing: that is what makes at-least-once delivery safe.
    """
    current: State = state or {"checks": {}, "published": False, "submittedAtMs": 0}
    check = incoming.check.value
    if current["published"] or check in current["checks"]:
        return Step(current, None, True)
    checks = dict(current["checks"])
    checks[check] = [e.to_json() for e in incoming.edits]
    submitted = current.get("submittedAtMs") or incoming.submitted_at_ms
    if not set(required) <= set(checks):
        return Step({"checks": checks, "published": False, "submittedAtMs": submitted}, None, False)
    result = combine(
        incoming.claim_id,
        (
            CheckResult(incoming.claim_id, CheckName(name), tuple(_edit_from_json(e) for e in es))
            for name, es in checks.items()
        ),
    )
    # Once published only the fact matters; the edits are in claims.scrubbed.
    done: State = {
        "checks": {name: [] for name in checks},
        "published": True,
        "submittedAtMs": submitted,
    }
    return Step(done, result, False)

"""A late verdict supersedes CHECK_INCOMPLETE (contract §3, ``revision``): when
every check a CHECK_INCOMPLETE result named answers within the late-verdict
window, the claim version gets revision 2 once; after the window, nothing."""

from __future__ import annotations

from typing import Any

from claimscrub.aggregator.ledger import (
    Trust,
    decide,
    publish_as,
    published_names,
    published_version,
)
from claimscrub.aggregator.state import Completed, collect, expire
from claimscrub.core.edits import CheckName, edit
from claimscrub.core.results import CheckResult, Status

EXCEED = edit("UNITS_EXCEED_TIME", 2, "97110 billed 3 units; 30 timed minutes support 2")
REQUIRED = ("UNITS", "NECESSITY", "ENROLLMENT")
ME = "inc-me"
TIMEOUT_MS = 30_000
LATE_MS = 3_600_000
TIMING: dict[str, Any] = {
    "timeout_ms": TIMEOUT_MS,
    "grace_ms": 120_000,
    "clock_start_ms": 0,
    "incarnation": ME,
    "late_ms": LATE_MS,
}


def _r(check: CheckName, *edits: Any) -> CheckResult:
    return CheckResult("A", check, tuple(edits), claim_version="v1", fingerprint="fp1")


def _timed_out(*answered: CheckResult) -> tuple[dict[str, Any], Completed]:
    """A version whose first verdict came at 1 s and that timed out at 31 s."""
    state: Any = None
    for verdict in answered:
        state = collect(
            state, verdict, REQUIRED, now_ms=1_000, partition=0, incarnation=ME, late_ms=LATE_MS
        ).state
    new, out = expire("A", state, REQUIRED, now_ms=31_000, **TIMING)
    assert new is not None and len(out) == 1
    return new, out[0]


def _late(state: dict[str, Any], verdict: CheckResult, at_ms: int) -> Any:
    return collect(
        state, verdict, REQUIRED, now_ms=at_ms, partition=0, incarnation=ME, late_ms=LATE_MS
    )


def test_the_first_result_is_revision_1_with_check_incomplete() -> None:
    _, first = _timed_out(_r(CheckName.UNITS, EXCEED), _r(CheckName.ENROLLMENT))
    assert first.result.revision == 1
    assert [e.code for e in first.result.edits] == ["CHECK_INCOMPLETE", "UNITS_EXCEED_TIME"]
    assert first.missing == ("NECESSITY",)


def test_the_missing_verdict_at_the_end_of_the_window_gives_revision_2() -> None:
    state, _ = _timed_out(_r(CheckName.UNITS, EXCEED), _r(CheckName.ENROLLMENT))
    step = _late(state, _r(CheckName.NECESSITY), 31_000 + LATE_MS)
    assert step.forward is not None
    revised = step.forward.result
    assert revised.revision == 2
    assert [e.code for e in revised.edits] == ["UNITS_EXCEED_TIME"]
    assert set(revised.checks) == set(REQUIRED)
    assert revised.status is Status.HOLD
    assert (step.forward.version, step.forward.fingerprint) == ("v1", "fp1")


def test_a_missing_verdict_one_millisecond_after_the_window_changes_nothing() -> None:
    state, _ = _timed_out(_r(CheckName.UNITS), _r(CheckName.ENROLLMENT))
    step = _late(state, _r(CheckName.NECESSITY), 31_000 + LATE_MS + 1)
    assert step.forward is None
    assert step.state == state


def test_revision_2_waits_for_every_missing_check() -> None:
    state, first = _timed_out(_r(CheckName.UNITS))
    assert first.missing == ("NECESSITY", "ENROLLMENT")
    step = _late(state, _r(CheckName.ENROLLMENT), 40_000)
    assert step.forward is None
    step = _late(step.state, _r(CheckName.NECESSITY), 50_000)
    assert step.forward is not None and step.forward.result.revision == 2
    assert step.forward.result.status is Status.CLEAN


def test_revision_2_is_forwarded_once() -> None:
    state, _ = _timed_out(_r(CheckName.UNITS), _r(CheckName.ENROLLMENT))
    step = _late(state, _r(CheckName.NECESSITY), 40_000)
    assert step.forward is not None
    again = _late(step.state, _r(CheckName.NECESSITY), 41_000)
    assert again.forward is None and again.duplicate


def test_without_a_window_a_late_verdict_changes_nothing() -> None:
    state: Any = collect(
        None, _r(CheckName.UNITS), REQUIRED, now_ms=1_000, partition=0, incarnation=ME
    ).state
    state, _ = expire("A", state, REQUIRED, now_ms=31_000, **{**TIMING, "late_ms": 0})
    assert state is not None
    step = collect(
        state, _r(CheckName.NECESSITY), REQUIRED, now_ms=32_000, partition=0, incarnation=ME
    )
    assert step.forward is None


def test_a_timed_out_version_is_kept_to_the_end_of_its_window_and_no_longer() -> None:
    state, _ = _timed_out(_r(CheckName.UNITS))
    kept, out = expire("A", state, REQUIRED, now_ms=31_000 + LATE_MS, **TIMING)
    assert kept is not None and out == []
    gone, out = expire("A", state, REQUIRED, now_ms=31_000 + LATE_MS + 1, **TIMING)
    assert gone is None and out == []


def test_the_ledger_publishes_revision_2_once_beside_revision_1_and_keeps_duplicates() -> None:
    trust = Trust(ME)
    owner = decide(None, "CLM-1", "v0", fingerprinted=True, now_ms=1, partition=0, trust=trust)
    first = decide(
        owner.entry,
        "CLM-2",
        published_version("v1", 1),
        fingerprinted=True,
        now_ms=2,
        partition=0,
        trust=trust,
    )
    assert first.edits is not None and [e.code for e in first.edits] == ["DUPLICATE_CLAIM"]
    second = decide(
        first.entry,
        "CLM-2",
        published_version("v1", 2),
        fingerprinted=True,
        now_ms=3,
        partition=0,
        trust=trust,
    )
    assert second.edits is not None and [e.code for e in second.edits] == ["DUPLICATE_CLAIM"]
    again = decide(
        second.entry,
        "CLM-2",
        published_version("v1", 2),
        fingerprinted=True,
        now_ms=4,
        partition=0,
        trust=trust,
    )
    assert again.edits is None and again.skipped_by == "mark"
    assert published_version("v1", 1) == "v1" != published_version("v1", 2)


def test_a_complete_result_after_a_published_check_incomplete_is_revision_2_once() -> None:
    """An aggregator killed right after a timeout: its CHECK_INCOMPLETE revision 1
    is out, the timed-out state is lost with the uncommitted checkpoint, and the
    restarted process completes the version from the late verdicts as revision 1."""
    trust = Trust(ME)
    incomplete = decide(
        None,
        "CLM-1",
        "v1",
        fingerprinted=False,
        now_ms=1,
        partition=0,
        trust=trust,
        incomplete_of="v1",
    )
    assert incomplete.edits == []
    as_ = publish_as(incomplete.entry, "CLM-1", "v1", revision=1, incomplete=False, trust=trust)
    assert as_ == 2
    revised = decide(
        incomplete.entry,
        "CLM-1",
        published_version("v1", as_),
        fingerprinted=False,
        now_ms=2,
        partition=0,
        trust=trust,
    )
    assert revised.edits == []
    # Once: the collect step's own revision 2, or the complete result again, is skipped.
    for revision in (1, 2):
        again = publish_as(
            revised.entry, "CLM-1", "v1", revision=revision, incomplete=False, trust=trust
        )
        assert again == 2
        skipped = decide(
            revised.entry,
            "CLM-1",
            published_version("v1", again),
            fingerprinted=False,
            now_ms=3,
            partition=0,
            trust=trust,
        )
        assert skipped.edits is None
    # A CHECK_INCOMPLETE result again (the version timed out anew) stays revision 1: skipped.
    assert publish_as(revised.entry, "CLM-1", "v1", revision=1, incomplete=True, trust=trust) == 1


def test_a_complete_revision_1_stays_revision_1_without_a_check_incomplete_before() -> None:
    trust = Trust(ME)
    complete = decide(None, "CLM-1", "v1", fingerprinted=False, now_ms=1, partition=0, trust=trust)
    assert publish_as(complete.entry, "CLM-1", "v1", revision=1, incomplete=False, trust=trust) == 1
    assert publish_as(None, "CLM-1", "v1", revision=1, incomplete=False, trust=trust) == 1
    # Another version of the claim is not concerned.
    marked = decide(
        None,
        "CLM-1",
        "v1",
        fingerprinted=False,
        now_ms=1,
        partition=0,
        trust=trust,
        incomplete_of="v1",
    )
    assert publish_as(marked.entry, "CLM-1", "v2", revision=1, incomplete=False, trust=trust) == 1


def test_the_read_back_tells_a_check_incomplete_revision_1_when_the_marks_were_lost() -> None:
    names = published_names("v1", 1, incomplete=True)
    assert names == ["v1", "v1!"]
    assert published_names("v1", 1, incomplete=False) == ["v1"]
    assert published_names("v1", 2, incomplete=False) == ["v1#2"]
    # The restarted process: no mark of its own, what claims.scrubbed holds.
    trust = Trust(ME, trusted_before_ms=0, recovered=frozenset(("CLM-1", n) for n in names))
    assert publish_as(None, "CLM-1", "v1", revision=1, incomplete=False, trust=trust) == 2
    fresh = Trust(ME, trusted_before_ms=0, recovered=frozenset({("CLM-1", "v1")}))
    assert publish_as(None, "CLM-1", "v1", revision=1, incomplete=False, trust=fresh) == 1

"""Aggregation: one result per claim version once every required check answered,
CHECK_INCOMPLETE after the timeout, redelivery is a no-op; the ledger publishes
once per version and finds duplicates."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from claimscrub.aggregator.ledger import Trust, decide, ledger_key, prune, was_published
from claimscrub.aggregator.state import collect, due_at_ms, expire, is_due
from claimscrub.core.edits import CheckName, edit
from claimscrub.core.results import CheckResult, Status, combine

MALFORMED = edit("MALFORMED_CLAIM", 0, "invalid claim: payerId: missing")
EXCEED = edit("UNITS_EXCEED_TIME", 2, "97110 billed 3 units; 30 timed minutes support 2")
BELOW = edit("UNITS_BELOW_TIME", 1, "97110 billed 1 unit; 40 timed minutes support 3")
REQUIRED = ("UNITS", "NECESSITY")
ME = "inc-me"


def _r(check: CheckName, *edits: object, version: str = "v1", fp: str = "fp1") -> CheckResult:
    return CheckResult("A", check, tuple(edits), claim_version=version, fingerprint=fp)  # type: ignore[arg-type]


def test_status_is_hold_for_errors_review_for_warnings_else_clean() -> None:
    assert combine("A", [CheckResult("A", CheckName.UNITS, ())]).status is Status.CLEAN
    assert combine("A", [CheckResult("A", CheckName.UNITS, (BELOW,))]).status is Status.REVIEW
    both = combine("A", [CheckResult("A", CheckName.UNITS, (BELOW, EXCEED))])
    assert both.status is Status.HOLD
    assert [e.line_number for e in both.edits] == [1, 2]


def test_claim_level_edits_reported_by_several_checks_appear_once() -> None:
    result = combine(
        "A",
        [
            CheckResult("A", CheckName.UNITS, (MALFORMED,)),
            CheckResult("A", CheckName.NECESSITY, (MALFORMED,)),
        ],
    )
    assert [e.code for e in result.edits] == ["MALFORMED_CLAIM"]
    assert result.checks == ("UNITS", "NECESSITY")


def test_result_waits_for_every_required_check() -> None:
    step = collect(
        None, _r(CheckName.UNITS, EXCEED), REQUIRED, now_ms=1, partition=0, incarnation=ME
    )
    assert step.forward is None and not step.duplicate
    step = collect(
        step.state, _r(CheckName.NECESSITY), REQUIRED, now_ms=2, partition=0, incarnation=ME
    )
    assert step.forward is not None
    assert step.forward.result.status is Status.HOLD
    assert step.forward.result.edits == (EXCEED,)
    assert (step.forward.version, step.forward.fingerprint) == ("v1", "fp1")


def test_a_redelivered_verdict_changes_nothing() -> None:
    first = collect(
        None, _r(CheckName.UNITS, EXCEED), REQUIRED, now_ms=1, partition=0, incarnation=ME
    )
    again = collect(
        first.state, _r(CheckName.UNITS), REQUIRED, now_ms=2, partition=0, incarnation=ME
    )
    assert again.duplicate and again.forward is None and again.state is first.state


def test_a_done_version_is_not_forwarded_again_by_the_same_incarnation() -> None:
    done = collect(None, _r(CheckName.UNITS), ("UNITS",), now_ms=1, partition=0, incarnation=ME)
    assert done.forward is not None
    again = collect(
        done.state, _r(CheckName.UNITS), ("UNITS",), now_ms=2, partition=0, incarnation=ME
    )
    assert again.duplicate and again.forward is None


def test_a_done_version_of_an_earlier_incarnation_is_forwarded_once_more() -> None:
    # Its forward may have died with the earlier process; the ledger skips a
    # version it already published, so forwarding again is safe.
    done = collect(
        None, _r(CheckName.UNITS, BELOW), ("UNITS",), now_ms=1, partition=0, incarnation="old"
    )
    again = collect(
        done.state, _r(CheckName.UNITS), ("UNITS",), now_ms=2, partition=0, incarnation=ME
    )
    assert again.duplicate and again.forward is not None
    assert again.forward.result.edits == (BELOW,)
    third = collect(
        again.state, _r(CheckName.UNITS), ("UNITS",), now_ms=3, partition=0, incarnation=ME
    )
    assert third.forward is None


def test_a_changed_claim_is_a_new_version_with_its_own_result() -> None:
    v1 = collect(
        None, _r(CheckName.UNITS, EXCEED), ("UNITS",), now_ms=1, partition=0, incarnation=ME
    )
    v2 = collect(
        v1.state,
        _r(CheckName.UNITS, version="v2"),
        ("UNITS",),
        now_ms=2,
        partition=0,
        incarnation=ME,
    )
    assert v1.forward is not None and v2.forward is not None
    assert (v2.forward.version, v2.forward.result.status) == ("v2", Status.CLEAN)


def test_versions_in_flight_are_collected_apart() -> None:
    s = collect(
        None,
        _r(CheckName.UNITS, EXCEED, version="v1"),
        REQUIRED,
        now_ms=1,
        partition=0,
        incarnation=ME,
    )
    s = collect(
        s.state, _r(CheckName.UNITS, version="v2"), REQUIRED, now_ms=1, partition=0, incarnation=ME
    )
    s = collect(
        s.state,
        _r(CheckName.NECESSITY, version="v2"),
        REQUIRED,
        now_ms=1,
        partition=0,
        incarnation=ME,
    )
    assert s.forward is not None and s.forward.version == "v2" and s.forward.result.edits == ()
    assert list(s.state["pending"]) == ["v1"]


def test_a_missing_check_gives_check_incomplete_naming_it_after_the_timeout() -> None:
    step = collect(
        None, _r(CheckName.UNITS, EXCEED), REQUIRED, now_ms=1_000, partition=2, incarnation=ME
    )
    kwargs = {"timeout_ms": 30_000, "grace_ms": 120_000, "clock_start_ms": 0, "incarnation": ME}
    assert not is_due(
        step.state, now_ms=30_999, timeout_ms=30_000, grace_ms=120_000, clock_start_ms=0
    )
    state, out = expire("A", step.state, REQUIRED, now_ms=30_999, **kwargs)  # type: ignore[arg-type]
    assert out == [] and state == step.state
    state, out = expire("A", step.state, REQUIRED, now_ms=31_000, **kwargs)  # type: ignore[arg-type]
    assert len(out) == 1
    result = out[0].result
    assert result.status is Status.HOLD
    assert [e.code for e in result.edits] == ["CHECK_INCOMPLETE", "UNITS_EXCEED_TIME"]
    assert "NECESSITY" in result.edits[0].message and "30 s" in result.edits[0].message
    assert result.checks == ("UNITS",)
    assert out[0].missing == ("NECESSITY",)
    # The late verdict, when it comes, changes nothing: the version is done.
    late = collect(
        state, _r(CheckName.NECESSITY), REQUIRED, now_ms=32_000, partition=2, incarnation=ME
    )
    assert late.duplicate and late.forward is None


def test_the_timeout_counts_from_when_this_instance_took_the_partition_over() -> None:
    # After a restart, verdicts may wait unread in claims.checks: the clock restarts.
    step = collect(
        None, _r(CheckName.UNITS), REQUIRED, now_ms=1_000, partition=2, incarnation="old"
    )
    assert is_due(step.state, now_ms=60_000, timeout_ms=30_000, grace_ms=120_000, clock_start_ms=0)
    assert not is_due(
        step.state, now_ms=60_000, timeout_ms=30_000, grace_ms=120_000, clock_start_ms=40_000
    )


def test_done_versions_are_forgotten_after_the_grace_period() -> None:
    done = collect(None, _r(CheckName.UNITS), ("UNITS",), now_ms=1_000, partition=0, incarnation=ME)
    kwargs = {"timeout_ms": 30_000, "grace_ms": 120_000, "clock_start_ms": 0, "incarnation": ME}
    kept, _ = expire("A", done.state, ("UNITS",), now_ms=120_999, **kwargs)  # type: ignore[arg-type]
    assert kept is not None
    gone, out = expire("A", done.state, ("UNITS",), now_ms=121_000, **kwargs)  # type: ignore[arg-type]
    assert gone is None and out == []


# --- the ledger: once per version, duplicates ------------------------------------


def test_the_first_claim_owns_its_fingerprint_and_another_claim_id_is_a_duplicate() -> None:
    first = decide(None, "CLM-1", "v1", fingerprinted=True, now_ms=1, partition=1, trust=Trust(ME))
    assert first.edits == []
    second = decide(
        first.entry, "CLM-2", "v9", fingerprinted=True, now_ms=2, partition=1, trust=Trust(ME)
    )
    assert second.edits is not None
    assert [e.code for e in second.edits] == ["DUPLICATE_CLAIM"]
    assert "CLM-1" in second.edits[0].message
    # The owner resubmitted with other content (same services): not its own duplicate.
    again = decide(
        second.entry, "CLM-1", "v2", fingerprinted=True, now_ms=3, partition=1, trust=Trust(ME)
    )
    assert again.edits == []


def test_a_version_is_published_once() -> None:
    first = decide(None, "CLM-1", "v1", fingerprinted=True, now_ms=1, partition=1, trust=Trust(ME))
    again = decide(
        first.entry, "CLM-1", "v1", fingerprinted=True, now_ms=2, partition=1, trust=Trust(ME)
    )
    assert again.edits is None


def test_claims_without_a_fingerprint_are_never_duplicates() -> None:
    assert ledger_key("", "CLM-1") == "claim:CLM-1"
    first = decide(None, "CLM-1", "v1", fingerprinted=False, now_ms=1, partition=1, trust=Trust(ME))
    second = decide(
        first.entry, "CLM-1", "v2", fingerprinted=False, now_ms=2, partition=1, trust=Trust(ME)
    )
    assert first.edits == [] and second.edits == []


def test_a_young_mark_of_an_earlier_incarnation_counts_only_if_its_result_is_on_the_topic() -> None:
    old = decide(
        None, "CLM-1", "v1", fingerprinted=True, now_ms=10_000, partition=1, trust=Trust("old")
    )
    entry = old.entry
    # Written after the replay point: the result may or may not have been sent.
    unsure = Trust(ME, trusted_before_ms=9_000)
    assert not was_published(entry, "CLM-1", "v1", unsure)
    assert was_published(entry, "CLM-1", "v1", Trust(ME, 9_000, frozenset({("CLM-1", "v1")})))
    # Written before the replay point: its input was committed, so its result was flushed.
    assert was_published(entry, "CLM-1", "v1", Trust(ME, trusted_before_ms=11_000))
    republish = decide(
        entry, "CLM-1", "v1", fingerprinted=True, now_ms=12_000, partition=1, trust=unsure
    )
    assert republish.edits == []


def test_marks_expire_after_the_retention() -> None:
    a = decide(None, "CLM-1", "v1", fingerprinted=True, now_ms=1_000, partition=1, trust=Trust(ME))
    b = decide(
        a.entry, "CLM-2", "v1", fingerprinted=True, now_ms=5_000, partition=1, trust=Trust(ME)
    )
    pruned = prune(b.entry, now_ms=11_000, retention_ms=8_000)
    assert pruned is not None and list(pruned["published"]) == ["CLM-2"]
    assert prune(b.entry, now_ms=13_000, retention_ms=8_000) is None


def test_a_skip_says_whether_a_mark_or_the_read_back_proved_publication() -> None:
    old = decide(
        None, "CLM-1", "v1", fingerprinted=True, now_ms=10_000, partition=1, trust=Trust("old")
    )
    by_mark = decide(
        old.entry, "CLM-1", "v1", fingerprinted=True, now_ms=1, partition=1, trust=Trust(ME, 11_000)
    )
    assert (by_mark.edits, by_mark.skipped_by) == (None, "mark")
    on_topic = Trust(ME, 9_000, frozenset({("CLM-2", "v1")}))
    by_readback = decide(
        old.entry, "CLM-2", "v1", fingerprinted=True, now_ms=1, partition=1, trust=on_topic
    )
    assert (by_readback.edits, by_readback.skipped_by) == (None, "readback")


def test_one_fingerprint_remembers_a_bounded_number_of_claims() -> None:
    from claimscrub.aggregator.ledger import MAX_CLAIMS_PER_FINGERPRINT

    entry = decide(
        None, "OWNER", "v", fingerprinted=True, now_ms=0, partition=0, trust=Trust(ME)
    ).entry
    for i in range(MAX_CLAIMS_PER_FINGERPRINT + 10):
        entry = decide(
            entry, f"DUP-{i}", "v", fingerprinted=True, now_ms=i + 1, partition=0, trust=Trust(ME)
        ).entry
    assert len(entry["published"]) == MAX_CLAIMS_PER_FINGERPRINT + 1
    assert "OWNER" in entry["published"] and "DUP-0" not in entry["published"]
    assert entry["owner"] == "OWNER"


def test_the_step_benchmark_runs() -> None:
    from claimscrub.aggregator.bench_steps import run

    assert run(30) > 0


@given(
    pending=st.lists(st.integers(0, 10_000), max_size=3),
    done=st.lists(st.integers(0, 10_000), max_size=3),
    clock_start=st.integers(0, 10_000),
    now=st.integers(0, 40_000),
)
def test_due_at_is_the_first_moment_is_due_turns_true(
    pending: list[int], done: list[int], clock_start: int, now: int
) -> None:
    """The batched collector orders states by due_at_ms instead of asking
    is_due of each: the two must agree at every moment."""
    state = {
        "p": 0,
        "pending": {f"p{i}": {"firstMs": t} for i, t in enumerate(pending)},
        "done": {f"d{i}": {"atMs": t} for i, t in enumerate(done)},
    }
    timing = {"timeout_ms": 5_000, "grace_ms": 12_000, "clock_start_ms": clock_start}
    due = due_at_ms(state, **timing)
    assert is_due(state, now_ms=now, **timing) == (due is not None and due <= now)


def test_stream_result_carries_every_checks_reference_versions() -> None:
    # contract §3 referenceVersions: the aggregator's result names each table
    # any check read, also after its state went through JSON (the changelog).
    units = CheckResult(
        "C-1", CheckName.UNITS, (), claim_version="v1",
        reference_versions={"payers": "ACME@2026-07-01.aa", "mue": "2026-04-01.bb"},
    )  # fmt: skip
    necessity = CheckResult(
        "C-1", CheckName.NECESSITY, (), claim_version="v1",
        reference_versions={"payers": "ACME@2026-07-01.aa", "ptp": "2026-04-01.cc"},
    )  # fmt: skip
    step = collect(None, units, REQUIRED, now_ms=1, partition=0, incarnation=ME)
    step = collect(step.state, necessity, REQUIRED, now_ms=2, partition=0, incarnation=ME)
    assert step.forward is not None
    assert dict(step.forward.result.reference_versions) == {
        "payers": "ACME@2026-07-01.aa",
        "mue": "2026-04-01.bb",
        "ptp": "2026-04-01.cc",
    }


def test_the_result_lists_what_the_checks_could_not_check_however_it_completes() -> None:
    # docs/x12.md "notChecked": each check reports the claim's names; the
    # combined result lists the union (results.combine), however it completes.
    def nc(check: CheckName, *names: str) -> CheckResult:
        return CheckResult("A", check, (), not_checked=names, claim_version="v1", fingerprint="f")

    step = collect(
        None, nc(CheckName.UNITS, "TIMED_MINUTES"), REQUIRED, now_ms=1, partition=0, incarnation=ME
    )
    done = collect(
        step.state,
        nc(CheckName.NECESSITY, "VISIT_LIMIT"),
        REQUIRED,
        now_ms=2,
        partition=0,
        incarnation=ME,
    )
    assert done.forward is not None
    assert done.forward.result.not_checked == ("TIMED_MINUTES", "VISIT_LIMIT")
    # Forwarded again by a later incarnation: read back from the state's JSON.
    again = collect(
        done.state,
        nc(CheckName.UNITS, "TIMED_MINUTES"),
        REQUIRED,
        now_ms=3,
        partition=0,
        incarnation="inc-later",
    )
    assert again.forward is not None
    assert again.forward.result.not_checked == ("TIMED_MINUTES", "VISIT_LIMIT")

    kwargs = {"timeout_ms": 10, "grace_ms": 1_000, "clock_start_ms": 0, "incarnation": ME}
    _, out = expire("A", step.state, REQUIRED, now_ms=100, **kwargs)  # type: ignore[arg-type]
    assert [c.result.not_checked for c in out] == [("TIMED_MINUTES",)]

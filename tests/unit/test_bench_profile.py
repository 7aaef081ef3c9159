"""The profile summary of `make bench PROFILE=dir`: shares from py-spy's collapsed stacks."""

from __future__ import annotations

from claimscrub.bench.profile import summarise

COLLAPSED = "\n".join(
    [
        "main (a/svc/main.py:10);handle (a/svc/agent.py:20);parse (a/core/claim.py:30) 6",
        "main (a/svc/main.py:10);handle (a/svc/agent.py:20) 2",
        "main (a/svc/main.py:10);send (a/kafka/producer.py:40) 2",
        "not a stack line",
    ]
)


def test_self_and_inclusive_shares_are_of_all_samples() -> None:
    text = summarise(COLLAPSED)
    assert text.startswith("10 samples")
    self_part, inclusive_part = text.split("inclusive")
    assert " 60.0%  parse (core/claim.py)" in self_part
    assert " 20.0%  handle (svc/agent.py)" in self_part
    assert "100.0%  main (svc/main.py)" in inclusive_part
    assert " 80.0%  handle (svc/agent.py)" in inclusive_part


def test_no_samples_says_so() -> None:
    assert summarise("") == "no samples\n"

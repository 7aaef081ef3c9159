"""A service started before its broker waits for it (issue 19: a pod that
comes up first, or a broker restart, must not crash the reference follower).

The follower is pointed at a port where no broker listens yet; a broker is then
started on that port, and the follower's catch-up finishes on it instead of
raising.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from claimscrub.core.versions import MUE, PAYERS
from claimscrub.reference.follower import ReferenceFollower, ReferenceSet
from claimscrub.runtime.testing import REPO_ROOT, LocalKafka, free_port


@pytest.fixture()
def late_broker() -> Iterator[LocalKafka]:
    port = free_port()
    broker = LocalKafka(port=port, run_dir=REPO_ROOT / ".run" / f"test-kafka-late-{port}")
    try:
        yield broker
    finally:
        broker.stop()


def test_reference_catch_up_waits_for_a_broker_that_starts_later(late_broker: LocalKafka) -> None:
    seen: list[ReferenceSet] = []
    failures: list[BaseException] = []
    follower = ReferenceFollower(late_broker.bootstrap, kinds=(PAYERS, MUE), on_change=seen.append)

    def catch_up() -> None:
        try:
            follower.catch_up()
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=catch_up, daemon=True)
    worker.start()
    # No broker yet: the first metadata request fails after its 10 s timeout.
    worker.join(timeout=12)
    assert failures == [] and worker.is_alive(), "catch-up gave up before the broker started"

    late_broker.start()  # creates the reference topics too (kafka.sh topics)
    worker.join(timeout=120)
    assert failures == []
    assert not worker.is_alive() and follower.ready.is_set()
    assert len(seen) == 1  # the (empty) versions handed over once caught up
    follower.stop()

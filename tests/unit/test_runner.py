"""runtime.runner: what happens when the Application fails, without a broker
(the Application is a stand-in whose run() fails as Quix's does)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError
from quixstreams.checkpointing.exceptions import CheckpointConsumerCommitError

from claimscrub.runtime import runner
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.testing import free_port


class _App:
    """Fails its first ``failures`` runs with ``error``, then stops cleanly."""

    runs = 0

    def __init__(self, error: Exception, failures: int) -> None:
        self.error, self.failures = error, failures

    def run(self) -> None:
        type(self).runs += 1
        if type(self).runs <= self.failures:
            raise self.error

    def stop(self) -> None:
        return None


@pytest.fixture(autouse=True)
def _signals() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, error: Exception, failures: int) -> int:
    _App.runs = 0
    monkeypatch.setattr(runner, "RETRY_S", 0.01)
    monkeypatch.setattr(runner, "make_application", lambda _s: _App(error, failures))
    settings = Settings.from_env(
        "units",
        grpc_port=free_port(),
        metrics_port=free_port(),
        env={"CLAIMSCRUB_DATA_DIR": str(tmp_path)},
    )
    built: list[Any] = []
    runner.run(settings, built.append)
    return len(built)


def test_kafka_out_of_reach_at_a_commit_gets_a_new_application(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    commit_failed = CheckpointConsumerCommitError(KafkaError(KafkaError._TRANSPORT))
    assert _run(monkeypatch, tmp_path, commit_failed, failures=2) == 3
    assert _App.runs == 3


def test_any_other_failure_ends_the_process_with_exit_code_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_:
        _run(monkeypatch, tmp_path, ZeroDivisionError(), failures=1)
    assert exit_.value.code == 1
    assert _App.runs == 1

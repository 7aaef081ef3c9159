"""The running pipeline for integration tests: units + aggregator as real
processes on the session's broker, started once and shared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from claimscrub.runtime.testing import LocalKafka, ServiceProcess, free_port

# Every service of the pipeline, in start order: (name, entry module).
PIPELINE = [
    ("units", "claimscrub.units.main"),
    ("aggregator", "claimscrub.aggregator.main"),
    # Downstream of the aggregator: nothing waits for it.
    ("redaction", "claimscrub.redaction.main"),
]


@pytest.fixture(scope="session")
def services(
    kafka: LocalKafka, tmp_path_factory: pytest.TempPathFactory, examples_dir: Path
) -> Iterator[dict[str, ServiceProcess]]:
    log_dir = tmp_path_factory.mktemp("services")
    env = {"CLAIMSCRUB_PAYERS_FILE": str(examples_dir / "payers.json")}
    procs = {
        name: ServiceProcess(name, module, free_port(), free_port(), kafka, log_dir, env)
        for name, module in PIPELINE
    }
    started: list[ServiceProcess] = []
    try:
        for p in procs.values():
            p.start()
            started.append(p)
        yield procs
    finally:
        for p in started:
            p.terminate()

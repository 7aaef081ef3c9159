"""The running pipeline for integration tests: every service of PIPELINE as a
real process on the session's broker, started once and shared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from claimscrub.runtime.testing import LocalKafka, ServiceProcess, free_port

# Every service of the pipeline, in start order: (name, entry module).
PIPELINE = [
    ("units", "claimscrub.units.main"),
    ("necessity", "claimscrub.necessity.main"),
    ("aggregator", "claimscrub.aggregator.main"),
]


@pytest.fixture(scope="session")
def services(
    kafka: LocalKafka, tmp_path_factory: pytest.TempPathFactory, examples_dir: Path
) -> Iterator[dict[str, ServiceProcess]]:
    log_dir = tmp_path_factory.mktemp("services")
    ports = {name: (free_port(), free_port()) for name, _ in PIPELINE}
    # Necessity looks provider roles up in the enrollment service; until that service is
    # in the PIPELINE nothing listens on this port (the unreachable path).
    enrollment = ports["enrollment"][0] if "enrollment" in ports else free_port()
    env = {
        "CLAIMSCRUB_PAYERS_FILE": str(examples_dir / "payers.json"),
        "CLAIMSCRUB_ENROLLMENT_ADDR": f"127.0.0.1:{enrollment}",
        "CLAIMSCRUB_ENROLLMENT_TIMEOUT_SECONDS": "1",
    }
    procs = {
        name: ServiceProcess(name, module, *ports[name], kafka, log_dir, env)
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

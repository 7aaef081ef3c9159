"""The running pipeline for integration tests: every service of PIPELINE as a
real process on the session's broker, started once and shared. The example
enrollment records are on providers.enrollment before the services start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from claimscrub.cli.enrollment import publish_records
from claimscrub.enrollment.records import read_records
from claimscrub.runtime.pipeline import PIPELINE
from claimscrub.runtime.testing import LocalKafka, ServiceProcess, free_port


@pytest.fixture(scope="session")
def services(
    kafka: LocalKafka, tmp_path_factory: pytest.TempPathFactory, examples_dir: Path
) -> Iterator[dict[str, ServiceProcess]]:
    log_dir = tmp_path_factory.mktemp("services")
    publish_records(read_records(examples_dir / "enrollment.json"), kafka.bootstrap)
    ports = {name: (free_port(), free_port()) for name, _ in PIPELINE}
    env = {
        "CLAIMSCRUB_PAYERS_FILE": str(examples_dir / "payers.json"),
        # Necessity looks provider roles up in the enrollment service.
        "CLAIMSCRUB_ENROLLMENT_ADDR": f"127.0.0.1:{ports['enrollment'][0]}",
        "CLAIMSCRUB_ENROLLMENT_TIMEOUT_SECONDS": "1",
        # The aggregator's ScrubService asks each check's Check method.
        "CLAIMSCRUB_UNITS_ADDR": f"127.0.0.1:{ports['units'][0]}",
        "CLAIMSCRUB_NECESSITY_ADDR": f"127.0.0.1:{ports['necessity'][0]}",
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

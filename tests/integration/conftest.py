"""The running pipeline for integration tests: every service of PIPELINE as a
real process on the session's broker, started once and shared. The example
enrollment records are on providers.enrollment before the services start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from claimscrub.runtime.pipeline import PIPELINE
from claimscrub.runtime.testing import LocalKafka, ServiceProcess
from tests.integration.helpers import prepare_pipeline, started


@pytest.fixture(scope="session")
def services(
    kafka: LocalKafka, tmp_path_factory: pytest.TempPathFactory, examples_dir: Path
) -> Iterator[dict[str, ServiceProcess]]:
    log_dir = tmp_path_factory.mktemp("services")
    ports, env = prepare_pipeline(kafka, examples_dir, dict(PIPELINE))
    env["CLAIMSCRUB_ENROLLMENT_TIMEOUT_SECONDS"] = "1"
    procs = {
        name: ServiceProcess(name, module, *ports[name], kafka, log_dir, env)
        for name, module in PIPELINE
    }
    with started(procs) as running:
        yield running

"""Every entry point starts without a line on stderr: a warning there is the
first thing an on-call engineer reads in a pod's log. Each module is imported
in a fresh interpreter, as its process would, since a warning is printed
only once per process and the import order decides whether a filter is in
place in time (the aggregator's entry point imports Quix Streams, and so
authlib's deprecated httpx integration, before the shared runtime)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from claimscrub.runtime.registry import services

ENTRY_POINTS = sorted(
    {s.module for s in services()} | {"claimscrub.cli", "claimscrub.bench.__main__"}
)


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_an_entry_point_imports_without_writing_to_stderr(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""

"""deploy/local/stack.sh trusts a pid file only while that pid is alive and
is still the service: after a kill -9 the pid is gone or reused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

STACK = Path(__file__).resolve().parents[2] / "deploy/local/stack.sh"


def _stack(run: Path, command: str) -> str:
    done = subprocess.run(
        ["bash", str(STACK), command],
        env={**os.environ, "CLAIMSCRUB_RUN_DIR": str(run)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_a_dead_or_reused_pid_is_not_running(tmp_path: Path) -> None:
    (tmp_path / "pids").mkdir()
    other = subprocess.Popen(["sleep", "60"])  # a live process that is no service
    try:
        (tmp_path / "pids/units.pid").write_text(f"{_dead_pid()}\n")
        (tmp_path / "pids/necessity.pid").write_text(f"{other.pid}\n")
        status = _stack(tmp_path, "status")
        assert "units not running" in status
        assert "necessity not running" in status
        # stop leaves the unrelated process alone and drops the stale pid files.
        stopped = _stack(tmp_path, "stop")
        assert "necessity not running" in stopped
        assert other.poll() is None
        assert not (tmp_path / "pids/necessity.pid").exists()
        assert not (tmp_path / "pids/units.pid").exists()
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()


def test_a_live_service_process_is_running(tmp_path: Path) -> None:
    (tmp_path / "pids").mkdir()
    # A process whose command line is the service's: python -m claimscrub.units.main
    fake = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "-m", "claimscrub.units.main"]
    )
    try:
        (tmp_path / "pids/units.pid").write_text(f"{fake.pid}\n")
        assert f"units running (pid {fake.pid})" in _stack(tmp_path, "status")
    finally:
        fake.kill()
        fake.wait()


def test_ports_are_the_registrys_and_a_base_moves_every_one(tmp_path: Path) -> None:
    from claimscrub.runtime.registry import services

    def ports(**env: str) -> list[list[str]]:
        done = subprocess.run(
            ["bash", str(STACK), "ports"],
            env={**os.environ, "CLAIMSCRUB_RUN_DIR": str(tmp_path), **env},
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return [line.split() for line in done.stdout.splitlines()]

    reg = services()
    assert ports() == [[s.name, str(s.grpc_port), str(s.metrics_port)] for s in reg]
    # CLAIMSCRUB_PORT_BASE=N: the i-th service in start order on N+2i and N+2i+1.
    assert ports(CLAIMSCRUB_PORT_BASE="29340") == [
        [s.name, str(29340 + 2 * i), str(29341 + 2 * i)] for i, s in enumerate(reg)
    ]

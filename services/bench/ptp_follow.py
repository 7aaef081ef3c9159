"""RSS of the services following reference.tables while a PTP version loads.

    python -m claimscrub.bench.ptp_follow PTP_DIR [--port 47192]

A private broker, necessity (which uses PTP) and units (which does not)
running on it; then ``claimscrub reference load ptp PTP_DIR/ccipra-*.txt
--effective 2026-10-01`` (files of ``python -m claimscrub.bench.ptp_file_gen
PTP_DIR``). For each service: RSS before the load, RSS once necessity has
read the version (and a settling pause), the RSS added, and the peak
(VmHWM) over the whole run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from claimscrub.bench import procstat
from claimscrub.runtime.testing import REPO_ROOT, LocalKafka, ServiceProcess, free_port

SERVICES = ("necessity", "units")
SETTLE_S = 15.0
READ_DEADLINE_S = 600.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(ptp_dir: Path, port: int) -> dict[str, dict[str, float]]:
    work = Path(tempfile.mkdtemp(prefix="claimscrub-ptp-follow-"))
    kafka = LocalKafka(port=port, run_dir=work / "kafka")
    env = {
        "CLAIMSCRUB_PAYERS_FILE": str(REPO_ROOT / "examples" / "payers.json"),
        "CLAIMSCRUB_LOG_LEVEL": "INFO",
        "CLAIMSCRUB_STATE_DIR": str(work / "state"),
    }
    kafka.start()
    procs: list[ServiceProcess] = []
    try:
        for name in SERVICES:
            sp = ServiceProcess(
                name, f"claimscrub.{name}.main", free_port(), free_port(), kafka, work, env
            )
            sp.start()
            procs.append(sp)
        time.sleep(SETTLE_S)
        pids = {p.name: p.proc.pid for p in procs if p.proc is not None}
        before = {name: rss_mb(pid) for name, pid in pids.items()}
        files = sorted(str(p) for p in ptp_dir.glob("ccipra-*.txt"))
        load = ["reference", "load", "ptp", *files, "--effective", "2026-10-01"]
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "claimscrub.cli.main", *load],
            env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap},
            check=True,
            cwd=REPO_ROOT,
        )
        necessity = procs[0]
        while "reference_version_read" not in necessity.log_path.read_text():
            if time.monotonic() - started > READ_DEADLINE_S:
                raise RuntimeError("necessity did not read the version")
            time.sleep(1)
        read_s = time.monotonic() - started
        time.sleep(SETTLE_S)
        return {
            name: {
                "before_mb": before[name],
                "after_mb": rss_mb(pid),
                "added_mb": rss_mb(pid) - before[name],
                "peak_mb": procstat.peak_rss_mb(pid),
                "read_s": read_s,
            }
            for name, pid in pids.items()
        }
    finally:
        for p in procs:
            p.terminate()
        kafka.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ptp_dir", type=Path)
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("CLAIMSCRUB_BENCH_KAFKA_PORT", "47192")),
        help="the private broker's port (default CLAIMSCRUB_BENCH_KAFKA_PORT or 47192)",
    )
    args = parser.parse_args()
    for name, f in measure(args.ptp_dir, args.port).items():
        print(
            f"{name}: before {f['before_mb']:.0f} MB, after {f['after_mb']:.0f} MB, "
            f"added {f['added_mb']:.0f} MB, peak {f['peak_mb']:.0f} MB "
            f"(version read {f['read_s']:.0f} s after the load began)"
        )


if __name__ == "__main__":
    main()

"""Sampling profiles of the pipeline's services while the bench loads them.

``make bench PROFILE=dir`` attaches py-spy (a sampling profiler that reads
the process from outside, so the service runs unmodified) to every service
for the sustained phase, writes its collapsed stacks to ``dir/<service>.raw``
and a summary of the hottest functions to ``dir/<service>.top.txt``: where a
service's CPU goes, which is what docs/performance.md's optimisations start
from.
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
from pathlib import Path


class Profiler:
    """One py-spy per process, stopped together."""

    def __init__(self, out_dir: Path, rate_hz: int = 67) -> None:
        self._out = out_dir
        self._rate = rate_hz
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, pid: int) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self._out.mkdir(parents=True, exist_ok=True)
        out = str(self._out / f"{name}.raw")
        self._procs[name] = subprocess.Popen(
            [spy, "record", "-p", str(pid), "-r", str(self._rate), "-f", "raw", "-o", out],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> list[Path]:
        """Stop sampling (py-spy writes its file on SIGINT); summarise each service."""
        for p in self._procs.values():
            p.send_signal(signal.SIGINT)
        written = []
        for name, p in self._procs.items():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                continue
            raw = self._out / f"{name}.raw"
            if raw.exists():
                top = self._out / f"{name}.top.txt"
                top.write_text(summarise(raw.read_text()))
                written.append(top)
        return written


def _frame_name(frame: str) -> str:
    # py-spy frames read "function (path/to/file.py:line)"; keep function and file.
    func, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    return f"{func} ({'/'.join(path.split('/')[-2:])})"


def summarise(collapsed: str, top: int = 25) -> str:
    """Self and inclusive sample shares per function from collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    if not total:
        return "no samples\n"
    out = [f"{total} samples\n\nself (the function itself)\n"]
    out += [f"{100 * n / total:6.1f}%  {f}\n" for f, n in own.most_common(top)]
    out.append("\ninclusive (the function and what it calls)\n")
    out += [f"{100 * n / total:6.1f}%  {f}\n" for f, n in incl.most_common(top)]
    return "".join(out)

"""837P interchanges as CLAIMS for ``scrub`` (contract §1b, §5); ``submit``
sends them to the intake service (claimscrub.cli.x12_submit).

An interchange is recognised by its ISA header, whatever the file is called.
It is read one transaction set at a time (claimscrub.x12.reader): the claims
of an accepted set are scrubbed and their results printed before the next
set is read, so a large interchange is never held whole, and ``--ready-out``
is written as results come.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from claimscrub.cli.claims_input import InputError
from claimscrub.core.results import ScrubResult, Status
from claimscrub.x12.intake import IntakeClaim, claims_of
from claimscrub.x12.reader import Interchange, NotX12, TransactionSet
from claimscrub.x12.writer import ReadyWriter

_SNIFF = 512


def is_x12(source: str) -> bool:
    """True when the file starts (after blanks or a BOM) with an ISA segment."""
    if source == "-":
        return False
    try:
        with open(source, "rb") as f:
            head = f.read(_SNIFF)
    except OSError:
        return False
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"ISA")


def open_interchange(source: str) -> tuple[Interchange, TextIO]:
    try:
        stream = open(source, encoding="latin-1", newline="")  # noqa: SIM115 - closed by caller
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({type(exc).__name__})") from None
    head = stream.read(_SNIFF)
    skip = len(head) - len(head.lstrip("\ufeff\xef\xbb\xbf \t\r\n"))
    stream.seek(skip)
    try:
        return Interchange(stream), stream
    except NotX12 as exc:
        stream.close()
        raise InputError(f"{source}: {exc}") from None


def write_ack(interchange: Interchange, path: str | None) -> None:
    if path is None:
        return
    try:
        ack = interchange.acknowledgment()
    except NotX12 as exc:
        raise InputError(f"no 999 written: {exc}") from None
    Path(path).write_text(ack, encoding="ascii")


class ReadyOut:
    """``--ready-out`` for an 837P: a temporary file beside the target, moved
    into place only once pyx12 has accepted every transaction set in it."""

    def __init__(self, path: str, interchange: Interchange) -> None:
        assert interchange.isa is not None and interchange.gs is not None
        self._path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=".ready-", suffix=".x12", dir=self._path.parent or ".")
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "w", encoding="latin-1", newline="")
        self._writer = ReadyWriter(
            self._file,
            interchange.delimiters,
            interchange.isa,
            interchange.gs,
            control_number=int(time.time()) % 1_000_000_000,
        )

    def add(self, tset: TransactionSet, claim: IntakeClaim) -> None:
        self._writer.add(tset.header, claim.source)

    def finish(self) -> None:
        self._writer.close()
        self._file.close()
        with open(self._tmp, encoding="latin-1", newline="") as f:
            check = Interchange(f)
            accepted = [t.accepted for t in check.sets()]
        if not all(accepted):
            self._tmp.unlink(missing_ok=True)
            raise InputError("--ready-out: the rebuilt 837P did not validate; nothing written")
        self._tmp.replace(self._path)

    def abandon(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


def scrub_interchange(
    source: str,
    scrub: Callable[[IntakeClaim, int], ScrubResult],
    emit: Callable[[ScrubResult], None],
    *,
    ack: str | None,
    ready_out: str | None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """Scrub every accepted claim; returns the number of claims scrubbed."""
    interchange, stream = open_interchange(source)
    size = max(1, os.fstat(stream.fileno()).st_size)
    ready: ReadyOut | None = None
    done = 0
    try:
        for tset, claim in claims_of(interchange):
            done += 1
            result = scrub(claim, done)
            emit(result)
            if ready_out is not None and result.status is Status.CLEAN:
                if ready is None:
                    ready = ReadyOut(ready_out, interchange)
                ready.add(tset, claim)
            progress(stream.tell(), size)
        if interchange.gs is None:
            raise InputError(f"{source}: no functional group (GS) in the interchange")
        write_ack(interchange, ack)
        if ready is not None:
            ready.finish()
            ready = None
        elif ready_out is not None:
            # An interchange needs at least one transaction set: none is written.
            say(f"--ready-out: no claim came out CLEAN; {ready_out} not written")
    except NotX12 as exc:
        raise InputError(f"{source}: {exc}") from None
    finally:
        if ready is not None:
            ready.abandon()
        stream.close()
    return done


def say(text: str) -> None:
    print(f"claimscrub: {text}", file=sys.stderr)

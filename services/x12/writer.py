"""Write the claims that came out CLEAN as a new 837P interchange.

Claims are copied segment for segment from the input; what is rebuilt is the
envelope and the hierarchy: new ISA13/GS06/ST02 control numbers, HL numbers,
parents and child codes, SE segment counts, GE and IEA counts. One output
transaction set per input set that has a ready claim, with that set's header
(BHT, submitter, receiver). Claims are written as they come, so nothing is
held but the current hierarchy.
"""

from __future__ import annotations

from typing import TextIO

from claimscrub.x12.reader import SourceClaim
from claimscrub.x12.segments import Delimiters, Seg


class ReadyWriter:
    def __init__(
        self, out: TextIO, delimiters: Delimiters, isa: Seg, gs: Seg, control_number: int
    ) -> None:
        self._out = out
        self._d = delimiters
        self._in_set = 0
        self._icn = f"{control_number % 1_000_000_000:09d}"
        self._gcn = str(control_number % 1_000_000_000)
        isa_elements = list(isa.elements)
        isa_elements[13] = self._icn
        gs_elements = list(gs.elements)
        gs_elements[6] = self._gcn
        self._write(Seg("ISA", tuple(isa_elements)))
        self._write(Seg("GS", tuple(gs_elements)))
        self._sets = 0
        self._open_header: tuple[Seg, ...] | None = None
        self._in_set = 0
        self._hl = 0
        self._last: list[tuple[tuple[Seg, ...], int, str]] = []
        self.claims = 0

    def _write(self, seg: Seg) -> None:
        self._out.write(seg.text(self._d) + "\n")
        self._in_set += 1

    def _start_set(self, header: tuple[Seg, ...]) -> None:
        self._sets += 1
        self._in_set = 0
        self._hl = 0
        self._last = []
        self._write(Seg("ST", ("ST", "837", f"{self._sets:04d}", "005010X222A1")))
        for seg in header:
            self._write(seg)
        self._open_header = header

    def end_set(self) -> None:
        if self._open_header is not None:
            self._write(Seg("SE", ("SE", str(self._in_set + 1), f"{self._sets:04d}")))
            self._open_header = None

    def add(self, header: tuple[Seg, ...], claim: SourceClaim) -> None:
        """Append one claim; ``header`` is its input set's header (same object
        for the claims of one set)."""
        if self._open_header is not header:
            self.end_set()
            self._start_set(header)
        parent = ""
        for level, group in enumerate(claim.context):
            has_child = level == 0 or level + 1 < len(claim.context)
            child = "1" if has_child else "0"
            if level < len(self._last):
                seen, number, written_child = self._last[level]
                if seen is group and (written_child == "1" or not has_child):
                    parent = str(number)
                    continue
                del self._last[level:]
            self._hl += 1
            hl = group[0]
            self._write(Seg("HL", ("HL", str(self._hl), parent, hl.get(3), child)))
            for seg in group[1:]:
                self._write(seg)
            self._last.append((group, self._hl, child))
            parent = str(self._hl)
        for seg in claim.body:
            self._write(seg)
        self.claims += 1

    def close(self) -> None:
        self.end_set()
        self._write(Seg("GE", ("GE", str(self._sets), self._gcn)))
        self._write(Seg("IEA", ("IEA", "1", self._icn)))

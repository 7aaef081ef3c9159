"""Read and validate an 837P interchange with pyx12, one transaction set at a time.

pyx12 validates each segment against the 005010X222A1 map as it streams the
file; this module drives it the way ``pyx12.x12n_document`` does, and at each
``SE`` hands over the set's claims together with pyx12's verdict on the set
(accepted or rejected whole, contract §1b). Only the claims of the current set
are held, as segment lists; the acknowledgment is written at the end from
pyx12's error tree (which holds only segments with errors).

A claim is its 2300 loop with everything under it (2310x, 2320, 2400…), plus
the hierarchy above it: the 2000A billing provider, 2000B subscriber and, when
the patient is not the subscriber, 2000C patient loops. Those context loops are
shared tuples, so claims under one billing provider do not copy it.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import pyx12.error_999
import pyx12.error_handler
import pyx12.errors
import pyx12.map_if
import pyx12.map_index
import pyx12.params
import pyx12.x12file
from pyx12.map_if._segment import apply_segment_errors
from pyx12.map_walker import apply_walk_errors, walk_tree

from claimscrub.x12.segments import Delimiters, Seg

# pyx12 logs element values (patient names, IDs) with its validation errors;
# they must never reach a log. The acknowledgment carries what is needed.
_PYX12_LOG = logging.getLogger("pyx12")
_PYX12_LOG.addHandler(logging.NullHandler())
_PYX12_LOG.propagate = False

GUIDE = "005010X222A1"
_CONTEXT_LOOPS = {"20": 0, "22": 1, "23": 2}  # HL03 -> level in the hierarchy


class NotX12(Exception):
    """The input is not an X12 interchange at all: a one-line reason, no 999."""


@dataclass(frozen=True, slots=True)
class SourceClaim:
    """One 2300 loop as read, with the hierarchy above it."""

    context: tuple[tuple[Seg, ...], ...]
    body: tuple[Seg, ...]

    def loops(self, *names: str) -> Iterator[Seg]:
        for group in self.context:
            for seg in group:
                if seg.loop in names:
                    yield seg
        for seg in self.body:
            if seg.loop in names:
                yield seg


@dataclass(slots=True)
class TransactionSet:
    """One ST..SE set: its control number, pyx12's verdict and its claims."""

    control: str
    accepted: bool
    header: tuple[Seg, ...]
    claims: list[SourceClaim] = field(default_factory=list)


@dataclass(slots=True)
class _Open:
    control: str
    header: list[Seg] = field(default_factory=list)
    claims: list[SourceClaim] = field(default_factory=list)
    levels: list[tuple[Seg, ...]] = field(default_factory=list)
    group: list[Seg] | None = None
    body: list[Seg] | None = None


def _elements(seg: Any, d: Delimiters) -> tuple[str, ...]:
    return (seg.get_seg_id() or "", *(e.format(d.component) for e in seg.elements))


class Interchange:
    """Iterate :meth:`sets`; then :meth:`acknowledgment` is the 999.

    ``source`` is text (the caller decodes bytes; see :func:`open_text`).
    Raises :class:`NotX12` at construction when the text does not start with
    a readable ISA header.
    """

    def __init__(self, source: TextIO) -> None:
        try:
            self._src = pyx12.x12file.X12Reader(source)
        except pyx12.errors.X12Error as exc:
            raise NotX12(_not_x12_reason(str(exc))) from None
        seg_term, ele_term, sub_term, _eol, rep_term = self._src.get_term()
        if not seg_term or not ele_term or not sub_term or len({seg_term, ele_term, sub_term}) < 3:
            raise NotX12("ISA: segment, element and component separators must differ")
        if seg_term.isalnum() or ele_term.isalnum() or sub_term.isalnum():
            raise NotX12("ISA: a separator is a letter or digit (wrong separators)")
        self.delimiters = Delimiters(seg_term, ele_term, sub_term, rep_term or "^")
        self._errh = pyx12.error_handler.err_handler()
        self._done = False
        self.isa: Seg | None = None
        self.gs: Seg | None = None
        self.segments = 0

    def sets(self) -> Iterator[TransactionSet]:
        param = pyx12.params.params()
        src, errh, d = self._src, self._errh, self.delimiters
        control_map = pyx12.map_if.load_map_file("x12.control.00501.xml", param)
        map_index = pyx12.map_index.map_index()
        node: Any = control_map.getnodebypath("/ISA_LOOP/ISA")
        walker = walk_tree()
        icvn: str | None = None
        map_file = "x12.control.00501.xml"
        cur_map: Any = None
        current: _Open | None = None
        skipping = False  # after an engine failure, until the next ST/GS/IEA
        for seg in self._segments():
            self.segments += 1
            seg_id = seg.get_seg_id()
            if skipping and seg_id not in ("ST", "GS", "GE", "IEA", "ISA"):
                continue
            skipping = False
            orig = node
            try:
                if seg_id == "ISA":
                    node = control_map.getnodebypath("/ISA_LOOP/ISA")
                    walker.forceWalkCounterToLoopStart("/ISA_LOOP", "/ISA_LOOP/ISA")
                elif seg_id == "GS":
                    node = control_map.getnodebypath("/ISA_LOOP/GS_LOOP/GS")
                    walker.forceWalkCounterToLoopStart("/ISA_LOOP/GS_LOOP", "/ISA_LOOP/GS_LOOP/GS")
                else:
                    node, _pop, _push, walk_errors = walker.walk_errors(
                        node, seg, src.get_seg_count(), src.get_cur_line(), src.get_ls_id()
                    )
                    apply_walk_errors(errh, walk_errors)
                if node is None:
                    node = orig
                elif seg_id == "ISA":
                    errh.add_isa_loop(seg, src)
                    icvn = seg.get_value("ISA12")
                    errh.handle_errors(src.pop_errors())
                    self.isa = Seg("ISA", _elements(seg, d))
                elif seg_id == "IEA":
                    errh.handle_errors(src.pop_errors())
                    errh.close_isa_loop(node, seg, src)
                elif seg_id == "GS":
                    vriic = seg.get_value("GS08")
                    new = map_index.get_filename(icvn, vriic, seg.get_value("GS01"))
                    if vriic != GUIDE or new is None:
                        errh.add_gs_loop(seg, src)
                        errh.gs_error("2", "Functional group version not supported")
                        skipping = True
                        continue
                    if new != map_file:
                        map_file = new
                        cur_map = pyx12.map_if.load_map_file(map_file, param)
                        src.check_837_lx = True
                    node = cur_map.getnodebypath("/ISA_LOOP/GS_LOOP/GS")
                    errh.add_gs_loop(seg, src)
                    errh.handle_errors(src.pop_errors())
                    self.gs = Seg("GS", _elements(seg, d))
                elif seg_id == "GE":
                    errh.handle_errors(src.pop_errors())
                    errh.close_gs_loop(node, seg, src)
                elif seg_id == "ST":
                    errh.add_st_loop(seg, src)
                    errh.handle_errors(src.pop_errors())
                elif seg_id == "SE":
                    errh.handle_errors(src.pop_errors())
                    errh.close_st_loop(node, seg, src)
                else:
                    errh.add_seg(
                        node, seg, src.get_seg_count(), src.get_cur_line(), src.get_ls_id()
                    )
                    errh.handle_errors(src.pop_errors())
                if isinstance(node, pyx12.map_if.segment_if):
                    apply_segment_errors(node, seg, errh)
            except (
                pyx12.errors.EngineError,
                pyx12.errors.X12Error,
                AttributeError,
                IndexError,
                TypeError,
                ValueError,
                KeyError,
            ):
                # pyx12 could not place the segment: the set it is in is rejected
                # and reading resumes at the next set.
                if errh.cur_st_node is not None and current is not None:
                    errh.cur_st_node.add_error("5", "segment could not be read")
                current = None
                skipping = True
                continue
            if seg_id == "ST":
                current = _Open(control=(seg.get_value("ST02") or "").strip())
                continue
            if seg_id == "SE":
                if current is not None:
                    self._close_body(current)
                    st = errh.cur_st_node
                    yield TransactionSet(
                        current.control,
                        st is not None and st.ack_code == "A",
                        tuple(current.header),
                        current.claims,
                    )
                current = None
                continue
            if current is None or seg_id in ("GE", "IEA", "ISA", "GS"):
                continue
            loop = node.get_parent().id if isinstance(node, pyx12.map_if.segment_if) else ""
            self._add(current, Seg(loop or "", _elements(seg, d)))
        src.cleanup()
        errh.handle_errors(src.pop_errors())
        self._done = True

    def _segments(self) -> Iterator[Any]:
        iterator = iter(self._src)
        while True:
            try:
                seg = next(iterator)
            except StopIteration:
                return
            except pyx12.errors.X12Error:
                # Only an ISA pyx12 cannot split into its 16 elements gets here:
                # the separators it declares are not the ones used.
                raise NotX12(
                    f"segment {self.segments + 1} (ISA): not 16 elements with the "
                    "declared separators (wrong separators)"
                ) from None
            yield seg

    def _close_body(self, current: _Open) -> None:
        if current.group is not None:
            self._close_group(current)
        if current.body is not None:
            current.claims.append(SourceClaim(tuple(current.levels), tuple(current.body)))
            current.body = None

    def _close_group(self, current: _Open) -> None:
        assert current.group is not None
        level = _CONTEXT_LOOPS.get(current.group[0].get(3), 2)
        del current.levels[level:]
        current.levels.append(tuple(current.group))
        current.group = None

    def _add(self, current: _Open, seg: Seg) -> None:
        if seg.id == "HL":
            self._close_body(current)
            current.group = [seg]
        elif seg.id == "CLM":
            self._close_body(current)
            current.body = [seg]
        elif current.body is not None:
            current.body.append(seg)
        elif current.group is not None:
            current.group.append(seg)
        else:
            current.header.append(seg)

    def acknowledgment(self) -> str:
        """The 999 for everything read (after :meth:`sets` is exhausted)."""
        if not self._done:
            raise RuntimeError("read every transaction set first")
        if self._errh.cur_isa_node is None or self._errh.cur_gs_node is None:
            raise NotX12("no functional group (GS) to acknowledge")
        out = io.StringIO()
        visitor = pyx12.error_999.error_999_visitor(out, self._src.get_term())
        self._errh.accept(visitor)
        return _without_values(out.getvalue())


def _without_values(ack: str) -> str:
    """The 999 without IK404 (a copy of the bad element's value: may be PHI)."""
    lines = []
    for segment in ack.split("~"):
        text = segment.strip("\r\n")
        if text.startswith("IK4*"):
            text = "*".join(text.split("*")[:4])
        if text:
            lines.append(text)
    return "~\n".join(lines) + "~\n"


def _not_x12_reason(message: str) -> str:
    if "begin with 'ISA'" in message:
        return "not an X12 interchange: it does not start with an ISA segment"
    if "ISA line is only" in message:
        return "ISA: truncated (an ISA segment is 106 characters)"
    if "Version Number" in message:
        return "ISA12: unsupported interchange version (expected 00501)"
    return "ISA: unreadable interchange header"


def open_text(data: bytes) -> TextIO:
    """The interchange as text. X12 data is ASCII; other bytes are kept (as
    Latin-1) so that pyx12 reports them as invalid characters instead of the
    read failing."""
    return io.StringIO(data.decode("latin-1").lstrip("\ufeff \t\r\n"))

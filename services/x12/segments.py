"""Delimiters and segment text: the small vocabulary the x12 modules share."""

from __future__ import annotations

from dataclasses import dataclass

#: claimscrub's convention for a line's treatment minutes: 2400 ``NTE*ADD*MINUTES n``.
MINUTES_NOTE = "MINUTES"


@dataclass(frozen=True, slots=True)
class Delimiters:
    segment: str
    element: str
    component: str
    repetition: str


@dataclass(frozen=True, slots=True)
class Seg:
    """One segment as read: its loop (``2300``, ``2010BA``…) and its elements,
    ``elements[0]`` being the segment id."""

    loop: str
    elements: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.elements[0]

    def get(self, position: int) -> str:
        """Element ``position`` (1-based, as in ``CLM01``), or an empty string."""
        return self.elements[position].strip() if position < len(self.elements) else ""

    def parts(self, position: int, component: str) -> list[str]:
        """The components of composite element ``position``."""
        return [p.strip() for p in self.get(position).split(component)]

    def text(self, d: Delimiters) -> str:
        return d.element.join(self.elements) + d.segment

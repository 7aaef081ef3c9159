"""Reference data in dated versions, and the one in force on a date of service.

Each kind of reference table (contract §3 ``referenceVersions``: ``payers``,
``mue``, ``ptp``, ``coverage``, ``code-status``, ``fee-schedule``) comes in
versions, each with an id and an effective date. A line is judged with the
version in force on its date of service: the latest whose effective date is
on or before it; a date before the first version gets the first (the oldest
known table is a closer fact than none), and a version without an effective
date applies from the beginning. A claim spanning a version's effective date
is judged by both, each on its own dates, and reports both ids.

A version id is ``<effective date>.<content hash>`` for a published version
(or the label its publisher gave), ``base.<hash>`` for a file named by a CLI
flag or an environment variable, ``sample.<hash>`` for a bundled sample: an
auditor can tell from a result exactly which table judged it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

PAYERS = "payers"
MUE = "mue"
PTP = "ptp"
COVERAGE = "coverage"
CODE_STATUS = "code-status"
FEE_SCHEDULE = "fee-schedule"
#: Every kind, in contract order.
KINDS: tuple[str, ...] = (PAYERS, MUE, PTP, COVERAGE, CODE_STATUS, FEE_SCHEDULE)
#: The kinds kept on reference.tables (payer policies have their own topic).
TABLE_KINDS: tuple[str, ...] = KINDS[1:]

#: Hex digits of the content hash in a version id: enough to tell a quarter's
#: files apart, short enough to read in a result.
HASH_DIGITS = 10


def content_hash(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:HASH_DIGITS]


def version_id(effective: dt.date | None, digest: str, *, prefix: str = "base") -> str:
    """``2026-04-01.<hash>`` for a dated version, else ``<prefix>.<hash>``."""
    return f"{effective.isoformat() if effective else prefix}.{digest}"


@dataclass(frozen=True, slots=True)
class Version(Generic[T]):
    kind: str
    version_id: str
    effective: dt.date | None
    table: T
    #: For logs: the files it was read from.
    source: str = ""


@dataclass(frozen=True, slots=True)
class Dated(Generic[T]):
    """A kind's versions, oldest first (one without an effective date first)."""

    versions: tuple[Version[T], ...]

    @classmethod
    def of(cls, versions: Iterable[Version[T]]) -> Dated[T]:
        ordered = tuple(sorted(versions, key=lambda v: (v.effective or dt.date.min, v.version_id)))
        if not ordered:
            raise ValueError("a kind needs at least one version")
        return cls(ordered)

    @classmethod
    def single(cls, version: Version[T]) -> Dated[T]:
        return cls((version,))

    @property
    def latest(self) -> Version[T]:
        return self.versions[-1]

    def on(self, dos: dt.date) -> Version[T]:
        """The version in force on ``dos`` (see the module docstring)."""
        versions = self.versions
        chosen = versions[0]
        for version in versions[1:]:
            assert version.effective is not None
            if version.effective > dos:
                break
            chosen = version
        return chosen

    def ids_on(self, dates: Iterable[dt.date]) -> str:
        return join_ids(self.on(d).version_id for d in sorted(set(dates)))


def join_ids(ids: Iterable[str]) -> str:
    """Several version ids (a claim over an effective date) as one value, in
    the order given, each once."""
    seen: list[str] = []
    for i in ids:
        if i and i not in seen:
            seen.append(i)
    return ",".join(seen)


_KIND_ORDER = {k: n for n, k in enumerate(KINDS)}


def ordered_versions(versions: Mapping[str, str]) -> dict[str, str]:
    """``referenceVersions`` in the contract's order of kinds (then by name):
    a protobuf map comes back in any order, and a result printed twice (as
    scrubbed, then read back from claims.scrubbed) must read the same."""
    return {k: versions[k] for k in sorted(versions, key=lambda k: (_KIND_ORDER.get(k, 99), k))}


def merge_versions(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The ``referenceVersions`` of several checks' results as one map: the
    checks of one claim read the same versions, so a kind's ids are joined
    once each (an id one check saw and another did not is still reported)."""
    first = maps[0] if maps else {}
    if all(m == first for m in maps[1:]) and all("," not in v for v in first.values()):
        # The usual claim: every check read the same single versions.
        return ordered_versions(first)
    out: dict[str, list[str]] = {}
    for m in maps:
        for kind, ids in m.items():
            known = out.setdefault(kind, [])
            for i in ids.split(","):
                if i and i not in known:
                    known.append(i)
    return ordered_versions({k: ",".join(v) for k, v in out.items()})

"""Each kind's files read with the loader of its CLI flag, so a version on the
topic is parsed exactly as ``claimscrub scrub --mue/--ptp/...`` parses a file.

:func:`read_version` raises ReferenceDataError with one line naming the file,
the line or record, and the field: the loader validates a version whole with
it before publishing anything, and every service parses it again the same way.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from claimscrub.core.payers import PayerPolicies, ReferenceDataError
from claimscrub.core.versions import MUE, TABLE_KINDS, Version, content_hash, version_id
from claimscrub.reference.wire import Payload, TableVersion


def new_version_id(
    files: Sequence[tuple[str, bytes]], effective: dt.date | None, label: str | None
) -> str:
    """``<effective>.<hash of the files>``, or the publisher's label."""
    return label or version_id(effective, content_hash(raw for _, raw in files), prefix="base")


def read_version(v: TableVersion) -> Version[Any]:
    """The table of a version's files; raises ReferenceDataError."""
    _check(v.kind, len(v.files), v.version)
    source = ", ".join(name for name, _ in v.files)
    if v.kind == MUE:
        from claimscrub.units.reference import mue_version

        return mue_version(v.files, v.effective, v.version)
    # The necessity loaders read paths (the PTP one streams a file of 1.5 million
    # rows line by line): the files go to a private directory for the read.
    with tempfile.TemporaryDirectory(prefix="claimscrub-reference-") as tmp:
        paths: list[Path] = []
        for i, (name, raw) in enumerate(v.files):
            path = Path(tmp) / f"{i:02d}" / Path(name).name
            path.parent.mkdir()
            path.write_bytes(raw)
            paths.append(path)
        return Version(v.kind, v.version, v.effective, _load_paths(v.kind, paths), source)


def read_payload(p: Payload) -> Version[Any]:
    """:func:`read_version` of a version as it came off the topic. The kinds
    read from paths are decompressed straight to files, so the decompressed
    payload (95 MB for a quarter's PTP files) is never held in memory."""
    m = p.manifest
    _check(m.kind, len(m.files), m.version)
    if m.kind == MUE:
        return read_version(p.unpack())
    source = ", ".join(name for name, _ in m.files)
    with tempfile.TemporaryDirectory(prefix="claimscrub-reference-") as tmp:
        paths = p.unpack_to(Path(tmp))
        return Version(m.kind, m.version, m.effective, _load_paths(m.kind, paths), source)


def _check(kind: str, files: int, version: str) -> None:
    if kind not in TABLE_KINDS:
        raise ReferenceDataError(f"not a reference table kind: {kind}")
    if not files:
        raise ReferenceDataError(f"{kind} version {version}: no file")


def _load_paths(kind: str, paths: Sequence[Path]) -> Any:
    from claimscrub.necessity.reference import load_table

    return load_table(kind, paths)


def with_effective(records: Iterable[Any], effective: dt.date | None) -> list[Any]:
    """A payers file's records, those without ``effectiveDate`` given ``effective``."""
    out: list[Any] = []
    for raw in records:
        if effective is not None and isinstance(raw, dict) and "effectiveDate" not in raw:
            raw = {**raw, "effectiveDate": effective.isoformat()}
        out.append(raw)
    return out


def payer_id_of(raw: Mapping[str, Any]) -> str:
    return str(raw["payerId"]).upper()


def merge_payer_versions(
    published: Mapping[str, list[Any]], new: Sequence[Mapping[str, Any]]
) -> dict[str, list[Any]]:
    """The payers the new records name, each with its published versions and the
    new ones; a new version with the effective date of a published one replaces it."""
    out: dict[str, list[Any]] = {}
    for raw in new:
        payer = payer_id_of(raw)
        versions = out.setdefault(payer, list(published.get(payer, [])))
        date = raw.get("effectiveDate")
        versions[:] = [v for v in versions if v.get("effectiveDate") != date]
        versions.append(dict(raw))
    for versions in out.values():
        versions.sort(key=lambda v: v.get("effectiveDate") or "")
    return out


def payers_of(published: Mapping[str, list[Any]]) -> PayerPolicies:
    """Every published payer's versions as policies (validated as a payers file)."""
    records = [raw for payer in sorted(published) for raw in published[payer]]
    return PayerPolicies.from_records(records, "reference.payers")

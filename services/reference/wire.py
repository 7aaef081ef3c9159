"""How a reference data version is written on its topic, and read back.

reference.tables (key ``kind:version``): a version's files, gzip-compressed
as one payload, go out as chunks under the broker's message size (keys
``kind:version:00000``...), then the **manifest** under ``kind:version``
naming the files, the chunk count and the payload's SHA-256. The manifest is
written last and a reader takes a version only once the manifest and every
chunk are there and the checksum matches, so a half-written version (a loader
that died) is never used. A tombstone on the manifest key withdraws the
version; tombstones on its chunk keys let compaction free their space.

reference.payers (key ``payerId``): the payer's every policy version, as the
JSON records of a payers file (``{"payerId", "versions": [...]}``); a
tombstone removes the payer's published policies.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimscrub.core.versions import TABLE_KINDS

#: Bytes of compressed payload per chunk: well under the broker's default
#: message.max.bytes (1 MiB) with the key and headers added.
CHUNK_BYTES = 512 * 1024
#: A version label (``--version``) or id: no ``:`` (it separates the key's parts).
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FORMAT = 1


class WireError(ValueError):
    """A record of a reference topic that is not a version, a chunk or a policy."""


@dataclass(frozen=True, slots=True)
class TableVersion:
    """One version of a table kind: its files as published."""

    kind: str
    version: str
    effective: dt.date | None
    files: tuple[tuple[str, bytes], ...]
    published_at: str = ""


@dataclass(frozen=True, slots=True)
class Manifest:
    kind: str
    version: str
    effective: dt.date | None
    #: (file name, size in bytes), in payload order
    files: tuple[tuple[str, int], ...]
    chunks: int
    sha256: str
    published_at: str


def manifest_key(kind: str, version: str) -> str:
    return f"{kind}:{version}"


def chunk_key(kind: str, version: str, index: int) -> str:
    return f"{kind}:{version}:{index:05d}"


def encode_table_version(v: TableVersion) -> list[tuple[bytes, bytes]]:
    """The records of one version, chunks first and the manifest last."""
    if v.kind not in TABLE_KINDS:
        raise WireError(f"not a table kind: {v.kind}")
    if not VERSION_RE.match(v.version):
        raise WireError(f"version id {v.version!r}: letters, digits, '.', '_', '-' only")
    payload = gzip.compress(b"".join(raw for _, raw in v.files), compresslevel=6, mtime=0)
    pieces = [payload[i : i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)] or [b""]
    records = [(chunk_key(v.kind, v.version, i).encode(), piece) for i, piece in enumerate(pieces)]
    manifest = {
        "format": FORMAT,
        "kind": v.kind,
        "version": v.version,
        "effectiveDate": v.effective.isoformat() if v.effective else None,
        "files": [{"name": name, "size": len(raw)} for name, raw in v.files],
        "chunks": len(pieces),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "publishedAt": v.published_at,
    }
    records.append((manifest_key(v.kind, v.version).encode(), json.dumps(manifest).encode()))
    return records


def withdrawal_records(m: Manifest) -> list[tuple[bytes, None]]:
    """Tombstones withdrawing a version: the manifest first (readers drop it at
    once), then its chunks (so compaction frees them)."""
    keys = [manifest_key(m.kind, m.version)]
    keys.extend(chunk_key(m.kind, m.version, i) for i in range(m.chunks))
    return [(k.encode(), None) for k in keys]


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise WireError("manifest effectiveDate is not a date") from None


def decode_manifest(value: bytes) -> Manifest:
    try:
        raw = json.loads(value)
        files = tuple((str(f["name"]), int(f["size"])) for f in raw["files"])
        return Manifest(
            kind=str(raw["kind"]),
            version=str(raw["version"]),
            effective=_date(raw.get("effectiveDate")),
            files=files,
            chunks=int(raw["chunks"]),
            sha256=str(raw["sha256"]),
            published_at=str(raw.get("publishedAt", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise WireError(f"not a version manifest ({type(exc).__name__})") from None


@dataclass(frozen=True, slots=True)
class TableKey:
    kind: str
    version: str
    #: None: the manifest's key
    chunk: int | None


def parse_table_key(key: bytes | None) -> TableKey:
    parts = (key or b"").decode("utf-8", "replace").split(":")
    if len(parts) not in (2, 3) or parts[0] not in TABLE_KINDS or not parts[1]:
        raise WireError("key is not kind:version or kind:version:chunk")
    if len(parts) == 2:
        return TableKey(parts[0], parts[1], None)
    if not parts[2].isdigit():
        raise WireError("chunk number is not a number")
    return TableKey(parts[0], parts[1], int(parts[2]))


@dataclass(frozen=True, slots=True)
class Payload:
    """A whole version as it travelled: its manifest and its compressed chunks,
    checked against the manifest's checksum. Unpacked by a reader of its kind
    only, a file at a time: the whole decompressed payload is never held."""

    manifest: Manifest
    chunks: tuple[bytes, ...]

    @property
    def kind(self) -> str:
        return self.manifest.kind

    def unpack(self) -> TableVersion:
        """The version with its files in memory."""
        m = self.manifest
        files = tuple(
            (name, b"".join(pieces)) for name, pieces in zip(_names(m), _split(self), strict=True)
        )
        return TableVersion(m.kind, m.version, m.effective, files, m.published_at)

    def unpack_to(self, directory: Path) -> list[Path]:
        """The version's files written under ``directory`` (one folder each, so
        two files of one name stay apart), in payload order."""
        paths: list[Path] = []
        for i, (name, pieces) in enumerate(zip(_names(self.manifest), _split(self), strict=True)):
            path = directory / f"{i:02d}" / (Path(name).name or "file")
            path.parent.mkdir(parents=True)
            with path.open("wb") as out:
                for piece in pieces:
                    out.write(piece)
            paths.append(path)
        return paths


#: Decompressed bytes produced per step while unpacking.
_INFLATE_BLOCK = 1024 * 1024


def _names(m: Manifest) -> list[str]:
    return [name for name, _ in m.files]


def _inflate(chunks: Sequence[bytes]) -> Iterator[bytes]:
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip's header and trailer
    try:
        for chunk in chunks:
            data = chunk
            while True:
                out = d.decompress(data, _INFLATE_BLOCK)
                if out:
                    yield out
                data = d.unconsumed_tail
                if not data and len(out) < _INFLATE_BLOCK:
                    break
        rest = d.flush()
    except zlib.error:
        raise WireError("payload is not gzip data") from None
    if rest:
        yield rest
    if not d.eof:
        raise WireError("payload ends inside its gzip stream")


def _split(p: Payload) -> Iterator[list[bytes]]:
    """Each file's decompressed pieces, in payload order (one file's at a time)."""
    blocks = _inflate(p.chunks)
    carry = b""
    for _, size in p.manifest.files:
        pieces: list[bytes] = []
        need = size
        while need:
            block = carry or next(blocks, b"")
            carry = b""
            if not block:
                raise WireError("payload shorter than its manifest's files")
            if len(block) > need:
                block, carry = block[:need], block[need:]
            pieces.append(block)
            need -= len(block)
        yield pieces
    if carry or next(blocks, b""):
        raise WireError("payload longer than its manifest's files")


@dataclass(slots=True)
class _Pending:
    manifest: Manifest | None = None
    chunks: dict[int, bytes] = field(default_factory=dict)


class TableAssembler:
    """Collects reference.tables records into whole versions.

    :meth:`apply` takes one record and returns what changed: a version that
    just became whole (and checks out), or the (kind, version) withdrawn.
    Records may come in any order across partitions; a version is whole once
    its manifest and every chunk it names are here. Records of a kind not in
    ``kinds`` (default: every kind) are passed over on their key alone: a
    service holds no chunk of a table it does not use.
    """

    def __init__(self, kinds: Iterable[str] | None = None) -> None:
        self._kinds = frozenset(TABLE_KINDS if kinds is None else kinds)
        self._pending: dict[tuple[str, str], _Pending] = {}
        #: (kind, version) -> the checksum of the version handed out
        self._complete: dict[tuple[str, str], str] = {}

    def apply(self, key: bytes | None, value: bytes | None) -> Payload | tuple[str, str] | None:
        k = parse_table_key(key)
        if k.kind not in self._kinds:
            return None
        ident = (k.kind, k.version)
        if value is None:
            if k.chunk is None:
                self._pending.pop(ident, None)
                if self._complete.pop(ident, None) is not None:
                    return ident
            else:
                pending = self._pending.get(ident)
                if pending is not None:
                    pending.chunks.pop(k.chunk, None)
            return None
        pending = self._pending.setdefault(ident, _Pending())
        if k.chunk is None:
            manifest = decode_manifest(value)
            if (manifest.kind, manifest.version) != ident:
                raise WireError("manifest names another version than its key")
            if self._complete.get(ident) == manifest.sha256:
                self._pending.pop(ident, None)  # the same version again
                return None
            pending.manifest = manifest
        else:
            pending.chunks[k.chunk] = value
        return self._whole(ident, pending)

    def _whole(self, ident: tuple[str, str], pending: _Pending) -> Payload | None:
        m = pending.manifest
        if m is None or any(i not in pending.chunks for i in range(m.chunks)):
            return None
        chunks = tuple(pending.chunks[i] for i in range(m.chunks))
        digest = hashlib.sha256()
        for chunk in chunks:
            digest.update(chunk)
        if digest.hexdigest() != m.sha256:
            return None  # a chunk of another load of this id: wait for the rest
        del self._pending[ident]
        self._complete[ident] = m.sha256
        return Payload(m, chunks)

    def waiting(self) -> int:
        """Versions with a manifest still missing chunks (a loader at work, or one that died)."""
        return sum(1 for p in self._pending.values() if p.manifest is not None)

    def held_bytes(self) -> int:
        """Bytes of chunks held for versions not yet whole."""
        return sum(len(c) for p in self._pending.values() for c in p.chunks.values())


def encode_payer(payer_id: str, versions: Sequence[Mapping[str, Any]]) -> tuple[bytes, bytes]:
    value = {"payerId": payer_id, "versions": list(versions)}
    return payer_id.upper().encode(), json.dumps(value, sort_keys=True).encode()


def decode_payer(key: bytes | None, value: bytes) -> tuple[str, list[Any]]:
    """A reference.payers record: the payer and its raw policy records."""
    payer = (key or b"").decode("utf-8", "replace").strip().upper()
    try:
        raw = json.loads(value)
        versions = raw["versions"]
    except (ValueError, KeyError, TypeError):
        raise WireError("not a payer's policy versions") from None
    if not payer or not isinstance(versions, list):
        raise WireError("not a payer's policy versions")
    return payer, versions


def iter_files(v: TableVersion) -> Iterator[str]:
    for name, raw in v.files:
        yield f"{name} ({len(raw)} bytes)"

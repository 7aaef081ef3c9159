"""The necessity service's own configuration, read once from the environment.

The shared :class:`~claimscrub.runtime.settings.Settings` holds what every
service reads; these variables only concern this check (docs/configuration.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from claimscrub.necessity.beneficiary import keyring as load_ring
from claimscrub.runtime.keyring import Keyring, KeySource
from claimscrub.runtime.settings import SettingsError

DEFAULT_ENROLLMENT_TIMEOUT_S = 2.0
DEFAULT_ENROLLMENT_CACHE_S = 60.0


def _paths(env: Mapping[str, str], name: str) -> tuple[Path, ...]:
    raw = env.get(name, "")
    paths = tuple(Path(p) for p in raw.split(os.pathsep) if p.strip())
    for p in paths:
        if not p.is_file():
            raise SettingsError(f"{name} names a file that does not exist: {p}")
    return paths


@dataclass(frozen=True, slots=True)
class NecessitySettings:
    ptp_files: tuple[Path, ...]
    coverage_files: tuple[Path, ...]
    fee_schedule_files: tuple[Path, ...]
    enrollment_addr: str | None
    enrollment_timeout_s: float
    hmac_key: bytes
    hmac_key_is_default: bool
    enrollment_cache_s: float = DEFAULT_ENROLLMENT_CACHE_S
    code_status_files: tuple[Path, ...] = ()
    #: The HMAC keyring (runtime/keyring.py): tokens chain through it up to its
    #: current key. ``hmac_key`` is its root key, whose tokens are those of a
    #: one-key ring, for callers that take a plain key.
    keyring: Keyring | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NecessitySettings:
        e = os.environ if env is None else env
        raw_timeout = e.get("CLAIMSCRUB_ENROLLMENT_TIMEOUT_SECONDS", "")
        try:
            timeout = float(raw_timeout) if raw_timeout else DEFAULT_ENROLLMENT_TIMEOUT_S
        except ValueError:
            raise SettingsError("CLAIMSCRUB_ENROLLMENT_TIMEOUT_SECONDS must be a number") from None
        if timeout <= 0:
            raise SettingsError("CLAIMSCRUB_ENROLLMENT_TIMEOUT_SECONDS must be positive")
        raw_cache = e.get("CLAIMSCRUB_ENROLLMENT_CACHE_SECONDS", "")
        try:
            cache_s = float(raw_cache) if raw_cache else DEFAULT_ENROLLMENT_CACHE_S
        except ValueError:
            raise SettingsError("CLAIMSCRUB_ENROLLMENT_CACHE_SECONDS must be a number") from None
        if cache_s < 0:
            raise SettingsError("CLAIMSCRUB_ENROLLMENT_CACHE_SECONDS must be 0 (off) or more")
        addr = e.get("CLAIMSCRUB_ENROLLMENT_ADDR", "").strip() or None
        if addr is not None and ":" not in addr:
            raise SettingsError("CLAIMSCRUB_ENROLLMENT_ADDR must be HOST:PORT")
        ring = load_ring(e)
        return cls(
            ptp_files=_paths(e, "CLAIMSCRUB_PTP_FILE"),
            coverage_files=_paths(e, "CLAIMSCRUB_COVERAGE_FILE"),
            fee_schedule_files=_paths(e, "CLAIMSCRUB_FEE_SCHEDULE_FILE"),
            enrollment_addr=addr,
            enrollment_timeout_s=timeout,
            hmac_key=ring.root.reveal(),
            hmac_key_is_default=ring.source is KeySource.DEFAULT,
            enrollment_cache_s=cache_s,
            code_status_files=_paths(e, "CLAIMSCRUB_CODE_STATUS_FILE"),
            keyring=ring,
        )

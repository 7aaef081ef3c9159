"""Redaction configuration: the pseudonym key, the run mode, the date policy.

The HMAC key comes from ``CLAIMSCRUB_HMAC_KEY`` or, better for secrets
mounted as files (Kubernetes, Vault agents), ``CLAIMSCRUB_HMAC_KEY_FILE``;
with a keyring (``CLAIMSCRUB_HMAC_KEYS[_FILE]``) it is the ring's current key.
With ``CLAIMSCRUB_MODE=production`` there is no fallback: no key (or the
built-in development key, or a short one) stops the service at start-up.
Locally a built-in development key stands in, and whoever uses it is told.
Nothing here ever prints a key. The mode and the NAME / NAME_FILE rule are
the runtime's (claimscrub.runtime.secrets), the same for every service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from claimscrub.runtime.env import SettingsError
from claimscrub.runtime.keyring import load_keyring
from claimscrub.runtime.secrets import MIN_PRODUCTION_KEY_BYTES, Mode, read_secret, run_mode

__all__ = ["DEV_KEY", "MIN_PRODUCTION_KEY_BYTES", "ConfigError", "DateMode", "Mode"]

# Not a secret: it is in the source. Tokens made with it can be recomputed
# by anyone, which is fine for the example claims and nothing else.
DEV_KEY = b"claimscrub-local-development-key: NOT SECRET, never use for real PHI"
DEFAULT_SHIFT_MAX_DAYS = 365


class ConfigError(SettingsError):
    """A redaction setting is missing or unusable (one line, never the key)."""


class DateMode(StrEnum):
    YEAR = "YEAR"
    SHIFT = "SHIFT"


@dataclass(frozen=True, slots=True)
class RedactionConfig:
    key: bytes = DEV_KEY
    mode: Mode = Mode.LOCAL
    date_mode: DateMode = DateMode.YEAR
    shift_max_days: int = DEFAULT_SHIFT_MAX_DAYS

    @property
    def using_dev_key(self) -> bool:
        return self.key == DEV_KEY

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RedactionConfig:
        e = os.environ if env is None else env
        try:
            mode = run_mode(e)
            if e.get("CLAIMSCRUB_HMAC_KEYS") or e.get("CLAIMSCRUB_HMAC_KEYS_FILE"):
                # A keyring: pseudonyms use its current key (a rotation starts a new
                # pseudonym epoch, docs/redaction.md); the ring applies the same checks.
                key: bytes | None = load_keyring(e, DEV_KEY).current.reveal()
            else:
                secret = read_secret(e, "CLAIMSCRUB_HMAC_KEY")
                key = secret.reveal() if secret is not None else None
        except SettingsError as exc:
            raise ConfigError(str(exc)) from None
        if mode is Mode.PRODUCTION:
            if key is None:
                raise ConfigError(
                    "CLAIMSCRUB_MODE=production needs CLAIMSCRUB_HMAC_KEY or "
                    "CLAIMSCRUB_HMAC_KEY_FILE; refusing to start without a key"
                )
            if key == DEV_KEY:
                raise ConfigError("CLAIMSCRUB_MODE=production refuses the development key")
            if len(key) < MIN_PRODUCTION_KEY_BYTES:
                raise ConfigError(
                    f"CLAIMSCRUB_MODE=production needs a key of at least "
                    f"{MIN_PRODUCTION_KEY_BYTES} bytes"
                )
        date_text = e.get("CLAIMSCRUB_DATE_MODE", "year").strip().upper() or "YEAR"
        try:
            date_mode = DateMode(date_text)
        except ValueError:
            raise ConfigError("CLAIMSCRUB_DATE_MODE must be year or shift") from None
        shift = e.get("CLAIMSCRUB_DATE_SHIFT_MAX_DAYS", "").strip()
        max_days = DEFAULT_SHIFT_MAX_DAYS
        if shift:
            if not shift.isdigit() or int(shift) < 1:
                raise ConfigError("CLAIMSCRUB_DATE_SHIFT_MAX_DAYS must be a positive integer")
            max_days = int(shift)
        return cls(key or DEV_KEY, mode, date_mode, max_days)


DEV_KEY_WARNING = (
    "no CLAIMSCRUB_HMAC_KEY or CLAIMSCRUB_HMAC_KEY_FILE: using the built-in development "
    "key, so pseudonyms can be recomputed by anyone; fine for the demo, never for real "
    "PHI (CLAIMSCRUB_MODE=production refuses to start without a key)"
)

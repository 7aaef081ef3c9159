"""Reading environment variables: the one-line configuration error and the
small parsers the settings modules share."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


class SettingsError(ValueError):
    """An environment variable has an unusable value (never a secret's value)."""


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false")


def env_file(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    path = Path(raw)
    if not path.is_file():
        raise SettingsError(f"{name} names a file that does not exist: {raw}")
    return path


def env_seconds(
    env: Mapping[str, str], name: str, default: float, *, zero_allowed: bool = False
) -> float:
    """A positive number of seconds from ``name`` (or 0 where ``zero_allowed``,
    for settings whose 0 means "off"); ``default`` when unset or empty."""
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds") from None
    if value < 0 or (value == 0 and not zero_allowed):
        raise SettingsError(f"{name} must be {'0 or more' if zero_allowed else 'positive'}")
    return value


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    """A whole number of at least ``minimum`` from ``name``; ``default`` when
    unset or blank."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return value

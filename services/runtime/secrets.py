"""Run mode and secrets, the same rules for every service and the CLI.

A secret comes from ``NAME`` or, better for mounted Kubernetes Secrets and
Vault agents, from a file named by ``NAME_FILE`` (not both). Its value lives
in a :class:`Secret`, whose ``repr`` and ``str`` never show it, so a log call
or a traceback that prints the object cannot leak it. Errors name the
variable, never the value.

``CLAIMSCRUB_MODE=production`` turns every "no secret, use a development
default" into a refusal to start (:func:`require`); ``local`` (the default)
keeps the out-of-the-box defaults with a warning.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from claimscrub.runtime.env import SettingsError

MODE_VARIABLE = "CLAIMSCRUB_MODE"
#: Keyed pseudonyms and beneficiary tokens: below this many bytes a key is
#: guessable offline from the tokens it made (HMAC-SHA256's block is 64 bytes;
#: 32 random bytes give the hash's full 256-bit strength, RFC 2104 §3).
MIN_PRODUCTION_KEY_BYTES = 32


class Mode(StrEnum):
    LOCAL = "local"
    PRODUCTION = "production"


def run_mode(env: Mapping[str, str] | None = None) -> Mode:
    e = os.environ if env is None else env
    text = e.get(MODE_VARIABLE, "local").strip().lower() or "local"
    if text in ("dev", "development"):
        text = "local"
    try:
        return Mode(text)
    except ValueError:
        raise SettingsError(f"{MODE_VARIABLE} must be local or production") from None


class Secret:
    """A secret value that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def text(self) -> str:
        return self._value.decode("utf-8")

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret(<withheld>)"

    __str__ = __repr__


def read_secret(env: Mapping[str, str], name: str) -> Secret | None:
    """``name`` or the file ``name_FILE`` names; None when neither is set."""
    inline = env.get(name, "")
    path = env.get(f"{name}_FILE", "")
    if inline and path:
        raise SettingsError(f"set {name} or {name}_FILE, not both")
    if inline:
        return Secret(inline.encode("utf-8"))
    if not path:
        return None
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        # The path is configuration, not a secret; the content is never shown.
        reason = exc.strerror or type(exc).__name__
        raise SettingsError(f"{name}_FILE cannot be read ({reason}): {path}") from None
    # A trailing newline from `echo secret > file` or a Secret created with
    # `kubectl create secret --from-file` is not part of the secret.
    value = raw.rstrip(b"\r\n")
    if not value:
        raise SettingsError(f"{name}_FILE is empty: {path}")
    return Secret(value)


def require(mode: Mode, ok: bool, reason: str) -> None:
    """In production, refuse what ``ok`` says is missing or unsafe."""
    if mode is Mode.PRODUCTION and not ok:
        raise SettingsError(f"{MODE_VARIABLE}=production refuses to start: {reason}")


def hmac_key(
    env: Mapping[str, str], default: bytes, *, name: str = "CLAIMSCRUB_HMAC_KEY"
) -> tuple[Secret, bool]:
    """The HMAC key and whether it is ``default``; production needs a real one."""
    mode = run_mode(env)
    key = read_secret(env, name)
    require(mode, key is not None, f"no {name} or {name}_FILE")
    if key is None:
        return Secret(default), True
    require(mode, key.reveal() != default, f"{name} is the development key")
    require(
        mode,
        len(key) >= MIN_PRODUCTION_KEY_BYTES,
        f"{name} must be at least {MIN_PRODUCTION_KEY_BYTES} bytes",
    )
    return key, False

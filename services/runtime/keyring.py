"""The HMAC keyring: every key a deployment has used, each with an id, and the current one.

A key rotation adds a key beside the old ones instead of replacing the key,
so data written under an earlier key stays readable (docs/operations.md,
runbook "Rotating the HMAC key"). The ring comes from
``CLAIMSCRUB_HMAC_KEYS`` or the file ``CLAIMSCRUB_HMAC_KEYS_FILE`` (JSON):

    {"current": "k2027",
     "keys": [{"id": "h3f9c0a12", "secret": "..."},
              {"id": "k2027", "secret": "..."}]}

``keys`` lists the keys oldest first: the order of rotations. Keys before
``current`` are earlier keys, kept so tokens chained through them
(:func:`chain`) and lookups of older data still work; keys after it are
added for the next rotation and used by nothing but its migration.

The single ``CLAIMSCRUB_HMAC_KEY`` / ``_FILE`` is a one-key ring whose id is
derived from the secret (:func:`derived_id`), stable across restarts and
shown by ``claimscrub keys status``: moving to a ring keeps that id for the
old key. Neither set gives the caller's development key as a one-key ring.
Errors name the variable, an id or a position, never a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from claimscrub.runtime.env import SettingsError
from claimscrub.runtime.secrets import (
    MIN_PRODUCTION_KEY_BYTES,
    Secret,
    hmac_key,
    read_secret,
    require,
    run_mode,
)

KEYS_VARIABLE = "CLAIMSCRUB_HMAC_KEYS"
KEY_VARIABLE = "CLAIMSCRUB_HMAC_KEY"

#: Ids travel inside tokens next to a ``-`` separator, so they have none.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]{0,31}$")


class KeySource(StrEnum):
    RING = "ring"  # CLAIMSCRUB_HMAC_KEYS[_FILE]
    SINGLE = "single"  # CLAIMSCRUB_HMAC_KEY[_FILE]
    DEFAULT = "default"  # the caller's public development key


class UnknownKeyId(LookupError):
    """A token or record names a key id the ring does not hold."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"key id {key_id!r} is not in the HMAC keyring")
        self.key_id = key_id


@dataclass(frozen=True, slots=True)
class HmacKey:
    key_id: str
    secret: Secret

    def reveal(self) -> bytes:
        return self.secret.reveal()


def derived_id(secret: bytes) -> str:
    """The id of a key configured without one: 32 bits of an HMAC under the key
    itself (a key check value), which tells keys apart and reveals nothing usable."""
    return "h" + hmac.new(secret, b"claimscrub-key-id", hashlib.sha256).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class Keyring:
    keys: tuple[HmacKey, ...]
    current_id: str
    source: KeySource = KeySource.RING

    def __post_init__(self) -> None:
        ids = [k.key_id for k in self.keys]
        if not ids:
            raise SettingsError("the HMAC keyring holds no key")
        if len(set(ids)) != len(ids):
            raise SettingsError("the HMAC keyring lists a key id twice")
        if self.current_id not in ids:
            raise SettingsError(f"the current key id {self.current_id!r} is not in the ring")

    @classmethod
    def single(
        cls, secret: bytes, *, key_id: str | None = None, source: KeySource = KeySource.SINGLE
    ) -> Keyring:
        kid = key_id or derived_id(secret)
        return cls((HmacKey(kid, Secret(secret)),), kid, source)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(k.key_id for k in self.keys)

    @property
    def current(self) -> HmacKey:
        return self.get(self.current_id)

    @property
    def root(self) -> HmacKey:
        """The oldest key: the first link of every chained token."""
        return self.keys[0]

    def get(self, key_id: str) -> HmacKey:
        for k in self.keys:
            if k.key_id == key_id:
                return k
        raise UnknownKeyId(key_id)

    def __contains__(self, key_id: object) -> bool:
        return any(k.key_id == key_id for k in self.keys)

    def chain(self, through: str | None = None) -> tuple[HmacKey, ...]:
        """The keys from the root to ``through`` (default: the current key), in order."""
        end = self.ids.index(self.current_id if through is None else self.get(through).key_id)
        return self.keys[: end + 1]

    @property
    def previous(self) -> tuple[HmacKey, ...]:
        """Keys that were current before the current one, newest first."""
        return tuple(reversed(self.chain()[:-1]))

    @property
    def upcoming(self) -> tuple[HmacKey, ...]:
        """Keys added for the next rotation, not yet current."""
        return self.keys[len(self.chain()) :]

    def status(self) -> dict[str, Any]:
        """What ``claimscrub keys status`` shows: ids and roles, never a secret."""
        roles = {k.key_id: "previous" for k in self.previous}
        roles[self.current_id] = "current"
        roles.update({k.key_id: "upcoming" for k in self.upcoming})
        return {
            "source": self.source.value,
            "current": self.current_id,
            "keys": [{"id": k.key_id, "role": roles[k.key_id]} for k in self.keys],
        }


def _parse_ring(text: str, where: str) -> tuple[list[tuple[str, bytes]], str]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        # The position only: the decoder's message never quotes the document.
        raise SettingsError(
            f"{where} is not JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(doc, dict):
        raise SettingsError(f'{where} must be a JSON object with "current" and "keys"')
    current = doc.get("current")
    entries = doc.get("keys")
    if not isinstance(current, str) or not current:
        raise SettingsError(f'{where}: "current" must name the id of the key in use')
    if not isinstance(entries, list) or not entries:
        raise SettingsError(f'{where}: "keys" must be a non-empty list of {{"id", "secret"}}')
    unknown = set(doc) - {"current", "keys"}
    if unknown:
        raise SettingsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    out: list[tuple[str, bytes]] = []
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or set(entry) != {"id", "secret"}:
            raise SettingsError(f'{where}: key #{n} must have exactly "id" and "secret"')
        kid, secret = entry["id"], entry["secret"]
        if not isinstance(kid, str) or not _ID.match(kid):
            raise SettingsError(
                f"{where}: key #{n} needs an id of 1-32 letters, digits, '_' or '.'"
            )
        if not isinstance(secret, str) or not secret:
            raise SettingsError(f"{where}: key {kid!r} has an empty or non-text secret")
        out.append((kid, secret.encode("utf-8")))
    ids = [kid for kid, _ in out]
    for kid in ids:
        if ids.count(kid) > 1:
            raise SettingsError(f"{where}: key id {kid!r} is listed twice")
    secrets = [s for _, s in out]
    if len(set(secrets)) != len(secrets):
        raise SettingsError(f"{where}: two key ids share one secret")
    if current not in ids:
        raise SettingsError(f"{where}: current key id {current!r} is not among the keys")
    return out, current


def load_keyring(env: Mapping[str, str] | None, default: bytes) -> Keyring:
    """The ring from the environment (module doc); ``default`` is the caller's
    development key, used only when nothing is set and the mode allows it."""
    e = os.environ if env is None else env
    raw = read_secret(e, KEYS_VARIABLE)
    if raw is None:
        single, is_default = hmac_key(e, default)
        source = KeySource.DEFAULT if is_default else KeySource.SINGLE
        return Keyring.single(single.reveal(), source=source)
    if e.get(KEY_VARIABLE) or e.get(f"{KEY_VARIABLE}_FILE"):
        raise SettingsError(
            f"set {KEYS_VARIABLE}[_FILE] or {KEY_VARIABLE}[_FILE], not both "
            f"(a ring lists the single key as one of its keys)"
        )
    where = f"{KEYS_VARIABLE}_FILE" if e.get(f"{KEYS_VARIABLE}_FILE") else KEYS_VARIABLE
    try:
        text = raw.text()
    except UnicodeDecodeError:
        raise SettingsError(f"{where} is not UTF-8 text") from None
    entries, current = _parse_ring(text, where)
    mode = run_mode(e)
    for kid, secret in entries:
        require(mode, secret != default, f"{where}: key {kid!r} is the development key")
        require(
            mode,
            len(secret) >= MIN_PRODUCTION_KEY_BYTES,
            f"{where}: key {kid!r} must be at least {MIN_PRODUCTION_KEY_BYTES} bytes",
        )
    keys = tuple(HmacKey(kid, Secret(secret)) for kid, secret in entries)
    return Keyring(keys, current, KeySource.RING)

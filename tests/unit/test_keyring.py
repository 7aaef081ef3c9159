"""The HMAC keyring: CLAIMSCRUB_HMAC_KEYS[_FILE], the single key as a one-key ring, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from claimscrub.runtime.env import SettingsError
from claimscrub.runtime.keyring import Keyring, KeySource, UnknownKeyId, derived_id, load_keyring

DEV = b"a-public-development-key"
OLD = "old-secret-0123456789-0123456789-abc"
NEW = "new-secret-0123456789-0123456789-xyz"


def ring_text(current: str = "k2", **extra: Any) -> str:
    doc: dict[str, Any] = {
        "current": current,
        "keys": [{"id": "k1", "secret": OLD}, {"id": "k2", "secret": NEW}],
    }
    doc.update(extra)
    return json.dumps(doc)


def test_a_ring_lists_its_keys_oldest_first_and_names_the_current_one() -> None:
    ring = load_keyring({"CLAIMSCRUB_HMAC_KEYS": ring_text()}, DEV)
    assert ring.ids == ("k1", "k2")
    assert ring.current.key_id == "k2" and ring.current.reveal() == NEW.encode()
    assert ring.root.key_id == "k1"
    assert [k.key_id for k in ring.previous] == ["k1"]
    assert ring.upcoming == ()
    assert ring.source is KeySource.RING


def test_a_key_after_the_current_one_is_upcoming() -> None:
    ring = load_keyring({"CLAIMSCRUB_HMAC_KEYS": ring_text(current="k1")}, DEV)
    assert ring.current_id == "k1"
    assert [k.key_id for k in ring.upcoming] == ["k2"]
    assert ring.previous == ()
    assert ring.status()["keys"] == [
        {"id": "k1", "role": "current"},
        {"id": "k2", "role": "upcoming"},
    ]


def test_the_ring_file_is_read_like_any_secret_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(ring_text() + "\n")
    ring = load_keyring({"CLAIMSCRUB_HMAC_KEYS_FILE": str(path)}, DEV)
    assert ring.ids == ("k1", "k2")


def test_the_single_key_is_a_one_key_ring_with_a_stable_derived_id() -> None:
    ring = load_keyring({"CLAIMSCRUB_HMAC_KEY": OLD}, DEV)
    assert ring.ids == (derived_id(OLD.encode()),)
    assert ring.current.reveal() == OLD.encode()
    assert ring.source is KeySource.SINGLE
    # Stable: the same secret gives the same id; another secret another id.
    assert load_keyring({"CLAIMSCRUB_HMAC_KEY": OLD}, DEV).current_id == ring.current_id
    assert derived_id(NEW.encode()) != ring.current_id
    assert OLD not in ring.current_id


def test_nothing_set_gives_the_callers_development_key() -> None:
    ring = load_keyring({}, DEV)
    assert ring.current.reveal() == DEV and ring.source is KeySource.DEFAULT


def test_production_refuses_the_development_key_or_a_short_one_in_a_ring() -> None:
    short = json.dumps({"current": "a", "keys": [{"id": "a", "secret": "short"}]})
    dev = json.dumps({"current": "a", "keys": [{"id": "a", "secret": DEV.decode()}]})
    for text in (short, dev):
        env = {"CLAIMSCRUB_MODE": "production", "CLAIMSCRUB_HMAC_KEYS": text}
        with pytest.raises(SettingsError, match="production") as info:
            load_keyring(env, DEV)
        assert "short" not in str(info.value) and DEV.decode() not in str(info.value)
    with pytest.raises(SettingsError, match="production"):
        load_keyring({"CLAIMSCRUB_MODE": "production"}, DEV)
    ok = {"CLAIMSCRUB_MODE": "production", "CLAIMSCRUB_HMAC_KEYS": ring_text()}
    assert load_keyring(ok, DEV).current_id == "k2"


BAD_RINGS = [
    ("{not json " + OLD, "not JSON"),
    (json.dumps([OLD]), "JSON object"),
    (json.dumps({"keys": [{"id": "a", "secret": OLD}]}), '"current"'),
    (json.dumps({"current": "a", "keys": []}), '"keys"'),
    (json.dumps({"current": "a", "keys": [{"id": "a", "secret": OLD}], "x": 1}), "unknown"),
    (json.dumps({"current": "a", "keys": [{"id": "a", "key": OLD}]}), "exactly"),
    (json.dumps({"current": "a-b", "keys": [{"id": "a-b", "secret": OLD}]}), "id of 1-32"),
    (json.dumps({"current": "a", "keys": [{"id": "a", "secret": ""}]}), "empty"),
    (
        json.dumps(
            {"current": "a", "keys": [{"id": "a", "secret": OLD}, {"id": "a", "secret": NEW}]}
        ),
        "twice",
    ),
    (
        json.dumps(
            {"current": "a", "keys": [{"id": "a", "secret": OLD}, {"id": "b", "secret": OLD}]}
        ),
        "share one secret",
    ),
    (json.dumps({"current": "z", "keys": [{"id": "a", "secret": OLD}]}), "not among"),
]


@pytest.mark.parametrize(("text", "reason"), BAD_RINGS)
def test_a_bad_ring_is_refused_with_a_reason_and_never_the_secret(text: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=reason) as info:
        load_keyring({"CLAIMSCRUB_HMAC_KEYS": text}, DEV)
    assert OLD not in str(info.value) and NEW not in str(info.value)
    assert "0123456789" not in str(info.value)


def test_a_ring_and_a_single_key_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not both"):
        load_keyring({"CLAIMSCRUB_HMAC_KEYS": ring_text(), "CLAIMSCRUB_HMAC_KEY": OLD}, DEV)
    with pytest.raises(SettingsError, match="not both"):
        load_keyring({"CLAIMSCRUB_HMAC_KEYS": ring_text(), "CLAIMSCRUB_HMAC_KEYS_FILE": "x"}, DEV)


def test_an_unreadable_ring_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CLAIMSCRUB_HMAC_KEYS_FILE"):
        load_keyring({"CLAIMSCRUB_HMAC_KEYS_FILE": str(tmp_path / "missing")}, DEV)
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe" + OLD.encode())
    with pytest.raises(SettingsError, match="CLAIMSCRUB_HMAC_KEYS_FILE") as info:
        load_keyring({"CLAIMSCRUB_HMAC_KEYS_FILE": str(bad)}, DEV)
    assert OLD not in str(info.value)


def test_unknown_ids_and_printing_the_ring_show_no_secret() -> None:
    ring = load_keyring({"CLAIMSCRUB_HMAC_KEYS": ring_text()}, DEV)
    with pytest.raises(UnknownKeyId, match="k9"):
        ring.get("k9")
    for shown in (repr(ring), str(ring), json.dumps(ring.status())):
        assert OLD not in shown and NEW not in shown
    assert "k3" not in ring and "k1" in ring


def test_the_chain_runs_from_the_root_to_the_asked_key() -> None:
    ring = load_keyring({"CLAIMSCRUB_HMAC_KEYS": ring_text(current="k1")}, DEV)
    assert [k.key_id for k in ring.chain()] == ["k1"]
    assert [k.key_id for k in ring.chain("k2")] == ["k1", "k2"]


def test_a_ring_built_in_code_checks_its_ids() -> None:
    one = Keyring.single(OLD.encode(), key_id="a")
    with pytest.raises(SettingsError, match="twice"):
        Keyring(one.keys * 2, "a")
    with pytest.raises(SettingsError, match="not in the ring"):
        Keyring(one.keys, "b")

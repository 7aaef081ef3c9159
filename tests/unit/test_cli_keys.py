"""`claimscrub keys status|rotate`, and the services' settings read from a keyring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claimscrub.cli.keys import stale_tokens
from claimscrub.cli.main import build_parser, main
from claimscrub.core.claim import Claim
from claimscrub.core.fingerprint import duplicate_fingerprint, key_from_env, lookup_fingerprints
from claimscrub.necessity.beneficiary import beneficiary_token
from claimscrub.necessity.settings import NecessitySettings
from claimscrub.redaction.config import ConfigError, RedactionConfig
from claimscrub.runtime.keyring import derived_id, load_keyring
from claimscrub.runtime.topics import NECESSITY_BY_BENEFICIARY, NECESSITY_HISTORY_CHANGELOG
from tests.unit.necessity_support import base_claim, parse

OLD = "old-secret-0123456789-0123456789-abc"
NEW = "new-secret-0123456789-0123456789-xyz"


def ring_text(current: str) -> str:
    return json.dumps(
        {"current": current, "keys": [{"id": "k1", "secret": OLD}, {"id": "k2", "secret": NEW}]}
    )


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "CLAIMSCRUB_HMAC_KEY",
        "CLAIMSCRUB_HMAC_KEY_FILE",
        "CLAIMSCRUB_HMAC_KEYS",
        "CLAIMSCRUB_HMAC_KEYS_FILE",
        "CLAIMSCRUB_MODE",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_keys_status_lists_ids_and_roles_never_secrets(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(ring_text("k1"))
    clean_env.setenv("CLAIMSCRUB_HMAC_KEYS_FILE", str(path))
    assert main(["keys", "status"]) == 0
    text = capsys.readouterr().out
    assert "CLAIMSCRUB_HMAC_KEYS_FILE" in text and "current: k1" in text
    assert [ln.split() for ln in text.splitlines()[-2:]] == [["k1", "current"], ["k2", "upcoming"]]
    assert main(["keys", "status", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["current"] == "k1" and doc["source"] == "ring"
    assert [k["id"] for k in doc["keys"]] == ["k1", "k2"]
    for shown in (text, json.dumps(doc)):
        assert OLD not in shown and NEW not in shown and "0123456789" not in shown


def test_keys_status_of_a_single_key_shows_its_derived_id(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("CLAIMSCRUB_HMAC_KEY", OLD)
    assert main(["keys", "status", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["current"] == derived_id(OLD.encode())
    assert OLD not in out


def test_a_bad_ring_is_a_configuration_error_without_the_secret(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("CLAIMSCRUB_HMAC_KEYS", json.dumps({"current": "k1", "keys": [OLD]}))
    assert main(["keys", "status"]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and OLD not in err


def test_keys_rotate_marks_the_next_step_for_the_ring_as_configured(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def marked() -> str:
        return next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("->"))

    clean_env.setenv("CLAIMSCRUB_HMAC_KEY", OLD)
    assert main(["keys", "rotate"]) == 0
    assert marked().startswith("-> 1. Move the key to a ring")
    clean_env.delenv("CLAIMSCRUB_HMAC_KEY")
    clean_env.setenv("CLAIMSCRUB_HMAC_KEYS", ring_text("k1"))
    assert main(["keys", "rotate"]) == 0
    assert marked().startswith("-> 3. Run `claimscrub keys rotate --apply`")
    clean_env.setenv("CLAIMSCRUB_HMAC_KEYS", ring_text("k2"))
    assert main(["keys", "rotate"]) == 0
    assert marked().startswith("-> 5.")


def test_keys_rotate_reads_and_writes_the_topics_of_necessity_s_stream() -> None:
    # The changelog holding the histories and the repartition topic the check step reads.
    args = build_parser().parse_args(["keys", "rotate", "--apply"])
    assert args.changelog == NECESSITY_HISTORY_CHANGELOG.name
    assert args.topic == NECESSITY_BY_BENEFICIARY.name
    assert args.changelog.startswith("changelog__claimscrub-necessity--")
    assert args.topic.startswith("repartition__claimscrub-necessity--")


def test_keys_rotate_apply_needs_a_second_key(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("CLAIMSCRUB_HMAC_KEY", OLD)
    assert main(["keys", "rotate", "--apply"]) == 2
    assert "add the new one first" in capsys.readouterr().err


def test_only_tokens_of_older_keys_known_to_the_ring_are_requested() -> None:
    ring = load_keyring({"CLAIMSCRUB_HMAC_KEYS": ring_text("k1")}, b"dev")
    root = "b-" + "a" * 64
    newest = "b-k2-" + "b" * 64
    unknown = "c-k7-" + "c" * 64
    keys = {root.encode() + b"|history", newest.encode(), unknown.encode(), b"no-token"}
    assert stale_tokens(keys, ring) == ([root], 1)


# --- settings from a ring ------------------------------------------------------------


def test_services_read_the_current_key_of_a_ring(clean_env: pytest.MonkeyPatch) -> None:
    env = {"CLAIMSCRUB_HMAC_KEYS": ring_text("k2")}
    assert key_from_env(env) == NEW.encode()
    assert RedactionConfig.from_env(env).key == NEW.encode()
    assert key_from_env({"CLAIMSCRUB_HMAC_KEY": OLD}) == OLD.encode()
    with pytest.raises(ConfigError, match="production") as info:
        RedactionConfig.from_env(
            {
                "CLAIMSCRUB_MODE": "production",
                "CLAIMSCRUB_HMAC_KEYS": json.dumps(
                    {"current": "a", "keys": [{"id": "a", "secret": "short"}]}
                ),
            }
        )
    assert "short" not in str(info.value)


def test_necessity_settings_carry_the_ring_and_its_root_key() -> None:
    own = NecessitySettings.from_env({"CLAIMSCRUB_HMAC_KEYS": ring_text("k2")})
    assert own.keyring is not None and own.keyring.current_id == "k2"
    assert own.hmac_key == OLD.encode() and not own.hmac_key_is_default
    claim = parse(base_claim())
    assert beneficiary_token(claim, own.keyring).startswith("b-k2-")
    single = NecessitySettings.from_env({"CLAIMSCRUB_HMAC_KEY": OLD})
    assert single.keyring is not None
    assert beneficiary_token(claim, single.keyring) == beneficiary_token(claim, OLD.encode())


def test_a_duplicate_is_looked_up_under_the_current_and_earlier_keys() -> None:
    claim: Claim = parse(base_claim())
    other_patient: Claim = parse(base_claim(patient={"memberId": "9ZZ9ZZ9ZZ99"}))
    ring = load_keyring({"CLAIMSCRUB_HMAC_KEYS": ring_text("k2")}, b"dev")
    keys = [ring.current.reveal(), *(k.reveal() for k in ring.previous)]
    found = lookup_fingerprints(claim, keys)
    # The ledger written before the rotation holds the k1 fingerprint: it is looked up too.
    assert found == (
        duplicate_fingerprint(claim, NEW.encode()),
        duplicate_fingerprint(claim, OLD.encode()),
    )
    assert duplicate_fingerprint(other_patient, OLD.encode()) not in found
    assert lookup_fingerprints(parse(base_claim(patient={})), keys) == ()

"""The pseudonym key: production refuses to start without one; local mode
falls back to the development key and says so; no message carries a key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from claimscrub.redaction.config import DEV_KEY, ConfigError, DateMode, Mode, RedactionConfig

SECRET = "s3cr3t-" + "x" * 40


@pytest.mark.parametrize(
    "env",
    [
        {"CLAIMSCRUB_MODE": "production"},
        {"CLAIMSCRUB_MODE": "production", "CLAIMSCRUB_HMAC_KEY": DEV_KEY.decode()},
        {"CLAIMSCRUB_MODE": "production", "CLAIMSCRUB_HMAC_KEY": "short-key"},
        {"CLAIMSCRUB_HMAC_KEY": SECRET, "CLAIMSCRUB_HMAC_KEY_FILE": "/nonexistent"},
        {"CLAIMSCRUB_HMAC_KEY_FILE": "/nonexistent/key"},
        {"CLAIMSCRUB_MODE": "staging"},
        {"CLAIMSCRUB_DATE_MODE": "month"},
        {"CLAIMSCRUB_DATE_SHIFT_MAX_DAYS": "0"},
    ],
)
def test_bad_settings_stop_with_a_reason_that_carries_no_key(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as err:
        RedactionConfig.from_env(env)
    assert SECRET not in str(err.value) and DEV_KEY.decode() not in str(err.value)


def test_production_takes_the_key_from_a_file_without_its_newline(tmp_path: Path) -> None:
    key_file = tmp_path / "hmac.key"
    key_file.write_text(SECRET + "\n")
    config = RedactionConfig.from_env(
        {"CLAIMSCRUB_MODE": "production", "CLAIMSCRUB_HMAC_KEY_FILE": str(key_file)}
    )
    assert config.key == SECRET.encode() and config.mode is Mode.PRODUCTION
    assert not config.using_dev_key


def test_local_mode_uses_the_dev_key_and_dates_default_to_the_year() -> None:
    config = RedactionConfig.from_env({})
    assert config.using_dev_key and config.mode is Mode.LOCAL
    assert config.date_mode is DateMode.YEAR
    shifted = RedactionConfig.from_env(
        {"CLAIMSCRUB_DATE_MODE": "shift", "CLAIMSCRUB_DATE_SHIFT_MAX_DAYS": "30"}
    )
    assert (shifted.date_mode, shifted.shift_max_days) == (DateMode.SHIFT, 30)


def test_the_service_refuses_to_start_in_production_without_a_key() -> None:
    env = {"PATH": "/usr/bin:/bin", "CLAIMSCRUB_MODE": "production"}
    done = subprocess.run(
        [sys.executable, "-m", "claimscrub.redaction.main"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "refusing to start without a key" in done.stderr

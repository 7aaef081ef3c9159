"""runtime.engine_timing: the engine's checkpoint, fetch and send timings
from the environment, and where they reach the Application."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimscrub.runtime.engine import make_application
from claimscrub.runtime.engine_timing import EngineTiming
from claimscrub.runtime.env import SettingsError
from claimscrub.runtime.settings import Settings


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        "units",
        grpc_port=50051,
        metrics_port=9101,
        env={"CLAIMSCRUB_DATA_DIR": str(tmp_path / "data"), **env},
    )


def test_unset_variables_give_the_documented_defaults(tmp_path: Path) -> None:
    # docs/configuration.md: commit every second, fetch after 20 ms or 256 KB, linger 5 ms.
    assert EngineTiming.from_env({}) == EngineTiming()
    config = make_application(_settings(tmp_path)).config
    assert config.commit_interval == 1.0
    assert config.commit_every == 0
    assert config.consumer_extra_config["fetch.wait.max.ms"] == 20
    assert config.consumer_extra_config["fetch.min.bytes"] == 262_144
    assert config.producer_extra_config["linger.ms"] == 5


def test_each_variable_reaches_its_quix_or_librdkafka_setting(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        CLAIMSCRUB_COMMIT_INTERVAL_SECONDS="0.25",
        CLAIMSCRUB_COMMIT_EVERY="100",
        CLAIMSCRUB_FETCH_WAIT_MS="7",
        CLAIMSCRUB_FETCH_MIN_BYTES="4096",
        CLAIMSCRUB_LINGER_MS="3",
    )
    config = make_application(settings).config
    assert config.commit_interval == 0.25
    assert config.commit_every == 100
    assert config.consumer_extra_config["fetch.wait.max.ms"] == 7
    assert config.consumer_extra_config["fetch.min.bytes"] == 4096
    assert config.producer_extra_config["linger.ms"] == 3
    assert settings.commit_interval_s == 0.25


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CLAIMSCRUB_COMMIT_INTERVAL_SECONDS", "0"),
        ("CLAIMSCRUB_COMMIT_EVERY", "-1"),
        ("CLAIMSCRUB_FETCH_WAIT_MS", "soon"),
        ("CLAIMSCRUB_FETCH_MIN_BYTES", "0"),
        ("CLAIMSCRUB_LINGER_MS", "-5"),
    ],
)
def test_a_bad_value_stops_the_service_with_the_variable_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        EngineTiming.from_env({name: value})

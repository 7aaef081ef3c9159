"""runtime.membership: the consumer's failover timings from the environment,
their limits, and the chart's values agreeing with the services' defaults
(docs/operations.md "Failover"); no broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from claimscrub.aggregator.settings import DEFAULT_CHECK_TIMEOUT_S, DEFAULT_LATE_VERDICT_S
from claimscrub.runtime.engine import make_application
from claimscrub.runtime.env import SettingsError
from claimscrub.runtime.membership import GroupMembership
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.testing import REPO_ROOT


def _consumer_config(tmp_path: Path, **env: str) -> dict[str, Any]:
    settings = Settings.from_env(
        "units",
        grpc_port=50051,
        metrics_port=9101,
        env={"CLAIMSCRUB_DATA_DIR": str(tmp_path / "data"), **env},
    )
    config: dict[str, Any] = make_application(settings).config.consumer_extra_config
    return config


def test_the_engine_s_consumer_gets_the_default_timings_and_no_static_id(tmp_path: Path) -> None:
    config = _consumer_config(tmp_path)
    assert config["session.timeout.ms"] == 10_000
    assert config["heartbeat.interval.ms"] == 3_000
    assert config["max.poll.interval.ms"] == 300_000
    # Off unless asked for: two processes started by hand under the default
    # name would fence each other.
    assert "group.instance.id" not in config


def test_static_membership_names_the_member_after_the_instance(tmp_path: Path) -> None:
    config = _consumer_config(
        tmp_path,
        CLAIMSCRUB_STATIC_MEMBERSHIP="true",
        CLAIMSCRUB_INSTANCE="units-7d9f-x2",
        CLAIMSCRUB_SESSION_TIMEOUT_SECONDS="45",
        CLAIMSCRUB_HEARTBEAT_SECONDS="15",
        CLAIMSCRUB_MAX_POLL_INTERVAL_SECONDS="45",
    )
    assert config["group.instance.id"] == "units-7d9f-x2"
    assert config["client.id"] == "units-7d9f-x2"
    assert config["session.timeout.ms"] == 45_000
    assert config["heartbeat.interval.ms"] == 15_000
    assert config["max.poll.interval.ms"] == 45_000


def test_a_heartbeat_of_exactly_a_third_of_the_session_is_accepted() -> None:
    m = GroupMembership.from_env(
        {"CLAIMSCRUB_SESSION_TIMEOUT_SECONDS": "9", "CLAIMSCRUB_HEARTBEAT_SECONDS": "3"}
    )
    assert m.librdkafka_config("x")["heartbeat.interval.ms"] == 3_000


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"CLAIMSCRUB_SESSION_TIMEOUT_SECONDS": "9", "CLAIMSCRUB_HEARTBEAT_SECONDS": "3.01"},
            "CLAIMSCRUB_HEARTBEAT_SECONDS",
        ),
        (
            {
                "CLAIMSCRUB_SESSION_TIMEOUT_SECONDS": "30",
                "CLAIMSCRUB_MAX_POLL_INTERVAL_SECONDS": "29",
            },
            "CLAIMSCRUB_MAX_POLL_INTERVAL_SECONDS",
        ),
        ({"CLAIMSCRUB_SESSION_TIMEOUT_SECONDS": "0"}, "CLAIMSCRUB_SESSION_TIMEOUT_SECONDS"),
        ({"CLAIMSCRUB_HEARTBEAT_SECONDS": "soon"}, "CLAIMSCRUB_HEARTBEAT_SECONDS"),
        ({"CLAIMSCRUB_STATIC_MEMBERSHIP": "maybe"}, "CLAIMSCRUB_STATIC_MEMBERSHIP"),
    ],
)
def test_a_bad_timing_stops_the_service_at_start_up(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        GroupMembership.from_env(env)


def test_the_chart_runs_the_services_defaults_with_static_membership() -> None:
    values = yaml.safe_load((REPO_ROOT / "helm/claimscrub/values.yaml").read_text())
    failover = values["failover"]
    defaults = GroupMembership()
    assert failover == {
        "sessionTimeoutSeconds": defaults.session_timeout_s,
        "heartbeatSeconds": defaults.heartbeat_s,
        "maxPollIntervalSeconds": defaults.max_poll_interval_s,
        # Pods keep their name through a container restart (CLAIMSCRUB_INSTANCE).
        "staticMembership": True,
        "checkTimeoutSeconds": DEFAULT_CHECK_TIMEOUT_S,
        "lateVerdictSeconds": DEFAULT_LATE_VERDICT_S,
    }
    # Chosen together: a dead replica's partitions move before its claims time out.
    assert failover["sessionTimeoutSeconds"] < failover["checkTimeoutSeconds"]

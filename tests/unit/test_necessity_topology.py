"""The topics the aggregator and redaction apps use are the ones the registry creates
(necessity's: tests/unit/test_necessity_stream.py)."""

from __future__ import annotations

from pathlib import Path

from claimscrub.aggregator.agent import install_aggregator
from claimscrub.aggregator.settings import AggregatorSettings
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import make_app
from claimscrub.runtime.topics import (
    AGGREGATOR_BY_FINGERPRINT,
    AGGREGATOR_LEDGER_CHANGELOG,
    AGGREGATOR_STATE_CHANGELOG,
    ALL_TOPICS,
)


def _settings(service: str, tmp: Path) -> Settings:
    env = {"CLAIMSCRUB_DATA_DIR": str(tmp / service)}
    return Settings.from_env(service, grpc_port=0, metrics_port=0, env=env)


def test_table_changelogs_are_precreated_with_the_names_faust_uses(tmp_path: Path) -> None:
    # Building the apps connects to nothing: topics and tables are only declared.
    agg_settings = _settings("aggregator", tmp_path)
    agg = make_app(agg_settings)
    install_aggregator(agg, agg_settings, AggregatorSettings.from_env(("UNITS",), env={}))
    assert agg.tables["claim-state"].changelog_topic.get_topic_name() == (
        AGGREGATOR_STATE_CHANGELOG.name
    )
    assert agg.tables["ledger"].changelog_topic.get_topic_name() == (
        AGGREGATOR_LEDGER_CHANGELOG.name
    )
    assert list(agg.agents["aggregator.publish"].channel.topics) == [AGGREGATOR_BY_FINGERPRINT.name]

    names = {t.name for t in ALL_TOPICS}
    assert {
        AGGREGATOR_STATE_CHANGELOG.name,
        AGGREGATOR_LEDGER_CHANGELOG.name,
        AGGREGATOR_BY_FINGERPRINT.name,
    } <= names
    for spec in (
        AGGREGATOR_STATE_CHANGELOG,
        AGGREGATOR_LEDGER_CHANGELOG,
    ):
        assert spec.config == {"cleanup.policy": "compact"}


def test_every_table_changelog_of_every_service_is_precreated(tmp_path: Path) -> None:
    """A changelog Faust creates itself can be seen with 0 partitions on a fresh
    broker (the agent then crashes on every write): each must be in the registry."""
    apps = []
    for service in ("aggregator",):
        settings = _settings(service, tmp_path)
        app = make_app(settings)
        install_aggregator(app, settings, AggregatorSettings.from_env(("UNITS",), env={}))
        apps.append(app)
    registered = {t.name for t in ALL_TOPICS}
    changelogs = {t.changelog_topic.get_topic_name() for app in apps for t in app.tables.values()}
    assert changelogs and changelogs <= registered

"""The topics the necessity app uses are the ones the registry creates."""

from __future__ import annotations

from pathlib import Path

from claimscrub.necessity.agent import install_necessity
from claimscrub.necessity.check import necessity_check
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.streams import make_app
from claimscrub.runtime.topics import (
    ALL_TOPICS,
    NECESSITY_BY_BENEFICIARY,
    NECESSITY_HISTORY_CHANGELOG,
)
from tests.unit.necessity_support import bundled_ref


def _settings(service: str, tmp: Path) -> Settings:
    env = {"CLAIMSCRUB_DATA_DIR": str(tmp / service)}
    return Settings.from_env(service, grpc_port=0, metrics_port=0, env=env)


def test_table_changelogs_are_precreated_with_the_names_faust_uses(tmp_path: Path) -> None:
    # Building the apps connects to nothing: topics and tables are only declared.
    ref = bundled_ref()
    settings = _settings("necessity", tmp_path)
    app = make_app(settings)
    table = install_necessity(
        app,
        settings,
        check=necessity_check(ref, lambda _c: []),
        ref=ref,
        hmac_key=b"k",
        lookup=None,
    )
    assert table.changelog_topic.get_topic_name() == NECESSITY_HISTORY_CHANGELOG.name
    assert table.partitions == settings.topic_partitions

    names = {t.name for t in ALL_TOPICS}
    assert {
        NECESSITY_BY_BENEFICIARY.name,
        NECESSITY_HISTORY_CHANGELOG.name,
    } <= names
    for spec in (NECESSITY_HISTORY_CHANGELOG,):
        assert spec.config == {"cleanup.policy": "compact"}


def test_every_table_changelog_of_every_service_is_precreated(tmp_path: Path) -> None:
    """A changelog Faust creates itself can be seen with 0 partitions on a fresh
    broker (the agent then crashes on every write): each must be in the registry."""
    from claimscrub.redaction.agent import install_redaction_agent
    from claimscrub.redaction.config import RedactionConfig
    from claimscrub.redaction.deidentify import Deidentifier

    apps = []
    for service in ("necessity", "redaction"):
        settings = _settings(service, tmp_path)
        app = make_app(settings)
        if service == "necessity":
            ref = bundled_ref()
            install_necessity(
                app,
                settings,
                check=necessity_check(ref, lambda _c: []),
                ref=ref,
                hmac_key=b"k",
                lookup=None,
            )
        else:
            install_redaction_agent(app, settings, Deidentifier(RedactionConfig()))
        apps.append(app)
    registered = {t.name for t in ALL_TOPICS}
    changelogs = {t.changelog_topic.get_topic_name() for app in apps for t in app.tables.values()}
    assert changelogs and changelogs <= registered

"""runtime.engine.concat_unaligned: two topics read as one stream, each
record as it comes (no timestamp alignment across the topics)."""

from __future__ import annotations

from pathlib import Path

from quixstreams import Application
from quixstreams.dataframe import StreamingDataFrame
from quixstreams.models import Topic, TopicConfig

from claimscrub.runtime.engine import concat_unaligned, make_application
from claimscrub.runtime.settings import Settings


def _app(tmp_path: Path) -> Application:
    settings = Settings.from_env(
        "redaction",
        grpc_port=50054,
        metrics_port=9104,
        env={"CLAIMSCRUB_DATA_DIR": str(tmp_path / "data")},
    )
    return make_application(settings)


def _frames(app: Application, names: tuple[str, str]) -> list[StreamingDataFrame]:
    # Topics built here, not declared through app.topic(), which asks the broker.
    config = TopicConfig(num_partitions=1, replication_factor=1)
    return [app.dataframe(Topic(n, create_config=config)) for n in names]


def test_a_plain_concat_of_two_topics_reads_them_aligned(tmp_path: Path) -> None:
    # The behaviour concat_unaligned turns off: if Quix stops asking for
    # alignment on a concat, this fails and the override can go.
    app = _app(tmp_path)
    a, b = _frames(app, ("left", "right"))
    a.concat(b)
    assert app._dataframe_registry.requires_time_alignment


def test_concat_unaligned_reads_each_record_as_it_comes(tmp_path: Path) -> None:
    app = _app(tmp_path)
    a, b = _frames(app, ("left", "right"))
    both = concat_unaligned(app, a, b)
    assert not app._dataframe_registry.requires_time_alignment
    assert {t.name for t in both.topics} == {"left", "right"}

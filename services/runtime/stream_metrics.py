"""Consumer lag per partition and table sizes, sampled on a timer.

Every service gets this from :func:`claimscrub.runtime.service.run`. Lag is
what ``kafka-consumer-groups --describe`` calls LAG: the partition's end
offset (asked from the broker) minus the group's committed offset. The
committed offset is the one Faust last committed (its Monitor sensor's
``tp_committed_offsets``); before this process's first commit on a partition
the consumer's fetch position stands in, which starts at the committed offset
after an assignment and can run ahead of processing by one fetched batch.

Changelog partitions are left out: they are read by table recovery, not by
an agent, and never committed; so is Faust's leader-election topic
(``<app id>-__assignor-__leader``). Table sizes are ``len(table)``, cheap for the
in-memory store the services use (streams.make_app); a RocksDB store would
iterate its keys.
"""

from __future__ import annotations

import collections
from typing import Any

import faust

from claimscrub.runtime import logs
from claimscrub.runtime.metrics import ServiceMetrics, service_metrics

log = logs.get_logger(__name__)

SAMPLE_INTERVAL_S = 5.0


async def sample_lag(app: faust.App, m: ServiceMetrics) -> None:
    """One sample of every assigned source partition's offsets into the gauges."""
    consumer: Any = app.consumer
    internal = set(app.tables.changelog_topics) | {f"{app.conf.id}-__assignor-__leader"}
    tps = sorted(
        (tp for tp in consumer.assignment() if tp.topic not in internal),
        key=lambda tp: (tp.topic, tp.partition),
    )
    ends: dict[Any, int] = dict(await consumer.highwaters(*tps)) if tps else {}
    committed_offsets = getattr(app.monitor, "tp_committed_offsets", None) or {}
    rows: list[tuple[str, int, int, int]] = []
    for tp in tps:
        end = ends.get(tp)
        committed = committed_offsets.get(tp)
        if committed is None:
            committed = await consumer.position(tp)
        if end is None or committed is None:
            continue
        rows.append((tp.topic, tp.partition, int(end), int(committed)))
    m.observe_partitions(rows, dict(collections.Counter(tp.topic for tp in tps)))


def sample_tables(app: faust.App, m: ServiceMetrics) -> None:
    m.observe_tables({name: len(table) for name, table in app.tables.items()})


def install_stream_metrics(app: faust.App, interval_s: float = SAMPLE_INTERVAL_S) -> None:
    m = service_metrics()

    async def sample_stream_metrics() -> None:
        try:
            # An app without agents reads claims on the batched transport,
            # which samples its own consumer (runtime/batch_table.py).
            if app.agents:
                await sample_lag(app, m)
        except Exception as exc:  # during a rebalance the consumer may not answer
            log.debug("consumer_lag_not_sampled", error=type(exc).__name__)
        try:
            sample_tables(app, m)
        except Exception as exc:
            log.debug("table_sizes_not_sampled", error=type(exc).__name__)

    app.timer(interval=interval_s, name="claimscrub.stream_metrics")(sample_stream_metrics)

"""A service's check, rebuilt whenever newly published reference data is read.

:func:`follow_reference` reads the reference topics to their end before the
service judges any claim, then keeps following them; each change builds a new
:class:`~claimscrub.core.checks.Check` over the base reference data (the
files of CLAIMSCRUB_*_FILE or the bundled samples) with the published
versions in place of the base ones, and swaps it in: every claim processed
after that is judged by it, with no restart. Each swap is logged
(``reference_versions_in_force``) and shown on /metrics.

A kind with versions on the topics uses only those; a kind with none keeps
its base file. Payer policies go by payer: a payer with published versions
uses them, the others keep the base file's or the defaults.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import replace

from prometheus_client import Gauge
from prometheus_client.core import REGISTRY

from claimscrub.core.checks import Check
from claimscrub.core.payers import PayerPolicies
from claimscrub.reference.follower import ReferenceFollower, ReferenceSet
from claimscrub.runtime import logs
from claimscrub.runtime.env import env_bool
from claimscrub.runtime.settings import Settings

log = logs.get_logger(__name__)

#: Off: the service reads only its files (one-process runs, tests without the topics).
FOLLOW_VARIABLE = "CLAIMSCRUB_REFERENCE_TOPICS"


class _Metrics:
    def __init__(self) -> None:
        self.versions = Gauge(
            "claimscrub_reference_versions",
            "Reference data versions in force, by kind (published versions, or 1 for the "
            "base file or bundled sample)",
            ["kind"],
            registry=REGISTRY,
        )
        self.version = Gauge(
            "claimscrub_reference_version_effective_seconds",
            "Each reference data version in force: its effective date (Unix time; 0 for "
            "a version without one)",
            ["kind", "version"],
            registry=REGISTRY,
        )


_metrics: _Metrics | None = None


def _get_metrics() -> _Metrics:
    global _metrics
    if _metrics is None:
        _metrics = _Metrics()
    return _metrics


def merged_payers(base: PayerPolicies, refs: ReferenceSet) -> PayerPolicies:
    return base if refs.payers is None else base.overridden_by(refs.payers)


class LiveCheck:
    """The check in force; :meth:`update` swaps it (one attribute: atomic)."""

    def __init__(
        self, base: Check, build: Callable[[ReferenceSet], Check], kinds: Sequence[str]
    ) -> None:
        self._current = base
        self._build = build
        self._kinds = tuple(kinds)
        self._shown: set[tuple[str, str]] = set()

    def current(self) -> Check:
        return self._current

    def update(self, refs: ReferenceSet) -> None:
        check = self._build(refs)
        self._current = check
        in_force = {k: v for k, v in refs.describe().items() if k in self._kinds}
        log.info("reference_versions_in_force", check=check.name.value, **in_force)
        self._show(refs)

    def _show(self, refs: ReferenceSet) -> None:
        m = _get_metrics()
        shown: set[tuple[str, str]] = set()
        for kind in self._kinds:
            if kind == "payers":
                ids = [i for vs in refs.payer_versions.values() for i in vs]
                m.versions.labels(kind).set(len(ids) or 1)
                for vid in ids:
                    m.version.labels(kind, vid).set(_seconds(_date_in(vid)))
                    shown.add((kind, vid))
                continue
            dated = refs.tables.get(kind)
            if dated is None:
                m.versions.labels(kind).set(1)
                continue
            m.versions.labels(kind).set(len(dated.versions))
            for v in dated.versions:
                m.version.labels(kind, v.version_id).set(_seconds(v.effective))
                shown.add((kind, v.version_id))
        for gone in self._shown - shown:
            m.version.remove(*gone)
        self._shown = shown


def _date_in(payer_version: str) -> dt.date | None:
    """The effective date in ``PAYER@2026-07-01.<hash>``."""
    text = payer_version.partition("@")[2].partition(".")[0]
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _seconds(day: dt.date | None) -> int:
    return (day - dt.date(1970, 1, 1)).days * 86400 if day else 0


def following(env: dict[str, str] | None = None) -> bool:
    return env_bool(os.environ if env is None else env, FOLLOW_VARIABLE, True)


def follow_reference(
    check: Check,
    settings: Settings,
    *,
    kinds: Sequence[str],
    build: Callable[[ReferenceSet], Check],
) -> Check:
    """``check`` following the reference topics for ``kinds`` (blocks until the
    topics are read to their end); ``check`` itself when following is off."""
    if not following():
        return check
    live = LiveCheck(check, build, kinds)
    follower = ReferenceFollower(
        settings.kafka_bootstrap,
        kinds=kinds,
        on_change=live.update,
        client_id=f"{settings.instance}-reference",
        security=settings.kafka,
        queue_kb=settings.memory.consumer_queue_kb,
    )
    follower.catch_up()
    follower.start()
    return replace(check, live=live.current)

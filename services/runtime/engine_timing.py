"""How long a record may wait inside the stream engine: its checkpoint, fetch
and send timings, chosen together (docs/performance.md "Latency",
docs/configuration.md).

A claim crosses four or five engine hops (a check service, necessity's
repartition topic, the aggregator's collect and publish steps); at each, a
record may wait for the producer's batch (``linger.ms``), for the consumer's
fetch (``fetch.wait.max.ms`` once fewer than ``fetch.min.bytes`` are
waiting) and for the checkpoint the Application runs between records (its
producer flush, offset commit and state write, every
``commit_interval_s`` or ``commit_every`` records). Each wait also saves
work: a longer linger or fetch wait means fewer, larger produce and fetch
requests for the services and the broker, which share the CPU with the
steps; a longer commit interval means fewer changelog records and commits.

- ``CLAIMSCRUB_COMMIT_INTERVAL_SECONDS``: Quix's ``commit_interval``. At
  least once: a crash replays at most this much input (the aggregator's
  ledger and read-back keep that to one result per claim version).
  Exactly once (redaction): its outputs become visible to
  ``read_committed`` readers when the transaction commits, so this is also
  their latency.
- ``CLAIMSCRUB_COMMIT_EVERY``: Quix's ``commit_every``: also commit after
  this many records (0: by time only).
- ``CLAIMSCRUB_FETCH_WAIT_MS`` / ``CLAIMSCRUB_FETCH_MIN_BYTES``: the
  consumer's ``fetch.wait.max.ms`` / ``fetch.min.bytes``: the broker answers
  a fetch once this many bytes are waiting or after this long.
- ``CLAIMSCRUB_LINGER_MS``: the producer's ``linger.ms``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claimscrub.runtime.env import env_int, env_seconds

DEFAULT_COMMIT_INTERVAL_S = 1.0
DEFAULT_COMMIT_EVERY = 0
#: A fetch answered once 256 KB wait or after 20 ms: each consumer asks the
#: broker at most about 50 times a second, however many produce requests
#: reach its partitions (at 1 byte, nearly one fetch per produce request);
#: the broker's CPU per claim is what this saves (docs/performance.md,
#: 2026-12-05). An idle consumer asks as often, each an empty answer.
DEFAULT_FETCH_WAIT_MS = 20
DEFAULT_FETCH_MIN_BYTES = 262_144
DEFAULT_LINGER_MS = 5


@dataclass(frozen=True, slots=True)
class EngineTiming:
    commit_interval_s: float = DEFAULT_COMMIT_INTERVAL_S
    commit_every: int = DEFAULT_COMMIT_EVERY
    fetch_wait_ms: int = DEFAULT_FETCH_WAIT_MS
    fetch_min_bytes: int = DEFAULT_FETCH_MIN_BYTES
    linger_ms: int = DEFAULT_LINGER_MS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EngineTiming:
        return cls(
            commit_interval_s=env_seconds(
                env, "CLAIMSCRUB_COMMIT_INTERVAL_SECONDS", DEFAULT_COMMIT_INTERVAL_S
            ),
            commit_every=env_int(env, "CLAIMSCRUB_COMMIT_EVERY", DEFAULT_COMMIT_EVERY, minimum=0),
            fetch_wait_ms=env_int(
                env, "CLAIMSCRUB_FETCH_WAIT_MS", DEFAULT_FETCH_WAIT_MS, minimum=0
            ),
            fetch_min_bytes=env_int(
                env, "CLAIMSCRUB_FETCH_MIN_BYTES", DEFAULT_FETCH_MIN_BYTES, minimum=1
            ),
            linger_ms=env_int(env, "CLAIMSCRUB_LINGER_MS", DEFAULT_LINGER_MS, minimum=0),
        )

    def application_options(self) -> dict[str, Any]:
        """Quix Application arguments."""
        return {"commit_interval": self.commit_interval_s, "commit_every": self.commit_every}

    def consumer_config(self) -> dict[str, Any]:
        return {"fetch.wait.max.ms": self.fetch_wait_ms, "fetch.min.bytes": self.fetch_min_bytes}

    def producer_config(self) -> dict[str, Any]:
        return {"linger.ms": self.linger_ms}

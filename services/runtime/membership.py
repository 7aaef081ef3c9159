"""How a service's consumer belongs to its group: the failover timings.

Chosen together with the aggregator's check timeout (docs/operations.md
"Failover"):

- ``session.timeout.ms`` (CLAIMSCRUB_SESSION_TIMEOUT_SECONDS): how long the
  group waits for a silent member (kill -9, a node lost) before its
  partitions go to the others. Well below the check timeout, so a replica's
  death costs a delay, not a CHECK_INCOMPLETE; above a few missed heartbeats,
  so a busy broker or a GC pause does not move partitions.
- ``heartbeat.interval.ms`` (CLAIMSCRUB_HEARTBEAT_SECONDS): at most a third
  of the session timeout (Kafka's rule), so one lost heartbeat is not a death.
- ``max.poll.interval.ms`` (CLAIMSCRUB_MAX_POLL_INTERVAL_SECONDS): how long a
  live process may go without polling (a hung step) before it leaves the
  group. The stream engine bounds its flushes and state-store opens by
  fractions of it, so it stays at Kafka's default; a dead process is found
  by the session timeout, not by this.
- static membership (CLAIMSCRUB_STATIC_MEMBERSHIP): ``group.instance.id`` is
  the instance's name (CLAIMSCRUB_INSTANCE: the pod's name in the chart), so
  a process restarted under the same name (a container restarted in its pod,
  ``stack.sh start`` after a crash) gets its partitions back without a
  rebalance of the others. A static member that stops does not leave the
  group: its partitions wait for it up to the session timeout. Two running
  processes must never share a name (the broker fences the older one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claimscrub.runtime.env import SettingsError, env_bool, env_seconds

DEFAULT_SESSION_TIMEOUT_S = 10.0
DEFAULT_HEARTBEAT_S = 3.0
DEFAULT_MAX_POLL_INTERVAL_S = 300.0


@dataclass(frozen=True, slots=True)
class GroupMembership:
    session_timeout_s: float = DEFAULT_SESSION_TIMEOUT_S
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    max_poll_interval_s: float = DEFAULT_MAX_POLL_INTERVAL_S
    static: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GroupMembership:
        m = cls(
            session_timeout_s=env_seconds(
                env, "CLAIMSCRUB_SESSION_TIMEOUT_SECONDS", DEFAULT_SESSION_TIMEOUT_S
            ),
            heartbeat_s=env_seconds(env, "CLAIMSCRUB_HEARTBEAT_SECONDS", DEFAULT_HEARTBEAT_S),
            max_poll_interval_s=env_seconds(
                env, "CLAIMSCRUB_MAX_POLL_INTERVAL_SECONDS", DEFAULT_MAX_POLL_INTERVAL_S
            ),
            static=env_bool(env, "CLAIMSCRUB_STATIC_MEMBERSHIP", False),
        )
        if m.heartbeat_s * 3 > m.session_timeout_s:
            raise SettingsError(
                "CLAIMSCRUB_HEARTBEAT_SECONDS must be at most a third of "
                "CLAIMSCRUB_SESSION_TIMEOUT_SECONDS"
            )
        if m.max_poll_interval_s < m.session_timeout_s:
            # librdkafka refuses the pair.
            raise SettingsError(
                "CLAIMSCRUB_MAX_POLL_INTERVAL_SECONDS must be at least "
                "CLAIMSCRUB_SESSION_TIMEOUT_SECONDS"
            )
        return m

    def librdkafka_config(self, instance: str) -> dict[str, Any]:
        """The consumer properties; ``instance`` names a static member."""
        config: dict[str, Any] = {
            "session.timeout.ms": round(self.session_timeout_s * 1000),
            "heartbeat.interval.ms": round(self.heartbeat_s * 1000),
            "max.poll.interval.ms": round(self.max_poll_interval_s * 1000),
        }
        if self.static:
            config["group.instance.id"] = instance
        return config

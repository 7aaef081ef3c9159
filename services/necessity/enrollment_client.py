"""The enrollment service's ``GetEnrollment``, as the necessity check asks it.

One call per claim that needs the rendering provider's role and whose
taxonomy does not give it. Retries come from the enrollment service's gRPC
service config (claimscrub.enrollment.client), so the channel itself retries
a refused or reset connection (UNAVAILABLE) with backoff; the whole call,
retries included, ends at the deadline (CLAIMSCRUB_ENROLLMENT_TIMEOUT_SECONDS).
Any failure becomes an unknown role with a reason; the caller never sees an
exception, so a missing or hung enrollment service neither stalls nor crashes
the check.

The deadline is set on each call, not as the service config's ``timeout``:
grpcio applies a service-config timeout about a second early, so one under
two seconds fails every call at once (grpc/grpc#34547, #40633; seen here
with grpcio 1.85). A per-call timeout is exact, and gRPC uses the earlier of
the two when both are set.

Reconnect backoff is capped low so the check recovers within seconds once
the enrollment service is back.

A claim's check waits for its lookup, and the claims of a batch are checked
one after another, so a round trip per claim would be the check's pace.
Answers (found, or not found) are kept for CLAIMSCRUB_ENROLLMENT_CACHE_SECONDS
per (NPI, payer, date): a clinic's claims ask about the same few therapists
day after day. Failures are not kept; the next claim asks again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import grpc
from prometheus_client import Counter

from claimscrub.enrollment import client as enrollment_client
from claimscrub.necessity.roles import LookupRequest, ProviderRole
from claimscrub.runtime import grpc_client
from claimscrub.runtime.grpc_tls import ClientTls
from claimscrub.runtime.logs import get_logger
from claimscrub.v1 import enrollment_service_pb2, enrollment_service_pb2_grpc

log = get_logger(__name__)


def channel_options() -> list[tuple[str, Any]]:
    # The enrollment service's own retry policy (claimscrub.enrollment.client,
    # data/grpc_service_config.json), and a reconnect backoff capped low.
    return [
        *enrollment_client.channel_options(),
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2000),
    ]


LOOKUPS = Counter(
    "claimscrub_necessity_enrollment_lookups_total",
    "GetEnrollment lookups of the necessity check, by outcome (cached: answered "
    "from the role cache without a call)",
    ["outcome"],
)


def _request(r: LookupRequest) -> enrollment_service_pb2.GetEnrollmentRequest:
    return enrollment_service_pb2.GetEnrollmentRequest(
        npi=r.npi, payer_id=r.payer_id, date=r.date.isoformat()
    )


def role_from_response(reply: enrollment_service_pb2.GetEnrollmentResponse) -> ProviderRole:
    if not reply.found:
        LOOKUPS.labels("not_found").inc()
        return ProviderRole.unknown(
            "the enrollment service has no record of the rendering provider with this payer"
        )
    if reply.discipline not in ("PT", "OT", "SLP"):
        LOOKUPS.labels("no_discipline").inc()
        return ProviderRole.unknown(
            "the enrollment service knows no discipline for the rendering provider"
        )
    LOOKUPS.labels("found").inc()
    return ProviderRole(reply.discipline, bool(reply.assistant), "enrollment")


def _failure(exc: grpc.RpcError) -> ProviderRole:
    code = exc.code() if hasattr(exc, "code") else None
    name = code.name if code is not None else "UNKNOWN"
    LOOKUPS.labels(name.lower()).inc()
    log.warning("enrollment_lookup_failed", status=name)
    return ProviderRole.unknown(f"the enrollment lookup failed ({name})")


class RoleCache:
    """The enrollment service's answers for ``ttl_s`` seconds, at most
    ``max_entries`` of them (the least recently used go first). One cache
    serves the stream's step and the gRPC servicer, each on its own thread."""

    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[LookupRequest, tuple[float, ProviderRole]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, request: LookupRequest) -> ProviderRole | None:
        with self._lock:
            entry = self._entries.get(request)
            if entry is None:
                return None
            expires, role = entry
            if self._clock() >= expires:
                del self._entries[request]
                return None
            self._entries.move_to_end(request)
            return role

    def put(self, request: LookupRequest, role: ProviderRole) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._entries[request] = (self._clock() + self.ttl_s, role)
            self._entries.move_to_end(request)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)


class EnrollmentLookup:
    """Async lookups for the service (grpc.aio); the channel opens on first use.
    With ``tls`` (the service's client settings) it presents its certificate."""

    def __init__(
        self,
        target: str,
        timeout_s: float,
        tls: ClientTls | None = None,
        cache: RoleCache | None = None,
    ) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self._tls: ClientTls | bool = tls if tls is not None else False
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        self._cache = cache

    def _stub_now(self) -> Any:
        if self._stub is None:
            self._channel = grpc_client.aio_channel(self.target, channel_options(), tls=self._tls)
            self._stub = enrollment_service_pb2_grpc.EnrollmentServiceStub(self._channel)
        return self._stub

    async def role(self, request: LookupRequest) -> ProviderRole:
        cache = self._cache
        if cache is not None and (known := cache.get(request)) is not None:
            LOOKUPS.labels("cached").inc()
            return known
        try:
            reply = await self._stub_now().GetEnrollment(_request(request), timeout=self.timeout_s)
        except grpc.RpcError as exc:
            return _failure(exc)
        role = role_from_response(reply)
        if cache is not None:
            cache.put(request, role)
        return role

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None


class SyncEnrollmentLookup:
    """Blocking lookups: the stream's step (Quix Streams calls it synchronously,
    one claim after another) and the CLI (`claimscrub scrub` with
    CLAIMSCRUB_ENROLLMENT_ADDR set). ``tls``: the service's client settings
    (False: plaintext); None, as the CLI passes it, reads the environment."""

    def __init__(
        self,
        target: str,
        timeout_s: float,
        tls: ClientTls | bool | None = None,
        cache: RoleCache | None = None,
    ) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self._channel = grpc_client.channel(target, channel_options(), tls=tls)
        self._stub = enrollment_service_pb2_grpc.EnrollmentServiceStub(self._channel)
        self._cache = cache

    def role(self, request: LookupRequest) -> ProviderRole:
        cache = self._cache
        if cache is not None and (known := cache.get(request)) is not None:
            LOOKUPS.labels("cached").inc()
            return known
        try:
            reply = self._stub.GetEnrollment(_request(request), timeout=self.timeout_s)
        except grpc.RpcError as exc:
            return _failure(exc)
        role = role_from_response(reply)
        if cache is not None:
            cache.put(request, role)
        return role

    def close(self) -> None:
        self._channel.close()

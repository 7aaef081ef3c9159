"""The enrollment lookup for provider roles, against real gRPC servers on localhost.

A grpc.aio server implementing EnrollmentService.GetEnrollment with fixed
answers stands in for the enrollment service (a peer of the check under
test). It runs on its own event loop in a background thread so the async
client (the service's) and the blocking client (the CLI's) can both call it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from claimscrub.core.claim import Claim
from claimscrub.necessity.check import bound_rules, necessity_check
from claimscrub.necessity.enrollment_client import (
    EnrollmentLookup,
    RoleCache,
    SyncEnrollmentLookup,
)
from claimscrub.necessity.roles import LookupRequest, ProviderRole, resolve_role, resolve_role_sync
from claimscrub.necessity.servicer import NecessityServicer
from claimscrub.necessity.settings import NecessitySettings
from claimscrub.runtime.settings import SettingsError
from claimscrub.runtime.testing import free_port
from claimscrub.v1 import (
    claim_pb2,
    enrollment_service_pb2,
    enrollment_service_pb2_grpc,
    necessity_service_pb2_grpc,
)
from tests.unit.necessity_support import base_claim, bundled_ref, parse

PTA_NPI = "1245319599"
PT_NPI = "1234567893"
UNKNOWN_NPI = "1558598797"

# The claim gives no taxonomy, so the role must come from the lookup.
NO_TAXONOMY = base_claim(renderingProvider={"npi": PTA_NPI})


@dataclass
class FakeEnrollment(enrollment_service_pb2_grpc.EnrollmentServiceServicer):
    """Fixed answers; ``fail_first`` calls are refused UNAVAILABLE; ``hang`` never answers."""

    fail_first: int = 0
    hang: bool = False
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    async def Check(self, request: claim_pb2.Claim, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not used here")

    async def GetEnrollment(
        self, request: enrollment_service_pb2.GetEnrollmentRequest, context: Any
    ) -> enrollment_service_pb2.GetEnrollmentResponse:
        self.calls.append((request.npi, request.payer_id, request.date))
        if len(self.calls) <= self.fail_first:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        if self.hang:
            await asyncio.Event().wait()
        reply = enrollment_service_pb2.GetEnrollmentResponse(
            npi=request.npi, payer_id=request.payer_id, date=request.date
        )
        if request.npi == PTA_NPI:
            reply.found, reply.status, reply.enrolled_on_date = True, "ACTIVE", True
            reply.discipline, reply.assistant, reply.taxonomy = "PT", True, "225200000X"
        elif request.npi == PT_NPI:
            reply.found, reply.status, reply.enrolled_on_date = True, "ACTIVE", True
            reply.discipline, reply.taxonomy = "PT", "225100000X"
        return reply


class ServerThread:
    """A grpc.aio server on its own loop in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def start(self, register: Callable[[grpc.aio.Server], None]) -> tuple[grpc.aio.Server, int]:
        async def boot() -> tuple[grpc.aio.Server, int]:
            server = grpc.aio.server()
            register(server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            return server, port

        result: tuple[grpc.aio.Server, int] = self.call(boot())
        return result

    def stop(self, server: grpc.aio.Server) -> None:
        self.call(server.stop(0))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def servers() -> Iterator[ServerThread]:
    t = ServerThread()
    yield t
    t.close()


def _enrollment(servers: ServerThread, fake: FakeEnrollment) -> tuple[grpc.aio.Server, str]:
    server, port = servers.start(
        lambda s: enrollment_service_pb2_grpc.add_EnrollmentServiceServicer_to_server(fake, s)
    )
    return server, f"127.0.0.1:{port}"


def _role(claim: Claim, target: str, timeout_s: float = 2.0) -> ProviderRole:
    async def ask() -> ProviderRole:
        lookup = EnrollmentLookup(target, timeout_s)
        try:
            return await resolve_role(claim, bundled_ref(), lookup)
        finally:
            await lookup.close()

    return asyncio.run(ask())


def test_the_lookup_gives_the_role_the_taxonomy_does_not(servers: ServerThread) -> None:
    fake = FakeEnrollment()
    server, target = _enrollment(servers, fake)
    try:
        role = _role(parse(NO_TAXONOMY), target)
    finally:
        servers.stop(server)
    assert role == ProviderRole("PT", True, "enrollment")
    # Asked for the rendering NPI, the claim's payer and its first date of service.
    assert fake.calls == [(PTA_NPI, "MEDICARE", "2026-05-04")]


def test_the_claims_own_taxonomy_comes_first(servers: ServerThread) -> None:
    fake = FakeEnrollment()
    server, target = _enrollment(servers, fake)
    try:
        role = _role(parse(base_claim()), target)
    finally:
        servers.stop(server)
    assert role.source == "taxonomy"
    assert fake.calls == []


def test_a_provider_the_enrollment_service_does_not_know(servers: ServerThread) -> None:
    server, target = _enrollment(servers, FakeEnrollment())
    try:
        role = _role(parse(base_claim(renderingProvider={"npi": UNKNOWN_NPI})), target)
    finally:
        servers.stop(server)
    assert not role.known
    assert "no record" in role.unknown_reason


def test_retries_unavailable_within_the_deadline(servers: ServerThread) -> None:
    fake = FakeEnrollment(fail_first=2)
    server, target = _enrollment(servers, fake)
    try:
        role = _role(parse(NO_TAXONOMY), target)
    finally:
        servers.stop(server)
    assert role == ProviderRole("PT", True, "enrollment")
    assert len(fake.calls) == 3  # two refusals, then the answer: the service config's retries


def test_unreachable_enrollment_is_reported_not_raised() -> None:
    target = f"127.0.0.1:{free_port()}"  # nothing listens there
    role = _role(parse(NO_TAXONOMY), target, timeout_s=1.0)
    assert not role.known
    assert role.unknown_reason == "the enrollment lookup failed (UNAVAILABLE)"


def test_a_hung_enrollment_service_ends_at_the_deadline(servers: ServerThread) -> None:
    server, target = _enrollment(servers, FakeEnrollment(hang=True))
    try:
        role = _role(parse(NO_TAXONOMY), target, timeout_s=0.5)
    finally:
        servers.stop(server)
    assert role.unknown_reason == "the enrollment lookup failed (DEADLINE_EXCEEDED)"


def test_the_cli_lookup_answers_the_same(servers: ServerThread) -> None:
    server, target = _enrollment(servers, FakeEnrollment())
    lookup = SyncEnrollmentLookup(target, 2.0)
    try:
        role = resolve_role_sync(parse(NO_TAXONOMY), bundled_ref(), lookup)
    finally:
        lookup.close()
        servers.stop(server)
    assert role == ProviderRole("PT", True, "enrollment")


def test_necessity_grpc_check_uses_the_lookup(servers: ServerThread) -> None:
    """NecessityService.Check on a real server: the looked-up PTA role makes the GP
    line without CQ an ASSISTANT_MODIFIER_MISSING; with enrollment down, CHECK_INCOMPLETE."""
    ref = bundled_ref()
    enrollment, target = _enrollment(servers, FakeEnrollment())
    dead = f"127.0.0.1:{free_port()}"
    lookups = {"up": EnrollmentLookup(target, 2.0), "down": EnrollmentLookup(dead, 1.0)}
    check = necessity_check(ref, bound_rules(ref, None, ProviderRole()))
    replies: dict[str, Any] = {}
    claim = json_format.ParseDict(NO_TAXONOMY, claim_pb2.Claim())
    for name, lookup in lookups.items():
        servicer = NecessityServicer(
            check, ref, lookup=lookup, read_history=lambda _t: None, hmac_key=b"k", instance="t"
        )

        def register(s: grpc.aio.Server, sv: NecessityServicer = servicer) -> None:
            necessity_service_pb2_grpc.add_NecessityServiceServicer_to_server(sv, s)

        server, port = servers.start(register)
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = necessity_service_pb2_grpc.NecessityServiceStub(channel)
                replies[name] = stub.Check(claim, timeout=10)
        finally:
            servers.stop(server)
    for lookup in lookups.values():
        done: Future[None] = asyncio.run_coroutine_threadsafe(lookup.close(), servers.loop)
        done.result(timeout=10)
    servers.stop(enrollment)
    assert [(e.code, e.line_number) for e in replies["up"].edits] == [
        ("ASSISTANT_MODIFIER_MISSING", 1)
    ]
    assert replies["up"].check == "NECESSITY"
    down = [(e.code, e.line_number, e.message) for e in replies["down"].edits]
    assert down == [
        (
            "CHECK_INCOMPLETE",
            0,
            "NECESSITY could not verify CQ/CO: the rendering provider's role is unknown "
            "(the enrollment lookup failed (UNAVAILABLE))",
        )
    ]


def _roles(target: str, claims: list[Claim], cache: RoleCache, timeout_s: float = 2.0) -> list[Any]:
    async def ask() -> list[ProviderRole]:
        lookup = EnrollmentLookup(target, timeout_s, cache=cache)
        try:
            return [await resolve_role(c, bundled_ref(), lookup) for c in claims]
        finally:
            await lookup.close()

    return asyncio.run(ask())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_reused_for_the_same_provider_payer_and_date(servers: ServerThread) -> None:
    fake = FakeEnrollment()
    server, target = _enrollment(servers, fake)
    later = base_claim(renderingProvider={"npi": PTA_NPI})
    later["serviceLines"][0]["dateOfService"] = "2026-05-05"
    try:
        roles = _roles(target, [parse(NO_TAXONOMY)] * 3 + [parse(later)], RoleCache(60))
    finally:
        servers.stop(server)
    assert roles[:3] == [ProviderRole("PT", True, "enrollment")] * 3
    # one call for the three claims of 2026-05-04, one for the other date
    assert fake.calls == [(PTA_NPI, "MEDICARE", "2026-05-04"), (PTA_NPI, "MEDICARE", "2026-05-05")]


def test_an_answer_older_than_the_cache_time_is_asked_again(servers: ServerThread) -> None:
    fake = FakeEnrollment()
    server, target = _enrollment(servers, fake)
    clock = Clock()
    cache = RoleCache(60, clock=clock)
    try:
        _roles(target, [parse(NO_TAXONOMY)], cache)
        clock.now += 59
        _roles(target, [parse(NO_TAXONOMY)], cache)
        clock.now += 2
        _roles(target, [parse(NO_TAXONOMY)], cache)
    finally:
        servers.stop(server)
    assert len(fake.calls) == 2


def test_failures_are_not_kept(servers: ServerThread) -> None:
    fake = FakeEnrollment(hang=True)
    server, target = _enrollment(servers, fake)
    try:
        roles = _roles(target, [parse(NO_TAXONOMY)] * 2, RoleCache(60), timeout_s=0.3)
    finally:
        servers.stop(server)
    assert [r.unknown_reason for r in roles] == [
        "the enrollment lookup failed (DEADLINE_EXCEEDED)"
    ] * 2
    assert len(fake.calls) == 2


def test_a_zero_cache_time_keeps_nothing_and_the_cache_is_bounded() -> None:
    role = ProviderRole("PT", False, "enrollment")
    off = RoleCache(0)
    first = LookupRequest(PT_NPI, "MEDICARE", dt.date(2026, 5, 4))
    off.put(first, role)
    assert off.get(first) is None
    small = RoleCache(60, max_entries=2)
    requests = [LookupRequest(PT_NPI, "MEDICARE", dt.date(2026, 5, d)) for d in (4, 5, 6)]
    for r in requests[:2]:
        small.put(r, role)
    assert small.get(requests[0]) == role  # now the most recently used
    small.put(requests[2], role)
    assert [small.get(r) for r in requests] == [role, None, role]


def test_the_cache_time_comes_from_the_environment() -> None:
    assert NecessitySettings.from_env({}).enrollment_cache_s == 60
    env = {"CLAIMSCRUB_ENROLLMENT_CACHE_SECONDS": "0"}
    assert NecessitySettings.from_env(env).enrollment_cache_s == 0
    for bad in ("-1", "soon"):
        with pytest.raises(SettingsError, match="CLAIMSCRUB_ENROLLMENT_CACHE_SECONDS"):
            NecessitySettings.from_env({"CLAIMSCRUB_ENROLLMENT_CACHE_SECONDS": bad})

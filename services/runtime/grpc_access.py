"""Who may call which gRPC method, how much and how large, and the audit of PHI calls.

One data file (``data/grpc_policy.json``, replaced whole by
``CLAIMSCRUB_GRPC_POLICY_FILE``) lists per method the principals allowed, whether
the method reads or returns PHI (then every call is audited), where the request
carries its claimId, and the largest request accepted; and the per-principal
request rate. :class:`AccessInterceptor` applies it on every server:

1. The caller's principal comes from its verified client certificate
   (:func:`peer_principal`): a SPIFFE ID of the policy's trust domain, else the
   subject CN, else the first DNS name. The same names as the Kafka principals.
2. A method the policy does not grant to that principal: PERMISSION_DENIED.
3. Beyond the principal's token bucket: RESOURCE_EXHAUSTED.
4. A request larger than the method's limit: RESOURCE_EXHAUSTED, not decoded.
5. A PHI method: one audit event per call, whatever its outcome.

Refusals carry the method and the limit, never request content, and are
counted in ``claimscrub_grpc_refused_total{grpc_service, grpc_method,
principal, reason}``. Steps 1 to 3 apply when the server requires client
certificates (production); without them (local plaintext) there is no
identity: every caller is ``anonymous``, unrestricted and unthrottled, and
only the size limits and the audit (when enabled) apply.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import grpc
from prometheus_client import Counter

from claimscrub.runtime.env import SettingsError
from claimscrub.runtime.grpc_metrics import GO_CODE_NAMES, rewrapped, split_method

POLICY_VARIABLE = "CLAIMSCRUB_GRPC_POLICY_FILE"
ANYONE = "*"
ANONYMOUS = "anonymous"
#: A verified certificate that names nobody (no SPIFFE ID, CN or DNS name).
UNIDENTIFIED = "unidentified"
REFUSAL_REASONS = ("unauthorized", "rate_limited", "too_large")


@dataclass(frozen=True, slots=True)
class MethodRule:
    principals: frozenset[str]
    max_request_bytes: int
    phi: bool = False
    #: Dotted path of the claimId in the request (``claim.claim_id``), if any.
    claim_id_field: str | None = None

    def allows(self, principal: str) -> bool:
        return ANYONE in self.principals or principal in self.principals


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: float


@dataclass(frozen=True, slots=True)
class GrpcPolicy:
    trust_domain: str
    methods: Mapping[str, MethodRule]
    default_rate: Rate
    rates: Mapping[str, Rate] = field(default_factory=dict)

    def rule(self, full_method: str) -> MethodRule | None:
        """The rule of ``/pkg.Service/Method`` (or ``pkg.Service/Method``)."""
        return self.methods.get(full_method.lstrip("/"))

    def allows(self, principal: str, full_method: str) -> bool:
        rule = self.rule(full_method)
        return rule is not None and rule.allows(principal)

    def rate(self, principal: str) -> Rate:
        return self.rates.get(principal, self.default_rate)

    def largest_request(self) -> int:
        """The server-wide receive limit: no method accepts more."""
        return max((r.max_request_bytes for r in self.methods.values()), default=4096)

    def principals(self) -> set[str]:
        return {p for r in self.methods.values() for p in r.principals if p != ANYONE}


def _rate(raw: Mapping[str, Any], where: str) -> Rate:
    try:
        rate = Rate(float(raw["perSecond"]), float(raw["burst"]))
    except (KeyError, TypeError, ValueError):
        raise SettingsError(f"grpc policy: {where} needs numeric perSecond and burst") from None
    if rate.per_second <= 0 or rate.burst < 1:
        raise SettingsError(f"grpc policy: {where} needs perSecond > 0 and burst >= 1")
    return rate


def parse_policy(table: Mapping[str, Any]) -> GrpcPolicy:
    methods: dict[str, MethodRule] = {}
    for name, raw in table.get("methods", {}).items():
        if name.startswith("_"):
            continue
        try:
            limit = int(raw["maxRequestBytes"])
            principals = frozenset(str(p) for p in raw["principals"])
        except (KeyError, TypeError, ValueError):
            raise SettingsError(
                f"grpc policy: {name} needs principals and maxRequestBytes"
            ) from None
        if limit < 1:
            raise SettingsError(f"grpc policy: {name} maxRequestBytes must be positive")
        methods[name.lstrip("/")] = MethodRule(
            principals, limit, bool(raw.get("phi", False)), raw.get("claimIdField") or None
        )
    rate_table = table.get("rateLimit", {})
    rates = {
        p: _rate(r, f"rateLimit.principals.{p}")
        for p, r in rate_table.get("principals", {}).items()
        if not p.startswith("_")
    }
    return GrpcPolicy(
        str(table.get("spiffeTrustDomain", "claimscrub")),
        methods,
        _rate(rate_table.get("default", {}), "rateLimit.default"),
        rates,
    )


def load_policy(path: Path | None = None) -> GrpcPolicy:
    """The bundled policy, or the file at ``path``."""
    if path is None:
        text = resources.files("claimscrub.runtime").joinpath("data/grpc_policy.json")
        return parse_policy(json.loads(text.read_text("utf-8")))
    try:
        table = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SettingsError(f"{POLICY_VARIABLE} cannot be read ({reason}): {path}") from None
    except ValueError:
        raise SettingsError(f"{POLICY_VARIABLE} is not JSON: {path}") from None
    return parse_policy(table)


def policy_from_env(env: Mapping[str, str] | None = None) -> GrpcPolicy:
    e = os.environ if env is None else env
    raw = e.get(POLICY_VARIABLE, "").strip()
    return load_policy(Path(raw) if raw else None)


def _texts(auth: Mapping[str, Sequence[bytes]], key: str) -> list[str]:
    return [v.decode("utf-8", "replace") for v in auth.get(key, ())]


def peer_principal(auth: Mapping[str, Sequence[bytes]], trust_domain: str) -> str | None:
    """The principal a verified certificate names (gRPC's auth context), or
    None without one. ``spiffe://<trust_domain>/.../aggregator`` gives
    ``aggregator`` (a SPIFFE ID of another trust domain is not ours and is
    ignored); then the subject CN; then the first DNS name."""
    if not any(auth.get(k) for k in ("x509_pem_cert", "x509_common_name", "peer_dns", "peer_uri")):
        return None
    prefix = f"spiffe://{trust_domain}/"
    for uri in [*_texts(auth, "peer_spiffe_id"), *_texts(auth, "peer_uri")]:
        if uri.startswith(prefix):
            segment = uri[len(prefix) :].rstrip("/").rsplit("/", 1)[-1]
            if segment:
                return segment
    for name in [*_texts(auth, "x509_common_name"), *_texts(auth, "peer_dns")]:
        if name:
            return name
    return UNIDENTIFIED


class TokenBuckets:
    """One token bucket per principal: ``rate.burst`` calls at once, then
    ``rate.per_second`` a second. Thread-safe; the clock is injectable."""

    def __init__(self, policy: GrpcPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, principal: str) -> bool:
        rate = self._policy.rate(principal)
        now = self._clock()
        with self._lock:
            tokens, last = self._state.get(principal, (rate.burst, now))
            tokens = min(rate.burst, tokens + (now - last) * rate.per_second)
            allowed = tokens >= 1
            self._state[principal] = (tokens - 1 if allowed else tokens, now)
        return allowed


def claim_id_of(request: Any, path: str | None) -> str | None:
    """The claimId at the dotted field ``path`` of a protobuf request, if set."""
    if not path:
        return None
    value: Any = request
    for part in path.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            return None
    return value if isinstance(value, str) and value else None


_refused: Counter | None = None


def refused_counter() -> Counter:
    global _refused
    if _refused is None:
        _refused = Counter(
            "claimscrub_grpc_refused_total",
            "gRPC calls refused before the method ran, by method, caller principal and reason "
            "(unauthorized: PERMISSION_DENIED; rate_limited, too_large: RESOURCE_EXHAUSTED)",
            ["grpc_service", "grpc_method", "principal", "reason"],
        )
    return _refused


@dataclass(frozen=True, slots=True)
class Oversized:
    """What the deserializer hands on instead of a request beyond the limit."""

    size: int


class Refused(Exception):
    def __init__(self, code: grpc.StatusCode, details: str, reason: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.reason = reason


#: Called once per PHI call: (principal, full method, claimId or None, outcome).
AuditHook = Callable[[str, str, str | None, str], None]


def _outcome(context: Any, exc: BaseException | None) -> str:
    if exc is None:
        code = context.code()
        return GO_CODE_NAMES.get(code, "OK") if isinstance(code, grpc.StatusCode) else "OK"
    if isinstance(exc, Refused):
        return GO_CODE_NAMES[exc.code]
    code = context.code()
    if isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK:
        return GO_CODE_NAMES[code]
    return "Canceled" if type(exc).__name__ == "CancelledError" else "Unknown"


class AccessInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Authorisation, rate and size limits, and the PHI audit, from a :class:`GrpcPolicy`.

    ``enforce``: callers are identified by their client certificate and held to
    the policy (a server that requires client certificates); otherwise every
    caller is :data:`ANONYMOUS` and only the size limits and the audit apply.
    """

    def __init__(
        self,
        policy: GrpcPolicy,
        *,
        enforce: bool,
        audit: AuditHook | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy
        self._enforce = enforce
        self._audit = audit
        self._buckets = TokenBuckets(policy, clock)
        self._refused = refused_counter()

    @property
    def enforcing(self) -> bool:
        return self._enforce

    def principal(self, context: Any) -> str:
        if not self._enforce:
            return ANONYMOUS
        auth = context.auth_context() or {}
        return peer_principal(auth, self._policy.trust_domain) or ANONYMOUS

    def _admit(self, method: str, rule: MethodRule | None, principal: str, request: Any) -> None:
        service, name = split_method(method)
        reason = None
        if self._enforce and (rule is None or not rule.allows(principal)):
            reason = "unauthorized"
            error = Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{service}/{name} is not permitted to this caller",
                reason,
            )
        elif self._enforce and not self._buckets.take(principal):
            reason = "rate_limited"
            error = Refused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "request rate limit exceeded for this caller",
                reason,
            )
        elif isinstance(request, Oversized):
            limit = rule.max_request_bytes if rule is not None else 0
            reason = "too_large"
            error = Refused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"request of {request.size} bytes is over {service}/{name}'s limit of {limit}",
                reason,
            )
        if reason is not None:
            self._refused.labels(service, name, principal, reason).inc()
            raise error

    def _record(
        self, method: str, rule: MethodRule | None, principal: str, request: Any, outcome: str
    ) -> None:
        if self._audit is None or rule is None or not rule.phi:
            return
        claim_id = None if isinstance(request, Oversized) else claim_id_of(
            request, rule.claim_id_field
        )  # fmt: skip
        # The audit never fails the call (runtime.audit counts its losses).
        with contextlib.suppress(Exception):
            self._audit(principal, method, claim_id, outcome)

    def _deserializer(self, handler: Any, rule: MethodRule | None) -> Any:
        original = handler.request_deserializer
        limit = rule.max_request_bytes if rule is not None else 4096
        if handler.request_streaming:
            return original  # the server-wide limit bounds each message

        def deserialize(raw: bytes) -> Any:
            if len(raw) > limit:
                return Oversized(len(raw))
            return original(raw) if original is not None else raw

        return deserialize

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        rule = self._policy.rule(method)
        return rewrapped(
            handler,
            lambda behavior: self._wrap(behavior, method, rule),
            self._deserializer(handler, rule),
        )

    def _wrap(
        self, behavior: Callable[..., Any], method: str, rule: MethodRule | None
    ) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(behavior):

            async def async_gen(request: Any, context: Any) -> AsyncIterator[Any]:
                async with self._guarded(method, rule, request, context):
                    async for response in behavior(request, context):
                        yield response

            return async_gen

        async def coroutine(request: Any, context: Any) -> Any:
            async with self._guarded(method, rule, request, context):
                response = behavior(request, context)
                if inspect.isawaitable(response):
                    response = await response
                return response

        return coroutine

    @contextlib.asynccontextmanager
    async def _guarded(
        self, method: str, rule: MethodRule | None, request: Any, context: Any
    ) -> AsyncIterator[None]:
        """Admits the call or aborts it with the refusal; records the outcome
        either way."""
        principal = self.principal(context)
        failure: BaseException | None = None
        try:
            self._admit(method, rule, principal, request)
            yield
        except Refused as refused:
            failure = refused
            await context.abort(refused.code, refused.details)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self._record(method, rule, principal, request, _outcome(context, failure))

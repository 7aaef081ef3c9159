"""The necessity service's stream: re-keyed by beneficiary, then checked with state.

    claims.submitted (key claimId)
        -> route: decode, beneficiary token          (undecodable -> claims.dlq)
        -> group_by "beneficiary"                     (repartition topic, key token)
    repartition__claimscrub-necessity--claims.submitted--beneficiary
        -> check: role lookup, the history from the key's state, rules, record
    claims.checks (key claimId)                       (a failing step -> claims.dlq)

The history of each beneficiary lives in the check step's Quix state
(RocksDB under CLAIMSCRUB_STATE_DIR, its changelog topic
``changelog__claimscrub-necessity--repartition.claims.submitted.beneficiary--default``),
keyed by the token and partitioned like the repartition topic, so each
instance holds the histories of exactly the beneficiaries it checks, and
Quix restores them from the changelog after a restart or on a new instance.
Within a partition claims are checked one at a time, in order, so a
beneficiary's claims accumulate as they were submitted. Both internal
topics are declared in runtime/topics.py and made before the service starts.

The repartition record carries the claim as submitted, with its content
type, its original timestamp (the claim's submission time for the result)
and its claimId key in :data:`CLAIM_KEY_HEADER` (the result and any DLQ
record are keyed by it). A malformed claim is routed under a token of its
own (:func:`token_for`) and answered alone with MALFORMED_CLAIM.

Tokens chain through the HMAC keyring up to its current key
(necessity/beneficiary.py). During a key rotation the check step also
carries histories to the ring's newest key (necessity/rekey.py): it sends
migration records, keyed by the new token, back onto the repartition topic,
after recording a claim under an older key's token and on a rekey request
(``claimscrub keys rotate --apply``), and adopts the migration records that
reach it. Neither kind of record gets a result on claims.checks.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from quixstreams import Application, State
from quixstreams.dataframe import StreamingDataFrame

from claimscrub.core.checks import Check, Rules
from claimscrub.core.claim import Claim, ParsedClaim
from claimscrub.core.codec import CONTENT_TYPE
from claimscrub.necessity import rekey
from claimscrub.necessity.beneficiary import Key, beneficiary_token, unlinked_token
from claimscrub.necessity.check import bound_rules
from claimscrub.necessity.history import History, date_shift, record_claim, seal, unseal
from claimscrub.necessity.reference import NecessityReference
from claimscrub.necessity.roles import SyncRoleLookup, resolve_role_sync
from claimscrub.runtime import engine
from claimscrub.runtime.check_topology import claim_event
from claimscrub.runtime.claim_judge import ClaimEvent, ClaimJudge
from claimscrub.runtime.guard import Outgoing
from claimscrub.runtime.keyring import Keyring
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import (
    CLAIMS_CHECKS,
    CLAIMS_DLQ,
    CLAIMS_SUBMITTED,
    NECESSITY_BY_BENEFICIARY,
    NECESSITY_GROUP_BY,
)

CLAIM_KEY_HEADER = "claimscrub-claim-key"
#: The state key of a beneficiary's (sealed) history; Quix prefixes it with
#: the message key, the beneficiary token.
HISTORY_KEY = "history"
#: Quix's store of a stateful ``apply``: its name ends the changelog topic's.
STORE_NAME = "default"
#: Claims the router decoded, kept for the check step of this process (most
#: come back to it through the repartition topic within a few hundred ms).
ROUTED_KEPT = 2_000


def token_for(parsed: ParsedClaim, key: Key) -> str:
    if parsed.ok and parsed.claim is not None:
        return beneficiary_token(parsed.claim, key)
    # A malformed claim is answered alone (MALFORMED_CLAIM); it joins no history.
    return unlinked_token(parsed.claim_id, key)


class NecessitySteps:
    """The two steps of the topology, each a plain function of one record."""

    def __init__(
        self,
        settings: Settings,
        *,
        check: Check,
        ref: NecessityReference,
        hmac_key: Key,
        lookup: SyncRoleLookup | None,
        today: Callable[[], dt.date] = dt.date.today,
        recorded: Callable[[bytes, History], None] | None = None,
    ) -> None:
        self._check = check
        self._ref = ref
        # A plain key is the one-key ring of its own tokens (no key id in them).
        self._ring = hmac_key if isinstance(hmac_key, Keyring) else Keyring.single(hmac_key)
        self._lookup = lookup
        self._today = today
        self._recorded = recorded
        self._judge = ClaimJudge(settings, check)
        self._routed = RoutedClaims()

    def route(self, rec: engine.Record) -> list[Outgoing]:
        """claims.submitted -> the claim under its beneficiary token (or claims.dlq)."""
        event = claim_event(rec)
        today = self._today()
        decoded = self._judge.decode(event, today)
        if isinstance(decoded, Outgoing):
            return [decoded]
        self._routed.keep(event, today, decoded)
        headers = [(k, v) for k, v in rec.headers if k not in (CLAIM_KEY_HEADER, CONTENT_TYPE)]
        headers.append((CLAIM_KEY_HEADER, rec.key))
        if event.content_type is not None:
            headers.append((CONTENT_TYPE, event.content_type))
        token = token_for(decoded, self._ring).encode()
        return [Outgoing(NECESSITY_BY_BENEFICIARY.name, token, rec.value or b"", headers)]

    def check(self, rec: engine.Record, state: State[Any, Any]) -> list[Outgoing]:
        """The repartitioned claim -> its verdict, reading and then recording
        the beneficiary's history in ``state`` (the key's); a migration record
        or a rekey request -> what necessity/rekey.py says to store and send."""
        token = rec.key.decode()
        if rec.header(rekey.MIGRATION_HEADER) is not None:
            return self._migrate(rec, token, state)
        if rec.header(rekey.REKEY_REQUEST_HEADER) is not None:
            return self._rekey(token, state)
        # The claim's own key, and the intake's seal, passed on by route()
        # with the other headers.
        event = claim_event(rec, key=rec.header(CLAIM_KEY_HEADER) or b"")

        def bind(check: Check, claim: Claim) -> tuple[Rules, Callable[[], None]]:
            # The check in force and the reference it reads, as one pair for the claim.
            ref = check.reference if isinstance(check.reference, NecessityReference) else self._ref
            role = resolve_role_sync(claim, ref, self._lookup)
            shift = date_shift(token, self._ring)
            past: History | None = unseal(state.get(HISTORY_KEY), shift)

            def record() -> None:
                # Last, once the verdict is made: a step that failed before
                # this leaves the history as it was. A claim recorded again
                # (a replay, a new version) replaces its own entry.
                sealed = seal(record_claim(past, claim, ref), shift)
                state.set(HISTORY_KEY, sealed)
                stored.append(sealed)
                if self._recorded is not None:
                    self._recorded(rec.key, sealed)

            return bound_rules(ref, past, role), record

        stored: list[History] = []
        today = self._today()
        decoded = self._routed.take(event, today)
        out = [self._judge.judge(event, today, bind=bind, consumed=False, decoded=decoded)]
        if stored:
            # During a rotation the new key's copy follows every claim recorded here.
            forward = rekey.after_record(token, stored[-1], self._ring)
            if forward is not None:
                out.append(_repartitioned(forward))
        return out

    def _migrate(self, rec: engine.Record, token: str, state: State[Any, Any]) -> list[Outgoing]:
        """A history carried to ``token`` from an older key's: adopted, never answered."""
        check = self._check.current()
        ref = check.reference if isinstance(check.reference, NecessityReference) else self._ref
        step = rekey.on_migration(
            token, state.get(HISTORY_KEY), rec.value or b"", self._ring, ref.line_history_days
        )
        if step.store is not None:
            state.set(HISTORY_KEY, step.store)
            if self._recorded is not None:
                self._recorded(rec.key, step.store)
        return [_repartitioned(step.forward)] if step.forward is not None else []

    def _rekey(self, token: str, state: State[Any, Any]) -> list[Outgoing]:
        """A rekey request: the history under ``token`` copied (or moved) to the newest key."""
        step = rekey.on_rekey_request(token, state.get(HISTORY_KEY), self._ring)
        out = [_repartitioned(step.forward)] if step.forward is not None else []
        if step.delete:
            state.delete(HISTORY_KEY)
        return out


class RoutedClaims:
    """The claims :meth:`NecessitySteps.route` decoded, for the check step:
    the repartition topic brings each back as the same bytes, most often to
    this process, and decoding it once saves a sixth of the service's work.
    A claim is taken at most once, and only for the same claim key, value,
    content type and day as it was decoded for (so the same decode);
    anything else (a claim routed by another instance, an evicted one, a
    replay) is decoded again. Bounded: the oldest of :data:`ROUTED_KEPT` go."""

    def __init__(self, kept: int = ROUTED_KEPT) -> None:
        self._kept = kept
        self._claims: OrderedDict[
            tuple[bytes, dt.date], tuple[bytes | None, bytes | None, ParsedClaim]
        ] = OrderedDict()

    def keep(self, event: ClaimEvent, today: dt.date, parsed: ParsedClaim) -> None:
        self._claims[(event.key, today)] = (event.value, event.content_type, parsed)
        self._claims.move_to_end((event.key, today))
        while len(self._claims) > self._kept:
            self._claims.popitem(last=False)

    def take(self, event: ClaimEvent, today: dt.date) -> ParsedClaim | None:
        kept = self._claims.pop((event.key, today), None)
        if kept is None:
            return None
        value, content_type, parsed = kept
        if value != event.value or content_type != event.content_type:
            return None
        return parsed


def _repartitioned(record: rekey.Record) -> Outgoing:
    """A migration record, sent onto the repartition topic under its new token."""
    return Outgoing(NECESSITY_BY_BENEFICIARY.name, record.key, record.value, list(record.headers))


class StoredHistories:
    """The sealed histories this instance holds, read for the gRPC servicer.

    Reads the RocksDB partitions of the Application the runner runs (from the
    gRPC thread, never writing); a partition being handed over, or an
    Application being replaced, reads as no history. Quix writes a record's
    state to RocksDB at the next checkpoint, so the histories the step wrote
    since are also kept here for ``fresh_s`` seconds (a few checkpoints):
    a claim asked about just after its result was published reads the
    history its own recording left."""

    def __init__(self, fresh_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._app: Application | None = None
        self._fresh_s = fresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._recent: OrderedDict[bytes, tuple[float, History]] = OrderedDict()

    def attach(self, app: Application) -> None:
        self._app = app

    def recorded(self, token: bytes, sealed: History) -> None:
        """The step wrote ``sealed`` to the state of ``token`` (main thread)."""
        now = self._clock()
        with self._lock:
            self._recent[token] = (now, sealed)
            self._recent.move_to_end(token)
            while self._recent:
                written, _ = next(iter(self._recent.values()))
                if now - written < self._fresh_s:
                    break
                self._recent.popitem(last=False)

    def get(self, token: bytes) -> History | None:
        with self._lock:
            entry = self._recent.get(token)
        if entry is not None and self._clock() - entry[0] < self._fresh_s:
            return entry[1]
        app = self._app
        if app is None:
            return None
        try:
            # Quix keeps no public handle on its stores; 3.28's manager.
            store = app._state_manager.get_store(NECESSITY_BY_BENEFICIARY.name, STORE_NAME)
            partitions = list(store.partitions.values())
        except Exception:
            return None
        for partition in partitions:
            try:
                value = partition.begin().as_state(prefix=token).get(HISTORY_KEY)
            except Exception:
                continue
            if value is not None:
                history: History = value
                return history
        return None


def topology(
    app: Application,
    settings: Settings,
    *,
    check: Check,
    ref: NecessityReference,
    hmac_key: Key,
    lookup: SyncRoleLookup | None,
    histories: StoredHistories | None = None,
) -> StreamingDataFrame:
    steps = NecessitySteps(
        settings,
        check=check,
        ref=ref,
        hmac_key=hmac_key,
        lookup=lookup,
        recorded=histories.recorded if histories is not None else None,
    )
    claims = app.dataframe(engine.raw_topic(app, CLAIMS_SUBMITTED))
    # Undecodable records name no beneficiary: they leave before the re-keying.
    by_beneficiary = engine.rekeyed(
        app,
        claims,
        settings,
        steps.route,
        through=NECESSITY_BY_BENEFICIARY,
        group_by=NECESSITY_GROUP_BY,
    )
    # Migration records go back onto the repartition topic, keyed by their new
    # token, to the partition (and instance) that owns it.
    checked = engine.guarded_stateful(
        app,
        by_beneficiary,
        settings,
        steps.check,
        outputs=(CLAIMS_CHECKS, CLAIMS_DLQ, NECESSITY_BY_BENEFICIARY),
    )
    if histories is not None:
        histories.attach(app)
    return checked

"""The necessity service's stream (necessity/topology.py) without a broker: the
topics it builds are the declared ones, and its two steps route, judge and
record claims as the rules and the history module say, and carry histories
to the next HMAC key as necessity/rekey.py says."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from quixstreams.models.topics import TopicConfig

from claimscrub.core.claim import parse_claim
from claimscrub.core.codec import CONTENT_TYPE, decode_check_result, encode_claim_json
from claimscrub.core.results import CheckResult
from claimscrub.necessity import topology as necessity_topology
from claimscrub.necessity.beneficiary import beneficiary_token, chain_token
from claimscrub.necessity.check import necessity_check
from claimscrub.necessity.rekey import MIGRATION_HEADER, rekey_request
from claimscrub.necessity.topology import (
    CLAIM_KEY_HEADER,
    HISTORY_KEY,
    NecessitySteps,
    StoredHistories,
    topology,
)
from claimscrub.runtime.engine import Record, make_application
from claimscrub.runtime.guard import REASON_HEADER, Outgoing
from claimscrub.runtime.keyring import HmacKey, Keyring
from claimscrub.runtime.secrets import Secret
from claimscrub.runtime.settings import Settings
from claimscrub.runtime.topics import (
    ALL_TOPICS,
    CLAIMS_CHECKS,
    CLAIMS_DLQ,
    CLAIMS_SUBMITTED,
    NECESSITY_BY_BENEFICIARY,
    NECESSITY_HISTORY_CHANGELOG,
)
from tests.unit.necessity_support import base_claim, bundled_ref

KEY = b"test-hmac-key-0123456789abcdef01"
TODAY = dt.date(2026, 6, 1)


def _settings(tmp_path: Path) -> Settings:
    env = {"CLAIMSCRUB_DATA_DIR": str(tmp_path / "data")}
    return Settings.from_env("necessity", grpc_port=0, metrics_port=0, env=env)


class FakeState:
    """Quix's State for one key, as a dict (values pass through JSON as Quix's do)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)
        self.writes += 1

    def delete(self, key: str) -> None:
        self.values.pop(key, None)
        self.writes += 1


def _steps(tmp_path: Path, key: bytes | Keyring = KEY) -> NecessitySteps:
    ref = bundled_ref()
    return NecessitySteps(
        _settings(tmp_path),
        check=necessity_check(ref, lambda _c: []),
        ref=ref,
        hmac_key=key,
        lookup=None,
        today=lambda: TODAY,
    )


def _submitted(claim: dict[str, Any], offset: int = 0) -> Record:
    value, ctype = encode_claim_json(claim)
    return Record(
        key=claim["claimId"].encode(),
        value=value,
        headers=[(CONTENT_TYPE, ctype)],
        topic=CLAIMS_SUBMITTED.name,
        partition=0,
        offset=offset,
        timestamp_ms=1_780_000_000_000 + offset,
    )


def _repartitioned(steps: NecessitySteps, claim: dict[str, Any], offset: int = 0) -> Record:
    [out] = steps.route(_submitted(claim, offset))
    assert out.topic == NECESSITY_BY_BENEFICIARY.name
    return Record(
        key=out.key,
        value=out.value,
        headers=out.headers,
        topic=NECESSITY_BY_BENEFICIARY.name,
        partition=0,
        offset=offset,
        timestamp_ms=1_780_000_000_000 + offset,
    )


def _verdict(steps: NecessitySteps, claim: dict[str, Any], state: FakeState) -> CheckResult:
    [out] = steps.check(_repartitioned(steps, claim), state)  # type: ignore[arg-type]
    assert out.topic == CLAIMS_CHECKS.name and out.key == claim["claimId"].encode()
    return decode_check_result(out.value)


def _kx_claim(claim_id: str, ytd: str, charge: str, dos: str) -> dict[str, Any]:
    claim = base_claim(claimId=claim_id)
    claim["therapy"]["amountUsedYtd"] = ytd
    claim["serviceLines"][0]["chargeAmount"] = charge
    claim["serviceLines"][0]["dateOfService"] = dos
    return claim


# --- the topics it builds --------------------------------------------------------


def test_the_topology_uses_exactly_the_declared_internal_topics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path)
    app = make_application(settings)
    declared = {t.name: t for t in ALL_TOPICS}
    asked: list[str] = []

    def inspect(names: list[str], timeout: float = 30) -> dict[str, TopicConfig | None]:
        # The broker as `topics create` leaves it: every declared topic, nothing else.
        asked.extend(names)
        return {
            n: TopicConfig(6, 1, {"retention.ms": "604800000", "retention.bytes": "-1"})
            if n in declared
            else None
            for n in names
        }

    monkeypatch.setattr(app._topic_manager._admin, "inspect_topics", inspect)
    ref = bundled_ref()
    topology(
        app,
        settings,
        check=necessity_check(ref, lambda _c: []),
        ref=ref,
        hmac_key=KEY,
        lookup=None,
    )
    manager = app._topic_manager
    assert set(manager.repartition_topics) == {NECESSITY_BY_BENEFICIARY.name}
    assert [t.name for t in manager.changelog_topics_list] == [NECESSITY_HISTORY_CHANGELOG.name]
    assert set(asked) <= set(declared)
    assert {CLAIMS_SUBMITTED.name, CLAIMS_CHECKS.name, CLAIMS_DLQ.name} <= set(asked)
    # It carries claims as submitted: inside the clinical boundary, like its source.
    assert NECESSITY_BY_BENEFICIARY.clinical
    assert NECESSITY_HISTORY_CHANGELOG.config == {"cleanup.policy": "compact"}


# --- route: claims.submitted -> the beneficiary's key, or the DLQ ------------------


def test_an_undecodable_record_goes_to_the_dlq_before_the_re_keying(tmp_path: Path) -> None:
    steps = _steps(tmp_path)
    rec = Record(b"K-1", b"\xff\xfe not a claim", [], CLAIMS_SUBMITTED.name, 2, 7, 0)
    [out] = steps.route(rec)
    assert out.topic == CLAIMS_DLQ.name
    assert (out.key, out.value) == (rec.key, rec.value)
    headers = dict(out.headers)
    assert headers[REASON_HEADER]
    assert headers["claimscrub-source"] == f"{CLAIMS_SUBMITTED.name}/2@7".encode()


def test_a_claim_is_re_keyed_by_its_beneficiary_token_with_its_claim_key(
    tmp_path: Path,
) -> None:
    steps = _steps(tmp_path)
    claim = base_claim(claimId="R-1")
    rec = _submitted(claim)
    [out] = steps.route(rec)
    parsed = parse_claim(claim)
    assert parsed.claim is not None
    assert out.key == beneficiary_token(parsed.claim, KEY).encode()
    assert claim["patient"]["memberId"].encode() not in out.key
    assert out.value == rec.value
    headers = dict(out.headers)
    assert headers[CLAIM_KEY_HEADER] == b"R-1"
    assert headers[CONTENT_TYPE] == dict(rec.headers)[CONTENT_TYPE]


def test_a_malformed_claim_is_answered_alone_and_joins_no_history(tmp_path: Path) -> None:
    steps = _steps(tmp_path)
    claim = base_claim(claimId="M-1")
    del claim["serviceLines"]
    [out] = steps.route(_submitted(claim))
    assert out.key.startswith(b"c-")
    state = FakeState()
    result = _verdict(steps, claim, state)
    assert result.claim_id == "M-1"
    assert [e.code for e in result.edits] == ["MALFORMED_CLAIM"]
    assert state.writes == 0


def test_a_claim_routed_here_or_by_another_instance_gets_the_same_verdict(
    tmp_path: Path,
) -> None:
    # The router's decode is reused by this process's check step; a check
    # step that did not route the claim (another instance) decodes it again.
    claim = _kx_claim("K-1", "2400.00", "150.00", "2026-05-04")
    here = _steps(tmp_path)
    [mine] = here.check(_repartitioned(here, claim), FakeState())  # type: ignore[arg-type]
    elsewhere = _steps(tmp_path)
    rec = _repartitioned(_steps(tmp_path), claim)
    [theirs] = elsewhere.check(rec, FakeState())  # type: ignore[arg-type]
    assert decode_check_result(mine.value).edits == decode_check_result(theirs.value).edits
    assert [e.code for e in decode_check_result(mine.value).edits] == ["KX_MODIFIER_REQUIRED"]


def test_a_routed_claim_is_taken_once_for_the_same_key_bytes_type_and_day() -> None:
    from claimscrub.core.claim import ParsedClaim
    from claimscrub.necessity.topology import RoutedClaims
    from claimscrub.runtime.claim_judge import ClaimEvent

    def event(value: bytes, ctype: bytes = b"application/json") -> ClaimEvent:
        return ClaimEvent(b"C-1", value, ctype, "t", 0, 0, 0)

    kept = RoutedClaims(kept=2)
    parsed = ParsedClaim("C-1", None, ["x"])
    kept.keep(event(b"v1"), TODAY, parsed)
    assert kept.take(event(b"v1"), TODAY + dt.timedelta(days=1)) is None  # another day
    kept.keep(event(b"v1"), TODAY, parsed)
    assert kept.take(event(b"v2"), TODAY) is None  # other bytes
    kept.keep(event(b"v1"), TODAY, parsed)
    assert kept.take(event(b"v1", b"application/x-protobuf"), TODAY) is None
    kept.keep(event(b"v1"), TODAY, parsed)
    assert kept.take(event(b"v1"), TODAY) is parsed
    assert kept.take(event(b"v1"), TODAY) is None  # taken once
    for i in range(3):  # the oldest goes beyond the bound
        kept.keep(ClaimEvent(f"K-{i}".encode(), b"v", None, "t", 0, 0, 0), TODAY, parsed)
    assert kept.take(ClaimEvent(b"K-0", b"v", None, "t", 0, 0, 0), TODAY) is None
    assert kept.take(ClaimEvent(b"K-2", b"v", None, "t", 0, 0, 0), TODAY) is parsed


def test_a_record_unlike_the_routed_claim_is_judged_on_its_own_bytes(tmp_path: Path) -> None:
    # Routed: a claim under the KX threshold; checked under the same claim key:
    # another version of it, over the threshold. The verdict is the checked one's.
    steps = _steps(tmp_path)
    under = _kx_claim("K-2", "2300.00", "100.00", "2026-05-04")
    over = _kx_claim("K-2", "2400.00", "150.00", "2026-05-04")
    steps.route(_submitted(under))
    rec = _repartitioned(_steps(tmp_path), over)
    [out] = steps.check(rec, FakeState())  # type: ignore[arg-type]
    assert [e.code for e in decode_check_result(out.value).edits] == ["KX_MODIFIER_REQUIRED"]


# --- check: the history in the key's state ------------------------------------------


def test_a_beneficiary_s_claims_add_up_and_a_replay_does_not_count_twice(
    tmp_path: Path,
) -> None:
    # 2026 KX threshold $2,480 [secondary] (docs/necessity.md). Eligibility says
    # 2,300 used for both claims: the first reaches 2,450 (no KX), the second,
    # knowing the first, 2,550 (KX); without the first it would be 2,400.
    steps = _steps(tmp_path)
    state = FakeState()
    first = _kx_claim("Y-1", "2300.00", "150.00", "2026-05-04")
    second = _kx_claim("Y-2", "2300.00", "100.00", "2026-05-06")
    assert _verdict(steps, first, state).edits == ()
    result = _verdict(steps, second, state)
    assert [(e.code, e.line_number) for e in result.edits] == [("KX_MODIFIER_REQUIRED", 1)]
    assert "2,550.00" in result.edits[0].message
    # The first claim again (a redelivery after a crash, or its next version)
    # replaces its own entry: it sees the second's 100 beside its own 150
    # (2,550), never its own twice (2,700); the second, again, still 2,550.
    replayed = _verdict(steps, first, state)
    assert "2,550.00" in replayed.edits[0].message
    again = _verdict(steps, second, state)
    assert "2,550.00" in again.edits[0].message


def test_the_stored_history_is_json_with_no_real_date_of_service(tmp_path: Path) -> None:
    steps = _steps(tmp_path)
    state = FakeState()
    _verdict(steps, _kx_claim("S-1", "100.00", "84.00", "2026-05-04"), state)
    stored = state.values[HISTORY_KEY]
    assert "S-1" in json.loads(stored)["claims"]
    assert "2026-05-04" not in stored
    assert "1EG4TE5MK73" not in stored


def test_a_step_that_fails_answers_check_incomplete_and_leaves_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = _steps(tmp_path)
    state = FakeState()
    _verdict(steps, _kx_claim("F-1", "100.00", "84.00", "2026-05-04"), state)
    before = dict(state.values)

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("rule bug")

    monkeypatch.setattr(necessity_topology, "bound_rules", lambda *_a: broken)
    result = _verdict(steps, _kx_claim("F-2", "100.00", "84.00", "2026-05-05"), state)
    assert [e.code for e in result.edits] == ["CHECK_INCOMPLETE"]
    assert state.values == before


def test_the_servicer_reads_no_history_before_the_stream_runs() -> None:
    assert StoredHistories().get(b"b-" + b"0" * 64) is None


def test_the_servicer_reads_a_history_the_step_just_wrote_until_rocksdb_has_it() -> None:
    # Quix writes state to RocksDB at its next checkpoint; until then the
    # servicer reads what the step recorded, for fresh_s seconds.
    now = [100.0]
    histories = StoredHistories(fresh_s=5.0, clock=lambda: now[0])
    token = b"b-" + b"1" * 64
    histories.recorded(token, {"v": 1, "claims": {"A": {}}, "progress": {}})
    now[0] += 4.9
    assert histories.get(token) == {"v": 1, "claims": {"A": {}}, "progress": {}}
    now[0] += 0.1
    assert histories.get(token) is None  # no Application attached: nothing in RocksDB


# --- a key rotation: histories carried to the newest key's token --------------------

NEW_KEY = b"test-hmac-key-2-0123456789abcdef"
#: KEY's id as a single key moved to a ring keeps it (runtime/keyring.py).
OLD_ID = Keyring.single(KEY).current_id


def _ring(current: str) -> Keyring:
    """KEY, then a new key k2; ``current`` OLD_ID while k2 is upcoming, then k2."""
    return Keyring((Keyring.single(KEY).root, HmacKey("k2", Secret(NEW_KEY))), current)


def _deliver(
    steps: NecessitySteps, out: Outgoing, states: dict[bytes, FakeState]
) -> list[Outgoing]:
    """``out`` read back from the repartition topic by the step owning its key."""
    assert out.topic == NECESSITY_BY_BENEFICIARY.name
    rec = Record(out.key, out.value, out.headers, NECESSITY_BY_BENEFICIARY.name, 0, 0, 0)
    return steps.check(rec, states.setdefault(out.key, FakeState()))  # type: ignore[arg-type]


def test_a_one_key_ring_routes_claims_under_the_plain_key_s_tokens(tmp_path: Path) -> None:
    claim = base_claim(claimId="R-2")
    [plain] = _steps(tmp_path).route(_submitted(claim))
    [ringed] = _steps(tmp_path, Keyring.single(KEY)).route(_submitted(claim))
    assert ringed.key == plain.key


def test_a_rotation_keeps_the_year_to_date_amount_of_a_beneficiary(tmp_path: Path) -> None:
    # The KX case above across a rotation: Y-1 (150) is recorded under the old
    # key's token while the new key is upcoming, copied to the new token, and
    # Y-2 (100), routed under the new token once it is current, still sees it:
    # 2,300 + 150 + 100 = 2,550 over the 2026 threshold of $2,480.
    states: dict[bytes, FakeState] = {}
    overlap = _steps(tmp_path, _ring(OLD_ID))
    first = _kx_claim("Y-1", "2300.00", "150.00", "2026-05-04")
    [routed] = overlap.route(_submitted(first))
    old_token = routed.key.decode()
    verdict, copy = _deliver(overlap, routed, states)
    assert verdict.topic == CLAIMS_CHECKS.name
    assert decode_check_result(verdict.value).edits == ()
    # The copy: on the repartition topic, under the new key's token.
    new_token = chain_token(old_token, _ring("k2"))
    assert (copy.topic, copy.key) == (NECESSITY_BY_BENEFICIARY.name, new_token.encode())
    assert dict(copy.headers)[MIGRATION_HEADER] == f"{OLD_ID}>k2".encode()
    assert b"2026-05-04" not in copy.value
    # Adopted by the new token's owner, answered nowhere.
    assert _deliver(overlap, copy, states) == []
    assert "Y-1" in json.loads(states[new_token.encode()].values[HISTORY_KEY])["claims"]

    rotated = _steps(tmp_path, _ring("k2"))
    second = _kx_claim("Y-2", "2300.00", "100.00", "2026-05-06")
    [routed] = rotated.route(_submitted(second))
    assert routed.key == new_token.encode()
    [out] = _deliver(rotated, routed, states)  # of the newest key already: no copy
    result = decode_check_result(out.value)
    assert [(e.code, e.line_number) for e in result.edits] == [("KX_MODIFIER_REQUIRED", 1)]
    assert "2,550.00" in result.edits[0].message


def test_a_rekey_request_copies_during_the_rotation_and_moves_after_it(
    tmp_path: Path,
) -> None:
    states: dict[bytes, FakeState] = {}
    one_key = _steps(tmp_path)
    [routed] = one_key.route(_submitted(_kx_claim("Q-1", "100.00", "84.00", "2026-05-04")))
    _deliver(one_key, routed, states)
    old = states[routed.key]
    new_token = chain_token(routed.key.decode(), _ring("k2")).encode()
    request = Outgoing(NECESSITY_BY_BENEFICIARY.name, *rekey_request(routed.key.decode()))

    # The new key upcoming: copied, the old history kept (its claims still come here).
    [copy] = _deliver(_steps(tmp_path, _ring(OLD_ID)), request, states)
    assert copy.key == new_token and HISTORY_KEY in old.values
    # The new key current: copied once more, then dropped.
    [moved] = _deliver(_steps(tmp_path, _ring("k2")), request, states)
    assert moved.key == new_token and HISTORY_KEY not in old.values
    # A request for a token holding nothing does nothing.
    assert _deliver(_steps(tmp_path, _ring("k2")), request, states) == []
    assert _deliver(_steps(tmp_path, _ring("k2")), moved, states) == []
    assert "Q-1" in json.loads(states[new_token].values[HISTORY_KEY])["claims"]

"""Fault tests: a real broker and the pipeline as real processes, then things break.

Own broker (CLAIMSCRUB_TEST_KAFKA_PORT + 20) and own pipeline, because these
tests kill services, restart the broker and stop a check for good, which the
session's shared pipeline must not see. In file order:

1. undecodable events and malformed claims interleaved with good claims;
2. two instances of a check service sharing one consumer group through rebalances;
3. 5,000 claims, ``kill -9`` of each service in turn mid-stream, restarted;
4. the broker stopped and restarted mid-stream;
5. a check stopped for good: CHECK_INCOMPLETE after the timeout (two aggregator
   instances, so each instance's timer must act only on its own partitions),
   and the synchronous API answering without the dead or a hung check.

Each test prints its figures (claims submitted, results received, duplicates,
recovery times); ``pytest -s`` shows them. The claim timeout is 600 s until the
last test, so a CHECK_INCOMPLETE in tests 1-4 would mean a claim was stuck.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from confluent_kafka import KafkaException

from claimscrub.core.codec import CONTENT_TYPE, JSON, PROTOBUF, decode_check_result
from claimscrub.core.codec import decode_scrub_result as decode_result
from claimscrub.core.results import ScrubResult
from claimscrub.runtime.kafka_io import Tail, TopicMissing, produce_all
from claimscrub.runtime.pipeline import PIPELINE
from claimscrub.runtime.testing import (
    LocalKafka,
    ServiceProcess,
    consume_all,
    free_port,
)
from claimscrub.runtime.topics import (
    AGGREGATOR_BY_FINGERPRINT,
    CLAIMS_CHECKS,
    CLAIMS_DLQ,
    CLAIMS_SCRUBBED,
    CLAIMS_SUBMITTED,
)
from claimscrub.v1 import claim_pb2, scrub_service_pb2_grpc
from tests.brokers import own_broker
from tests.integration.helpers import prepare_pipeline, scrape, wait_until

pytestmark = pytest.mark.kafka

CHECK_SERVICES = ("units", "enrollment", "necessity")
STREAM_SERVICES = (*CHECK_SERVICES, "aggregator")
Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


# --- claims, pre-encoded -------------------------------------------------------------


def _template() -> claim_pb2.Claim:
    c = claim_pb2.Claim()
    c.payer_id = "MEDICARE"
    c.submission_date = "2026-06-01"
    c.patient.first_name = "Zebulon"
    c.billing_provider.npi = "1558598797"  # enrolled in examples/enrollment.json
    c.rendering_provider.npi = "1234567893"
    c.rendering_provider.taxonomy = "225100000X"
    c.diagnoses.append("M62.81")
    line = c.service_lines.add()
    line.line_number = 1
    line.date_of_service = "2026-05-04"
    line.procedure_code = "97110"
    line.modifiers.append("GP")
    line.minutes = 30
    line.charge_amount = "42.00"
    line.diagnosis_pointers.append(1)
    c.therapy.discipline = "PT"
    c.therapy.plan_of_care.certified_date = "2026-04-20"
    c.therapy.plan_of_care.end_date = "2026-07-18"
    c.therapy.amount_used_ytd = "0.00"
    return c


def claim_records(tag: str, n: int) -> list[Record]:
    """``n`` distinct claims (own claimId and member), units 1-3 on 30 minutes
    (2 supported): CLEAN, REVIEW and HOLD in turn."""
    template = _template()
    out: list[Record] = []
    for i in range(n):
        template.claim_id = f"{tag}-{i:05d}"
        template.patient.member_id = f"{tag}M{i:05d}"
        template.service_lines[0].units = 1 + i % 3
        out.append(
            (template.claim_id.encode(), template.SerializeToString(), [(CONTENT_TYPE, PROTOBUF)])
        )
    return out


EXPECTED_CODES = {1: ["UNITS_BELOW_TIME"], 2: [], 3: ["UNITS_EXCEED_TIME"]}


def expected_codes(claim_id: str) -> list[str]:
    return EXPECTED_CODES[1 + int(claim_id.rsplit("-", 1)[1]) % 3]


def fast_produce(bootstrap: str, topic: str, records: Sequence[Record]) -> None:
    produce_all(
        bootstrap,
        topic,
        records,
        client_id="test-load",
        timeout_s=120,
        linger_ms=20,
        batch_size=256 * 1024,
    )


# --- results, read continuously by one consumer ----------------------------------------


class ResultLog:
    """Every record of claims.scrubbed since the broker started, as it arrives
    (one consumer in a thread; librdkafka reconnects through a broker restart)."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._lock = threading.Lock()
        self._by_key: dict[str, list[tuple[float, ScrubResult]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="result-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        tail: Tail | None = None
        while tail is None and not self._stop.is_set():
            try:
                tail = Tail(
                    self._bootstrap,
                    None,
                    [CLAIMS_SCRUBBED.name],
                    client_id="result-log",
                    from_beginning=True,
                )
            except (TopicMissing, KafkaException):  # not created yet, or the broker is away
                time.sleep(0.5)
        if tail is None:
            return
        try:
            while not self._stop.is_set():
                batch = tail.records(0.2)
                now = time.monotonic()
                with self._lock:
                    for r in batch:
                        key = r.key.decode()
                        self._by_key.setdefault(key, []).append((now, decode_result(r.value)))
        finally:
            tail.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def results(self, prefix: str) -> dict[str, list[tuple[float, ScrubResult]]]:
        with self._lock:
            return {k: list(v) for k, v in self._by_key.items() if k.startswith(prefix)}

    def count(self, prefix: str) -> int:
        return len(self.results(prefix))

    def wait_for(
        self, prefix: str, n: int, timeout_s: float, settle_s: float = 0.0
    ) -> dict[str, list[tuple[float, ScrubResult]]]:
        """Until ``n`` keys with ``prefix`` have a result (then ``settle_s`` more, so
        a duplicate would show), or the timeout."""
        deadline = time.monotonic() + timeout_s
        while self.count(prefix) < n and time.monotonic() < deadline:
            time.sleep(0.2)
        if settle_s:
            time.sleep(settle_s)
        return self.results(prefix)


@dataclass
class Figures:
    """What the issue asks each fault test to report."""

    name: str
    submitted: int = 0
    results: int = 0
    duplicates: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    def show(self) -> None:
        more = "; ".join(f"{k}: {v}" for k, v in self.extra.items())
        print(
            f"\nFAULT {self.name}: claims submitted {self.submitted}, results received "
            f"{self.results}, duplicates {self.duplicates}" + (f"; {more}" if more else "")
        )


def tally(got: dict[str, list[tuple[float, ScrubResult]]], keys: Sequence[str]) -> tuple[int, int]:
    """(claims with a result, extra results beyond one per claim)."""
    answered = sum(1 for k in keys if got.get(k))
    extra = sum(len(got.get(k, ())) - 1 for k in keys if got.get(k))
    return answered, extra


# --- the rig: broker, pipeline, result log -----------------------------------------------


@dataclass
class Rig:
    kafka: LocalKafka
    log_dir: Path
    env: dict[str, str]
    procs: dict[str, ServiceProcess]
    log: ResultLog
    extra: list[ServiceProcess] = field(default_factory=list)

    def spawn(self, name: str, module: str, **env: str) -> ServiceProcess:
        p = ServiceProcess(
            name, module, free_port(), free_port(), self.kafka, self.log_dir, {**self.env, **env}
        )
        self.extra.append(p)
        return p


def stop(p: ServiceProcess, timeout_s: float = 20.0) -> None:
    # A service told to stop while the broker is gone can hang in Faust's
    # consumer thread: SIGTERM, then SIGKILL after the timeout.
    p.terminate(timeout_s)


@contextmanager
def stream_rig(
    offset: int,
    name: str,
    log_dir: Path,
    examples_dir: Path,
    settings: dict[str, str],
    instance: Callable[[str], dict[str, str]] = lambda _: {},
) -> Iterator[Rig]:
    """Every stream service on a broker of its own (``offset``, ``name``: see
    tests.brokers.own_broker) with ``settings`` and each ``instance(name)``'s
    variables, and a :class:`ResultLog` of claims.scrubbed."""
    with own_broker(offset, name) as kafka:
        procs: dict[str, ServiceProcess] = {}
        extra: list[ServiceProcess] = []
        log: ResultLog | None = None
        try:
            modules = dict(PIPELINE)
            ports, env = prepare_pipeline(kafka, examples_dir, STREAM_SERVICES)
            env.update(settings)
            for service in STREAM_SERVICES:
                procs[service] = ServiceProcess(
                    service,
                    modules[service],
                    *ports[service],
                    kafka,
                    log_dir,
                    {**env, **instance(service)},
                )
                procs[service].start()
            log = ResultLog(kafka.bootstrap)
            yield Rig(kafka, log_dir, env, procs, log, extra)
        finally:
            if log is not None:
                log.stop()
            for p in [*procs.values(), *extra]:
                stop(p, 15)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path) -> Iterator[Rig]:
    settings = {
        "CLAIMSCRUB_ENROLLMENT_TIMEOUT_SECONDS": "1",
        "CLAIMSCRUB_CHECK_TIMEOUT_SECONDS": "600",
        "CLAIMSCRUB_SHUTDOWN_GRACE_SECONDS": "1",
    }
    log_dir = tmp_path_factory.mktemp("faults")
    with stream_rig(20, "faults", log_dir, examples_dir, settings) as running:
        yield running


def _kill9(p: ServiceProcess) -> None:
    assert p.proc is not None
    p.proc.send_signal(signal.SIGKILL)
    p.proc.wait()


def _grown(log: ResultLog, prefix: str, by: int) -> Callable[[], bool]:
    """True once ``by`` more claims with ``prefix`` have a result than now."""
    start = log.count(prefix)
    return lambda: log.count(prefix) >= start + by


def test_undecodable_events_and_malformed_claims_do_not_stop_a_partition(rig: Rig) -> None:
    import json

    tag = "GARB"
    good = claim_records(tag, 600)
    kinds = [b"\xff\xfe\x00 not a claim", b"{not json", b"\x08\x96\x01", b""]
    records: list[Record] = []
    garbage_keys: list[str] = []
    malformed_ids: list[str] = []
    for i, rec in enumerate(good):
        records.append(rec)
        if i % 10 == 0:
            key = f"{tag}-G{i:05d}"
            value = kinds[(i // 10) % len(kinds)]
            records.append(
                (key.encode(), value, [(CONTENT_TYPE, JSON)] if value[:1] == b"{" else [])
            )
            garbage_keys.append(key)
        if i % 15 == 7:
            cid = f"{tag}-X{i:05d}"
            bad = {"claimId": cid, "payerId": "MEDICARE", "serviceLines": [{"lineNumber": 1}]}
            records.append((cid.encode(), json.dumps(bad).encode(), [(CONTENT_TYPE, JSON)]))
            malformed_ids.append(cid)
    # The aggregator's inputs get garbage too: one writer per topic is a rule
    # for the services, not something the broker enforces.
    checks_garbage: list[Record] = [
        (f"{tag}-C{j}".encode(), b"\xff\x00 not a CheckResult", []) for j in range(3)
    ]
    started = time.monotonic()
    fast_produce(rig.kafka.bootstrap, CLAIMS_SUBMITTED.name, records)
    fast_produce(rig.kafka.bootstrap, CLAIMS_CHECKS.name, checks_garbage)
    fast_produce(
        rig.kafka.bootstrap,
        AGGREGATOR_BY_FINGERPRINT.name,
        [(b"f" * 32, b"\x12\x04HOLD", [])],  # a ScrubResult with no claimId
    )

    claim_ids = [k.decode() for k, _, _ in good] + malformed_ids
    got = rig.log.wait_for(tag, len(claim_ids), timeout_s=300, settle_s=3)
    answered, extra = tally(got, claim_ids)
    drained = time.monotonic() - started
    dlq = consume_all(
        rig.kafka.bootstrap,
        CLAIMS_DLQ.name,
        until=len(garbage_keys) * len(CHECK_SERVICES) + len(checks_garbage) + 1,
    )
    by_service: dict[str, list[str]] = {}
    for r in dlq:
        headers = dict(r.headers)
        assert headers["claimscrub-reason"], "a dead letter without a reason"
        by_service.setdefault(headers["claimscrub-service"].decode(), []).append(r.key.decode())
    Figures(
        "garbage",
        submitted=len(claim_ids),
        results=answered,
        duplicates=extra,
        extra={
            "undecodable events": str(len(garbage_keys) + len(checks_garbage) + 1),
            "dead-lettered": str(len(dlq)),
            "all answered after (s)": f"{drained:.1f}",
        },
    ).show()

    assert answered == len(claim_ids), "a claim behind garbage got no result"
    assert extra == 0
    for service in CHECK_SERVICES:
        assert sorted(k for k in by_service[service] if k.startswith(f"{tag}-G")) == garbage_keys
    assert sorted(k for k in by_service["aggregator"] if k.startswith(tag)) == [
        k.decode() for k, _, _ in checks_garbage
    ]
    assert b"f" * 32 in {
        r.key for r in dlq if dict(r.headers)["claimscrub-service"] == b"aggregator"
    }
    for cid in malformed_ids:
        result = got[cid][0][1]
        assert result.status.value == "HOLD"
        assert [e.code for e in result.edits] == ["MALFORMED_CLAIM"]
    for k, _, _ in good:
        assert [e.code for e in got[k.decode()][0][1].edits] == expected_codes(k.decode())


# --- 2. two instances of a check service ------------------------------------------------


def _check_results(bootstrap: str, prefix: str, check: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in consume_all(bootstrap, CLAIMS_CHECKS.name, until=1, settle_s=2):
        key = (r.key or b"").decode()
        if key.startswith(prefix):
            try:
                result = decode_check_result(r.value)
            except Exception:
                continue
            if result.check.value == check:
                counts[key] = counts.get(key, 0) + 1
    return counts


def _assigned(metrics_port: int) -> float:
    name = f'claimscrub_consumer_assigned_partitions{{topic="{CLAIMS_SUBMITTED.name}"}}'
    return scrape(metrics_port).get(name, 0.0)


def _consumed(metrics_port: int) -> float:
    return scrape(metrics_port).get('claimscrub_claims_consumed_total{service="units"}', 0.0)


def test_two_instances_of_a_check_share_its_partitions_through_rebalances(rig: Rig) -> None:
    tag = "SCALE"
    records = claim_records(tag, 3000)
    keys = [k.decode() for k, _, _ in records]
    first = rig.procs["units"]
    second = rig.spawn("units-2", "claimscrub.units.main")
    started = time.monotonic()
    fast_produce(rig.kafka.bootstrap, CLAIMS_SUBMITTED.name, records[:1500])
    assert wait_until(lambda: rig.log.count(tag) >= 200, 120)
    second.start()  # joins the group: the partitions are split between the two
    # The second half goes out once the split is done, so both instances
    # have claims to take however fast the first drains the first half.
    assert wait_until(lambda: _assigned(second.metrics_port) > 0, 120)
    joined = time.monotonic() - started
    fast_produce(rig.kafka.bootstrap, CLAIMS_SUBMITTED.name, records[1500:])
    at_join = rig.log.count(tag)
    assert wait_until(lambda: rig.log.count(tag) >= at_join + 300, 180)
    stop(first)  # leaves the group: the second instance takes every partition
    left = time.monotonic() - started
    got = rig.log.wait_for(tag, len(keys), timeout_s=300, settle_s=3)
    answered, extra = tally(got, keys)
    units = _check_results(rig.kafka.bootstrap, tag, "UNITS")
    consumed = _consumed(second.metrics_port)
    Figures(
        "two units instances",
        submitted=len(keys),
        results=answered,
        duplicates=extra,
        extra={
            "second joined at (s)": f"{joined:.1f}",
            "first left at (s)": f"{left:.1f}",
            "UNITS verdicts redelivered (absorbed by the aggregator)": str(
                sum(units.values()) - len(units)
            ),
            "claims the second instance consumed": str(int(consumed)),
            "all answered after (s)": f"{time.monotonic() - started:.1f}",
        },
    ).show()
    assert answered == len(keys), "a claim was lost through the rebalance"
    assert extra == 0, "a claim got two results through the rebalance"
    assert set(units) == set(keys)
    assert consumed > 0
    # The second instance carries on as the rig's units service.
    rig.procs["units"] = second
    rig.extra.remove(second)


# --- 3. kill -9 each service mid-stream --------------------------------------------------


def test_kill_9_of_each_service_mid_stream_loses_and_doubles_nothing(rig: Rig) -> None:
    tag = "KILL"
    total = 5000
    records = claim_records(tag, total)
    keys = [k.decode() for k, _, _ in records]
    chunks = [records[i::5] for i in range(5)]
    recovery: dict[str, str] = {}
    started = time.monotonic()
    fast_produce(rig.kafka.bootstrap, CLAIMS_SUBMITTED.name, chunks[0])
    sent = len(chunks[0])
    for n, name in enumerate(STREAM_SERVICES, start=1):
        # Mid-stream: results are flowing and most of what was sent is not done.
        assert wait_until(_grown(rig.log, tag, 100), 300), name
        p = rig.procs[name]
        killed_at = time.monotonic()
        _kill9(p)
        p.start()
        healthy = time.monotonic() - killed_at
        fast_produce(rig.kafka.bootstrap, CLAIMS_SUBMITTED.name, chunks[n])
        sent += len(chunks[n])
        recovery[name] = f"healthy after {healthy:.1f} s"
    got = rig.log.wait_for(tag, total, timeout_s=600, settle_s=5)
    answered, extra = tally(got, keys)
    aggregator = scrape(rig.procs["aggregator"].metrics_port)
    incomplete = sum(
        1
        for k in keys
        for _, r in got.get(k, ())
        if any(e.code == "CHECK_INCOMPLETE" for e in r.edits)
    )
    Figures(
        "kill -9",
        submitted=sent,
        results=answered,
        duplicates=extra,
        extra={
            **{f"{k} restarted": v for k, v in recovery.items()},
            "CHECK_INCOMPLETE": str(incomplete),
            "all answered after (s)": f"{time.monotonic() - started:.1f}",
            "after the aggregator's restart: verdicts redelivered / versions not published "
            "again, proved by a mark / by the read-back": "{:.0f} / {:.0f} / {:.0f}".format(
                sum(
                    v for k, v in aggregator.items() if k.startswith("claimscrub_redelivered_total")
                ),
                aggregator.get('claimscrub_republish_skipped_total{by="mark"}', 0.0),
                aggregator.get('claimscrub_republish_skipped_total{by="readback"}', 0.0),
            ),
        },
    ).show()
    assert sent == total
    assert answered == total, "a claim was lost"
    assert extra == 0, "a claim got two results"
    assert incomplete == 0
    wrong = [k for k in keys if [e.code for e in got[k][0][1].edits] != expected_codes(k)]
    assert wrong == []


# --- 4. the broker stopped and restarted ---------------------------------------------------


def test_broker_restart_mid_stream_loses_and_doubles_nothing(rig: Rig) -> None:
    tag = "BROKER"
    records = claim_records(tag, 2000)
    keys = [k.decode() for k, _, _ in records]
    started = time.monotonic()
    fast_produce(rig.kafka.bootstrap, CLAIMS_SUBMITTED.name, records)
    assert wait_until(lambda: rig.log.count(tag) >= 200, 300)
    at_stop = rig.log.count(tag)
    down_at = time.monotonic()
    rig.kafka.stop()
    time.sleep(5)  # the broker stays down a while: clients must retry, not give up
    rig.kafka.restart()
    up_at = time.monotonic()
    up_after = up_at - down_at
    resumed = wait_until(lambda: rig.log.count(tag) > at_stop, 300)
    got = rig.log.wait_for(tag, len(keys), timeout_s=600, settle_s=5)
    answered, extra = tally(got, keys)
    incomplete = sum(
        1
        for k in keys
        for _, r in got.get(k, ())
        if any(e.code == "CHECK_INCOMPLETE" for e in r.edits)
    )
    arrivals = sorted(t for k in keys for t, _ in got.get(k, ()))
    before = [t for t in arrivals if t < down_at]
    after = [t for t in arrivals if t > up_at]
    Figures(
        "broker restart",
        submitted=len(keys),
        results=answered,
        duplicates=extra,
        extra={
            "results before the stop": str(at_stop),
            "broker stopped, then started again after (s)": f"{up_after:.1f}",
            "no results for (s)": f"{after[0] - before[-1]:.1f}" if before and after else "-",
            "first result after the restart (s)": f"{after[0] - up_at:.1f}" if after else "-",
            "CHECK_INCOMPLETE": str(incomplete),
            "all answered after (s)": f"{time.monotonic() - started:.1f}",
        },
    ).show()
    assert resumed
    assert answered == len(keys), "a claim was lost"
    assert extra == 0, "a claim got two results"
    assert incomplete == 0
    for p in rig.procs.values():
        assert p.proc is not None and p.proc.poll() is None, f"{p.name} died"


# --- 5. a check stopped for good ----------------------------------------------------------


def _scrub(port: int, record: Record, timeout_s: float = 60) -> ScrubResult:
    from claimscrub.core.codec import scrub_result_from_pb

    request = claim_pb2.Claim()
    request.ParseFromString(record[1])
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = scrub_service_pb2_grpc.ScrubServiceStub(channel)
        return scrub_result_from_pb(stub.Scrub(request, timeout=timeout_s))


def test_a_check_stopped_for_good_gives_check_incomplete_and_nothing_hangs(rig: Rig) -> None:
    tag = "DEAD"
    # Two aggregator instances with a short timeout: each claim must get one
    # CHECK_INCOMPLETE, so a timer acting on the other instance's (standby)
    # partitions would show as a duplicate.
    stop(rig.procs["aggregator"])
    # (The units service now running is the second instance of test 2.)
    env = {
        "CLAIMSCRUB_CHECK_TIMEOUT_SECONDS": "5",
        "CLAIMSCRUB_UNITS_ADDR": f"127.0.0.1:{rig.procs['units'].grpc_port}",
    }
    first = rig.spawn("aggregator-a", "claimscrub.aggregator.main", **env)
    second = rig.spawn("aggregator-b", "claimscrub.aggregator.main", **env)
    first.start()
    second.start()
    stop(rig.procs["enrollment"])
    records = claim_records(tag, 300)
    keys = [k.decode() for k, _, _ in records]
    started = time.monotonic()
    fast_produce(rig.kafka.bootstrap, CLAIMS_SUBMITTED.name, records)
    got = rig.log.wait_for(tag, len(keys), timeout_s=180, settle_s=8)
    all_in = time.monotonic() - started
    answered, extra = tally(got, keys)
    waits = sorted(t - started for k in keys for t, _ in got.get(k, ())[:1])

    # The synchronous API: the dead check is reported, not raised...
    dead = _scrub(first.grpc_port, records[0])
    # ...and so is a hung one: SIGSTOP leaves its connection open and its
    # requests unanswered (asked once first, so the connection is up).
    assert "NECESSITY" in _scrub(second.grpc_port, records[1]).checks
    hung = rig.procs["necessity"]
    assert hung.proc is not None
    hung.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        both = _scrub(second.grpc_port, records[1])
        sync_wait = time.monotonic() - t0
    finally:
        hung.proc.send_signal(signal.SIGCONT)
    Figures(
        "check stopped for good",
        submitted=len(keys),
        results=answered,
        duplicates=extra,
        extra={
            "timeout (s)": "5",
            "first / last result after (s)": f"{waits[0]:.1f} / {waits[-1]:.1f}" if waits else "-",
            "all answered after (s)": f"{all_in:.1f}",
            "sync answer with a hung check after (s)": f"{sync_wait:.1f}",
        },
    ).show()

    assert answered == len(keys), "a claim hangs without a result"
    assert extra == 0, "two instances both timed a claim out"
    for k in keys:
        result = got[k][0][1]
        codes = [e.code for e in result.edits]
        assert codes[0] == "CHECK_INCOMPLETE" and "ENROLLMENT" in result.edits[0].message, k
        assert codes[1:] == expected_codes(k)
        assert result.checks == ("UNITS", "NECESSITY")
        assert result.status.value == "HOLD"
    assert [(e.code, e.message) for e in dead.edits if e.code == "CHECK_INCOMPLETE"] == [
        ("CHECK_INCOMPLETE", "ENROLLMENT did not answer (UNAVAILABLE)")
    ]
    messages = sorted(e.message for e in both.edits if e.code == "CHECK_INCOMPLETE")
    assert messages == [
        "ENROLLMENT did not answer (UNAVAILABLE)",
        "NECESSITY did not answer within 3 s",
    ]
    assert both.checks == ("UNITS",)


def test_a_check_back_after_the_timeout_gives_revision_2_once(rig: Rig) -> None:
    """Contract §3 ``revision``: the check stopped in test 5 comes back; its
    verdicts for the claims that got CHECK_INCOMPLETE arrive within the
    late-verdict window (default an hour), and each claim version gets
    revision 2, combined from every check, exactly once."""
    tag = "DEAD"
    keys = [f"{tag}-{i:05d}" for i in range(300)]
    # The two aggregators of test 5 run on; enrollment reads on from where it stopped.
    rig.procs["enrollment"].start()
    started = time.monotonic()

    def revised() -> int:
        got = rig.log.results(tag)
        return sum(1 for k in keys if len(got.get(k, ())) >= 2)

    wait_until(lambda: revised() == len(keys), 180)
    all_in = time.monotonic() - started
    time.sleep(8)  # a third result would show
    got = rig.log.results(tag)
    Figures(
        "check back after the timeout",
        submitted=len(keys),
        results=sum(1 for k in keys if len(got.get(k, ())) >= 2),
        duplicates=sum(max(0, len(got.get(k, ())) - 2) for k in keys),
        extra={"revision 2 for all after (s)": f"{all_in:.1f}"},
    ).show()
    for k in keys:
        results = [r for _, r in got.get(k, ())]
        assert [r.revision for r in results] == [1, 2], k
        first, second = results
        assert [e.code for e in first.edits] == ["CHECK_INCOMPLETE", *expected_codes(k)], k
        assert [e.code for e in second.edits] == expected_codes(k), k
        assert set(second.checks) == {"UNITS", "NECESSITY", "ENROLLMENT"}, k

"""``claimscrub submit FILE.837``: the interchange through the intake service.

The interchange is published whole on claims.x12 (key its ISA13), as a
billing platform would, so its claims reach claims.submitted from the intake
service only (the one source whose ``notChecked`` the checks honour,
docs/x12.md "Trust"). The file is also read here, with the intake's own
reading (claimscrub.x12.intake), to know which claims to wait for.

With ``--ack FILE`` or ``--wait`` the command first takes the end offsets of
claims.x12.acks, claims.scrubbed and claims.ready, then publishes, then reads
from those offsets: the 999 the intake answers with, each accepted claim's
result and, for ``--ready-wait``, the CLEAN claims the ready stage publishes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from claimscrub.cli.claims_input import InputError
from claimscrub.cli.submit import BrokerError, already_scrubbed, render_results
from claimscrub.core.codec import UndecodableEvent, decode_scrub_result, encode_claim_json
from claimscrub.core.results import ScrubResult, Status
from claimscrub.runtime.kafka_config import KafkaSecurity, kafka_client_kwargs
from claimscrub.runtime.topics import CLAIMS_SCRUBBED, CLAIMS_X12, CLAIMS_X12_ACKS
from claimscrub.x12.intake import claims_of, submitted_key
from claimscrub.x12.reader import Interchange, NotX12, open_text

#: The ready stage's topic (contract §6): CLEAN claims as submitted. Read only
#: when it exists; an older cluster has none.
READY_TOPIC = "claims.ready"


@dataclass
class Expected:
    """What the intake will publish for one interchange."""

    icn: str
    keys: list[str] = field(default_factory=list)
    encoded: list[tuple[bytes, bytes]] = field(default_factory=list)


def expected(data: bytes, source: str) -> Expected:
    """The interchange's control number and the key of each claim of its
    accepted sets, read as the intake service reads them."""
    out = Expected("")
    unnamed = 0
    try:
        interchange = Interchange(open_text(data))
        for tset, claim in claims_of(interchange):
            # The ISA is read with the first set (the intake names it alike).
            isa = interchange.isa
            out.icn = isa.get(13) if isa is not None else ""
            key = claim.parsed.claim_id
            if not key:
                unnamed += 1
                key = submitted_key(out.icn, tset.control, unnamed)
            out.keys.append(key)
            out.encoded.append(encode_claim_json(claim.event()))
        isa = interchange.isa
        out.icn = isa.get(13) if isa is not None else ""
    except NotX12 as exc:
        raise InputError(f"{source}: {exc}") from None
    return out


def submit_interchange(
    source: str,
    bootstrap: str,
    *,
    wait: bool,
    ack: str | None,
    timeout_s: float,
    fmt: str = "json",
    ready_wait_s: float = 0.0,
    out: TextIO = sys.stdout,
    security: KafkaSecurity | None = None,
    on_result: Callable[[str], None] | None = None,
) -> int:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.errors import KafkaError

    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({type(exc).__name__})") from None
    plan = expected(data, source)
    security = security or KafkaSecurity.from_env()
    consumer: Any = None
    ready: ReadyReader | None = None
    earlier: dict[str, ScrubResult] = {}
    topics: dict[str, list[Any]] = {}
    try:
        if wait or ack:
            consumer = KafkaConsumer(
                **kafka_client_kwargs(
                    bootstrap, security, enable_auto_commit=False, client_id="claimscrub-submit"
                )
            )
            wanted = [CLAIMS_X12_ACKS.name] + ([CLAIMS_SCRUBBED.name] if wait else [])
            for name in wanted:
                parts = consumer.partitions_for_topic(name)
                if not parts:
                    raise BrokerError(f"topic {name} does not exist (run make up)")
                topics[name] = [TopicPartition(name, p) for p in sorted(parts)]
            every = [tp for tps in topics.values() for tp in tps]
            consumer.assign(every)
            consumer.seek_to_end(*every)
            for tp in every:  # resolve positions now, before anything is produced
                consumer.position(tp)
            if wait and ready_wait_s > 0:
                ready = ReadyReader(bootstrap, security)
            if wait:
                earlier = already_scrubbed(
                    bootstrap,
                    security,
                    topics[CLAIMS_SCRUBBED.name],
                    consumer,
                    plan.keys,
                    plan.encoded,
                    sealed=True,
                )
        producer = KafkaProducer(
            **kafka_client_kwargs(
                bootstrap,
                security,
                acks="all",
                max_request_size=max(1_048_576, len(data) + 4096),
                client_id="claimscrub-submit",
            )
        )
        producer.send(CLAIMS_X12.name, key=plan.icn.encode(), value=data).get(timeout=timeout_s)
        producer.close()
    except KafkaError as exc:
        if consumer is not None:
            consumer.close()
        if ready is not None:
            ready.close()
        raise BrokerError(f"cannot publish to {bootstrap}: {type(exc).__name__}") from None
    print(
        f"submitted interchange {plan.icn} ({len(plan.keys)} claims in accepted sets) "
        f"to {CLAIMS_X12.name}",
        file=sys.stderr,
    )
    if consumer is None:
        return 0
    try:
        status, clean = _follow(
            consumer, plan, topics, earlier, timeout_s, ack, fmt, out, on_result
        )
        if ready is not None:
            ready.show([k for k in clean if k not in earlier], ready_wait_s, out)
            if any(k in earlier for k in clean):
                print(
                    "CLEAN claims scrubbed before this run had their ready records published then",
                    file=out,
                )
        return status
    finally:
        consumer.close()
        if ready is not None:
            ready.close()


def _follow(
    consumer: Any,
    plan: Expected,
    topics: dict[str, list[Any]],
    earlier: dict[str, ScrubResult],
    timeout_s: float,
    ack_path: str | None,
    fmt: str,
    out: TextIO,
    on_result: Callable[[str], None] | None,
) -> tuple[int, list[str]]:
    """The 999 and (with --wait) the results; the exit status and the CLEAN claims."""
    wait = CLAIMS_SCRUBBED.name in topics
    wanted = set(plan.keys)
    got: dict[str, ScrubResult] = dict(earlier)
    ack: bytes | None = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (ack is None or (wait and wanted - got.keys())):
        for rec in _records(consumer):
            key = (rec.key or b"").decode("utf-8", "replace")
            if rec.topic == CLAIMS_X12_ACKS.name and key == plan.icn and ack is None:
                ack = rec.value
            elif rec.topic == CLAIMS_SCRUBBED.name and key in wanted and key not in got:
                try:
                    got[key] = decode_scrub_result(rec.value)
                except UndecodableEvent:
                    continue
    status = 0
    if ack is None:
        print(f"timed out after {timeout_s:g}s: no 999 for interchange {plan.icn}", file=sys.stderr)
        status = 1
    else:
        _show_ack(ack, ack_path, out)
    if not wait:
        return status, []
    results = [got[k] for k in plan.keys if k in got]
    render_results(results, fmt, out)
    if on_result is not None:
        for r in results:
            on_result(r.claim_id)
    missing = [k for k in plan.keys if k not in got]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        print(
            f"timed out after {timeout_s:g}s: no result yet for {len(missing)} of "
            f"{len(plan.keys)} claims ({shown})",
            file=sys.stderr,
        )
        status = 1
    return status, [r.claim_id for r in results if r.status is Status.CLEAN]


def _records(consumer: Any) -> Iterable[Any]:
    for records in consumer.poll(timeout_ms=500).values():
        yield from records


def _show_ack(ack: bytes, path: str | None, out: TextIO) -> None:
    if path is not None:
        Path(path).write_bytes(ack)
        print(f"999 written to {path}", file=sys.stderr)
        return
    text = ack.decode("latin-1")
    print("--- 999 from claims.x12.acks:", file=out)
    # One segment a line: the 999 holds control numbers and codes, no claim values.
    terminator = text[105] if len(text) > 105 else "~"
    for segment in text.split(terminator):
        if segment.strip():
            print(segment.strip() + terminator, file=out)


class ReadyReader:
    """claims.ready from its end offsets taken before the interchange is sent.

    The ready stage may not exist on a cluster yet, and a principal may not be
    allowed to read it: either is said in one line, never an error of the
    command (its 999 and results are already shown)."""

    def __init__(self, bootstrap: str, security: KafkaSecurity) -> None:
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import KafkaError

        self.problem = ""
        self._consumer: Any = None
        try:
            self._consumer = KafkaConsumer(
                **kafka_client_kwargs(
                    bootstrap, security, enable_auto_commit=False, client_id="claimscrub-submit"
                )
            )
            parts = self._consumer.partitions_for_topic(READY_TOPIC)
            if not parts:
                self.problem = f"no topic {READY_TOPIC} on this cluster"
                return
            tps = [TopicPartition(READY_TOPIC, p) for p in sorted(parts)]
            self._consumer.assign(tps)
            self._consumer.seek_to_end(*tps)
            for tp in tps:
                self._consumer.position(tp)
        except KafkaError as exc:
            self.problem = f"cannot read {READY_TOPIC} ({type(exc).__name__})"

    def show(self, clean: list[str], wait_s: float, out: TextIO) -> None:
        from kafka.errors import KafkaError

        print(f"--- ready claims from {READY_TOPIC}:", file=out)
        found: dict[str, Any] = {}
        wanted = set(clean)
        if not self.problem:
            deadline = time.monotonic() + wait_s
            try:
                while time.monotonic() < deadline and wanted - found.keys():
                    for rec in _records(self._consumer):
                        key = (rec.key or b"").decode("utf-8", "replace")
                        if key in wanted:
                            found.setdefault(key, rec)
            except KafkaError as exc:
                self.problem = f"cannot read {READY_TOPIC} ({type(exc).__name__})"
        for key in [k for k in clean if k in found]:
            rec = found[key]
            headers = dict(rec.headers or [])
            content_type = headers.get("content-type", b"").decode("ascii", "replace")
            size = len(rec.value or b"")
            print(f"{key} ({content_type or 'no content type'}, {size} bytes)", file=out)
            print((rec.value or b"").decode("latin-1").rstrip(), file=out)
        if not found:
            print(f"none yet{': ' + self.problem if self.problem else ''}", file=out)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from claimscrub.cli.claims_input import InputError
from claimscrub.cli.submit import BrokerError, already_scrubbed, render_results
from claimscrub.core.codec import UndecodableEvent, decode_scrub_result, encode_claim_json
from claimscrub.core.results import ScrubResult, Status
from claimscrub.runtime.kafka_config import KafkaSecurity
from claimscrub.runtime.kafka_io import OnRead, Received, Tail, TopicMissing, produce_all
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
    on_read: OnRead | None = None,
) -> int:
    """``on_read``: told of each claims.ready record read (the PHI read audit)."""
    from confluent_kafka import KafkaException

    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({type(exc).__name__})") from None
    plan = expected(data, source)
    security = security or KafkaSecurity.from_env()
    tail: Tail | None = None
    ready: ReadyReader | None = None
    earlier: dict[str, ScrubResult] = {}
    try:
        if wait or ack:
            wanted = [CLAIMS_X12_ACKS.name] + ([CLAIMS_SCRUBBED.name] if wait else [])
            # From the end as it is now, before anything is produced.
            tail = Tail(bootstrap, security, wanted, client_id="claimscrub-submit")
            if wait and ready_wait_s > 0:
                ready = ReadyReader(bootstrap, security, on_read)
            if wait:
                earlier = already_scrubbed(
                    bootstrap, security, plan.keys, plan.encoded, sealed=True
                )
        produce_all(
            bootstrap,
            CLAIMS_X12.name,
            [(plan.icn.encode(), data, [])],
            client_id="claimscrub-submit",
            timeout_s=timeout_s,
            security=security,
            message_max_bytes=max(1_048_576, len(data) + 4096),
        )
    except TopicMissing as exc:
        if ready is not None:
            ready.close()
        raise BrokerError(f"topic {exc.topic} does not exist (run make up)") from None
    except KafkaException as exc:
        if tail is not None:
            tail.close()
        if ready is not None:
            ready.close()
        raise BrokerError(f"cannot publish to {bootstrap}: {exc.args[0].name()}") from None
    print(
        f"submitted interchange {plan.icn} ({len(plan.keys)} claims in accepted sets) "
        f"to {CLAIMS_X12.name}",
        file=sys.stderr,
    )
    if tail is None:
        return 0
    try:
        status, clean = _follow(tail, plan, wait, earlier, timeout_s, ack, fmt, out, on_result)
        if ready is not None:
            ready.show([k for k in clean if k not in earlier], ready_wait_s, out)
            if any(k in earlier for k in clean):
                print(
                    "CLEAN claims scrubbed before this run had their ready records published then",
                    file=out,
                )
        return status
    finally:
        tail.close()
        if ready is not None:
            ready.close()


def _follow(
    tail: Tail,
    plan: Expected,
    wait: bool,
    earlier: dict[str, ScrubResult],
    timeout_s: float,
    ack_path: str | None,
    fmt: str,
    out: TextIO,
    on_result: Callable[[str], None] | None,
) -> tuple[int, list[str]]:
    """The 999 and (with --wait) the results; the exit status and the CLEAN claims."""
    wanted = set(plan.keys)
    got: dict[str, ScrubResult] = dict(earlier)
    ack: bytes | None = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (ack is None or (wait and wanted - got.keys())):
        for rec in tail.records():
            key = rec.key.decode("utf-8", "replace")
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

    def __init__(
        self, bootstrap: str, security: KafkaSecurity, on_read: OnRead | None = None
    ) -> None:
        from confluent_kafka import KafkaException

        self.problem = ""
        self._tail: Tail | None = None
        try:
            self._tail = Tail(
                bootstrap, security, [READY_TOPIC], client_id="claimscrub-submit", on_read=on_read
            )
        except TopicMissing:
            self.problem = f"no topic {READY_TOPIC} on this cluster"
        except KafkaException as exc:
            self.problem = f"cannot read {READY_TOPIC} ({exc.args[0].name()})"

    def show(self, clean: list[str], wait_s: float, out: TextIO) -> None:
        from confluent_kafka import KafkaException

        print(f"--- ready claims from {READY_TOPIC}:", file=out)
        found: dict[str, Received] = {}
        wanted = set(clean)
        if self._tail is not None:
            deadline = time.monotonic() + wait_s
            try:
                while time.monotonic() < deadline and wanted - found.keys():
                    for rec in self._tail.records():
                        key = rec.key.decode("utf-8", "replace")
                        if key in wanted:
                            found.setdefault(key, rec)
            except KafkaException as exc:
                self.problem = f"cannot read {READY_TOPIC} ({exc.args[0].name()})"
        _print_ready(clean, found, self.problem, out)

    def close(self) -> None:
        if self._tail is not None:
            self._tail.close()


def _print_ready(clean: list[str], found: dict[str, Received], problem: str, out: TextIO) -> None:
    for key in [k for k in clean if k in found]:
        rec = found[key]
        headers = dict(rec.headers)
        content_type = headers.get("content-type", b"").decode("ascii", "replace")
        print(f"{key} ({content_type or 'no content type'}, {len(rec.value)} bytes)", file=out)
        print(rec.value.decode("latin-1").rstrip(), file=out)
    if not found:
        print(f"none yet{': ' + problem if problem else ''}", file=out)


def print_ready(
    bootstrap: str,
    claim_ids: list[str],
    *,
    timeout_s: float,
    out: TextIO,
    security: KafkaSecurity | None = None,
    on_record: Callable[[str], None] | None = None,
) -> int:
    """``claimscrub ready CLAIM_ID...``: the ready records of these claims on
    claims.ready (committed only), read from the beginning, as the next stage
    (the ``sender`` principal) reads them; ``on_record`` gets each printed
    claim id (the audit). Exit 0 when every claim's record was printed, 1 when
    some did not come within ``timeout_s``."""
    from confluent_kafka import KafkaException

    try:
        tail = Tail(bootstrap, security, [READY_TOPIC], client_id="claimscrub-ready",
                    from_beginning=True)  # fmt: skip
    except TopicMissing:
        print(f"claimscrub: topic {READY_TOPIC} does not exist or is not readable", file=sys.stderr)
        return 1
    found: dict[str, Received] = {}
    wanted = set(claim_ids)
    problem = ""
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and wanted - found.keys():
            for rec in tail.records():
                key = rec.key.decode("utf-8", "replace")
                if key in wanted:
                    found[key] = rec  # the latest record of the claim
    except KafkaException as exc:
        problem = f"cannot read {READY_TOPIC} ({exc.args[0].name()})"
    finally:
        tail.close()
    print(f"--- ready claims from {READY_TOPIC}:", file=out)
    _print_ready(claim_ids, found, problem, out)
    for key in claim_ids:
        if key in found and on_record is not None:
            on_record(key)
    return 0 if wanted <= found.keys() else 1

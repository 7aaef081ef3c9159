"""``claimscrub``: scrub claims in-process, submit them to Kafka, manage data.

Exit codes: 0 when every claim got a result (whatever the verdicts); 1 when
``submit --wait`` timed out before every result came back; 2 for usage errors
or unreadable input/reference data, with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import Any

from claimscrub import __version__
from claimscrub.cli.checks import add_reference_options

DESCRIPTION = """\
Catch what would get outpatient therapy claims denied before they reach the payer.

  claimscrub scrub claims.json               scrub in this process (no broker)
  claimscrub scrub claims.jsonl --format json --as-of 2026-06-01
  claimscrub scrub claims.json --remote 127.0.0.1:50055   through the running services
  claimscrub scrub claims.837 --ack claims.999 --ready-out ready.837
  claimscrub submit claims.json --wait       through the Kafka pipeline (make up)
  claimscrub enrollment load providers.json  publish enrollment records (make up)
  claimscrub reference load mue MUE.csv --effective 2026-07-01   a new dated version
  claimscrub reference list                  the published reference data versions
  claimscrub redact claims.json              de-identified claims, one JSON per line
  claimscrub redact --text < note.txt        free text with its PHI replaced
  claimscrub dlq list                        dead-lettered records (metadata, no content)
  claimscrub dlq replay --partition 2 --offset 17 --file fixed.json
  claimscrub keys status                     the HMAC key ids in use (never the keys)
  claimscrub keys rotate                     the steps of a key rotation

CLAIMS is a .json file (one claim or an array), a .jsonl file, an X12 837P
interchange (recognised by its ISA header; --ack FILE writes its 999), or - for stdin.
The claim format, edit codes and result format: docs/contract.md in the source tree.
"""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="claimscrub",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"claimscrub {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    scrub = sub.add_parser(
        "scrub",
        help="scrub claims in this process, no broker needed",
        description="Run every check on CLAIMS in one process and print one result per claim, "
        "in input order. Reference data defaults to the bundled files.",
    )
    scrub.add_argument(
        "claims", metavar="CLAIMS", help=".json, .jsonl, an 837P interchange, or - for stdin"
    )
    scrub.add_argument(
        "--ack", metavar="FILE", help="837P input: write its 999 acknowledgment to FILE"
    )
    scrub.add_argument(
        "--ready-out",
        metavar="FILE",
        help="write the claims that came out CLEAN to FILE, in the input's format "
        "(JSON, JSON Lines, or a validated 837P)",
    )
    scrub.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="table for people (default); json: one result per line",
    )
    scrub.add_argument(
        "--as-of",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="processing date, the default submissionDate (default: today)",
    )
    add_reference_options(scrub)
    scrub.add_argument(
        "--remote",
        metavar="HOST:PORT",
        help="scrub through a running aggregator's gRPC ScrubService (its reference data "
        "and state) instead of in this process",
    )

    submit = sub.add_parser(
        "submit",
        help="publish claims to claims.submitted, or an 837P to claims.x12 (Kafka)",
        description="Publish CLAIMS to claims.submitted at KAFKA_BOOTSTRAP_SERVERS "
        "(default 127.0.0.1:9092); an 837P interchange goes whole to claims.x12, for the "
        "intake service. With --wait, print each claim's ScrubResult from claims.scrubbed "
        "in input order (and for an 837P its 999 from claims.x12.acks).",
    )
    submit.add_argument(
        "claims", metavar="CLAIMS", help=".json, .jsonl, an 837P interchange, or - for stdin"
    )
    submit.add_argument(
        "--ack",
        metavar="FILE",
        help="837P input: wait for its 999 on claims.x12.acks and write it to FILE",
    )
    submit.add_argument("--wait", action="store_true", help="wait for and print the results")
    submit.add_argument(
        "--timeout",
        type=_positive,
        default=60.0,
        metavar="SECONDS",
        help="how long --wait waits for all results (default 60)",
    )
    submit.add_argument(
        "--format",
        choices=["json", "table", "detail"],
        default="json",
        help="--wait's output: json, one result per line (default); table as scrub prints; "
        "detail, each edit's CARC and rule and the reference data versions that judged it",
    )
    submit.add_argument(
        "--ready-wait",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="837P with --wait: also print the CLEAN claims the ready stage publishes on "
        "claims.ready, waiting at most SECONDS for them",
    )

    enrollment = sub.add_parser(
        "enrollment",
        help="manage provider enrollment records (Kafka)",
        description="Provider enrollment records on the compacted topic providers.enrollment.",
    )
    enrollment_sub = enrollment.add_subparsers(
        dest="enrollment_command", metavar="ACTION", required=True
    )
    load = enrollment_sub.add_parser(
        "load",
        help="publish a file of enrollment records to providers.enrollment",
        description="Validate FILE (JSON array or JSON Lines of enrollment records) and "
        "publish every record, keyed npi:payerId, to providers.enrollment at "
        "KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092). Nothing is published "
        "unless every record is valid.",
    )
    load.add_argument("file", metavar="FILE", help="enrollment records (.json or .jsonl)")

    _add_reference_commands(sub)
    _add_redaction_commands(sub)
    _add_dlq_commands(sub)
    _add_audit_commands(sub)
    _add_keys_commands(sub)
    return parser


def _add_reference_commands(sub: Any) -> None:
    from claimscrub.core.versions import KINDS

    reference = sub.add_parser(
        "reference",
        help="manage reference data versions (Kafka)",
        description="Dated versions of payer policies and CMS tables on the compacted topics "
        "reference.payers and reference.tables (docs/reference-data.md).",
    )
    ref_sub = reference.add_subparsers(dest="reference_command", metavar="ACTION", required=True)
    load = ref_sub.add_parser(
        "load",
        help="validate files and publish them as a new version",
        description="Validate every FILE whole with the loader of the kind's scrub option "
        "and publish them as one new version; nothing is published unless all is valid, "
        "so the version in force stays. ptp: repeat FILE for the quarter's four files.",
    )
    load.add_argument("kind", choices=KINDS, metavar="KIND", help=" | ".join(KINDS))
    load.add_argument("files", nargs="+", metavar="FILE")
    load.add_argument(
        "--effective",
        type=_date,
        metavar="YYYY-MM-DD",
        help="first date of service the version applies to (payers: for records "
        "without effectiveDate); without it, from the beginning",
    )
    load.add_argument(
        "--version",
        dest="label",
        metavar="LABEL",
        help="version id to publish under (default: effective date + content hash)",
    )
    ref_sub.add_parser(
        "list",
        help="the published versions, per kind",
        description="Every published version, one JSON object a line, per kind in "
        "contract order, oldest first.",
    )
    withdraw = ref_sub.add_parser(
        "withdraw",
        help="withdraw a published version (roll back)",
        description="Remove a published version: dates of service it covered go back to "
        "the version before it. payers: VERSION is PAYER@DATE.HASH as listed.",
    )
    withdraw.add_argument("kind", choices=KINDS, metavar="KIND", help=" | ".join(KINDS))
    withdraw.add_argument("version", metavar="VERSION")


def _add_audit_commands(sub: Any) -> None:
    audit = sub.add_parser(
        "audit",
        help="read the PHI access trail, audit.access (Kafka)",
        description="Who read or served PHI, when, and how it ended (docs/operations.md "
        "'Security'). Secured brokers: as the auditor principal, the only one that reads it.",
    )
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    q = audit_sub.add_parser(
        "query",
        help="events of one principal (or all) since a time, one JSON per line",
        description="Print audit.access events recorded since --since, oldest first per "
        "partition, one JSON per line: time, principal, method or topic, claimToken, outcome.",
    )
    q.add_argument("--principal", help="only this principal's events (default: every one)")
    q.add_argument(
        "--since",
        required=True,
        help="a date (2026-05-04, midnight UTC) or ISO 8601 time (UTC unless it has an offset)",
    )
    q.add_argument(
        "--timeout",
        type=_positive,
        default=60.0,
        metavar="SECONDS",
        help="how long reading the topic to its end may take (default 60)",
    )


def _add_keys_commands(sub: Any) -> None:
    from claimscrub.runtime.topics import NECESSITY_BY_BENEFICIARY, NECESSITY_HISTORY_CHANGELOG

    keys = sub.add_parser(
        "keys",
        help="the HMAC keyring: key ids, rotation steps",
        description="The HMAC keyring (CLAIMSCRUB_HMAC_KEYS[_FILE], or the single "
        "CLAIMSCRUB_HMAC_KEY[_FILE] as a one-key ring). Secrets are never printed "
        "(docs/operations.md, runbook 'Rotating the HMAC key').",
    )
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    st = keys_sub.add_parser(
        "status",
        help="where the ring comes from, its key ids oldest first, the current one",
        description="Print the ring's source, its key ids oldest first and each one's "
        "role (previous, current, upcoming). Never a secret.",
    )
    st.add_argument("--json", action="store_true", help="one JSON object")
    rot = keys_sub.add_parser(
        "rotate",
        help="print the rotation steps; --apply moves necessity's histories (Kafka)",
        description="Print the steps of a key rotation, marking where the configured "
        "ring is. --apply sends a rekey request for every beneficiary history stored "
        "under an older key than the ring's newest (necessity then copies or moves it). "
        "Secured brokers: as a principal that reads the history changelog and writes "
        "necessity's repartition topic (admin).",
    )
    rot.add_argument("--apply", action="store_true", help="send the rekey requests")
    rot.add_argument(
        "--changelog",
        default=NECESSITY_HISTORY_CHANGELOG.name,
        metavar="TOPIC",
        help="necessity's history changelog (default %(default)s)",
    )
    rot.add_argument(
        "--topic",
        default=NECESSITY_BY_BENEFICIARY.name,
        metavar="TOPIC",
        help="necessity's repartition topic (default %(default)s)",
    )
    rot.add_argument(
        "--timeout", type=_positive, default=120.0, metavar="SECONDS", help="default 120"
    )


def _add_dlq_commands(sub: Any) -> None:
    dlq = sub.add_parser(
        "dlq",
        help="list dead-lettered records, re-submit a fixed claim (Kafka)",
        description="Records the services sent to claims.dlq (docs/operations.md, "
        "runbook 'Replaying the DLQ'). Secured brokers: as a principal that reads "
        "claims.dlq and writes claims.submitted (admin).",
    )
    dlq_sub = dlq.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    listing = dlq_sub.add_parser(
        "list",
        help="the newest records' metadata (never their content)",
        description="Print partition, offset, time, service, source (topic/partition@offset), "
        "key and reason of the newest dead-lettered records, oldest first. The record's "
        "value is never printed: it is the event as received and may hold PHI.",
    )
    listing.add_argument("--limit", type=int, default=50, help="how many records (default 50)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument(
        "--timeout", type=_positive, default=30.0, metavar="SECONDS", help="default 30"
    )
    replay = dlq_sub.add_parser(
        "replay",
        help="publish a fixed claim for a dead-lettered record to claims.submitted",
        description="Check that the record at --partition/--offset came from "
        "claims.submitted, that FILE holds one claim whose claimId is the record's key "
        "and that it decodes, then publish it to claims.submitted under that key with "
        "a claimscrub-replay-of header. Its result arrives on claims.scrubbed.",
    )
    replay.add_argument("--partition", type=int, required=True, help="the record's DLQ partition")
    replay.add_argument("--offset", type=int, required=True, help="the record's DLQ offset")
    replay.add_argument("--file", required=True, metavar="FIXED.json", help="the fixed claim")


def _add_redaction_commands(sub: Any) -> None:
    redact = sub.add_parser(
        "redact",
        help="de-identify claims, or redact free text from stdin",
        description="De-identify CLAIMS (one JSON per line: keyed pseudonyms, ZIP3, years, "
        "no names or contact data), or with --text redact PHI from the text on stdin. "
        "Key: CLAIMSCRUB_HMAC_KEY or CLAIMSCRUB_HMAC_KEY_FILE (a development key "
        "otherwise, with a warning; CLAIMSCRUB_MODE=production requires a key).",
    )
    redact.add_argument("claims", nargs="?", metavar="CLAIMS", help=".json, .jsonl, or -")
    redact.add_argument("--text", action="store_true", help="redact free text from stdin")
    redact.add_argument(
        "--claim",
        metavar="FILE",
        help="with --text: a claim (JSON) whose own PHI values are removed wherever they appear",
    )
    redact.add_argument(
        "--dates",
        choices=["year", "shift"],
        default=None,
        help="dates cut to the year, or shifted per patient (default: CLAIMSCRUB_DATE_MODE "
        "or year)",
    )
    ready = sub.add_parser(
        "ready",
        help="print claims' records from claims.ready (Kafka)",
        description="Print the ready records (the CLEAN claims as submitted) of each "
        "CLAIM_ID from claims.ready, as the next stage reads them (the sender principal).",
    )
    ready.add_argument("claim_ids", nargs="+", metavar="CLAIM_ID")
    ready.add_argument(
        "--timeout",
        type=_positive,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for them (default 30)",
    )
    reader = sub.add_parser(
        "deidentified",
        help="print records from claims.deidentified (Kafka)",
        description="Print de-identified claim records (with their results) from "
        "claims.deidentified, oldest first, one JSON per line.",
    )
    reader.add_argument("--limit", type=int, default=10, help="how many records (default 10)")
    reader.add_argument(
        "--timeout",
        type=_positive,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for them (default 30)",
    )
    reader.add_argument("--pretty", action="store_true", help="indented JSON")


def _fail(message: str) -> int:
    print(f"claimscrub: {message}", file=sys.stderr)
    return 2


_LOCAL_ONLY = ("payers", "mue", "enrollment", "ptp", "coverage", "code_status", "as_of")


def _scrub(args: argparse.Namespace) -> int:
    from claimscrub.cli import output
    from claimscrub.cli.checks import build_checks
    from claimscrub.cli.claims_input import InputError, read_claims
    from claimscrub.cli.scrub import RemoteError, RemoteScrubber, Scrubber
    from claimscrub.core.payers import ReferenceDataError
    from claimscrub.core.results import Status

    scrubber: Scrubber | RemoteScrubber
    if args.remote:
        given = [f"--{o.replace('_', '-')}" for o in _LOCAL_ONLY if getattr(args, o)]
        if given:
            return _fail(
                f"scrub --remote uses the services' reference data and date; drop {given[0]}"
            )
        if ":" not in args.remote:
            return _fail(f"--remote must be HOST:PORT, not {args.remote!r}")
    from claimscrub.cli.x12_input import is_x12

    if is_x12(args.claims):
        if args.remote:
            return _fail("scrub --remote takes contract JSON claims, not an 837P")
        return _scrub_x12(args)
    if args.ack:
        return _fail(f"--ack: {args.claims} is not an 837P interchange")
    try:
        claims = read_claims(args.claims)
        if args.remote:
            scrubber = RemoteScrubber(args.remote)
        else:
            scrubber = Scrubber(build_checks(args), args.as_of or dt.date.today())
    except (InputError, ReferenceDataError) as exc:
        return _fail(str(exc))
    if args.enrollment is None and not args.remote:
        print("claimscrub: no --enrollment FILE: no provider is enrolled", file=sys.stderr)
    progress = output.Progress(len(claims), "scrubbed")
    results = []
    clean: list[bool] = []
    try:
        for i, result in enumerate(scrubber.scrub_all(claims), start=1):
            clean.append(result.status is Status.CLEAN)
            if args.format == "json":
                print(output.json_line(result))
            else:
                results.append(result)
            progress.update(i)
    except RemoteError as exc:
        progress.close()
        return _fail(str(exc))
    progress.close()
    if args.format == "table":
        output.table(results, sys.stdout)
    if args.ready_out:
        try:
            output.write_ready(args.ready_out, claims, clean, jsonl=args.claims.endswith(".jsonl"))
        except OSError as exc:
            return _fail(f"--ready-out: cannot write ({type(exc).__name__})")
    return 0


def _scrub_x12(args: argparse.Namespace) -> int:
    from claimscrub.cli import output
    from claimscrub.cli.checks import build_checks
    from claimscrub.cli.claims_input import InputError
    from claimscrub.cli.scrub import Scrubber
    from claimscrub.cli.x12_input import scrub_interchange
    from claimscrub.core.payers import ReferenceDataError
    from claimscrub.core.results import ScrubResult

    try:
        scrubber = Scrubber(build_checks(args), args.as_of or dt.date.today())
    except ReferenceDataError as exc:
        return _fail(str(exc))
    if args.enrollment is None:
        print("claimscrub: no --enrollment FILE: no provider is enrolled", file=sys.stderr)
    # The table needs only each result's rows; the counts are kept apart so
    # that JSON output holds nothing per claim.
    results: list[ScrubResult] = []
    progress = output.Progress(1000, "read", min_total=0)
    shown = -1

    def emit(result: ScrubResult) -> None:
        if args.format == "json":
            print(output.json_line(result))
        else:
            results.append(result)

    def advance(done: int, total: int) -> None:
        nonlocal shown
        permille = 1000 * done // max(1, total)
        if permille != shown:
            shown = permille
            progress.update(permille)

    try:
        scrub_interchange(
            args.claims,
            lambda claim, _position: scrubber.scrub_parsed(claim.parsed),
            emit,
            ack=args.ack,
            ready_out=args.ready_out,
            progress=advance,
        )
    except InputError as exc:
        progress.close()
        return _fail(str(exc))
    except OSError as exc:
        progress.close()
        return _fail(f"cannot write output ({type(exc).__name__})")
    progress.close()
    if args.format == "table":
        output.table(results, sys.stdout)
    return 0


def _submit(args: argparse.Namespace) -> int:
    from claimscrub.cli.claims_input import InputError, read_claims
    from claimscrub.cli.submit import BrokerError, submit
    from claimscrub.cli.x12_input import is_x12
    from claimscrub.runtime.audit import ReadAudit
    from claimscrub.runtime.topics import CLAIMS_SCRUBBED

    x12 = is_x12(args.claims)
    if args.ack and not x12:
        return _fail(f"--ack: {args.claims} is not an 837P interchange")
    if args.ready_wait and not (x12 and args.wait):
        return _fail("--ready-wait needs an 837P interchange and --wait")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    audit = ReadAudit(CLAIMS_SCRUBBED.name) if args.wait else None
    on_result = audit.claim if audit is not None else None
    reads = _topic_reads() if x12 and args.wait and args.ready_wait else None
    try:
        if x12:
            # Through the intake service, the one source of trusted notChecked.
            from claimscrub.cli.x12_submit import submit_interchange

            return submit_interchange(
                args.claims,
                bootstrap,
                wait=args.wait,
                ack=args.ack,
                timeout_s=args.timeout,
                fmt=args.format,
                ready_wait_s=args.ready_wait or 0.0,
                on_result=on_result,
                on_read=reads.observe if reads is not None else None,
            )
        claims = read_claims(args.claims)
        return submit(
            claims,
            bootstrap,
            wait=args.wait,
            timeout_s=args.timeout,
            on_result=on_result,
            fmt=args.format,
        )
    except InputError as exc:
        return _fail(str(exc))
    except BrokerError as exc:
        return _fail(str(exc))
    finally:
        if audit is not None:
            _close_audit(audit)
        if reads is not None:
            _close_audit(reads)


def _topic_reads() -> Any:
    """The CLI's audit of its reads of PHI topics (runtime.audit.TopicReads), or None."""
    from claimscrub.runtime.audit import topic_reads_from_env

    return topic_reads_from_env("claimscrub-cli", "anonymous")


def _close_audit(audit: Any) -> None:
    """The CLI's audit events are written before it exits; a loss is said, not fatal."""
    lost = audit.close()
    if lost:
        print(f"claimscrub: {lost} audit events were not written to audit.access", file=sys.stderr)


def _enrollment(args: argparse.Namespace) -> int:
    from pathlib import Path

    from claimscrub.cli.enrollment import BrokerError, load
    from claimscrub.core.payers import ReferenceDataError

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    try:
        load(Path(args.file), bootstrap)
    except (ReferenceDataError, BrokerError) as exc:
        return _fail(str(exc))
    return 0


def _reference(args: argparse.Namespace) -> int:
    from pathlib import Path

    from claimscrub.core.payers import ReferenceDataError
    from claimscrub.reference import loader

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    try:
        if args.reference_command == "list":
            rows = loader.listing(loader.read_published(bootstrap))
            if rows:
                print(loader.dumps(rows))
            return 0
        if args.reference_command == "withdraw":
            print(loader.withdraw(args.kind, args.version, bootstrap), file=sys.stderr)
            return 0
        for f in args.files:
            if not Path(f).is_file():
                return _fail(f"no such file: {f}")
        done = loader.load(
            args.kind,
            [Path(f) for f in args.files],
            bootstrap,
            effective=args.effective,
            label=args.label,
        )
    except (ReferenceDataError, loader.BrokerError) as exc:
        return _fail(str(exc))
    print(
        f"published {args.kind} {', '.join(done.versions)} ({done.records} records)",
        file=sys.stderr,
    )
    return 0


def _redact(args: argparse.Namespace) -> int:
    from claimscrub.cli import redact
    from claimscrub.cli.claims_input import InputError, read_claims
    from claimscrub.redaction.config import ConfigError

    if args.text == bool(args.claims):
        return _fail("redact: give CLAIMS, or --text to redact stdin (not both)")
    if args.claim and not args.text:
        return _fail("redact: --claim goes with --text")
    try:
        config = redact.load_config(args.dates)
        if args.text:
            claim = read_claims(args.claim)[0] if args.claim else None
            return redact.redact_stream(sys.stdin, sys.stdout, claim)
        return redact.redact_claims(read_claims(args.claims), config, sys.stdout)
    except (ConfigError, InputError) as exc:
        return _fail(str(exc))


def _ready(args: argparse.Namespace) -> int:
    from claimscrub.cli.x12_submit import READY_TOPIC, print_ready
    from claimscrub.runtime.audit import ReadAudit

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    audit = ReadAudit(READY_TOPIC)
    try:
        return print_ready(
            bootstrap,
            list(args.claim_ids),
            timeout_s=args.timeout,
            out=sys.stdout,
            on_record=lambda claim_id: audit.claim(claim_id),
        )
    finally:
        _close_audit(audit)


def _deidentified(args: argparse.Namespace) -> int:
    from claimscrub.cli.redact import print_deidentified
    from claimscrub.runtime.audit import ReadAudit
    from claimscrub.runtime.topics import CLAIMS_DEIDENTIFIED

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    audit = ReadAudit(CLAIMS_DEIDENTIFIED.name)
    try:
        return print_deidentified(
            bootstrap,
            limit=args.limit,
            timeout_s=args.timeout,
            pretty=args.pretty,
            out=sys.stdout,
            on_record=lambda token: audit.claim(token=token or None),
        )
    finally:
        _close_audit(audit)


def _audit(args: argparse.Namespace) -> int:
    from claimscrub.runtime import audit
    from claimscrub.runtime.kafka_config import KafkaSecurity

    try:
        since = audit.parse_since(args.since)
    except ValueError as exc:
        return _fail(f"--since: {exc}")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    try:
        for event in audit.query(
            bootstrap,
            KafkaSecurity.from_env(),
            principal=args.principal,
            since=since,
            timeout_s=args.timeout,
        ):
            print(json.dumps(event, separators=(",", ":")))
    except (LookupError, TimeoutError) as exc:
        return _fail(str(exc))
    except Exception as exc:  # the Kafka client's errors: authorisation, no broker
        return _fail(f"cannot read audit.access on {bootstrap}: {type(exc).__name__}")
    return 0


def _dlq(args: argparse.Namespace) -> int:
    from pathlib import Path

    from claimscrub.cli import dlq
    from claimscrub.runtime.kafka_config import KafkaSecurity

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    security = KafkaSecurity.from_env()
    reads = _topic_reads()
    on_read = reads.observe if reads is not None else None
    try:
        if args.dlq_command == "list":
            if args.limit < 1:
                return _fail("dlq list: --limit must be at least 1")
            entries = dlq.list_entries(
                bootstrap, security, limit=args.limit, timeout_s=args.timeout, on_read=on_read
            )
            dlq.print_entries(entries, sys.stdout, as_json=args.json)
            return 0
        entry, partition, offset = dlq.replay(
            bootstrap,
            security,
            partition=args.partition,
            offset=args.offset,
            fixed=Path(args.file),
            on_read=on_read,
        )
    except dlq.DlqError as exc:
        return _fail(str(exc))
    finally:
        if reads is not None:
            _close_audit(reads)
    print(
        f"replayed claims.dlq/{args.partition}@{args.offset} (key {entry.key}) as "
        f"claims.submitted/{partition}@{offset}"
    )
    return 0


def _keys(args: argparse.Namespace) -> int:
    from claimscrub.cli import keys
    from claimscrub.necessity.beneficiary import keyring
    from claimscrub.runtime.kafka_config import KafkaSecurity

    ring = keyring(os.environ)
    if args.keys_command == "status":
        print(keys.status(ring, os.environ, as_json=args.json))
        return 0
    print(keys.rotate_steps(ring))
    if not args.apply:
        return 0
    if len(ring.keys) < 2:
        return _fail("keys rotate --apply: the ring holds one key; add the new one first")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    try:
        sent, unknown = keys.apply(
            bootstrap,
            KafkaSecurity.from_env(),
            ring,
            changelog=args.changelog,
            topic=args.topic,
            timeout_s=args.timeout,
        )
    except keys.KeysError as exc:
        return _fail(str(exc))
    print(f"sent {sent} rekey request(s) towards key {ring.keys[-1].key_id}")
    if unknown:
        print(f"warning: {unknown} stored token(s) name a key id the ring does not hold")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {
        "scrub": _scrub,
        "submit": _submit,
        "redact": _redact,
        "ready": _ready,
        "deidentified": _deidentified,
        "enrollment": _enrollment,
        "reference": _reference,
        "dlq": _dlq,
        "audit": _audit,
        "keys": _keys,
    }
    from claimscrub.runtime.env import SettingsError

    try:
        return commands[args.command](args)
    except SettingsError as exc:  # Kafka/gRPC security settings; never a secret's value
        return _fail(f"configuration error: {exc}")
    except BrokenPipeError:  # `claimscrub scrub ... | head` is fine
        return 0
    except KeyboardInterrupt:
        return 130


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()

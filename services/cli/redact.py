"""``claimscrub redact`` and ``claimscrub deidentified``.

``redact CLAIMS`` prints each claim de-identified (contract §5: one JSON per
line, the same record the redaction service publishes, without the result);
``redact --text`` redacts free text from stdin. Both use the same key
settings as the service (CLAIMSCRUB_HMAC_KEY / _FILE, CLAIMSCRUB_MODE,
CLAIMSCRUB_DATE_MODE), so the CLI and claims.deidentified give the same
tokens. ``deidentified`` prints records from the claims.deidentified topic.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TextIO

from claimscrub.redaction.config import DEV_KEY_WARNING, DateMode, RedactionConfig
from claimscrub.runtime.kafka_config import KafkaSecurity


def load_config(dates: str | None, err: TextIO = sys.stderr) -> RedactionConfig:
    """The redaction settings from the environment; raises ConfigError."""
    config = RedactionConfig.from_env()
    if dates is not None:
        config = replace(config, date_mode=DateMode(dates.upper()))
    if config.using_dev_key:
        print(f"claimscrub: warning: {DEV_KEY_WARNING}", file=err)
    return config


def _line(data: Mapping[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def redact_claims(claims: Sequence[Any], config: RedactionConfig, out: TextIO) -> int:
    from claimscrub.cli.claims_input import Unparseable
    from claimscrub.cli.scrub import position_id
    from claimscrub.redaction.deidentify import Deidentifier, to_json

    deid = Deidentifier(config)
    for position, raw in enumerate(claims, start=1):
        claim = None if isinstance(raw, Unparseable) else raw
        record = deid.deidentify(claim, fallback_id=position_id(position))
        print(_line(to_json(record)), file=out)
    return 0


def redact_stream(source: TextIO, out: TextIO, claim: Mapping[str, Any] | None) -> int:
    from claimscrub.redaction.known import known_phi
    from claimscrub.redaction.text import default_redactor

    known = known_phi(claim) if claim is not None else None
    out.write(default_redactor().redact(source.read(), known).text)
    return 0


def print_deidentified(
    bootstrap: str,
    *,
    limit: int,
    timeout_s: float,
    pretty: bool,
    out: TextIO,
    security: KafkaSecurity | None = None,
    on_record: Callable[[str], None] | None = None,
) -> int:
    """Up to ``limit`` records of claims.deidentified, oldest first, as JSON;
    ``on_record`` gets each printed record's key (its claim token: the audit).

    Exit 0 when ``limit`` records were printed, 1 when fewer came in time.
    """
    from claimscrub.redaction.deidentify import to_json
    from claimscrub.runtime.kafka_io import Tail, TopicMissing
    from claimscrub.runtime.topics import CLAIMS_DEIDENTIFIED
    from claimscrub.v1 import redaction_service_pb2

    try:
        tail = Tail(
            bootstrap,
            security,
            [CLAIMS_DEIDENTIFIED.name],
            client_id="claimscrub-deidentified",
            from_beginning=True,
        )
    except TopicMissing:
        print(f"claimscrub: topic {CLAIMS_DEIDENTIFIED.name} does not exist", file=sys.stderr)
        return 1
    printed = 0
    try:
        deadline = time.monotonic() + timeout_s
        while printed < limit and time.monotonic() < deadline:
            for rec in tail.records():
                if printed >= limit:
                    break
                msg = redaction_service_pb2.DeidentifiedClaim()
                msg.ParseFromString(rec.value)
                data = to_json(msg)
                print(json.dumps(data, indent=2) if pretty else _line(data), file=out)
                printed += 1
                if on_record is not None:
                    on_record(rec.key.decode("utf-8", "replace"))
    finally:
        tail.close()
    if printed < limit:
        print(
            f"claimscrub: {printed} of {limit} records from {CLAIMS_DEIDENTIFIED.name} "
            f"within {timeout_s:g}s",
            file=sys.stderr,
        )
        return 1
    return 0

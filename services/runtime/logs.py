"""structlog JSON logs for every service, with two PHI guards before rendering.

Log lines never carry claim payloads: :func:`phi_guard` drops any key that
names a payload or a patient field, and replaces bytes values by their
length, so a careless ``log.info("x", value=raw)`` cannot leak a claim. Then
:func:`phi_redactor` runs every remaining string (messages, exception
tracebacks, library log lines) through the PHI redaction library
(claimscrub.redaction.text), so a name, date or member ID that slips into an
error message is replaced before the line is written. Class names in those
messages (``AIOKafkaConsumer``) are kept: the log redactor does not take a
CamelCase word of dictionary or software words for a surname. Library logs (Faust,
aiokafka, grpc) go through the same processors.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

# Keys a log call must never carry verbatim (claim bodies and patient fields).
_PHI_KEYS = frozenset(
    {
        "claim",
        "payload",
        "value",
        "body",
        "note",
        "patient",
        "member_id",
        "memberId",
        "mrn",
        "name",
        "first_name",
        "firstName",
        "last_name",
        "lastName",
        "birth_date",
        "birthDate",
        "address",
        "phone",
        "email",
        "ssn",
    }
)


def phi_guard(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key in _PHI_KEYS:
            event_dict[key] = "[withheld]"
        elif isinstance(event_dict[key], bytes | bytearray):
            event_dict[key] = f"<{len(event_dict[key])} bytes>"
    return event_dict


# Keys whose values the runtime itself writes from configuration or clocks
# (the timestamp, the broker list): redacting them would only garble them.
_OPERATIONAL_KEYS = frozenset(
    {
        "timestamp",
        "level",
        "logger",
        "service",
        "instance",
        "kafka",
        "kafka_security",
        "grpc_host",
        "grpc_port",
        "metrics_host",
        "metrics_port",
    }
)


def _redact(value: Any, redact: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redact(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: _redact(v, redact) for k, v in value.items()}
    return value


def phi_redactor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Every string of the line through the free-text PHI redactor."""
    from claimscrub.redaction.text import redact_log_text

    for key in list(event_dict):
        if key in _OPERATIONAL_KEYS or key.startswith("_"):
            continue
        try:
            event_dict[key] = _redact(event_dict[key], redact_log_text)
        except Exception:  # a log line must never take the service down
            event_dict[key] = "[withheld: redaction failed]"
    return event_dict


def configure(
    service: str, level: str = "INFO", fmt: str = "json", stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging to one JSON (or console) stream."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        phi_guard,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Last before rendering, so tracebacks and library messages pass it too.
            phi_redactor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at INFO drowns the service's own lines.
    for noisy in ("aiokafka", "kafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)

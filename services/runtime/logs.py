"""structlog JSON logs for every service, with two PHI guards before rendering.

Log lines never carry claim payloads: :func:`phi_guard` drops any key that
names a payload or a patient field, and replaces bytes values by their
length, so a careless ``log.info("x", value=raw)`` cannot leak a claim. Then
:func:`phi_redactor` runs every remaining string (messages, exception
tracebacks, library log lines) through the PHI redaction library
(claimscrub.redaction.text), so a name, date or member ID that slips into an
error message is replaced before the line is written. Class names in those
messages (``KafkaException``) are kept: the log redactor does not take a
CamelCase word of dictionary or software words for a surname, and an OS
error's ``[Errno 111]`` stays as it is. Library logs (Quix Streams, librdkafka
through Quix's ``quixstreams.kafka`` loggers, grpc) go through the same
processors.

Two guards for the log's readers: terminal control sequences (colours,
cursor moves) are stripped from every string, and :class:`RepeatFilter`
lets one line of a repeated library warning or error through per window
(a broker that is down makes a Kafka client retry in a tight loop), with the
number of lines it held back in ``suppressed``.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, MutableMapping
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


# ECMA-48 control sequences (CSI such as "\x1b[?25h" or "\x1b[31m", and the
# two-byte escapes), then any other C0 control character but tab and newline.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")
# An OS error's number as Python prints it: not a name, never PHI.
_OS_ERROR = re.compile(r"(\[(?:Errno|WinError) -?\d+\])")


def strip_control(text: str) -> str:
    """``text`` without terminal control sequences or control characters."""
    return _CONTROL.sub("", text)


def _redact_string(text: str, redact: Callable[[str], str]) -> str:
    text = strip_control(text)
    if "[Errno " not in text and "[WinError " not in text:
        return redact(text)
    # The "[Errno 111]" pieces pass through; the text around them is redacted.
    parts = _OS_ERROR.split(text)
    return "".join(p if i % 2 else redact(p) if p else p for i, p in enumerate(parts))


def _redact(value: Any, redact: Any) -> Any:
    if isinstance(value, str):
        return _redact_string(value, redact)
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


class RepeatFilter(logging.Filter):
    """One line per ``window_s`` for each repeated library warning or error.

    A record of a library logger (not structlog's own lines, whose events
    are each worth a line) at WARNING or above is keyed by its logger, level
    and message template: the first passes, the next ones within the window
    are counted and dropped, and the first one after the window passes with
    the count (``suppressed``, added by :func:`add_suppressed`).
    """

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self._window_s = window_s
        self._clock = clock
        # key -> (when the last line passed, lines dropped since)
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not isinstance(record.msg, str):
            return True
        if self._window_s <= 0:
            return True
        key = (record.name, record.levelno, record.msg)
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self._window_s:
            self._seen[key] = (seen[0], seen[1] + 1)
            return False
        if len(self._seen) >= 1000:  # bounded: templates, not values, are keys
            self._seen.clear()
        if seen is not None and seen[1]:
            record.claimscrub_suppressed = seen[1]
        self._seen[key] = (now, 0)
        return True


def add_suppressed(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """How many like lines :class:`RepeatFilter` held back before this one."""
    record = event_dict.get("_record")
    count = getattr(record, "claimscrub_suppressed", 0)
    if count:
        event_dict["suppressed"] = count
    return event_dict


def configure(
    service: str,
    level: str = "INFO",
    fmt: str = "json",
    stream: TextIO | None = None,
    repeat_window_s: float = 10.0,
) -> None:
    """Route structlog and stdlib logging to one JSON (or console) stream;
    repeated library warnings at most once per ``repeat_window_s`` (0: all)."""

    def add_service(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
        # Threads do not inherit the main thread's context variables.
        event.setdefault("service", service)
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_service,
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
        foreign_pre_chain=[*shared, add_suppressed],
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
    handler.addFilter(RepeatFilter(repeat_window_s))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library chatter at INFO drowns the service's own lines.
    for noisy in ("kafka",):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)

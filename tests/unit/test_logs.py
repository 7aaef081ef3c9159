"""runtime.logs guards for the log's readers: an OS error number is not a
name, terminal control sequences never reach a line, and a repeated library
error is one line per window with the count of those held back."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from claimscrub.runtime import logs


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    logs.configure("test", "INFO", "json", out, repeat_window_s=0)
    yield out
    logs.configure("test", "INFO", "json", io.StringIO())


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_an_os_error_number_is_kept_and_a_name_beside_it_is_not(stream: io.StringIO) -> None:
    logging.getLogger("quixstreams.kafka.consumer").error(
        "Unable connect to node with id 1: [Errno 111] Connect call failed ('127.0.0.1', 9092)"
    )
    logs.get_logger("claimscrub.test").warning("failed for Maria Gonzalez: [Errno 2] No such file")
    first, second = _lines(stream)
    assert "[Errno 111] Connect call failed" in first["event"]
    assert "[NAME]" not in first["event"]
    assert "[Errno 2] No such file" in second["event"]
    assert "Maria" not in second["event"] and "Gonzalez" not in second["event"]


def test_terminal_control_sequences_are_stripped(stream: io.StringIO) -> None:
    logging.getLogger("quixstreams").warning("\x1b[?25h\x1b[31mworker\x1b[0m ready\x07")
    logs.get_logger("claimscrub.test").info("step\x1b[2K done", detail="a\x1b[1mb\tc")
    first, second = _lines(stream)
    assert first["event"] == "worker ready"
    assert second["event"] == "step done" and second["detail"] == "ab\tc"
    assert "\x1b" not in stream.getvalue() and "\\u001b" not in stream.getvalue()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _record(
    msg: str, *args: Any, level: int = logging.ERROR, name: str = "quixstreams.kafka.consumer"
) -> Any:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_repeat_filter_passes_one_line_per_window_with_the_count() -> None:
    clock = _Clock()
    f = logs.RepeatFilter(window_s=10, clock=clock)
    template = "Unable connect to node with id %s: %s"
    assert f.filter(_record(template, 1, "[Errno 111]"))
    # 1,250 more within the window (another node id, same template): held back.
    passed = [f.filter(_record(template, i % 3, "[Errno 111]")) for i in range(1250)]
    assert not any(passed)
    clock.now += 9.999
    assert not f.filter(_record(template, 1, "[Errno 111]"))
    clock.now += 0.001  # the window is over: one line, with the 1,251 held back
    late = _record(template, 1, "[Errno 111]")
    assert f.filter(late)
    assert late.claimscrub_suppressed == 1251
    clock.now += 10
    quiet = _record(template, 1, "[Errno 111]")
    assert f.filter(quiet) and not hasattr(quiet, "claimscrub_suppressed")


def test_repeat_filter_leaves_info_other_templates_and_structlog_lines_alone() -> None:
    f = logs.RepeatFilter(window_s=10, clock=_Clock())
    assert f.filter(_record("Unable connect to node %s", 1))
    assert f.filter(_record("Unable to update metadata from %s", 1))  # another template
    assert f.filter(_record("Unable connect to node %s", 1, name="kafka"))  # another logger
    assert f.filter(_record("Unable connect to node %s", 1, level=logging.WARNING))
    for _ in range(3):
        assert f.filter(_record("joined group %s", 1, level=logging.INFO))
        # structlog's own records carry the event dict, not a template.
        record = _record("x")
        record.msg = {"event": "claim_dead_lettered"}
        assert f.filter(record)


def test_configured_logging_reports_the_suppressed_count() -> None:
    out = io.StringIO()
    logs.configure("test", "INFO", "json", out, repeat_window_s=3600)
    try:
        for _ in range(5):
            logging.getLogger("quixstreams.kafka.consumer").error(
                "Unable connect to node with id %s", 1
            )
        lines = _lines(out)
        assert len(lines) == 1 and "suppressed" not in lines[0]
        handler = logging.getLogger().handlers[0]
        repeat = next(f for f in handler.filters if isinstance(f, logs.RepeatFilter))
        repeat._window_s = 1e-9  # the window is over
        logging.getLogger("quixstreams.kafka.consumer").error(
            "Unable connect to node with id %s", 1
        )
        assert _lines(out)[-1]["suppressed"] == 4
    finally:
        logs.configure("test", "INFO", "json", io.StringIO())


def test_log_repeat_seconds_takes_0_for_every_repeat_and_refuses_a_negative() -> None:
    from claimscrub.runtime.env import SettingsError
    from claimscrub.runtime.settings import Settings

    def window(value: str) -> float:
        env = {"CLAIMSCRUB_LOG_REPEAT_SECONDS": value}
        return Settings.from_env("units", grpc_port=0, metrics_port=0, env=env).log_repeat_window_s

    assert window("0") == 0
    assert window("2.5") == 2.5
    with pytest.raises(SettingsError, match="CLAIMSCRUB_LOG_REPEAT_SECONDS must be 0 or more"):
        window("-1")

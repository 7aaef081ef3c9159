"""runtime.kafka_io.read_failures: what a read raises becomes the caller's own
error with a one-line reason naming the topic, never record content."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from claimscrub.runtime.kafka_io import TopicMissing, read_failures


class ToolError(Exception):
    pass


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        (TopicMissing("claims.dlq"), "topic claims.dlq does not exist"),
        (TimeoutError("claims.dlq not read"), "timed out after 2.5s reading claims.dlq"),
        (
            KafkaException(KafkaError(KafkaError._TRANSPORT)),
            "cannot read claims.dlq: _TRANSPORT",
        ),
    ],
)
def test_a_read_failure_becomes_the_callers_error(raised: Exception, reason: str) -> None:
    with pytest.raises(ToolError) as caught, read_failures("claims.dlq", 2.5, ToolError):
        raise raised
    assert str(caught.value) == reason
    assert caught.value.__cause__ is None


def test_other_exceptions_pass_through() -> None:
    with pytest.raises(ValueError), read_failures("claims.dlq", 2.5, ToolError):
        raise ValueError("not a read failure")

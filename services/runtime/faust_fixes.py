"""A fix for faust-streaming 0.15's producer flush before offset commits.

Before committing offsets Faust flushes its producer, but the buffer of
``send_soon`` messages (every table write's changelog record) gives up as soon
as one message takes more than 0.1 s to leave
(``faust.transport.producer.ProducerBuffer.flush_atmost``). Under load the
offsets of input can then be committed before the state it produced is on its
way, and a crash at that moment loses that state (for the aggregator: a
verdict it had counted; the claim would end CHECK_INCOMPLETE). :func:`_flush`
keeps draining until the buffer is empty (30 s at most, then it gives up as
Faust does).

:func:`apply` installs it once per process; it checks the Faust version it
was written against, and does nothing (with a warning) on another.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.transport import producer as faust_producer

from claimscrub.runtime import logs

log = logs.get_logger(__name__)

FIXED_FOR = "0.15."
_FLUSH_LIMIT_S = 30.0
_applied = False


async def _flush(self: Any) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _FLUSH_LIMIT_S
    while self.size and loop.time() < deadline:
        await self.flush_atmost(None)
        if self.size:
            await asyncio.sleep(0.01)


def apply() -> bool:
    """Install the fix (idempotent); False when the Faust version is not the one it fits."""
    global _applied
    if _applied:
        return True
    version = getattr(faust, "__version__", "")
    if not version.startswith(FIXED_FOR):
        log.warning("faust_fix_not_applied", faust=version, written_for=FIXED_FOR + "x")
        return False
    faust_producer.ProducerBuffer.flush = _flush  # type: ignore[method-assign]
    _applied = True
    return True

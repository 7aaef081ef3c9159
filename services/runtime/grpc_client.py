"""Channels to other claimscrub services, secured as the environment says.

Every gRPC client in the project (necessity -> enrollment, the aggregator's
fan-out to the checks, the health check, the CLI) opens its channels here, so
they all present the same client certificate and trust the same CA
(:mod:`claimscrub.runtime.grpc_tls`)::

    from claimscrub.runtime import grpc_client

    async with grpc_client.aio_channel("units:50051", options=...) as ch:
        reply = await UnitsServiceStub(ch).Check(request, timeout=2.0)

Without TLS settings a channel is plaintext (local default); with
``CLAIMSCRUB_MODE=production`` that raises :class:`SettingsError` instead.
Pass ``tls`` to use settings read once at start-up rather than the
environment on each call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from claimscrub.runtime.grpc_tls import ClientTls

Options = Sequence[tuple[str, Any]]


def _resolve(tls: ClientTls | bool | None) -> ClientTls | None:
    # False: explicitly plaintext (a test that wants it); True/None: from the environment.
    if tls is False:
        return None
    if tls is None or tls is True:
        return ClientTls.from_env()
    return tls


def channel(
    target: str, options: Options = (), *, tls: ClientTls | bool | None = None
) -> grpc.Channel:
    """A blocking channel (grpc.Channel)."""
    client = _resolve(tls)
    if client is None:
        return grpc.insecure_channel(target, options=list(options))
    return grpc.secure_channel(target, client.credentials(), options=[*options, *client.options()])


def aio_channel(
    target: str, options: Options = (), *, tls: ClientTls | bool | None = None
) -> grpc.aio.Channel:
    """An asyncio channel (grpc.aio.Channel)."""
    client = _resolve(tls)
    if client is None:
        return grpc.aio.insecure_channel(target, options=list(options))
    return grpc.aio.secure_channel(
        target, client.credentials(), options=[*options, *client.options()]
    )

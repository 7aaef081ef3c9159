"""The intake service's gRPC server: health (and reflection) only.

Interchanges come on claims.x12; there is no synchronous intake API (the
CLI's ``scrub FILE.837`` is the synchronous path)."""

from __future__ import annotations

import grpc

from claimscrub.runtime.grpc_server import Registrar


def registrar() -> Registrar:
    def register(server: grpc.aio.Server) -> list[str]:
        return []

    return register

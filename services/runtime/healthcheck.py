"""``python -m claimscrub.runtime.healthcheck HOST:PORT [--wait SECONDS] [--plaintext]``

Asks a service's standard gRPC health endpoint whether it is SERVING. Used by
`make up` to wait for readiness and usable as a container exec probe.
The channel is secured as the environment says (runtime.grpc_client: the
service's own client certificate when it serves mTLS); ``--plaintext`` is for
the plaintext health port (CLAIMSCRUB_HEALTH_PORT).
Exit 0 when serving, 1 when not (yet), 2 for unusable TLS settings.
"""

from __future__ import annotations

import argparse
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from claimscrub.runtime import grpc_client
from claimscrub.runtime.env import SettingsError
from claimscrub.runtime.grpc_tls import ClientTls


def is_serving(target: str, timeout_s: float = 1.0, *, tls: ClientTls | bool | None = None) -> bool:
    with grpc_client.channel(target, tls=tls) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_s)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def wait_serving(target: str, wait_s: float, *, tls: ClientTls | bool | None = None) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        if is_serving(target, tls=tls):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m claimscrub.runtime.healthcheck")
    parser.add_argument("target", help="HOST:PORT of the service's gRPC server")
    parser.add_argument("--wait", type=float, default=0.0, help="keep trying this many seconds")
    parser.add_argument(
        "--plaintext", action="store_true", help="no TLS (the plaintext health port)"
    )
    args = parser.parse_args(argv)
    try:
        tls: ClientTls | bool | None = False if args.plaintext else ClientTls.from_env()
    except SettingsError as exc:
        print(f"healthcheck: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0 if wait_serving(args.target, args.wait, tls=tls) else 1


if __name__ == "__main__":
    sys.exit(main())

"""``python -m claimscrub.runtime.healthcheck HOST:PORT [--wait SECONDS]``

Asks a service's standard gRPC health endpoint whether it is SERVING. Used by
`make up` to wait for readiness and usable as a container exec probe.
Exit 0 when serving, 1 when not (yet).
"""

from __future__ import annotations

import argparse
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def is_serving(target: str, timeout_s: float = 1.0) -> bool:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_s)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def wait_serving(target: str, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        if is_serving(target):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m claimscrub.runtime.healthcheck")
    parser.add_argument("target", help="HOST:PORT of the service's gRPC server")
    parser.add_argument("--wait", type=float, default=0.0, help="keep trying this many seconds")
    args = parser.parse_args(argv)
    return 0 if wait_serving(args.target, args.wait) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Notes per second through gRPC RedactText.

    python -m claimscrub.redaction.bench_redact_text [--notes 5000] [--concurrency 16]
        [--with-claim] [--target HOST:PORT]

Without ``--target`` it starts a RedactionService (gRPC only, no Kafka) in a
child process on a free localhost port, so client and server do not share a
CPU-bound event loop, and stops it afterwards. With ``--target`` it measures
a running service (``make up``: 127.0.0.1:50054). The notes are the example
claims' notes with a PHI header (name, DOB, MRN, phone, address) in front,
about 600 characters each. Prints notes/s over gRPC and, for comparison, the
library's notes/s in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import grpc

from claimscrub.runtime.testing import REPO_ROOT

_NAMES = [("Ada", "Lovelace"), ("Maria", "Gonzalez"), ("Robert", "Hughes"), ("Mei", "Chen")]


def sample_notes(n: int) -> list[tuple[str, dict[str, Any]]]:
    claims = json.loads((REPO_ROOT / "examples/claims.json").read_text())
    out = []
    for i in range(n):
        claim = claims[i % len(claims)]
        first, last = _NAMES[i % len(_NAMES)]
        header = (
            f"Patient: {first} {last}, DOB 0{1 + i % 9}/1{i % 10}/19{40 + i % 50}, "
            f"MRN {100000 + i}, phone (516) 555-{1000 + i % 9000:04d}, "
            f"{10 + i % 90} Elm Street, Hempstead, NY 11550. Seen 05/04/2026 by Dr. Rivera.\n"
        )
        out.append((header + claim.get("note", ""), claim))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_only(port: int) -> None:
    """A RedactionService with no Kafka, for the benchmark's child process."""
    from claimscrub.redaction.config import RedactionConfig
    from claimscrub.redaction.deidentify import Deidentifier
    from claimscrub.redaction.servicer import registrar
    from claimscrub.runtime.grpc_server import start_grpc_server

    async def run() -> None:
        handle = await start_grpc_server(
            "127.0.0.1", port, registrar(Deidentifier(RedactionConfig()))
        )
        await handle.server.wait_for_termination()

    asyncio.run(run())


async def _drive(target: str, notes: list[Any], concurrency: int) -> list[float]:
    from claimscrub.v1 import redaction_service_pb2_grpc as pb_grpc

    latencies: list[float] = []
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in notes:
        queue.put_nowait(item)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.RedactionServiceStub(channel)

        async def worker() -> None:
            while not queue.empty():
                request = queue.get_nowait()
                started = time.perf_counter()
                await stub.RedactText(request, timeout=30)
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m claimscrub.redaction.bench_redact_text")
    parser.add_argument("--notes", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--with-claim", action="store_true", help="send each note's claim too")
    parser.add_argument("--target", help="HOST:PORT of a running service")
    parser.add_argument("--serve-only", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_only:
        serve_only(args.serve_only)
        return 0

    from google.protobuf import json_format

    from claimscrub.redaction.known import known_phi
    from claimscrub.redaction.text import default_redactor
    from claimscrub.runtime.healthcheck import wait_serving
    from claimscrub.v1 import claim_pb2
    from claimscrub.v1 import redaction_service_pb2 as pb

    notes = sample_notes(args.notes)
    requests = [
        pb.RedactTextRequest(
            text=text,
            claim=json_format.ParseDict(claim, claim_pb2.Claim()) if args.with_claim else None,
        )
        for text, claim in notes
    ]
    child = None
    target = args.target
    if target is None:
        port = _free_port()
        target = f"127.0.0.1:{port}"
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "claimscrub.redaction.bench_redact_text",
                "--serve-only",
                str(port),
            ]
        )
    try:
        if not wait_serving(target, 60):
            print(f"bench: no RedactionService serving at {target}", file=sys.stderr)
            return 1
        asyncio.run(
            _drive(target, requests[: min(200, len(requests))], args.concurrency)
        )  # warm-up
        started = time.perf_counter()
        latencies = asyncio.run(_drive(target, requests, args.concurrency))
        elapsed = time.perf_counter() - started
    finally:
        if child is not None:
            child.terminate()
            child.wait(10)
    chars = sum(len(t) for t, _ in notes)
    redactor = default_redactor()
    local_started = time.perf_counter()
    for text, claim in notes:
        redactor.redact(text, known_phi(claim) if args.with_claim else None)
    local = time.perf_counter() - local_started
    lat = sorted(latencies)
    print(
        f"RedactText over gRPC ({target}): {len(notes)} notes, {chars / len(notes):.0f} chars "
        f"avg, concurrency {args.concurrency}, claim context {'on' if args.with_claim else 'off'}"
    )
    print(f"  {len(notes) / elapsed:.0f} notes/s ({chars / elapsed / 1000:.0f} kchars/s)")
    print(
        f"  latency p50 {statistics.median(lat) * 1000:.2f} ms, "
        f"p99 {lat[int(len(lat) * 0.99) - 1] * 1000:.2f} ms"
    )
    print(f"  library in this process: {len(notes) / local:.0f} notes/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

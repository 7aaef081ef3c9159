"""Read the CLAIMS argument: a .json file (one claim or an array), .jsonl, or '-'."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from claimscrub.core.limits import InputLimitExceeded, load_json


class InputError(Exception):
    """Unreadable input: the CLI exits 2 with this one-line reason."""


def read_claims(source: str) -> list[Any]:
    if source == "-":
        text = sys.stdin.read()
        name = "stdin"
        jsonl = None
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"{source}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{source}: cannot read ({type(exc).__name__})") from None
        name = source
        jsonl = path.suffix == ".jsonl"
    stripped = text.strip()
    if not stripped:
        raise InputError(f"{name}: empty input")
    if jsonl is None:
        # stdin: an array or object parses whole; otherwise try JSON Lines.
        try:
            data = load_json(stripped)
            return data if isinstance(data, list) else [data]
        except InputLimitExceeded as exc:
            if not str(exc).startswith("invalid JSON"):
                raise InputError(f"{name}: {exc} (see docs/configuration.md)") from None
            jsonl = True
    if jsonl:
        claims: list[Any] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                claims.append(load_json(line))
            except InputLimitExceeded:
                # One bad line must not sink the batch: it becomes a claim that
                # is answered with MALFORMED_CLAIM, keyed by its line number.
                claims.append(Unparseable(number))
        return claims
    try:
        data = load_json(stripped)
    except InputLimitExceeded as exc:
        if exc.position is not None:
            line, column = exc.position
            raise InputError(f"{name}: not valid JSON (line {line}, column {column})") from None
        raise InputError(f"{name}: {exc} (see docs/configuration.md)") from None
    return data if isinstance(data, list) else [data]


class Unparseable:
    """A JSON Lines record that is not JSON; the parser reports it as malformed."""

    def __init__(self, line: int) -> None:
        self.line = line

    def __repr__(self) -> str:
        return f"<unparseable line {self.line}>"

"""Reference files in JSON: reading one, and the list it holds.

Coverage policies and fee schedules share one layout: a JSON array of
records, or an object holding them under a key with an optional
``"sample": true``. Errors name the file and what is wrong, never a value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from claimscrub.core.payers import ReferenceDataError


def read_json(path: Path) -> Any:
    """A file's JSON; ReferenceDataError naming the file when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReferenceDataError(f"{path.name}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ReferenceDataError(f"{path.name}: not valid JSON (line {exc.lineno})") from exc


def listed(data: Any, key: str, name: str, expected: str) -> tuple[list[Any], bool]:
    """The records of a file (an array, or an object's ``key``) and whether the
    file marks itself a sample; ``expected`` says what else the file may be."""
    if isinstance(data, list):
        return data, False
    if not isinstance(data, dict):
        raise ReferenceDataError(f"{name}: expected a JSON object or {expected}")
    records = data.get(key)
    if not isinstance(records, list):
        raise ReferenceDataError(f"{name}: '{key}' must be a list")
    return records, data.get("sample") is True

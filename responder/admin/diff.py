"""Field-by-field differences between two JSON documents (rule versions,
audit before/after), for the history and audit pages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    field: str
    before: str | None
    after: str | None


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Leaves of a document by dotted path; lists of scalars stay one leaf."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key in sorted(value):
            out |= flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
        if not value and prefix:
            out[prefix] = "{}"
        return out
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        out = {}
        for index, item in enumerate(value):
            out |= flatten(item, f"{prefix}[{index}]")
        return out
    return {prefix or "value": value if isinstance(value, str) else json.dumps(value)}


def changes(before: Any, after: Any) -> list[Change]:
    """Every field whose value differs; None on the side where it is absent."""
    old = flatten(before) if before is not None else {}
    new = flatten(after) if after is not None else {}
    return [
        Change(key, old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]

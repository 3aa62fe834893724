"""What a CEL expression reads of its input: the paths from the input
variables (``incident.facts.nodes_affected``, ``action['class']``).

Over-approximating on purpose: a variable used whole, indexed by anything but
a string literal or shadowed by a comprehension counts as read whole, so two
inputs equal on every path read give the same result."""

from __future__ import annotations

import re
from collections.abc import Iterable

Path = tuple[str, ...]

_TOKEN = re.compile(
    r"""
    (?P<string>[rRbB]{0,2}(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>\d[\w.]*)
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def _tokens(expression: str) -> list[tuple[str, str]]:
    return [
        (match.lastgroup or "other", match.group())
        for match in _TOKEN.finditer(expression)
        if match.lastgroup != "space"
    ]


def _literal(token: str) -> str | None:
    """The value of a plain (non-raw, non-bytes) one-line string literal."""
    if token[:1] not in ("'", '"') or token[:3] in ("'''", '"""'):
        return None
    body = token[1:-1]
    return None if "\\" in body else body


def paths_read(expression: str, roots: Iterable[str]) -> set[Path]:
    """Every path from one of ``roots`` the expression may read."""
    wanted = set(roots)
    tokens = _tokens(expression)
    found: set[Path] = set()
    for index, (kind, text) in enumerate(tokens):
        if kind != "ident" or text not in wanted:
            continue
        if index > 0 and tokens[index - 1][1] == ".":
            continue  # a field named like a variable, not the variable
        path: list[str] = [text]
        at = index + 1
        while at < len(tokens):
            text_at = tokens[at][1]
            if text_at == "." and at + 1 < len(tokens) and tokens[at + 1][0] == "ident":
                follows = tokens[at + 2][1] if at + 2 < len(tokens) else ""
                if follows == "(":
                    break  # a method call on the path: the path is read whole
                path.append(tokens[at + 1][1])
                at += 2
                continue
            if text_at == "[" and at + 2 < len(tokens) and tokens[at + 2][1] == "]":
                key = _literal(tokens[at + 1][1]) if tokens[at + 1][0] == "string" else None
                if key is None:
                    break
                path.append(key)
                at += 3
                continue
            break
        found.add(tuple(path))
    return found


MISSING = object()


def value_at(data: object, path: Path) -> object:
    """The (hashable) value at ``path`` of ``data`` (``MISSING`` when absent)."""
    value = data
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return frozen(value)


def frozen(value: object) -> object:
    if isinstance(value, dict):
        return tuple(sorted((str(k), frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    return value

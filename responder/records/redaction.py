"""Masking what looks like a secret before it is shown: API answers, admin
pages, exports, chat messages and MCP answers.

The store keeps the raw values (they are evidence); only what leaves through
a surface is masked: values of keys named like secrets, and bearer, API and
Slack tokens, private keys, ``password=``-style pairs and URL passwords in
any text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

_SECRET_KEY = re.compile(
    r"secret|token|passw|credential|api[_-]?key|private[_-]?key|authorization|cookie|"
    r"dockerconfig|\.dockercfg|session",
    re.IGNORECASE,
)
_SECRET_TEXT = [
    re.compile(r"rsre_[A-Za-z0-9]+_[A-Za-z0-9_\-]+"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"(?i)\b(password|passwd|secret|token|api[_-]?key)\s*[=:]\s*[^\s,;\"']+"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"xox[abpr]-[A-Za-z0-9\-]+"),
]
REDACTED = "[redacted]"
#: the password of a URL's user info (``postgresql://app:PASSWORD@db``); the user stays
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+):[^@\s/]+@")
#: keys whose values are identifiers, not secrets, even though the name matches
_NOT_SECRET_KEYS = frozenset({"missing_pull_secret", "token_id"})


def redact(value: Any) -> Any:
    """``value`` with every secret-looking field and string masked."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            text_key = str(key)
            if (
                _SECRET_KEY.search(text_key)
                and text_key not in _NOT_SECRET_KEYS
                and isinstance(item, str | bytes | int | float)
                and not isinstance(item, bool)
            ):
                out[text_key] = REDACTED
            else:
                out[text_key] = redact(item)
        return out
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        for pattern in _SECRET_TEXT:
            value = pattern.sub(REDACTED, value)
        return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", value)
    return value


M = TypeVar("M", bound=BaseModel)


def redacted(model: M) -> M:
    """A copy of ``model`` with its secret-looking values masked."""
    return type(model).model_validate(redact(model.model_dump(mode="json")))

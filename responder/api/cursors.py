"""Opaque page cursors: where the next page of a newest-first listing starts.
A cursor names the last item shown, so items created meanwhile (at the top)
neither repeat nor hide items on later pages, as offsets would."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime


def encode(*parts: str) -> str:
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, size: int) -> list[str]:
    """The ``size`` parts of ``cursor``; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("cursor is not one this API gave") from exc
    if not isinstance(parts, list) or len(parts) != size:
        raise ValueError("cursor is not one this API gave")
    if not all(isinstance(p, str) for p in parts):
        raise ValueError("cursor is not one this API gave")
    return parts


def moment_after(cursor: str | None) -> tuple[datetime, str] | None:
    """The (time, id) a listing ordered by both, newest first, goes on after;
    None without a cursor; ValueError for one this API did not give."""
    if cursor is None:
        return None
    moment, item_id = decode(cursor, 2)
    return datetime.fromisoformat(moment), item_id

"""State behind one contract, two backends chosen by URL."""

from __future__ import annotations

from responder.records.writes import Writes
from responder.store.base import (
    Committed,
    IncidentFilter,
    IncidentIndex,
    Indexer,
    LockBusy,
    NoIndex,
    QueueEntry,
    Store,
    StoreUnavailable,
    VersionConflict,
    held_lock,
)


def open_store(url: str, namespace: str = "robot-sre") -> Store:
    """``sqlite:///path`` (or ``sqlite:///:memory:``) or ``redis://…``/``rediss://…``.

    ``namespace`` prefixes every Redis key, so several responders (or test
    runs) can share one Redis."""
    if url.startswith("sqlite://"):
        from responder.store.sqlite import SQLiteStore

        path = url.removeprefix("sqlite://")
        path = path[1:] if path.startswith("/") and not path.startswith("//") else path
        return SQLiteStore(path or "robot-sre.db")
    if url.startswith(("redis://", "rediss://", "unix://")):
        from responder.store.redis import RedisStore

        return RedisStore.from_url(url, namespace=namespace)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///PATH or redis://HOST:PORT/DB")


__all__ = [
    "Committed",
    "IncidentFilter",
    "IncidentIndex",
    "Indexer",
    "LockBusy",
    "NoIndex",
    "QueueEntry",
    "Store",
    "StoreUnavailable",
    "VersionConflict",
    "Writes",
    "held_lock",
    "open_store",
]

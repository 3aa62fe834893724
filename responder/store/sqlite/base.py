"""What the parts of the SQLite store share: the state database, the queue
database, the clock and the indexer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from responder.store.base import IndexerSlot
from responder.store.sqlite.database import Database

CHUNK = 500
STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_expires ON keys (expires_at);
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    correlation_key TEXT NOT NULL,
    incident_type TEXT NOT NULL,
    environment TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_open
    ON incidents (correlation_key) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS incidents_created ON incidents (created_at);
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    PRIMARY KEY (collection, id, version)
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_subject ON audit (subject);
CREATE TABLE IF NOT EXISTS incident_index (
    name TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, incident_id)
);
CREATE INDEX IF NOT EXISTS incident_index_of ON incident_index (incident_id);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
# added after the first release: a file made before it gets the column here
DUE_COLUMN = "ALTER TABLE incidents ADD COLUMN due_at REAL"
DUE_INDEX = (
    "CREATE INDEX IF NOT EXISTS incidents_due ON incidents (due_at) WHERE due_at IS NOT NULL"
)


def queue_path(path: str) -> str:
    """The queue's own file beside the state file (``robot-sre.db`` →
    ``robot-sre.queue.db``)."""
    if path == ":memory:":
        return path
    found = Path(path)
    return str(found.with_name(f"{found.stem}.queue{found.suffix or '.db'}"))


def chunks(values: Sequence[str]) -> Iterator[tuple[tuple[str, ...], str]]:
    """``values`` in slices of at most ``CHUNK``, each with the placeholders
    of its ``IN (…)`` list."""
    for start in range(0, len(values), CHUNK):
        chunk = tuple(values[start : start + CHUNK])
        yield chunk, ",".join("?" * len(chunk))


class SQLiteBase(IndexerSlot):
    _state: Database
    _queue: Database
    _clock: Callable[[], float] = time.time

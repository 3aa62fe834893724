"""SQLite-only behaviour: the queue in a file of its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from responder.store import open_store
from responder.store.sqlite.base import queue_path


def test_the_queue_lives_beside_the_state_file(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/state.db")
    try:
        entry = store.enqueue(b"{}")
        assert [e.id for e in store.claim("w", 10, lease_seconds=30)] == [entry]
    finally:
        store.close()
    assert queue_path(f"{tmp_path}/state.db") == f"{tmp_path}/state.queue.db"
    with sqlite3.connect(f"{tmp_path}/state.queue.db") as conn:
        assert conn.execute("SELECT count(*) FROM queue").fetchone()[0] == 1


def test_entries_queued_by_an_older_release_are_not_lost(tmp_path: Path) -> None:
    with sqlite3.connect(f"{tmp_path}/state.db") as conn:
        conn.execute(
            "CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL,"
            " enqueued_at REAL NOT NULL, claimed_by TEXT, lease_until REAL NOT NULL DEFAULT 0,"
            " deliveries INTEGER NOT NULL DEFAULT 0)"
        )
        conn.executemany(
            "INSERT INTO queue (body, enqueued_at, deliveries) VALUES (?, 0, ?)",
            [(b"first", 0), (b"second", 2)],
        )
    store = open_store(f"sqlite:///{tmp_path}/state.db")
    try:
        assert store.queue_depth() == 2
        claimed = store.claim("w", 10, lease_seconds=30)
        assert [(e.body, e.deliveries) for e in claimed] == [(b"first", 1), (b"second", 3)]
    finally:
        store.close()
    with sqlite3.connect(f"{tmp_path}/state.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "queue" not in tables

"""The durable alert queue: a table of its own database file, so that a
webhook queuing a payload never waits for the worker's writes of incidents.
A claimed entry carries a lease; one whose lease ran out is delivered again."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from responder.store.base import QueueEntry
from responder.store.sqlite.base import SQLiteBase

QUEUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    claimed_by TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    deliveries INTEGER NOT NULL DEFAULT 0
);
"""


class SQLiteQueue(SQLiteBase):
    def enqueue(self, body: bytes) -> str:
        def insert(conn: sqlite3.Connection) -> str:
            cursor = conn.execute(
                "INSERT INTO queue (body, enqueued_at) VALUES (?, ?)", (body, self._clock())
            )
            return str(cursor.lastrowid)

        result: str = self._queue.run(insert)
        return result

    def claim(self, consumer: str, max_entries: int, lease_seconds: float) -> list[QueueEntry]:
        def take(conn: sqlite3.Connection) -> list[QueueEntry]:
            now = self._clock()
            rows = conn.execute(
                "SELECT id, body, deliveries FROM queue WHERE lease_until <= ? ORDER BY id LIMIT ?",
                (now, max_entries),
            ).fetchall()
            if rows:
                conn.executemany(
                    "UPDATE queue SET claimed_by = ?, lease_until = ?, deliveries = deliveries + 1"
                    " WHERE id = ?",
                    [(consumer, now + lease_seconds, row[0]) for row in rows],
                )
            return [QueueEntry(str(row[0]), bytes(row[1]), row[2] + 1) for row in rows]

        result: list[QueueEntry] = self._queue.run(take)
        return result

    def renew_leases(
        self, consumer: str, entry_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        def renew(conn: sqlite3.Connection) -> list[str]:
            now = self._clock()
            held = []
            for entry_id in entry_ids:
                cursor = conn.execute(
                    "UPDATE queue SET lease_until = ? WHERE id = ? AND claimed_by = ?"
                    " AND lease_until > ?",
                    (now + lease_seconds, int(entry_id), consumer, now),
                )
                if cursor.rowcount:
                    held.append(entry_id)
            return held

        result: list[str] = self._queue.run(renew)
        return result

    def ack(self, entry_id: str) -> None:
        self._queue.run(
            lambda conn: conn.execute("DELETE FROM queue WHERE id = ?", (int(entry_id),))
        )

    def queue_depth(self) -> int:
        return int(self._queue.read("SELECT count(*) FROM queue")[0][0])

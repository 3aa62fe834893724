"""The embedded store: SQLite, standard library only.

State and the alert queue are two files, so a webhook's write never waits for
the worker's. WAL with ``synchronous=NORMAL``: a committed write survives the
process dying (what the webhook's 200 promises), not a power loss, which the
Redis backend is for."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from responder.records.incident import Incident
from responder.records.writes import DocumentPut, Writes
from responder.store.base import Committed, Store
from responder.store.sqlite.base import DUE_COLUMN, DUE_INDEX, STATE_SCHEMA, queue_path
from responder.store.sqlite.database import Database
from responder.store.sqlite.documents import SQLiteDocuments
from responder.store.sqlite.incidents import SQLiteIncidents
from responder.store.sqlite.queue import QUEUE_SCHEMA, SQLiteQueue


class SQLiteStore(SQLiteQueue, SQLiteDocuments, SQLiteIncidents, Store):
    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self._clock = clock
        self._indexer = None
        self._state = Database(self.path, STATE_SCHEMA)
        self._queue = Database(queue_path(self.path), QUEUE_SCHEMA)
        conn = self._state.conn()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(incidents)")}
        if "due_at" not in columns:
            conn.execute(DUE_COLUMN)
        conn.execute(DUE_INDEX)
        self._move_old_queue(conn)

    def _move_old_queue(self, conn: sqlite3.Connection) -> None:
        """A state file made before the queue had a file of its own: its
        entries move over, not yet processed as they are."""
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'queue'"
        ).fetchall()
        if not found:
            return
        rows = conn.execute(
            "SELECT body, enqueued_at, deliveries FROM queue ORDER BY id"
        ).fetchall()
        self._queue.run(
            lambda queue: queue.executemany(
                "INSERT INTO queue (body, enqueued_at, deliveries) VALUES (?, ?, ?)", rows
            )
        )
        self._state.run(lambda state: state.execute("DROP TABLE queue"))

    def save_incident(self, incident: Incident) -> None:
        writes = Writes()
        writes.save_incident(incident)
        self.commit(writes)

    def lock_open_incidents(
        self, names: Sequence[str], ttl_seconds: float, correlation_keys: Collection[str]
    ) -> tuple[dict[str, str], dict[str, Incident]]:
        return self.acquire_locks(names, ttl_seconds), self.open_incidents(correlation_keys)

    def ping(self) -> None:
        self._state.read("SELECT 1")

    def volatility(self) -> str | None:
        if self.path == ":memory:":
            return "SQLite in memory: nothing is written to disk"
        return None

    def close(self) -> None:
        self._state.close()
        self._queue.close()

    def commit(self, writes: Writes) -> Committed:
        def apply(conn: sqlite3.Connection) -> Committed:
            self._write_incidents(conn, list(writes.incidents.values()))
            conflicts = self._put_documents(conn, writes.documents)
            changes = writes.merged_changes()
            found = self._live_documents(conn, [(c.collection, c.doc_id) for c in changes])
            changed = []
            for change in changes:
                version, doc = change.applied(found.get((change.collection, change.doc_id)))
                changed.append(DocumentPut(change.collection, change.doc_id, doc, version))
            # read in this transaction: no other writer can have moved them
            self._put_documents(conn, changed)
            audits = self._append_audits(conn, writes.audits)
            now = self._clock()
            conn.executemany(
                "DELETE FROM keys WHERE key = ?", [(k,) for k, v, _ in writes.keys if v is None]
            )
            conn.executemany(
                "INSERT OR REPLACE INTO keys (key, value, expires_at) VALUES (?, ?, ?)",
                [(k, v, now + ttl) for k, v, ttl in writes.keys if v is not None],
            )
            self.release_in(conn, writes.unlock)
            return Committed(tuple(conflicts), audits)

        committed: Committed = self._state.run(apply)
        for callback in writes.after:
            callback()
        return committed

"""The embedded store: one SQLite file, standard library only.

WAL mode with ``synchronous=NORMAL``: a committed write survives the process
dying (what the webhook's 200 promises); it may not survive the machine
losing power, which the Redis backend is for. One connection per thread.
An incident's indexes are rows of ``incident_index`` and its ``due_at``
column, written in the transaction that writes its body.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from responder.records.audit import AuditEntry
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.records.writes import Writes
from responder.store.base import (
    Committed,
    IncidentFilter,
    Indexer,
    QueueEntry,
    StoreUnavailable,
    VersionConflict,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    claimed_by TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    deliveries INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS keys (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at REAL NOT NULL
);
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
_CHUNK = 500


class SQLiteStore:
    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self._clock = clock
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._indexer: Indexer | None = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        conn.executescript(SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(incidents)")}
        if "due_at" not in columns:
            conn.execute(DUE_COLUMN)
        conn.execute(DUE_INDEX)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=10000")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"sqlite {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn`` in one immediate transaction.

        Writers of this process queue on a lock instead of on SQLite's busy
        handler, whose growing sleeps would show as webhook latency."""
        conn = self._conn()
        with self._write_lock:
            return self._transaction(conn, fn)

    def _transaction(
        self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any]
    ) -> Any:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite {self.path}: {exc}") from exc

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite {self.path}: {exc}") from exc

    def ping(self) -> None:
        self._read("SELECT 1")

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                # a connection made by a thread that already ended may refuse
                with contextlib.suppress(sqlite3.ProgrammingError):
                    conn.close()
            self._all.clear()
        self._local = threading.local()

    # queue

    def enqueue(self, body: bytes) -> str:
        def insert(conn: sqlite3.Connection) -> str:
            cursor = conn.execute(
                "INSERT INTO queue (body, enqueued_at) VALUES (?, ?)", (body, self._clock())
            )
            return str(cursor.lastrowid)

        result: str = self._run(insert)
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

        result: list[QueueEntry] = self._run(take)
        return result

    def ack(self, entry_id: str) -> None:
        self._run(lambda conn: conn.execute("DELETE FROM queue WHERE id = ?", (int(entry_id),)))

    def queue_depth(self) -> int:
        return int(self._read("SELECT count(*) FROM queue")[0][0])

    # keys

    def set_if_absent(self, key: str, value: str, ttl_seconds: float) -> bool:
        def put(conn: sqlite3.Connection) -> bool:
            now = self._clock()
            conn.execute("DELETE FROM keys WHERE key = ? AND expires_at <= ?", (key, now))
            cursor = conn.execute(
                "INSERT OR IGNORE INTO keys (key, value, expires_at) VALUES (?, ?, ?)",
                (key, value, now + ttl_seconds),
            )
            return cursor.rowcount == 1

        result: bool = self._run(put)
        return result

    def get_key(self, key: str) -> str | None:
        rows = self._read(
            "SELECT value FROM keys WHERE key = ? AND expires_at > ?", (key, self._clock())
        )
        return str(rows[0][0]) if rows else None

    def delete_key(self, key: str, expected: str | None = None) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            now = self._clock()
            if expected is None:
                cursor = conn.execute(
                    "DELETE FROM keys WHERE key = ? AND expires_at > ?", (key, now)
                )
            else:
                cursor = conn.execute(
                    "DELETE FROM keys WHERE key = ? AND value = ? AND expires_at > ?",
                    (key, expected, now),
                )
            return cursor.rowcount == 1

        result: bool = self._run(delete)
        return result

    # incidents

    def save_incident(self, incident: Incident) -> None:
        writes = Writes()
        writes.save_incident(incident)
        self.commit(writes)

    def _write_incident(self, conn: sqlite3.Connection, incident: Incident) -> None:
        due: float | None = None
        index = self._indexer(incident) if self._indexer is not None else None
        if index is not None:
            due = index.due_at
        conn.execute(
            "INSERT OR REPLACE INTO incidents"
            " (id, correlation_key, incident_type, environment, severity, state, created_at,"
            " body, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                incident.id,
                incident.correlation_key,
                incident.incident_type,
                str(incident.environment),
                str(incident.severity),
                str(incident.state),
                incident.created_at.isoformat(),
                incident.model_dump_json(),
                due,
            ),
        )
        if index is None:
            return  # a store nobody indexes with leaves the indexes alone
        conn.execute("DELETE FROM incident_index WHERE incident_id = ?", (incident.id,))
        if index.entries:
            conn.executemany(
                "INSERT INTO incident_index (name, incident_id, value) VALUES (?, ?, ?)",
                [(name, incident.id, value) for name, value in index.entries.items()],
            )

    def get_incident(self, incident_id: str) -> Incident | None:
        rows = self._read("SELECT body FROM incidents WHERE id = ?", (incident_id,))
        return Incident.model_validate_json(rows[0][0]) if rows else None

    def open_incident_id(self, correlation_key: str) -> str | None:
        rows = self._read(
            "SELECT id FROM incidents WHERE correlation_key = ? AND state != 'resolved'",
            (correlation_key,),
        )
        return str(rows[0][0]) if rows else None

    def list_incidents(self, query: IncidentFilter) -> list[Incident]:
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("state", query.state),
            ("incident_type", query.incident_type),
            ("environment", query.environment),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(str(value))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._read(
            f"SELECT body FROM incidents {clause} ORDER BY created_at DESC, id DESC"
            " LIMIT ? OFFSET ?",
            (*params, query.limit, query.offset),
        )
        return [Incident.model_validate_json(row[0]) for row in rows]

    def incidents_in_state(self, state: IncidentState) -> list[Incident]:
        rows = self._read("SELECT body FROM incidents WHERE state = ?", (str(state),))
        return [Incident.model_validate_json(row[0]) for row in rows]

    def count_open_incidents(self) -> dict[tuple[str, str, str], int]:
        rows = self._read(
            "SELECT incident_type, severity, environment, count(*) FROM incidents"
            " WHERE state != 'resolved' GROUP BY 1, 2, 3"
        )
        return {(row[0], row[1], row[2]): int(row[3]) for row in rows}

    def open_incidents(self, correlation_keys: Collection[str]) -> dict[str, Incident]:
        found: dict[str, Incident] = {}
        keys = list(dict.fromkeys(correlation_keys))
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            rows = self._read(
                "SELECT correlation_key, body FROM incidents WHERE state != 'resolved'"
                f" AND correlation_key IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
            found.update((row[0], Incident.model_validate_json(row[1])) for row in rows)
        return found

    def get_incidents(self, incident_ids: Collection[str]) -> dict[str, Incident]:
        found: dict[str, Incident] = {}
        ids = list(dict.fromkeys(incident_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            rows = self._read(
                f"SELECT id, body FROM incidents WHERE id IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
            found.update((row[0], Incident.model_validate_json(row[1])) for row in rows)
        return found

    # indexes

    def index(self, name: str) -> dict[str, str]:
        rows = self._read("SELECT incident_id, value FROM incident_index WHERE name = ?", (name,))
        return {str(row[0]): str(row[1]) for row in rows}

    def due_incidents(self, until: float, limit: int) -> list[str]:
        rows = self._read(
            "SELECT id FROM incidents WHERE due_at IS NOT NULL AND due_at <= ?"
            " ORDER BY due_at LIMIT ?",
            (until, limit),
        )
        return [str(row[0]) for row in rows]

    def use_index(self, indexer: Indexer) -> None:
        self._indexer = indexer

    def ensure_index(self) -> int:
        indexer = self._indexer
        if indexer is None:
            return 0
        found = self._read("SELECT value FROM meta WHERE key = 'indexer'")
        if found and found[0][0] == indexer.signature:
            return 0
        done = 0
        last = ""
        while True:
            rows = self._read(
                "SELECT id, body FROM incidents WHERE id > ? ORDER BY id LIMIT ?", (last, _CHUNK)
            )
            if not rows:
                break
            incidents = [Incident.model_validate_json(row[1]) for row in rows]

            def write(conn: sqlite3.Connection, batch: list[Incident] = incidents) -> None:
                for incident in batch:
                    self._write_incident(conn, incident)

            self._run(write)
            done += len(incidents)
            last = str(rows[-1][0])
        self._run(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('indexer', ?)",
                (indexer.signature,),
            )
        )
        return done

    # writes that go together

    def commit(self, writes: Writes) -> Committed:
        def apply(conn: sqlite3.Connection) -> Committed:
            for incident in writes.incidents.values():
                self._write_incident(conn, incident)
            conflicts: list[tuple[str, str]] = []
            for collection, doc_id, doc, expected in writes.documents:
                try:
                    self._put_document(conn, collection, doc_id, doc, expected)
                except VersionConflict:
                    conflicts.append((collection, doc_id))
            for change in writes.merged_changes():
                version, doc = change.applied(
                    self._live_document(conn, change.collection, change.doc_id)
                )
                self._put_document(conn, change.collection, change.doc_id, doc, version)
            audits = tuple(self._append_audit(conn, entry) for entry in writes.audits)
            now = self._clock()
            for key, value, ttl in writes.keys:
                if value is None:
                    conn.execute("DELETE FROM keys WHERE key = ?", (key,))
                else:
                    conn.execute(
                        "INSERT OR REPLACE INTO keys (key, value, expires_at) VALUES (?, ?, ?)",
                        (key, value, now + ttl),
                    )
            return Committed(tuple(conflicts), audits)

        committed: Committed = self._run(apply)
        for callback in writes.after:
            callback()
        return committed

    # locks

    def acquire_locks(self, names: Sequence[str], ttl_seconds: float) -> dict[str, str]:
        tokens = {name: secrets.token_hex(8) for name in dict.fromkeys(names)}

        def take(conn: sqlite3.Connection) -> dict[str, str]:
            now = self._clock()
            taken: dict[str, str] = {}
            for name, token in tokens.items():
                key = f"lock:{name}"
                conn.execute("DELETE FROM keys WHERE key = ? AND expires_at <= ?", (key, now))
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO keys (key, value, expires_at) VALUES (?, ?, ?)",
                    (key, token, now + ttl_seconds),
                )
                if cursor.rowcount == 1:
                    taken[name] = token
            return taken

        result: dict[str, str] = self._run(take)
        return result

    def release_locks(self, held: Mapping[str, str]) -> None:
        if not held:
            return
        self._run(
            lambda conn: conn.executemany(
                "DELETE FROM keys WHERE key = ? AND value = ?",
                [(f"lock:{name}", token) for name, token in held.items()],
            )
        )

    # documents

    def put_document(
        self,
        collection: str,
        doc_id: str,
        doc: dict[str, Any],
        expected_version: int | None = None,
    ) -> int:
        result: int = self._run(
            lambda conn: self._put_document(conn, collection, doc_id, doc, expected_version)
        )
        return result

    def _put_document(
        self,
        conn: sqlite3.Connection,
        collection: str,
        doc_id: str,
        doc: dict[str, Any],
        expected_version: int | None,
    ) -> int:
        row = conn.execute(
            "SELECT version, deleted FROM documents WHERE collection = ? AND id = ?"
            " ORDER BY version DESC LIMIT 1",
            (collection, doc_id),
        ).fetchone()
        last = int(row[0]) if row else 0
        live = last if row and not row[1] else 0
        if expected_version is not None and expected_version != live:
            raise VersionConflict(
                f"{collection}/{doc_id}: expected version {expected_version}, found {live}"
            )
        conn.execute(
            "INSERT INTO documents (collection, id, version, body) VALUES (?, ?, ?, ?)",
            (collection, doc_id, last + 1, json.dumps(doc)),
        )
        return last + 1

    def _live_document(
        self, conn: sqlite3.Connection, collection: str, doc_id: str
    ) -> tuple[int, dict[str, Any]] | None:
        row = conn.execute(
            "SELECT version, deleted, body FROM documents WHERE collection = ? AND id = ?"
            " ORDER BY version DESC LIMIT 1",
            (collection, doc_id),
        ).fetchone()
        if row is None or row[1]:
            return None
        return int(row[0]), json.loads(row[2])

    def get_document(self, collection: str, doc_id: str) -> tuple[int, dict[str, Any]] | None:
        rows = self._read(
            "SELECT version, deleted, body FROM documents WHERE collection = ? AND id = ?"
            " ORDER BY version DESC LIMIT 1",
            (collection, doc_id),
        )
        if not rows or rows[0][1]:
            return None
        return int(rows[0][0]), json.loads(rows[0][2])

    def list_documents(self, collection: str, prefix: str = "") -> list[tuple[int, dict[str, Any]]]:
        # a range on the primary key, so a prefix reads only its documents
        upper = prefix + "\U0010ffff"
        rows = self._read(
            "SELECT d.version, d.body FROM documents d"
            " WHERE d.collection = ? AND d.id >= ? AND d.id < ? AND d.deleted = 0"
            " AND d.version = (SELECT max(version) FROM documents"
            "  WHERE collection = d.collection AND id = d.id)"
            " ORDER BY d.id",
            (collection, prefix, upper),
        )
        return [(int(row[0]), json.loads(row[1])) for row in rows]

    def delete_document(self, collection: str, doc_id: str) -> bool:
        def delete(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT version, deleted FROM documents WHERE collection = ? AND id = ?"
                " ORDER BY version DESC LIMIT 1",
                (collection, doc_id),
            ).fetchone()
            if not row or row[1]:
                return False
            conn.execute(
                "INSERT INTO documents (collection, id, version, deleted, body)"
                " VALUES (?, ?, ?, 1, 'null')",
                (collection, doc_id, int(row[0]) + 1),
            )
            return True

        result: bool = self._run(delete)
        return result

    def document_history(self, collection: str, doc_id: str) -> list[tuple[int, dict[str, Any]]]:
        rows = self._read(
            "SELECT version, body FROM documents WHERE collection = ? AND id = ? AND deleted = 0"
            " ORDER BY version",
            (collection, doc_id),
        )
        return [(int(row[0]), json.loads(row[1])) for row in rows]

    # audit

    def append_audit(self, entry: AuditEntry) -> AuditEntry:
        result: AuditEntry = self._run(lambda conn: self._append_audit(conn, entry))
        return result

    def _append_audit(self, conn: sqlite3.Connection, entry: AuditEntry) -> AuditEntry:
        # the body is stored without its id: the row's sequence number is the id
        seq = conn.execute(
            "INSERT INTO audit (subject, body) VALUES (?, ?)",
            (entry.subject, entry.model_dump_json(exclude={"id"})),
        ).lastrowid
        return entry.model_copy(update={"id": str(seq)})

    def list_audit(self, limit: int = 100, subject: str | None = None) -> list[AuditEntry]:
        if subject is None:
            rows = self._read("SELECT seq, body FROM audit ORDER BY seq DESC LIMIT ?", (limit,))
        else:
            rows = self._read(
                "SELECT seq, body FROM audit WHERE subject = ? ORDER BY seq DESC LIMIT ?",
                (subject, limit),
            )
        return [
            AuditEntry.model_validate_json(row[1]).model_copy(update={"id": str(row[0])})
            for row in rows
        ]

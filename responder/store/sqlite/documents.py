"""Keys with expiry, locks, versioned documents and the audit log."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from responder.records.audit import AuditEntry
from responder.records.writes import DocumentPut
from responder.store.base import VersionConflict
from responder.store.sqlite.base import SQLiteBase, chunks


class SQLiteDocuments(SQLiteBase):
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

        result: bool = self._state.run(put)
        return result

    def get_key(self, key: str) -> str | None:
        rows = self._state.read(
            "SELECT value FROM keys WHERE key = ? AND expires_at > ?", (key, self._clock())
        )
        return str(rows[0][0]) if rows else None

    def increment(self, key: str, ttl_seconds: float) -> int:
        def add(conn: sqlite3.Connection) -> int:
            now = self._clock()
            found = conn.execute(
                "SELECT value FROM keys WHERE key = ? AND expires_at > ?", (key, now)
            ).fetchone()
            if found is not None:
                count = int(found[0]) + 1
                conn.execute("UPDATE keys SET value = ? WHERE key = ?", (str(count), key))
                return count
            # a new window: sweep a few expired keys too, so that counters
            # for names and addresses seen once do not pile up
            conn.execute(
                "DELETE FROM keys WHERE key IN "
                "(SELECT key FROM keys WHERE expires_at <= ? LIMIT 100)",
                (now,),
            )
            conn.execute(
                "INSERT OR REPLACE INTO keys (key, value, expires_at) VALUES (?, '1', ?)",
                (key, now + ttl_seconds),
            )
            return 1

        result: int = self._state.run(add)
        return result

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

        result: bool = self._state.run(delete)
        return result

    # locks

    def acquire_locks(self, names: Sequence[str], ttl_seconds: float) -> dict[str, str]:
        tokens = {name: secrets.token_hex(8) for name in dict.fromkeys(names)}

        def take(conn: sqlite3.Connection) -> dict[str, str]:
            now = self._clock()
            keys = [(f"lock:{name}", token) for name, token in tokens.items()]
            conn.executemany(
                "DELETE FROM keys WHERE key = ? AND expires_at <= ?", [(k, now) for k, _ in keys]
            )
            conn.executemany(
                "INSERT OR IGNORE INTO keys (key, value, expires_at) VALUES (?, ?, ?)",
                [(k, t, now + ttl_seconds) for k, t in keys],
            )
            held = dict(self._key_values(conn, [k for k, _ in keys]))
            return {name: t for (k, t), name in zip(keys, tokens, strict=True) if held.get(k) == t}

        result: dict[str, str] = self._state.run(take)
        return result

    def release_locks(self, held: Mapping[str, str]) -> None:
        if held:
            self._state.run(lambda conn: self.release_in(conn, held))

    @staticmethod
    def release_in(conn: sqlite3.Connection, held: Mapping[str, str]) -> None:
        conn.executemany(
            "DELETE FROM keys WHERE key = ? AND value = ?",
            [(f"lock:{name}", token) for name, token in held.items()],
        )

    @staticmethod
    def _key_values(conn: sqlite3.Connection, keys: Sequence[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for chunk, marks in chunks(keys):
            found += conn.execute(
                f"SELECT key, value FROM keys WHERE key IN ({marks})", chunk
            ).fetchall()
        return found

    # documents

    def put(self, document: DocumentPut) -> int:
        result: int = self._state.run(lambda conn: self._put_document(conn, document))
        return result

    def _put_document(self, conn: sqlite3.Connection, document: DocumentPut) -> int:
        collection, doc_id, doc, expected_version = document
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

    def get_document(self, collection: str, doc_id: str) -> tuple[int, dict[str, Any]] | None:
        rows = self._state.read(
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
        rows = self._state.read(
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

        result: bool = self._state.run(delete)
        return result

    def document_history(self, collection: str, doc_id: str) -> list[tuple[int, dict[str, Any]]]:
        rows = self._state.read(
            "SELECT version, body FROM documents WHERE collection = ? AND id = ? AND deleted = 0"
            " ORDER BY version",
            (collection, doc_id),
        )
        return [(int(row[0]), json.loads(row[1])) for row in rows]

    def _put_documents(
        self,
        conn: sqlite3.Connection,
        puts: Sequence[DocumentPut],
    ) -> list[tuple[str, str]]:
        """Store each document as its next version; the ones whose expected
        version is stale are left out and returned."""
        if len({(c, i) for c, i, _, _ in puts}) != len(puts):
            conflicts = []
            for put in puts:  # one document twice: in order
                try:
                    self._put_document(conn, put)
                except VersionConflict:
                    conflicts.append((put.collection, put.doc_id))
            return conflicts
        versions = self._versions(conn, [(c, i) for c, i, _, _ in puts])
        rows: list[tuple[str, str, int, str]] = []
        conflicts = []
        for collection, doc_id, doc, expected in puts:
            last, live = versions.get((collection, doc_id), (0, 0))
            if expected is not None and expected != live:
                conflicts.append((collection, doc_id))
                continue
            rows.append((collection, doc_id, last + 1, json.dumps(doc)))
        conn.executemany(
            "INSERT INTO documents (collection, id, version, body) VALUES (?, ?, ?, ?)", rows
        )
        return conflicts

    def _versions(
        self, conn: sqlite3.Connection, wanted: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """(last version used, live version or 0) of each wanted document that has one."""
        found: dict[tuple[str, str], tuple[int, int]] = {}
        for collection, ids in _by_collection(wanted).items():
            for chunk, marks in chunks(ids):
                for doc_id, version, deleted in conn.execute(
                    "SELECT id, version, deleted FROM documents WHERE collection = ?"
                    f" AND id IN ({marks}) ORDER BY id, version",
                    (collection, *chunk),
                ):
                    found[(collection, doc_id)] = (int(version), 0 if deleted else int(version))
        return found

    def _live_documents(
        self, conn: sqlite3.Connection, wanted: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, dict[str, Any]]]:
        found: dict[tuple[str, str], tuple[int, dict[str, Any]] | None] = {}
        for collection, ids in _by_collection(wanted).items():
            for chunk, marks in chunks(ids):
                for doc_id, version, deleted, body in conn.execute(
                    "SELECT id, version, deleted, body FROM documents WHERE collection = ?"
                    f" AND id IN ({marks}) ORDER BY id, version",
                    (collection, *chunk),
                ):
                    found[(collection, doc_id)] = None if deleted else (version, json.loads(body))
        return {key: doc for key, doc in found.items() if doc is not None}

    def _append_audits(
        self, conn: sqlite3.Connection, entries: Sequence[AuditEntry]
    ) -> tuple[str, ...]:
        """Append ``entries``; their ids (the rows' sequence numbers: the bodies
        are stored without them)."""
        if not entries:
            return ()
        conn.executemany(
            "INSERT INTO audit (subject, body) VALUES (?, ?)",
            [(e.subject, e.model_dump_json(exclude={"id"})) for e in entries],
        )
        last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        return tuple(str(last - len(entries) + 1 + n) for n in range(len(entries)))

    # audit

    def append_audit(self, entry: AuditEntry) -> AuditEntry:
        result: AuditEntry = self._state.run(lambda conn: self._append_audit(conn, entry))
        return result

    def _append_audit(self, conn: sqlite3.Connection, entry: AuditEntry) -> AuditEntry:
        # the body is stored without its id: the row's sequence number is the id
        seq = conn.execute(
            "INSERT INTO audit (subject, body) VALUES (?, ?)",
            (entry.subject, entry.model_dump_json(exclude={"id"})),
        ).lastrowid
        return entry.model_copy(update={"id": str(seq)})

    def list_audit(
        self, limit: int = 100, subject: str | None = None, before: str | None = None
    ) -> list[AuditEntry]:
        where, params = [], []
        if subject is not None:
            where.append("subject = ?")
            params.append(subject)
        if before is not None:
            if not before.isdigit():
                return []
            where.append("seq < ?")
            params.append(before)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._state.read(
            f"SELECT seq, body FROM audit {clause} ORDER BY seq DESC LIMIT ?", (*params, limit)
        )
        return [
            AuditEntry.model_validate_json(row[1]).model_copy(update={"id": str(row[0])})
            for row in rows
        ]


def _by_collection(wanted: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for collection, doc_id in wanted:
        grouped.setdefault(collection, []).append(doc_id)
    return grouped

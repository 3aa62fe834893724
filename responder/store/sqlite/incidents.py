"""Incidents: bodies and the columns the API filters by, and their indexes
(rows of ``incident_index`` and the ``due_at`` column), written in the
transaction that writes the body."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from typing import Any

from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.store.base import IncidentFilter
from responder.store.sqlite.base import CHUNK, SQLiteBase, chunks


class SQLiteIncidents(SQLiteBase):
    def _write_incidents(self, conn: sqlite3.Connection, incidents: Sequence[Incident]) -> None:
        """Bodies, columns and indexes of ``incidents`` (a store with no
        indexer leaves their indexes and due times as they are)."""
        columns = (
            "INSERT OR REPLACE INTO incidents (id, correlation_key, incident_type, environment,"
            " severity, state, created_at, body, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
        )
        rows: list[tuple[Any, ...]] = []
        entries: list[tuple[str, str, str]] = []
        for incident in incidents:
            row = (
                incident.id,
                incident.correlation_key,
                incident.incident_type,
                str(incident.environment),
                str(incident.severity),
                str(incident.state),
                incident.created_at.isoformat(),
                incident.model_dump_json(),
            )
            if self._indexer is None:
                rows.append((*row, incident.id))
                continue
            index = self._indexer(incident)
            rows.append((*row, index.due_at))
            entries += [(name, incident.id, value) for name, value in index.entries.items()]
        if self._indexer is None:
            conn.executemany(columns + "(SELECT due_at FROM incidents WHERE id = ?))", rows)
            return
        conn.executemany(columns + "?)", rows)
        conn.executemany(
            "DELETE FROM incident_index WHERE incident_id = ?", [(i.id,) for i in incidents]
        )
        conn.executemany(
            "INSERT INTO incident_index (name, incident_id, value) VALUES (?, ?, ?)", entries
        )

    def get_incident(self, incident_id: str) -> Incident | None:
        rows = self._state.read("SELECT body FROM incidents WHERE id = ?", (incident_id,))
        return Incident.model_validate_json(rows[0][0]) if rows else None

    def open_incident_id(self, correlation_key: str) -> str | None:
        rows = self._state.read(
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
        if query.after is not None:
            where.append("(created_at, id) < (?, ?)")
            params.extend((query.after[0].isoformat(), query.after[1]))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._state.read(
            f"SELECT body FROM incidents {clause} ORDER BY created_at DESC, id DESC"
            " LIMIT ? OFFSET ?",
            (*params, query.limit, query.offset),
        )
        return [Incident.model_validate_json(row[0]) for row in rows]

    def incidents_in_state(self, state: IncidentState) -> list[Incident]:
        rows = self._state.read("SELECT body FROM incidents WHERE state = ?", (str(state),))
        return [Incident.model_validate_json(row[0]) for row in rows]

    def count_open_incidents(self) -> dict[tuple[str, str, str], int]:
        rows = self._state.read(
            "SELECT incident_type, severity, environment, count(*) FROM incidents"
            " WHERE state != 'resolved' GROUP BY 1, 2, 3"
        )
        return {(row[0], row[1], row[2]): int(row[3]) for row in rows}

    def open_incidents(self, correlation_keys: Collection[str]) -> dict[str, Incident]:
        found: dict[str, Incident] = {}
        keys = list(dict.fromkeys(correlation_keys))
        for chunk, marks in chunks(keys):
            rows = self._state.read(
                "SELECT correlation_key, body FROM incidents WHERE state != 'resolved'"
                f" AND correlation_key IN ({marks})",
                chunk,
            )
            found.update((row[0], Incident.model_validate_json(row[1])) for row in rows)
        return found

    def get_incidents(self, incident_ids: Collection[str]) -> dict[str, Incident]:
        found: dict[str, Incident] = {}
        ids = list(dict.fromkeys(incident_ids))
        for chunk, marks in chunks(ids):
            rows = self._state.read(f"SELECT id, body FROM incidents WHERE id IN ({marks})", chunk)
            found.update((row[0], Incident.model_validate_json(row[1])) for row in rows)
        return found

    # indexes

    def index(self, name: str) -> dict[str, str]:
        rows = self._state.read(
            "SELECT incident_id, value FROM incident_index WHERE name = ?", (name,)
        )
        return {str(row[0]): str(row[1]) for row in rows}

    def due_incidents(self, until: float, limit: int) -> list[str]:
        rows = self._state.read(
            "SELECT id FROM incidents WHERE due_at IS NOT NULL AND due_at <= ?"
            " ORDER BY due_at LIMIT ?",
            (until, limit),
        )
        return [str(row[0]) for row in rows]

    def ensure_index(self) -> int:
        indexer = self._indexer
        if indexer is None:
            return 0
        found = self._state.read("SELECT value FROM meta WHERE key = 'indexer'")
        if found and found[0][0] == indexer.signature:
            return 0
        done = 0
        last = ""
        while True:
            rows = self._state.read(
                "SELECT id, body FROM incidents WHERE id > ? ORDER BY id LIMIT ?", (last, CHUNK)
            )
            if not rows:
                break
            incidents = [Incident.model_validate_json(row[1]) for row in rows]

            def write(conn: sqlite3.Connection, batch: list[Incident] = incidents) -> None:
                self._write_incidents(conn, batch)

            self._state.run(write)
            done += len(incidents)
            last = str(rows[-1][0])
        self._state.run(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('indexer', ?)",
                (indexer.signature,),
            )
        )
        return done

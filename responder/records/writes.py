"""Writes that reach the store together, gathered while an update runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from responder.records.audit import AuditEntry
from responder.records.incident import Incident


class DocumentPut(NamedTuple):
    """A whole document written as its next version; ``expected_version``
    makes it a compare-and-set (0: must not exist yet)."""

    collection: str
    doc_id: str
    doc: dict[str, Any]
    expected_version: int | None = None


@dataclass(frozen=True)
class DocumentChange:
    """A read-change-write of one document (``default``: the document when
    there is none yet)."""

    collection: str
    doc_id: str
    change: Callable[[dict[str, Any]], None]
    default: Callable[[], dict[str, Any]]
    new: bool = False
    """the writer knows the document is not there yet: it is not read first
    (if it is there after all, the write meets it as a concurrent writer)"""

    def applied(self, found: tuple[int, dict[str, Any]] | None) -> tuple[int, dict[str, Any]]:
        """(expected version, changed document) for the document as found
        (version 0: not there yet)."""
        version, doc = found if found is not None else (0, self.default())
        self.change(doc)
        return version, doc


@dataclass
class Writes:
    """Writes that reach the store together: one transaction on SQLite, one
    script on Redis. Incidents are serialised when committed (a change
    made after ``save_incident`` is written too); a document change reads
    the current version, changes it and writes it back, retried on a
    concurrent writer; ``after`` callbacks run once the writes are stored."""

    incidents: dict[str, Incident] = field(default_factory=dict)
    documents: list[DocumentPut] = field(default_factory=list)
    changes: list[DocumentChange] = field(default_factory=list)
    audits: list[AuditEntry] = field(default_factory=list)
    keys: list[tuple[str, str | None, float]] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)
    unlock: dict[str, str] = field(default_factory=dict)
    """store locks (name -> token) released once the writes are stored"""

    def save_incident(self, incident: Incident) -> None:
        incident.compact()
        self.incidents[incident.id] = incident

    def put(self, document: DocumentPut) -> None:
        self.documents.append(document)

    def change_document(
        self,
        collection: str,
        doc_id: str,
        change: Callable[[dict[str, Any]], None],
        default: Callable[[], dict[str, Any]] = dict,
        new: bool = False,
    ) -> None:
        self.changes.append(DocumentChange(collection, doc_id, change, default, new))

    def append_audit(self, entry: AuditEntry) -> None:
        self.audits.append(entry)

    def set_key(self, key: str, value: str, ttl_seconds: float) -> None:
        self.keys.append((key, value, ttl_seconds))

    def delete_key(self, key: str) -> None:
        self.keys.append((key, None, 0.0))

    def on_commit(self, callback: Callable[[], None]) -> None:
        self.after.append(callback)

    def merged_changes(self) -> list[DocumentChange]:
        """The document changes, those of one document folded into one (in order)."""
        grouped: dict[tuple[str, str], list[DocumentChange]] = {}
        for change in self.changes:
            grouped.setdefault((change.collection, change.doc_id), []).append(change)
        merged = []
        for (collection, doc_id), found in grouped.items():
            if len(found) == 1:
                merged.append(found[0])
                continue

            def every(doc: dict[str, Any], steps: list[DocumentChange] = found) -> None:
                for step in steps:
                    step.change(doc)

            # what the first change knew holds for the rest: they change its document
            merged.append(DocumentChange(collection, doc_id, every, found[0].default, found[0].new))
        return merged

    def __bool__(self) -> bool:
        return bool(self.incidents or self.documents or self.changes or self.audits or self.keys)

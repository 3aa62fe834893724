"""The store contract: every piece of state the responder keeps.

Two backends implement it; one contract test suite runs against both. A
backend that cannot reach its storage raises ``StoreUnavailable`` (callers
answer 503 rather than drop work). Each incident's small indexes are written
with its body, so a stage learns about other incidents without reading them."""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from responder.records.audit import AuditEntry
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.records.writes import DocumentPut, Writes


class StoreUnavailable(RuntimeError):
    """The backend cannot be reached or cannot write durably right now."""


class LockBusy(RuntimeError):
    """Somebody else holds the lock."""


class VersionConflict(RuntimeError):
    """A document changed since the version the writer read."""


@dataclass(frozen=True)
class QueueEntry:
    id: str
    body: bytes
    deliveries: int


@dataclass(frozen=True)
class IncidentIndex:
    """What the store keeps about an incident beside its body."""

    entries: Mapping[str, str] = field(default_factory=dict)
    """index name -> this incident's value in it (absent: not in the index)"""
    due_at: float | None = None
    """epoch seconds when the schedulers look at the incident next (None: never)"""


class Indexer(Protocol):
    """Derives an incident's indexes from its record alone. ``signature``
    changes whenever the derivation does (new settings), so that a store
    written under another one is indexed again (``Store.ensure_index``)."""

    signature: str

    def __call__(self, incident: Incident) -> IncidentIndex: ...


class IndexerSlot:
    """Where a backend keeps the ``Indexer`` it writes beside each incident
    (None: no indexes)."""

    _indexer: Indexer | None = None

    def use_index(self, indexer: Indexer) -> None:
        self._indexer = indexer


class NoIndex:
    """The indexer of a store nobody schedules or guards with (tools, tests)."""

    signature = "none"

    def __call__(self, incident: Incident) -> IncidentIndex:
        return IncidentIndex()


@dataclass(frozen=True)
class Committed:
    """What a commit did: the documents whose expected version was stale
    (not written), and the ids of the audit entries it appended, in order."""

    conflicts: tuple[tuple[str, str], ...] = ()
    audit_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class IncidentFilter:
    state: IncidentState | None = None
    incident_type: str | None = None
    environment: str | None = None
    limit: int = 100
    offset: int = 0
    #: only incidents after this one in the listing order (created_at, id
    #: descending): a cursor that stays put while incidents are created
    after: tuple[datetime, str] | None = None


class Store(Protocol):
    """What every backend offers; the backends subclass it, so the few
    methods written here in terms of others are written once."""

    def ping(self) -> None:
        """Return if the backend answers; raise ``StoreUnavailable`` if not."""

    def volatility(self) -> str | None:
        """Why what the store accepted would not survive its own restart
        (nothing written to disk), or None when it would."""

    def close(self) -> None: ...

    # The durable alert queue. An entry stays until acked; a claimed entry
    # whose lease ran out (its consumer died) is delivered again.
    def enqueue(self, body: bytes) -> str: ...

    def claim(self, consumer: str, max_entries: int, lease_seconds: float) -> list[QueueEntry]: ...

    def ack(self, entry_id: str) -> None: ...

    def renew_leases(
        self, consumer: str, entry_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        """Extend the leases ``consumer`` holds on ``entry_ids`` to
        ``lease_seconds`` from now; the ids it still held (one whose lease ran
        out and went to another consumer is not renewed)."""

    def queue_depth(self) -> int:
        """Entries not yet acked (waiting or claimed)."""

    # Keys with expiry: dedupe windows, cooldowns, locks.
    def set_if_absent(self, key: str, value: str, ttl_seconds: float) -> bool:
        """Atomically create ``key`` unless it exists; True when created."""

    def get_key(self, key: str) -> str | None: ...

    def increment(self, key: str, ttl_seconds: float) -> int:
        """Add one to the counter ``key`` and return it; a counter that does
        not exist (or expired) starts at 1 and lives ``ttl_seconds`` from
        then (a fixed window: later increments do not extend it)."""

    def delete_key(self, key: str, expected: str | None = None) -> bool:
        """Delete ``key`` (only if it holds ``expected``, when given)."""

    # Incidents.
    def save_incident(self, incident: Incident) -> None:
        """Insert or replace; keeps the open-incident index of its
        correlation key in step with its state."""

    def get_incident(self, incident_id: str) -> Incident | None: ...

    def open_incident_id(self, correlation_key: str) -> str | None: ...

    def list_incidents(self, query: IncidentFilter) -> list[Incident]:
        """Newest first."""

    def incidents_in_state(self, state: IncidentState) -> list[Incident]: ...

    def count_open_incidents(self) -> dict[tuple[str, str, str], int]:
        """Open incidents counted by (incident_type, severity, environment)."""

    def open_incidents(self, correlation_keys: Collection[str]) -> dict[str, Incident]:
        """The open incident of each key that has one, by key (one read)."""

    def get_incidents(self, incident_ids: Collection[str]) -> dict[str, Incident]:
        """The incidents that exist among ``incident_ids``, by id (one read)."""

    # Indexes kept beside the bodies (see ``Indexer``).
    def index(self, name: str) -> dict[str, str]:
        """Every incident in the index ``name``: id -> value."""

    def due_incidents(self, until: float, limit: int) -> list[str]:
        """Ids of incidents due at or before ``until`` (epoch seconds), earliest first."""

    def use_index(self, indexer: Indexer) -> None:
        """Index every incident saved from now on with ``indexer`` (no I/O)."""

    def ensure_index(self) -> int:
        """Index every stored incident with the indexer in use, unless the
        store already was (same signature); how many were indexed."""

    # Writes that go together.
    def commit(self, writes: Writes) -> Committed:
        """Store ``writes`` together; a stale expected version skips that
        document (reported), it does not undo the rest. Runs ``writes.after``."""

    # Locks on several names at once (one round trip).
    def acquire_locks(self, names: Sequence[str], ttl_seconds: float) -> dict[str, str]:
        """Take each free lock ``lock:<name>``; name -> token of the ones taken."""

    def release_locks(self, held: Mapping[str, str]) -> None:
        """Release locks taken by ``acquire_locks`` (a lock that expired and
        was taken by another holder is left alone)."""

    def lock_open_incidents(
        self, names: Sequence[str], ttl_seconds: float, correlation_keys: Collection[str]
    ) -> tuple[dict[str, str], dict[str, Incident]]:
        """``acquire_locks(names)``, then ``open_incidents(correlation_keys)``
        (read once the locks are taken), in one round trip where the store can."""

    # Versioned documents (operator rules, approvals, settings made in the UI).
    # Every put makes a new version and keeps the old one in the history;
    # ``expected_version`` turns the put into a compare-and-set (0: must not
    # exist yet).
    def put_document(
        self,
        collection: str,
        doc_id: str,
        doc: dict[str, Any],
        expected_version: int | None = None,
    ) -> int:
        """Store ``doc`` as the next version and return that version number."""
        return self.put(DocumentPut(collection, doc_id, doc, expected_version))

    def put(self, document: DocumentPut) -> int:
        """``put_document`` of one record: what each backend implements."""

    def get_document(self, collection: str, doc_id: str) -> tuple[int, dict[str, Any]] | None:
        """The current (version, document), or None if absent or deleted."""

    def list_documents(self, collection: str, prefix: str = "") -> list[tuple[int, dict[str, Any]]]:
        """Current versions of every live document whose id starts with
        ``prefix``, ordered by id."""

    def delete_document(self, collection: str, doc_id: str) -> bool: ...

    def document_history(self, collection: str, doc_id: str) -> list[tuple[int, dict[str, Any]]]:
        """Every stored version, oldest first (a deletion is not a version)."""

    # The audit log: append-only, newest first when listed.
    def append_audit(self, entry: AuditEntry) -> AuditEntry: ...

    def list_audit(
        self, limit: int = 100, subject: str | None = None, before: str | None = None
    ) -> list[AuditEntry]:
        """Newest first; ``before``: only entries older than that entry id."""


@contextmanager
def held_lock(
    store: Store, name: str, ttl_seconds: float, wait_seconds: float = 0.0
) -> Iterator[str]:
    """Hold the store lock ``name`` for the block; wait up to ``wait_seconds``
    for it, then raise ``LockBusy``.

    The token makes release safe: a lock that expired and was taken by
    another holder is not deleted by the first one."""
    token = secrets.token_hex(8)
    deadline = time.monotonic() + wait_seconds
    delay = 0.005
    while not store.set_if_absent(f"lock:{name}", token, ttl_seconds):
        if time.monotonic() >= deadline:
            raise LockBusy(name)
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    try:
        yield token
    finally:
        store.delete_key(f"lock:{name}", expected=token)

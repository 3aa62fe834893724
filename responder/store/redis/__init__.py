"""The production store: Redis, through the ``redis`` package.

Key layout. ``<ns>`` is the namespace; every key starts with ``<ns>:`` and
carries one hash tag (``{...}``), the part Redis Cluster hashes to pick the
slot; what one Lua script or one multi-key read touches shares a tag:

    <ns>:{queue}:stream, :leases            the alert queue (queue.py)
    <ns>:{key:<key>}                        a key with expiry (one tag per key)
    <ns>:{incidents}:body:<id>, :meta, :created, :state:<state>,
        :open:<correlation key>, :index:<name>, :due, :indexer
                                            incidents and their indexes
    <ns>:{docs:<collection>}:last, :live, :history:<id>
                                            versioned documents
    <ns>:{audit}:log, :subject:<subject>    the audit log

The tags do not include the namespace, so responders sharing a cluster under
different namespaces share slots (correct, merely co-located); a namespace
with braces is refused. ``commit`` sends the writes of a batch as one Lua
script (``scripts.COMMIT``) across tags: one round trip, atomic, the work on
the server; that needs a standalone Redis (what this class talks to) — a
Redis Cluster would need the script split by slot.
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError
from redis.retry import Retry

from responder.records.audit import AuditEntry
from responder.records.incident import Incident
from responder.records.writes import DocumentChange, Writes
from responder.store.base import Committed, VersionConflict
from responder.store.redis.connection import Arg, text
from responder.store.redis.documents import RedisDocuments, ttl_ms
from responder.store.redis.incidents import RedisIncidents
from responder.store.redis.queue import GROUP, RedisQueue
from responder.store.urls import redact_url

CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0
HEALTH_CHECK_INTERVAL = 15
_CHANGE_ATTEMPTS = 8


class RedisStore(RedisQueue, RedisDocuments, RedisIncidents):
    @classmethod
    def from_url(cls, url: str, namespace: str = "robot-sre") -> RedisStore:
        """A store on ``redis://``, ``rediss://`` or ``unix://`` ``url`` with
        short timeouts: an unreachable Redis fails fast as ``StoreUnavailable``.
        One quick retry covers a pooled connection that went stale."""
        try:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=SOCKET_TIMEOUT,
                health_check_interval=HEALTH_CHECK_INTERVAL,
                retry=Retry(
                    ExponentialWithJitterBackoff(base=0.05, cap=0.5),
                    retries=1,
                    supported_errors=(ConnectionError,),
                ),
                decode_responses=False,
            )
        except ValueError as exc:
            raise ValueError(f"invalid Redis URL {redact_url(url)}: {exc}") from None
        return cls(client, namespace=namespace, url=url)

    def save_incident(self, incident: Incident) -> None:
        writes = Writes()
        writes.save_incident(incident)
        self.commit(writes)

    def commit(self, writes: Writes) -> Committed:
        changes = writes.merged_changes()
        args: list[Arg] = [self.namespace]
        slots: list[tuple[str, object]] = []
        for incident in writes.incidents.values():
            args += self.incident_op(incident)
        for collection, doc_id, doc, expected in writes.documents:
            slots.append(("document", (collection, doc_id)))
            args += ["D", json.dumps([collection, doc_id, expected]), json.dumps(doc)]
        with self._guard():
            found = self._read_documents(changes)
            for change, current in zip(changes, found, strict=True):
                version, doc = change.applied(current)
                slots.append(("change", change))
                head = json.dumps([change.collection, change.doc_id, version])
                args += ["D", head, json.dumps(doc)]
            for entry in writes.audits:
                slots.append(("audit", entry))
                stored = entry.model_copy(update={"id": ""}).model_dump_json()
                args += ["A", entry.subject, stored]
            for key, value, ttl in writes.keys:
                args += ["K", json.dumps([key, value, ttl_ms(ttl)]), ""]
            for name, token in writes.unlock.items():
                args += ["U", f"key:lock:{name}", token]
            replies = cast(list[Any], self._commit(args=args)) if len(args) > 1 else []
            conflicts: list[tuple[str, str]] = []
            audits: list[AuditEntry] = []
            retry: list[DocumentChange] = []
            for (kind, item), reply in zip(slots, replies, strict=True):
                if kind == "audit":
                    entry = cast(AuditEntry, item)
                    audits.append(entry.model_copy(update={"id": text(cast(bytes, reply))}))
                elif int(cast(list[Any], reply)[0]) < 0:
                    if kind == "change":
                        retry.append(cast(DocumentChange, item))
                    else:
                        conflicts.append(cast(tuple[str, str], item))
            for change in retry:
                self._change_document(change)
        for callback in writes.after:
            callback()
        return Committed(tuple(conflicts), tuple(audits))

    def _read_documents(
        self, changes: list[DocumentChange]
    ) -> list[tuple[int, dict[str, Any]] | None]:
        unknown = [c for c in changes if not c.new]
        if not unknown:
            return [None] * len(changes)
        with self._client.pipeline(transaction=False) as pipe:
            for change in unknown:
                self.queue_get_document(pipe, change.collection, change.doc_id)
            replies = iter(pipe.execute())
        return [None if c.new else self.document_of(next(replies)) for c in changes]

    def _change_document(self, change: DocumentChange) -> None:
        """A document change that met a concurrent writer, done on its own."""
        for _ in range(_CHANGE_ATTEMPTS):
            version, doc = change.applied(self.get_document(change.collection, change.doc_id))
            try:
                self.put_document(change.collection, change.doc_id, doc, expected_version=version)
                return
            except VersionConflict:
                continue
        raise VersionConflict(
            f"{change.collection}/{change.doc_id}: changed concurrently {_CHANGE_ATTEMPTS} times"
        )


__all__ = ["GROUP", "RedisStore", "redact_url"]

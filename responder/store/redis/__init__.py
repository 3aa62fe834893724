"""The production store: Redis, through the ``redis`` package.

Every key carries one hash tag, shared by what one script or multi-key read
touches; a batch commits as one Lua script, which needs a standalone Redis."""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Sequence
from typing import Any, cast

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError
from redis.retry import Retry

from responder.records.incident import Incident
from responder.records.writes import DocumentChange, DocumentPut, Writes
from responder.store.base import Committed, Store, VersionConflict
from responder.store.redis.connection import Arg
from responder.store.redis.documents import RedisDocuments, ttl_ms
from responder.store.redis.incidents import RedisIncidents
from responder.store.redis.queue import GROUP, RedisQueue
from responder.store.urls import redact_url

CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0
HEALTH_CHECK_INTERVAL = 15
_CHANGE_ATTEMPTS = 8


class RedisStore(RedisQueue, RedisDocuments, RedisIncidents, Store):
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

    def lock_open_incidents(
        self, names: Sequence[str], ttl_seconds: float, correlation_keys: Collection[str]
    ) -> tuple[dict[str, str], dict[str, Incident]]:
        tokens = {name: secrets.token_hex(8) for name in dict.fromkeys(names)}
        keys = list(dict.fromkeys(correlation_keys))
        args: list[Arg] = [ttl_ms(ttl_seconds), len(tokens), self._inc("")]
        for name, token in tokens.items():
            args += [self.key_name(f"lock:{name}"), token]
        args += keys
        with self._guard():
            taken, bodies = cast(
                tuple[list[int], list[bytes]], self._scripts.lock_open_incidents(args=args)
            )
        held = {name: token for (name, token), ok in zip(tokens.items(), taken, strict=True) if ok}
        found: dict[str, Incident] = {}
        for key, body in zip(keys, bodies, strict=True):
            if body:
                incident = Incident.model_validate_json(body)
                if incident.is_open:
                    found[key] = incident
        return held, found

    def save_incident(self, incident: Incident) -> None:
        writes = Writes()
        writes.save_incident(incident)
        self.commit(writes)

    def commit(self, writes: Writes) -> Committed:
        changes = writes.merged_changes()
        ops: list[tuple[str, object, bytes]] = [
            self.incident_op(i) for i in writes.incidents.values()
        ]
        documents: list[tuple[str, str] | DocumentChange] = []
        for collection, doc_id, doc, expected in writes.documents:
            documents.append((collection, doc_id))
            ops.append(("D", [collection, doc_id, expected], json.dumps(doc).encode()))
        with self._guard():
            found = self._read_documents(changes)
            for change, current in zip(changes, found, strict=True):
                version, doc = change.applied(current)
                documents.append(change)
                head = [change.collection, change.doc_id, version]
                ops.append(("D", head, json.dumps(doc).encode()))
            for entry in writes.audits:
                ops.append(("A", entry.subject, entry.model_dump_json(exclude={"id"}).encode()))
            for key, value, ttl in writes.keys:
                ops.append(("K", [key, value, ttl_ms(ttl)], b""))
            for name, token in writes.unlock.items():
                ops.append(("U", f"key:lock:{name}", token.encode()))
            stale, audit_ids = self.run_commit(ops)
            first_document = len(writes.incidents) + 1  # the script counts from 1
            conflicts: list[tuple[str, str]] = []
            for number in stale:
                item = documents[number - first_document]
                if isinstance(item, DocumentChange):
                    self._change_document(item)  # met a concurrent writer: on its own
                else:
                    conflicts.append(item)
        for callback in writes.after:
            callback()
        return Committed(tuple(conflicts), tuple(audit_ids))

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
                self.put(DocumentPut(change.collection, change.doc_id, doc, version))
                return
            except VersionConflict:
                continue
        raise VersionConflict(
            f"{change.collection}/{change.doc_id}: changed concurrently {_CHANGE_ATTEMPTS} times"
        )


__all__ = ["GROUP", "RedisStore", "redact_url"]

"""Keys with expiry, locks, versioned documents and the audit log on Redis.

A document collection keeps, under one tag, the last version used per
document, the live versions and each document's history; a put is one Lua
compare-and-set on the live version. The audit log is a stream with a list
of ids per subject."""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, cast

from redis.client import Pipeline

from responder.records.audit import AuditEntry
from responder.records.writes import DocumentPut
from responder.store.base import VersionConflict
from responder.store.redis.connection import Arg, RedisConnection, text

STREAM_ID = re.compile(r"^\d+-\d+$")


def _stream_order(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


def ttl_ms(seconds: float) -> int:
    return max(1, math.ceil(round(seconds * 1000, 3)))


def audit_of(entry_id: bytes, fields: dict[bytes, bytes]) -> AuditEntry:
    entry = AuditEntry.model_validate_json(fields[b"e"])
    return entry.model_copy(update={"id": text(entry_id)})


class RedisDocuments(RedisConnection):
    # keys

    def key_name(self, key: str) -> str:
        return self._key(f"key:{key}")

    def set_if_absent(self, key: str, value: str, ttl_seconds: float) -> bool:
        with self._guard():
            created = self._client.set(self.key_name(key), value, nx=True, px=ttl_ms(ttl_seconds))
        return bool(created)

    def get_key(self, key: str) -> str | None:
        with self._guard():
            value = cast(bytes | None, self._client.get(self.key_name(key)))
        return None if value is None else text(value)

    def increment(self, key: str, ttl_seconds: float) -> int:
        name = self.key_name(key)
        with self._guard(), self._client.pipeline(transaction=True) as pipe:
            # INCR keeps the expiry SET gave a new counter
            pipe.set(name, 0, nx=True, px=ttl_ms(ttl_seconds))
            pipe.incr(name)
            return int(pipe.execute()[1])

    def delete_key(self, key: str, expected: str | None = None) -> bool:
        name = self.key_name(key)
        with self._guard():
            if expected is None:
                return self._client.delete(name) > 0
            return int(self._scripts.delete_if(keys=[name], args=[expected])) > 0

    def acquire_locks(self, names: Sequence[str], ttl_seconds: float) -> dict[str, str]:
        tokens = {name: secrets.token_hex(8) for name in dict.fromkeys(names)}
        if not tokens:
            return {}
        args: list[Arg] = [ttl_ms(ttl_seconds)]
        for name, token in tokens.items():
            args += [self.key_name(f"lock:{name}"), token]
        with self._guard():
            taken = cast(list[int], self._scripts.acquire_locks(args=args))
        return {name: token for (name, token), ok in zip(tokens.items(), taken, strict=True) if ok}

    def release_locks(self, held: Mapping[str, str]) -> None:
        if not held:
            return
        args: list[Arg] = []
        for name, token in held.items():
            args += [self.key_name(f"lock:{name}"), token]
        with self._guard():
            self._scripts.release_locks(args=args)

    # documents

    def _doc_keys(self, collection: str, doc_id: str) -> tuple[str, str, str]:
        tag = f"docs:{collection}"
        return (
            self._key(tag, "last"),
            self._key(tag, "live"),
            self._key(tag, "history", doc_id),
        )

    def _ids_key(self, collection: str) -> str:
        return self._key(f"docs:{collection}", "ids")

    def put(self, document: DocumentPut) -> int:
        collection, doc_id, doc, expected_version = document
        expected = "" if expected_version is None else str(int(expected_version))
        with self._guard():
            result = cast(
                list[int],
                self._scripts.put_document(
                    keys=[*self._doc_keys(collection, doc_id), self._ids_key(collection)],
                    args=[doc_id, expected, json.dumps(doc)],
                ),
            )
        version, live = int(result[0]), int(result[1])
        if version < 0:
            raise VersionConflict(
                f"{collection}/{doc_id}: expected version {expected_version}, found {live}"
            )
        return version

    def queue_get_document(self, pipe: Pipeline, collection: str, doc_id: str) -> None:
        """Queue a read on ``pipe``; its reply goes to ``document_of``."""
        _, live_key, history_key = self._doc_keys(collection, doc_id)
        self._scripts.get_document(keys=[live_key, history_key], args=[doc_id], client=pipe)

    @staticmethod
    def document_of(reply: Any) -> tuple[int, dict[str, Any]] | None:
        if not reply or reply[1] is None:
            return None
        return int(reply[0]), cast(dict[str, Any], json.loads(reply[1]))

    def get_document(self, collection: str, doc_id: str) -> tuple[int, dict[str, Any]] | None:
        _, live_key, history_key = self._doc_keys(collection, doc_id)
        with self._guard():
            reply = self._scripts.get_document(keys=[live_key, history_key], args=[doc_id])
        return self.document_of(reply)

    def list_documents(self, collection: str, prefix: str = "") -> list[tuple[int, dict[str, Any]]]:
        _, live_key, history_key = self._doc_keys(collection, "")
        if prefix:
            # a range of the ids kept in order: a prefix reads only its documents
            with self._guard():
                reply = cast(
                    list[bytes],
                    self._scripts.list_documents(
                        keys=[live_key, self._ids_key(collection)], args=[history_key, prefix]
                    ),
                )
            return [
                (int(reply[n + 1]), cast(dict[str, Any], json.loads(reply[n + 2])))
                for n in range(0, len(reply), 3)
            ]
        with self._guard():
            live = cast(dict[bytes, bytes], self._client.hgetall(live_key))
            if not live:
                return []
            ordered = sorted(live.items())
            with self._client.pipeline(transaction=False) as pipe:
                for doc_id, version in ordered:
                    pipe.hget(self._doc_keys(collection, text(doc_id))[2], version)
                raws = cast(list[bytes | None], pipe.execute())
        return [
            (int(version), cast(dict[str, Any], json.loads(raw)))
            for (_, version), raw in zip(ordered, raws, strict=True)
            if raw is not None
        ]

    def delete_document(self, collection: str, doc_id: str) -> bool:
        last_key, live_key, _ = self._doc_keys(collection, doc_id)
        with self._guard():
            deleted = self._scripts.delete_document(
                keys=[last_key, live_key, self._ids_key(collection)], args=[doc_id]
            )
        return int(cast(int, deleted)) == 1

    def document_history(self, collection: str, doc_id: str) -> list[tuple[int, dict[str, Any]]]:
        _, _, history_key = self._doc_keys(collection, doc_id)
        with self._guard():
            versions = cast(dict[bytes, bytes], self._client.hgetall(history_key))
        return sorted(
            (int(version), cast(dict[str, Any], json.loads(raw)))
            for version, raw in versions.items()
        )

    # audit

    def append_audit(self, entry: AuditEntry) -> AuditEntry:
        stored = entry.model_copy(update={"id": ""}).model_dump_json()
        with self._guard():
            entry_id = self._scripts.append_audit(
                keys=[self._key("audit", "log"), self._key("audit", "subject", entry.subject)],
                args=[entry.subject, stored],
            )
        return entry.model_copy(update={"id": text(cast(bytes, entry_id))})

    def list_audit(
        self, limit: int = 100, subject: str | None = None, before: str | None = None
    ) -> list[AuditEntry]:
        if limit <= 0:
            return []
        if before is not None and not STREAM_ID.match(before):
            return []
        log = self._key("audit", "log")
        with self._guard():
            if subject is None:
                rows = cast(
                    list[tuple[bytes, dict[bytes, bytes]]],
                    self._client.xrevrange(log, max=f"({before}" if before else "+", count=limit),
                )
            else:
                rows = self._subject_rows(log, subject, limit, before)
        return [audit_of(entry_id, fields) for entry_id, fields in rows]

    def _subject_rows(
        self, log: str, subject: str, limit: int, before: str | None
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        # the subject's ids, oldest first; a cursor needs them all (a subject's
        # list is one incident's, rule's or user's history)
        start = 0 if before is not None else -limit
        ids = [
            text(i)
            for i in cast(
                list[bytes], self._client.lrange(self._key("audit", "subject", subject), start, -1)
            )
        ]
        if before is not None:
            older = _stream_order(before)
            ids = [i for i in ids if _stream_order(i) < older]
        picked = ids[-limit:]
        with self._client.pipeline(transaction=False) as pipe:
            for entry_id in reversed(picked):
                pipe.xrange(log, min=entry_id, max=entry_id, count=1)
            found = cast(list[list[tuple[bytes, dict[bytes, bytes]]]], pipe.execute())
        return [row for result in found for row in result]

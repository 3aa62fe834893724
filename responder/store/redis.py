"""The production store: Redis (standalone or Cluster-ready), ``redis`` package.

Key layout. ``<ns>`` is the namespace; every key starts with ``<ns>:`` and
carries one hash tag (``{...}``), the part Redis Cluster hashes to pick the
slot. Whatever must change atomically (one MULTI, one Lua script) or be read
with one multi-key command (MGET, SUNION) shares a tag:

    <ns>:{queue}:stream               stream of alerts; field ``b`` = body;
                                      consumer group ``responders``
    <ns>:{queue}:leases               zset entry id -> lease deadline (ms, Redis clock)

    <ns>:{key:<key>}                  string with PX expiry: dedupe windows,
                                      cooldowns, locks (one tag per key)

    <ns>:{incidents}:body:<id>        string, Incident JSON
    <ns>:{incidents}:meta             hash id -> JSON [state, type, severity,
                                      environment, correlation_key]
    <ns>:{incidents}:created          zset id -> created_at (epoch seconds)
    <ns>:{incidents}:state:<state>    set of ids in that state
    <ns>:{incidents}:open:<corr key>  string, id of the open incident

    <ns>:{docs:<collection>}:last         hash doc id -> last version number
                                          used (a deletion uses one too)
    <ns>:{docs:<collection>}:live         hash doc id -> current version of
                                          every live document
    <ns>:{docs:<collection>}:history:<id> hash version -> document JSON

    <ns>:{audit}:log                  stream; fields ``s`` subject, ``e`` entry
                                      JSON; the stream id is the entry id
    <ns>:{audit}:subject:<subject>    list of audit stream ids, oldest first

Compromise: all incident keys share the single tag ``{incidents}`` rather than
one tag per incident, so that ``save_incident`` (body + open index + state
sets in one MULTI) and the MGET of a page of bodies stay legal under Redis
Cluster. The price is that every incident lives on one cluster shard, which is
fine for the tens of thousands of small records a responder keeps. The tags do
not include the namespace, so responders that share a cluster under different
namespaces share slots (correct, merely co-located). Braces in a key,
collection or subject cannot split a group (Redis hashes the first ``{...}``,
which the keys of one group share); only the namespace could move every tag,
so a namespace with braces is refused.

The queue keeps a lease deadline per claimed entry instead of using
XAUTOCLAIM's min-idle-time: a lease belongs to the claim that took the entry
(0.2 s for one worker, 30 s for the next), while XAUTOCLAIM could only compare
every entry's idle time with the lease of the *current* caller. ``claim`` runs
as one Lua script: expired leases are re-claimed with XCLAIM (which bumps the
delivery count, read back with XPENDING), then fresh entries are read with
XREADGROUP ``>`` (delivery 1). ``ack`` is XACK + XDEL + ZREM, so XLEN is the
number of entries not yet acked.

This class talks to one Redis through ``redis.Redis``; every multi-key
operation above stays within one tag so the layout also suits a cluster client.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TimeoutError,
    TryAgainError,
    WatchError,
)
from redis.retry import Retry

from responder.records.audit import AuditEntry
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.store.base import IncidentFilter, QueueEntry, StoreUnavailable, VersionConflict
from responder.store.urls import redact_url

GROUP = "responders"
PAGE = 1000
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0
HEALTH_CHECK_INTERVAL = 15

# Server replies that mean "cannot serve or cannot write durably right now".
_UNAVAILABLE_REPLIES = ("MISCONF", "NOREPLICAS", "MASTERDOWN", "CLUSTERDOWN", "LOADING")

_CLAIM = """
-- KEYS[1] stream, KEYS[2] leases; ARGV: group, consumer, max entries, lease ms
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[3])
local deadline = now + tonumber(ARGV[4])
local out = {}
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, max)
for _, id in ipairs(expired) do
  local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id)
  local entry = claimed[1]
  if entry and entry[2] then
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    local deliveries = 1
    if pending[1] then deliveries = pending[1][4] end
    redis.call('ZADD', KEYS[2], deadline, id)
    out[#out + 1] = {id, entry[2], deliveries}
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
local room = max - #out
if room > 0 then
  local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', room,
                          'STREAMS', KEYS[1], '>')
  if read and read[1] then
    for _, entry in ipairs(read[1][2]) do
      redis.call('ZADD', KEYS[2], deadline, entry[1])
      out[#out + 1] = {entry[1], entry[2], 1}
    end
  end
end
return out
"""

_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_PUT_DOCUMENT = """
-- KEYS: last, live, history; ARGV: doc id, expected version ('' = any), body
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local live = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= live then
  return {-1, live}
end
local version = last + 1
redis.call('HSET', KEYS[1], ARGV[1], version)
redis.call('HSET', KEYS[2], ARGV[1], version)
redis.call('HSET', KEYS[3], version, ARGV[3])
return {version, live}
"""

_DELETE_DOCUMENT = """
-- KEYS: last, live; ARGV: doc id
local live = redis.call('HGET', KEYS[2], ARGV[1])
if not live then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or live)
redis.call('HSET', KEYS[1], ARGV[1], last + 1)
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

_APPEND_AUDIT = """
-- KEYS: log stream, subject list; ARGV: subject, entry JSON
local id = redis.call('XADD', KEYS[1], '*', 's', ARGV[1], 'e', ARGV[2])
redis.call('RPUSH', KEYS[2], id)
return id
"""


def _password_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.password:
        return parts.password
    for key, value in parse_qsl(parts.query):
        if key.lower() == "password" and value:
            return value
    return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stream_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _score(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _chunks(items: Sequence[str], size: int = PAGE) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RedisStore:
    def __init__(self, client: redis.Redis, namespace: str = "robot-sre", url: str = "") -> None:
        if not namespace or "{" in namespace or "}" in namespace:
            raise ValueError(f"invalid Redis namespace {namespace!r}: non-empty, no braces")
        self._client = client
        self.namespace = namespace
        self.url = redact_url(url) if url else "redis"
        self._password = _password_of(url) if url else None
        self._group_ready = False
        self._claim: Script = client.register_script(_CLAIM)
        self._delete_if: Script = client.register_script(_DELETE_IF)
        self._put_document: Script = client.register_script(_PUT_DOCUMENT)
        self._delete_document: Script = client.register_script(_DELETE_DOCUMENT)
        self._append_audit: Script = client.register_script(_APPEND_AUDIT)

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

    # plumbing

    def _key(self, tag: str, *rest: str) -> str:
        return ":".join((self.namespace, f"{{{tag}}}", *rest))

    def _describe(self, exc: BaseException) -> str:
        detail = str(exc) or type(exc).__name__
        if self._password:
            detail = detail.replace(self._password, "***")
        return f"redis {self.url} unavailable: {detail}"

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn "the server cannot be reached or cannot write" into StoreUnavailable."""
        try:
            yield
        except (
            ConnectionError,
            TimeoutError,
            ReadOnlyError,
            OutOfMemoryError,
            ClusterDownError,
            TryAgainError,
        ) as exc:
            raise StoreUnavailable(self._describe(exc)) from exc
        except ResponseError as exc:
            if str(exc).startswith(_UNAVAILABLE_REPLIES):
                raise StoreUnavailable(self._describe(exc)) from exc
            raise

    def ping(self) -> None:
        with self._guard():
            self._client.ping()

    def close(self) -> None:
        self._client.close()
        self._client.connection_pool.disconnect()

    # queue

    @property
    def _stream(self) -> str:
        return self._key("queue", "stream")

    @property
    def _leases(self) -> str:
        return self._key("queue", "leases")

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._client.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def enqueue(self, body: bytes) -> str:
        with self._guard():
            entry_id = cast(bytes, self._client.xadd(self._stream, {"b": body}))
        return _text(entry_id)

    def claim(self, consumer: str, max_entries: int, lease_seconds: float) -> list[QueueEntry]:
        if max_entries <= 0:
            return []
        lease_ms = max(1, math.ceil(round(lease_seconds * 1000, 3)))
        with self._guard():
            self._ensure_group()
            try:
                raw = self._run_claim(consumer, max_entries, lease_ms)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self._group_ready = False  # the stream was removed behind our back
                self._ensure_group()
                raw = self._run_claim(consumer, max_entries, lease_ms)
        entries = []
        for entry_id, fields, deliveries in raw:
            values = dict(zip(fields[::2], fields[1::2], strict=True))
            entries.append(QueueEntry(_text(entry_id), bytes(values[b"b"]), int(deliveries)))
        entries.sort(key=lambda entry: _stream_order(entry.id))
        return entries

    def _run_claim(self, consumer: str, max_entries: int, lease_ms: int) -> list[Any]:
        return cast(
            list[Any],
            self._claim(
                keys=[self._stream, self._leases], args=[GROUP, consumer, max_entries, lease_ms]
            ),
        )

    def ack(self, entry_id: str) -> None:
        with self._guard(), self._client.pipeline(transaction=True) as pipe:
            pipe.xack(self._stream, GROUP, entry_id)
            pipe.xdel(self._stream, entry_id)
            pipe.zrem(self._leases, entry_id)
            pipe.execute()

    def queue_depth(self) -> int:
        with self._guard():
            return self._client.xlen(self._stream)

    # keys

    def set_if_absent(self, key: str, value: str, ttl_seconds: float) -> bool:
        ttl_ms = max(1, math.ceil(round(ttl_seconds * 1000, 3)))
        with self._guard():
            created = self._client.set(self._key(f"key:{key}"), value, nx=True, px=ttl_ms)
        return bool(created)

    def get_key(self, key: str) -> str | None:
        with self._guard():
            value = cast(bytes | None, self._client.get(self._key(f"key:{key}")))
        return None if value is None else _text(value)

    def delete_key(self, key: str, expected: str | None = None) -> bool:
        name = self._key(f"key:{key}")
        with self._guard():
            if expected is None:
                return self._client.delete(name) > 0
            return int(self._delete_if(keys=[name], args=[expected])) > 0

    # incidents

    def _inc(self, *rest: str) -> str:
        return self._key("incidents", *rest)

    def save_incident(self, incident: Incident) -> None:
        body_key = self._inc("body", incident.id)
        state = str(incident.state)
        meta = json.dumps(
            [
                state,
                incident.incident_type,
                str(incident.severity),
                str(incident.environment),
                incident.correlation_key,
            ]
        )
        body = incident.model_dump_json()
        score = _score(incident.created_at)
        new_open = self._inc("open", incident.correlation_key)
        with self._guard(), self._client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    self._save_incident(
                        pipe, incident, body_key, state, meta, body, score, new_open
                    )
                    return
                except WatchError:
                    continue

    def _save_incident(
        self,
        pipe: Pipeline,
        incident: Incident,
        body_key: str,
        state: str,
        meta: str,
        body: str,
        score: float,
        new_open: str,
    ) -> None:
        # Every save of this incident rewrites its body, so watching the body
        # makes the read of its previous meta below safe.
        pipe.watch(body_key, new_open)  # type: ignore[no-untyped-call]  # untyped in redis-py
        old_raw = cast(bytes | None, pipe.hget(self._inc("meta"), incident.id))
        old_state: str | None = None
        old_open: str | None = None
        if old_raw is not None:
            old = json.loads(old_raw)
            old_state = str(old[0])
            if old[4] != incident.correlation_key:
                old_open = self._inc("open", str(old[4]))
                pipe.watch(old_open)  # type: ignore[no-untyped-call]
        ours = incident.id.encode()
        new_open_holds_us = cast(bytes | None, pipe.get(new_open)) == ours
        old_open_holds_us = old_open is not None and cast(bytes | None, pipe.get(old_open)) == ours
        pipe.multi()
        pipe.set(body_key, body)
        pipe.hset(self._inc("meta"), incident.id, meta)
        pipe.zadd(self._inc("created"), {incident.id: score})
        if old_state is not None and old_state != state:
            pipe.srem(self._inc("state", old_state), incident.id)
        pipe.sadd(self._inc("state", state), incident.id)
        if incident.is_open:
            pipe.set(new_open, incident.id)
        elif new_open_holds_us:
            pipe.delete(new_open)
        if old_open is not None and old_open_holds_us:
            pipe.delete(old_open)
        pipe.execute()

    def get_incident(self, incident_id: str) -> Incident | None:
        with self._guard():
            raw = cast(bytes | None, self._client.get(self._inc("body", incident_id)))
        return None if raw is None else Incident.model_validate_json(raw)

    def open_incident_id(self, correlation_key: str) -> str | None:
        with self._guard():
            raw = cast(bytes | None, self._client.get(self._inc("open", correlation_key)))
        return None if raw is None else _text(raw)

    def _bodies(self, ids: Sequence[str]) -> list[Incident]:
        incidents: list[Incident] = []
        for chunk in _chunks(ids):
            raws = cast(
                list[bytes | None], self._client.mget([self._inc("body", i) for i in chunk])
            )
            incidents.extend(Incident.model_validate_json(raw) for raw in raws if raw is not None)
        return incidents

    def _metas(self, ids: Sequence[str]) -> list[list[str] | None]:
        if not ids:
            return []
        raws = cast(list[bytes | None], self._client.hmget(self._inc("meta"), list(ids)))
        return [None if raw is None else cast(list[str], json.loads(raw)) for raw in raws]

    def _newest_first(self, query: IncidentFilter) -> Iterator[list[str]]:
        """Pages of candidate ids, newest first (created_at DESC, id DESC)."""
        if query.state is not None:
            members = cast(set[bytes], self._client.smembers(self._inc("state", str(query.state))))
            ids = [_text(m) for m in members]
            if not ids:
                return
            scores = self._client.zmscore(self._inc("created"), ids)
            ranked = sorted(
                ((score or 0.0, i.encode()) for i, score in zip(ids, scores, strict=True)),
                reverse=True,
            )
            ordered = [raw.decode() for _, raw in ranked]
            for chunk in _chunks(ordered):
                yield list(chunk)
            return
        start = 0
        while True:
            page = cast(
                list[bytes],
                self._client.zrevrange(self._inc("created"), start, start + PAGE - 1),
            )
            if not page:
                return
            yield [_text(member) for member in page]
            start += PAGE

    def list_incidents(self, query: IncidentFilter) -> list[Incident]:
        if query.limit <= 0:
            return []
        wanted = query.offset + query.limit
        with self._guard():
            if query.state is None and query.incident_type is None and query.environment is None:
                ids = [
                    _text(m)
                    for m in cast(
                        list[bytes],
                        self._client.zrevrange(
                            self._inc("created"), query.offset, query.offset + query.limit - 1
                        ),
                    )
                ]
                return self._bodies(ids)
            matched: list[str] = []
            for page in self._newest_first(query):
                for incident_id, meta in zip(page, self._metas(page), strict=True):
                    if meta is None:
                        continue
                    if query.incident_type is not None and meta[1] != query.incident_type:
                        continue
                    if query.environment is not None and meta[3] != str(query.environment):
                        continue
                    matched.append(incident_id)
                if len(matched) >= wanted:
                    break
            return self._bodies(matched[query.offset : wanted])

    def incidents_in_state(self, state: IncidentState) -> list[Incident]:
        with self._guard():
            members = cast(set[bytes], self._client.smembers(self._inc("state", str(state))))
            incidents = self._bodies([_text(m) for m in members])
        incidents.sort(key=lambda i: (_score(i.created_at), i.id.encode()), reverse=True)
        return incidents

    def count_open_incidents(self) -> dict[tuple[str, str, str], int]:
        open_sets = [
            self._inc("state", str(s)) for s in IncidentState if s != IncidentState.resolved
        ]
        counts: dict[tuple[str, str, str], int] = {}
        with self._guard():
            members = cast(set[bytes], self._client.sunion(open_sets))
            ids = [_text(m) for m in members]
            for chunk in _chunks(ids):
                for meta in self._metas(chunk):
                    if meta is None or meta[0] == str(IncidentState.resolved):
                        continue
                    group = (meta[1], meta[2], meta[3])
                    counts[group] = counts.get(group, 0) + 1
        return counts

    # documents

    def _doc_keys(self, collection: str, doc_id: str) -> tuple[str, str, str]:
        tag = f"docs:{collection}"
        return (
            self._key(tag, "last"),
            self._key(tag, "live"),
            self._key(tag, "history", doc_id),
        )

    def put_document(
        self,
        collection: str,
        doc_id: str,
        doc: dict[str, Any],
        expected_version: int | None = None,
    ) -> int:
        expected = "" if expected_version is None else str(int(expected_version))
        with self._guard():
            result = cast(
                list[int],
                self._put_document(
                    keys=list(self._doc_keys(collection, doc_id)),
                    args=[doc_id, expected, json.dumps(doc)],
                ),
            )
        version, live = int(result[0]), int(result[1])
        if version < 0:
            raise VersionConflict(
                f"{collection}/{doc_id}: expected version {expected_version}, found {live}"
            )
        return version

    def get_document(self, collection: str, doc_id: str) -> tuple[int, dict[str, Any]] | None:
        _, live_key, history_key = self._doc_keys(collection, doc_id)
        with self._guard():
            version = cast(bytes | None, self._client.hget(live_key, doc_id))
            if version is None:
                return None
            raw = cast(bytes | None, self._client.hget(history_key, version))
        if raw is None:
            return None
        return int(version), cast(dict[str, Any], json.loads(raw))

    def list_documents(self, collection: str, prefix: str = "") -> list[tuple[int, dict[str, Any]]]:
        _, live_key, _ = self._doc_keys(collection, "")
        with self._guard():
            if prefix:
                pattern = "".join(f"\\{c}" if c in "*?[]\\" else c for c in prefix) + "*"
                live = {
                    k: v
                    for k, v in cast(
                        "Iterator[tuple[bytes, bytes]]",
                        self._client.hscan_iter(live_key, match=pattern, count=1000),
                    )
                }
            else:
                live = cast(dict[bytes, bytes], self._client.hgetall(live_key))
            if not live:
                return []
            ordered = sorted(live.items())
            with self._client.pipeline(transaction=False) as pipe:
                for doc_id, version in ordered:
                    pipe.hget(self._doc_keys(collection, _text(doc_id))[2], version)
                raws = cast(list[bytes | None], pipe.execute())
        return [
            (int(version), cast(dict[str, Any], json.loads(raw)))
            for (_, version), raw in zip(ordered, raws, strict=True)
            if raw is not None
        ]

    def delete_document(self, collection: str, doc_id: str) -> bool:
        last_key, live_key, _ = self._doc_keys(collection, doc_id)
        with self._guard():
            deleted = self._delete_document(keys=[last_key, live_key], args=[doc_id])
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
            entry_id = self._append_audit(
                keys=[self._key("audit", "log"), self._key("audit", "subject", entry.subject)],
                args=[entry.subject, stored],
            )
        return entry.model_copy(update={"id": _text(cast(bytes, entry_id))})

    def list_audit(self, limit: int = 100, subject: str | None = None) -> list[AuditEntry]:
        if limit <= 0:
            return []
        log = self._key("audit", "log")
        with self._guard():
            if subject is None:
                rows = cast(
                    list[tuple[bytes, dict[bytes, bytes]]],
                    self._client.xrevrange(log, count=limit),
                )
            else:
                ids = cast(
                    list[bytes],
                    self._client.lrange(self._key("audit", "subject", subject), -limit, -1),
                )
                with self._client.pipeline(transaction=False) as pipe:
                    for entry_id in reversed(ids):
                        pipe.xrange(log, min=entry_id, max=entry_id, count=1)
                    found = cast(list[list[tuple[bytes, dict[bytes, bytes]]]], pipe.execute())
                rows = [row for result in found for row in result]
        return [_audit(entry_id, fields) for entry_id, fields in rows]


def _audit(entry_id: bytes, fields: dict[bytes, bytes]) -> AuditEntry:
    entry = AuditEntry.model_validate_json(fields[b"e"])
    return entry.model_copy(update={"id": _text(entry_id)})

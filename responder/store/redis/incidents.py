"""Incidents on Redis: bodies, the lookups the API needs, and the indexes.

Every incident key shares the tag ``{incidents}`` so that an incident's
body, meta, state sets, open index and indexes change in one MULTI and a
page of bodies is one MGET. ``meta`` holds, per incident, JSON ``[state,
type, severity, environment, correlation key, [index names]]``: what a
save must undo. An index is a hash ``index:<name>`` (incident id -> value);
``due`` is a sorted set (incident id -> epoch seconds).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from redis.client import Pipeline

from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.store.base import IncidentFilter, Indexer
from responder.store.redis.connection import PAGE, RedisConnection, chunks, score, text


@dataclass(frozen=True)
class Previous:
    """What the store holds about an incident before a save (from its meta)."""

    state: str | None = None
    correlation_key: str | None = None
    index_names: tuple[str, ...] = ()
    open_holds_it: bool = False
    """the open index of the incident's (new) correlation key names it"""
    old_open_holds_it: bool = False
    """the open index of its previous correlation key names it"""


class RedisIncidents(RedisConnection):
    _indexer: Indexer | None = None

    def _inc(self, *rest: str) -> str:
        return self._key("incidents", *rest)

    # reading

    def get_incident(self, incident_id: str) -> Incident | None:
        with self._guard():
            raw = cast(bytes | None, self._client.get(self._inc("body", incident_id)))
        return None if raw is None else Incident.model_validate_json(raw)

    def get_incidents(self, incident_ids: Collection[str]) -> dict[str, Incident]:
        with self._guard():
            return {i.id: i for i in self._bodies(list(dict.fromkeys(incident_ids)))}

    def open_incident_id(self, correlation_key: str) -> str | None:
        with self._guard():
            raw = cast(bytes | None, self._client.get(self._inc("open", correlation_key)))
        return None if raw is None else text(raw)

    def open_incidents(self, correlation_keys: Collection[str]) -> dict[str, Incident]:
        keys = list(dict.fromkeys(correlation_keys))
        if not keys:
            return {}
        with self._guard():
            ids = cast(list[bytes | None], self._client.mget([self._inc("open", k) for k in keys]))
            wanted = {text(i): key for key, i in zip(keys, ids, strict=True) if i is not None}
            found = self._bodies(list(wanted))
        return {wanted[i.id]: i for i in found if i.is_open}

    def _bodies(self, ids: Sequence[str]) -> list[Incident]:
        incidents: list[Incident] = []
        for chunk in chunks(ids):
            raws = cast(
                list[bytes | None], self._client.mget([self._inc("body", i) for i in chunk])
            )
            incidents.extend(Incident.model_validate_json(raw) for raw in raws if raw is not None)
        return incidents

    def _metas(self, ids: Sequence[str]) -> list[list[object] | None]:
        if not ids:
            return []
        raws = cast(list[bytes | None], self._client.hmget(self._inc("meta"), list(ids)))
        return [None if raw is None else cast(list[object], json.loads(raw)) for raw in raws]

    def _newest_first(self, query: IncidentFilter) -> Iterator[list[str]]:
        """Pages of candidate ids, newest first (created_at DESC, id DESC)."""
        if query.state is not None:
            members = cast(set[bytes], self._client.smembers(self._inc("state", str(query.state))))
            ids = [text(m) for m in members]
            if not ids:
                return
            scores = self._client.zmscore(self._inc("created"), ids)
            ranked = sorted(
                ((found or 0.0, i.encode()) for i, found in zip(ids, scores, strict=True)),
                reverse=True,
            )
            ordered = [raw.decode() for _, raw in ranked]
            for chunk in chunks(ordered):
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
            yield [text(member) for member in page]
            start += PAGE

    def list_incidents(self, query: IncidentFilter) -> list[Incident]:
        if query.limit <= 0:
            return []
        wanted = query.offset + query.limit
        with self._guard():
            if query.state is None and query.incident_type is None and query.environment is None:
                ids = [
                    text(m)
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
            incidents = self._bodies([text(m) for m in members])
        incidents.sort(key=lambda i: (score(i.created_at), i.id.encode()), reverse=True)
        return incidents

    def count_open_incidents(self) -> dict[tuple[str, str, str], int]:
        open_sets = [
            self._inc("state", str(s)) for s in IncidentState if s != IncidentState.resolved
        ]
        counts: dict[tuple[str, str, str], int] = {}
        with self._guard():
            members = cast(set[bytes], self._client.sunion(open_sets))
            ids = [text(m) for m in members]
            for chunk in chunks(ids):
                for meta in self._metas(chunk):
                    if meta is None or meta[0] == str(IncidentState.resolved):
                        continue
                    group = (str(meta[1]), str(meta[2]), str(meta[3]))
                    counts[group] = counts.get(group, 0) + 1
        return counts

    # indexes

    def index(self, name: str) -> dict[str, str]:
        with self._guard():
            found = cast(dict[bytes, bytes], self._client.hgetall(self._inc("index", name)))
        return {text(k): text(v) for k, v in found.items()}

    def due_incidents(self, until: float, limit: int) -> list[str]:
        with self._guard():
            found = cast(
                list[bytes],
                self._client.zrangebyscore(self._inc("due"), "-inf", until, start=0, num=limit),
            )
        return [text(i) for i in found]

    def use_index(self, indexer: Indexer) -> None:
        self._indexer = indexer

    def ensure_index(self) -> int:
        indexer = self._indexer
        if indexer is None:
            return 0
        marker = self._inc("indexer")
        with self._guard():
            if self._client.get(marker) == indexer.signature.encode():
                return 0
            ids = [
                text(i) for i in cast(list[bytes], self._client.zrange(self._inc("created"), 0, -1))
            ]
            for chunk in chunks(ids):
                incidents = self._bodies(chunk)
                previous = self._previous(incidents)
                with self._client.pipeline(transaction=True) as pipe:
                    for incident in incidents:
                        self.queue_incident(pipe, incident, previous[incident.id])
                    pipe.execute()
            self._client.set(marker, indexer.signature)
        return len(ids)

    # writing (the store's commit queues these on its MULTI)

    def watch_incidents(self, pipe: Pipeline, incidents: Sequence[Incident]) -> None:
        """WATCH what a concurrent save of ``incidents`` would change."""
        if incidents:
            keys = [self._inc("body", i.id) for i in incidents]
            keys += [self._inc("open", i.correlation_key) for i in incidents]
            pipe.watch(*keys)  # type: ignore[no-untyped-call]  # untyped in redis-py

    def _previous(self, incidents: Sequence[Incident]) -> dict[str, Previous]:
        """What the store holds about each of ``incidents`` now (two round trips)."""
        found: dict[str, Previous] = {}
        if not incidents:
            return found
        metas = self._metas([i.id for i in incidents])
        opens: list[str] = []
        for incident, meta in zip(incidents, metas, strict=True):
            opens.append(self._inc("open", incident.correlation_key))
            if meta is not None and meta[4] != incident.correlation_key:
                opens.append(self._inc("open", str(meta[4])))
        holders = dict(zip(opens, cast(list[bytes | None], self._client.mget(opens)), strict=True))
        for incident, meta in zip(incidents, metas, strict=True):
            ours = incident.id.encode()
            if meta is None:
                found[incident.id] = Previous(
                    open_holds_it=holders[self._inc("open", incident.correlation_key)] == ours
                )
                continue
            old_key = str(meta[4])
            names = meta[5] if len(meta) > 5 else []
            found[incident.id] = Previous(
                state=str(meta[0]),
                correlation_key=old_key,
                index_names=tuple(str(n) for n in cast(list[object], names)),
                open_holds_it=holders[self._inc("open", incident.correlation_key)] == ours,
                old_open_holds_it=old_key != incident.correlation_key
                and holders.get(self._inc("open", old_key)) == ours,
            )
        return found

    def queue_incident(self, pipe: Pipeline, incident: Incident, previous: Previous) -> None:
        """Queue the writes of one save on ``pipe`` (inside its MULTI)."""
        state = str(incident.state)
        index = self._indexer(incident) if self._indexer is not None else None
        names = tuple(sorted(index.entries)) if index is not None else previous.index_names
        meta = json.dumps(
            [
                state,
                incident.incident_type,
                str(incident.severity),
                str(incident.environment),
                incident.correlation_key,
                list(names),
            ]
        )
        pipe.set(self._inc("body", incident.id), incident.model_dump_json())
        pipe.hset(self._inc("meta"), incident.id, meta)
        pipe.zadd(self._inc("created"), {incident.id: score(incident.created_at)})
        if previous.state is not None and previous.state != state:
            pipe.srem(self._inc("state", previous.state), incident.id)
        pipe.sadd(self._inc("state", state), incident.id)
        new_open = self._inc("open", incident.correlation_key)
        if incident.is_open:
            pipe.set(new_open, incident.id)
        elif previous.open_holds_it:
            pipe.delete(new_open)
        if previous.old_open_holds_it and previous.correlation_key is not None:
            pipe.delete(self._inc("open", previous.correlation_key))
        if index is None:
            return  # a store nobody indexes with leaves the indexes alone
        for name in previous.index_names:
            if name not in index.entries:
                pipe.hdel(self._inc("index", name), incident.id)
        for name, value in index.entries.items():
            pipe.hset(self._inc("index", name), incident.id, value)
        if index.due_at is None:
            pipe.zrem(self._inc("due"), incident.id)
        else:
            pipe.zadd(self._inc("due"), {incident.id: index.due_at})

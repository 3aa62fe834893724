"""Incidents on Redis: bodies, the lookups the API needs, and the indexes.

Every incident key shares one hash tag, so an incident's body, meta, state
sets and indexes change in one MULTI and a page of bodies is one MGET.
``meta`` holds what a save must undo."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from typing import cast

from redis.exceptions import NoScriptError

from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.store.base import IncidentFilter, IndexerSlot
from responder.store.redis import scripts
from responder.store.redis.connection import PAGE, Arg, RedisConnection, chunks, score, text


class RedisIncidents(RedisConnection, IndexerSlot):
    def run_commit(self, ops: Sequence[tuple[str, object, bytes]]) -> tuple[list[int], list[str]]:
        """Run the commit script over ``ops`` (op, head, body); the numbers of
        the stale document ops and the audit ids it made.

        The incidents' bodies are plain SETs in the same MULTI as the script
        (one round trip, applied together): carried into Lua, the largest part
        of a commit would cost the server most of its time."""
        if not ops:
            return [], []
        index = json.dumps([[op, head] for op, head, _ in ops])
        args: list[Arg | bytes] = [self.namespace, index]
        args += [b"" if op == "I" else body for op, _, body in ops]
        for attempt in (1, 2):
            with self._client.pipeline(transaction=True) as pipe:
                for op, head, body in ops:
                    if op == "I":
                        assert isinstance(head, list)
                        pipe.set(self._inc("body", str(head[0])), body)
                pipe.evalsha(self._scripts.commit.sha, 0, *args)
                try:
                    reply = text(cast(bytes, pipe.execute()[-1]))
                    break
                except NoScriptError:
                    if attempt == 2:
                        raise
                    self._client.script_load(scripts.COMMIT)  # Redis restarted or flushed
        stale, _, made = reply.partition("|")
        return [int(n) for n in stale.split(",") if n], [i for i in made.split(",") if i]

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

    def _metas(self, ids: Sequence[str]) -> list[list[Arg] | None]:
        if not ids:
            return []
        raws = cast(list[bytes | None], self._client.hmget(self._inc("meta"), list(ids)))
        return [None if raw is None else cast(list[Arg], json.loads(raw)) for raw in raws]

    def _newest_first(self, query: IncidentFilter) -> Iterator[list[str]]:
        """Pages of candidate ids, newest first (created_at DESC, id DESC),
        after ``query.after`` when given."""
        if query.after is None:
            yield from self._newest_first_from_top(query)
            return
        after = (score(query.after[0]), query.after[1].encode())
        for page in self._newest_first_from_top(query, max_score=after[0]):
            scores = self._client.zmscore(self._inc("created"), page)
            kept = [
                i
                for i, found in zip(page, scores, strict=True)
                if (found or 0.0, i.encode()) < after
            ]
            if kept:
                yield kept

    def _newest_first_from_top(
        self, query: IncidentFilter, max_score: float | None = None
    ) -> Iterator[list[str]]:
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
                self._client.zrevrangebyscore(
                    self._inc("created"),
                    "+inf" if max_score is None else repr(max_score),
                    "-inf",
                    start=start,
                    num=PAGE,
                ),
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
            unfiltered = query.incident_type is None and query.environment is None
            if query.state is None and unfiltered and query.after is None:
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
                self.run_commit([self.incident_op(i) for i in self._bodies(chunk)])
            self._client.set(marker, indexer.signature)
        return len(ids)

    def incident_op(self, incident: Incident) -> tuple[str, list[object], bytes]:
        """The commit script's op that saves ``incident`` with its indexes."""
        index = self._indexer(incident) if self._indexer is not None else None
        head: list[object] = [
            incident.id,
            incident.correlation_key,
            str(incident.state),
            incident.incident_type,
            str(incident.severity),
            str(incident.environment),
            score(incident.created_at),
            incident.is_open,
            index is not None,
            dict(index.entries) if index is not None else {},
            index.due_at if index is not None else None,
        ]
        return "I", head, incident.__pydantic_serializer__.to_json(incident)

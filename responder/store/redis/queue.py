"""The durable alert queue on a Redis stream with one consumer group.

A lease deadline is kept per claimed entry (a sorted set) rather than
XAUTOCLAIM's min-idle-time, because a lease belongs to the claim that took the
entry, not to the current caller. ``claim`` is one Lua script; ``ack`` also
deletes, so XLEN counts the entries not yet acked."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

from redis.exceptions import ResponseError

from responder.store.base import QueueEntry
from responder.store.redis.connection import RedisConnection, text

GROUP = "responders"


def _stream_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class RedisQueue(RedisConnection):
    _group_ready = False

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
        return text(entry_id)

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
            entries.append(QueueEntry(text(entry_id), bytes(values[b"b"]), int(deliveries)))
        entries.sort(key=lambda entry: _stream_order(entry.id))
        return entries

    def _run_claim(self, consumer: str, max_entries: int, lease_ms: int) -> list[Any]:
        return cast(
            list[Any],
            self._scripts.claim(
                keys=[self._stream, self._leases], args=[GROUP, consumer, max_entries, lease_ms]
            ),
        )

    def renew_leases(
        self, consumer: str, entry_ids: Sequence[str], lease_seconds: float
    ) -> list[str]:
        if not entry_ids:
            return []
        lease_ms = max(1, math.ceil(round(lease_seconds * 1000, 3)))
        with self._guard():
            renewed = cast(
                list[bytes],
                self._scripts.renew_leases(
                    keys=[self._stream, self._leases],
                    args=[GROUP, consumer, lease_ms, *entry_ids],
                ),
            )
        return [text(i) for i in renewed]

    def ack(self, entry_id: str) -> None:
        with self._guard(), self._client.pipeline(transaction=True) as pipe:
            pipe.xack(self._stream, GROUP, entry_id)
            pipe.xdel(self._stream, entry_id)
            pipe.zrem(self._leases, entry_id)
            pipe.execute()

    def queue_depth(self) -> int:
        with self._guard():
            return self._client.xlen(self._stream)

"""The queue worker: drains accepted webhook payloads into the pipeline.

An entry is acked only after its alerts were processed, so a crash loses
nothing (the lease runs out and a worker takes it again). Big payloads are
worked in slices that take turns; an entry that keeps failing is set aside
into the audit log. Each round also runs the approved node actions that wait."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio.to_thread

from responder.ingest.payload import PayloadError, parse_payload
from responder.metrics import Metrics
from responder.pipeline.runner import Pipeline
from responder.pipeline.schedule import Scheduler
from responder.records.alert import WebhookPayload
from responder.records.audit import audit
from responder.sections import QueueSettings
from responder.store import LockBusy, QueueEntry, Store, StoreUnavailable

log = logging.getLogger(__name__)

MAX_DELIVERIES = 5


def consumer_name() -> str:
    """This process's name in the queue's consumer group."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(eq=False)
class QueueWorker:
    store: Store
    pipeline: Pipeline
    scheduler: Scheduler
    settings: QueueSettings
    metrics: Metrics
    waiting: Callable[[], object] | None = None
    consumer: str = field(init=False, default_factory=consumer_name)
    wake: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    depth: int = field(init=False, default=0)
    running: bool = field(init=False, default=False)
    _stopping: bool = field(init=False, default=False)
    _held: list[Held] = field(init=False, default_factory=list)
    _round: threading.Lock = field(init=False, default_factory=threading.Lock)
    _next_sweep: float = field(init=False, default=0.0)

    def stop(self) -> None:
        self._stopping = True
        self.wake.set()

    def stopping(self) -> bool:
        return self._stopping

    async def run(self) -> None:
        self.running = True
        try:
            await self._loop()
        finally:
            self.running = False

    async def _loop(self) -> None:
        backoff = 0.5
        indexed = False
        while not self._stopping:
            try:
                if not indexed:
                    # incidents stored under other settings get today's indexes first
                    count = await anyio.to_thread.run_sync(self.store.ensure_index)
                    if count:
                        log.info("worker: indexed %d stored incidents", count)
                    indexed = True
                handled = await anyio.to_thread.run_sync(self.drain_once)
                backoff = 0.5
            except StoreUnavailable as exc:
                log.warning("worker: store unavailable, retrying in %.1fs: %s", backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            except Exception:  # the worker must outlive any bug in one batch
                log.exception("worker: batch failed, retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if handled:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.worker_idle_poll_seconds)

    def drain_once(self) -> int:
        """Claim what there is room for, work one slice of every entry held,
        run the waiting approvals and the due incidents; return how many
        entries were claimed or worked on. One round at a time: a caller
        besides the worker's loop waits for the round under way."""
        with self._round:
            return self._drain()

    def _drain(self) -> int:
        room = self.settings.worker_batch - len(self._held)
        fresh = (
            self.store.claim(self.consumer, room, self.settings.worker_lease_seconds)
            if room > 0
            else []
        )
        for entry in fresh:
            self._open(entry)
        worked = 0
        for held in list(self._held):
            if self._stopping:
                break  # what is held is redelivered when its lease ends
            self._slice(held)
            worked += 1
        self.depth = self.store.queue_depth()
        self.metrics.queue_depth.set(self.depth)
        if self.waiting is not None and not self._stopping:
            self._run_waiting()
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.settings.sweep_interval_seconds
            self.scheduler.run_due(stop=self.stopping)
        return max(len(fresh), worked)

    def _run_waiting(self) -> None:
        assert self.waiting is not None
        try:
            self.waiting()
        except StoreUnavailable:
            raise
        except Exception:  # a waiting approval that fails must not stop the queue
            log.exception("worker: running the waiting node actions failed")

    def _open(self, entry: QueueEntry) -> None:
        try:
            payload = parse_payload(entry.body)
        except PayloadError as exc:
            self._failed(entry, exc)
            return
        self._held.append(Held(entry, payload, renewed=time.monotonic()))

    def _slice(self, held: Held) -> None:
        """The next ``worker_slice_alerts`` alerts of ``held``; ack when done."""
        self._keep_leases()
        if held not in self._held:
            return  # its lease went to another consumer
        entry, alerts = held.entry, held.payload.alerts
        part = alerts[held.done : held.done + self.settings.worker_slice_alerts]
        try:
            self.pipeline.process(
                held.payload.model_copy(update={"alerts": part}), on_batch=self._keep_leases
            )
        except StoreUnavailable:
            raise
        except LockBusy as exc:
            # another replica (or a dead one whose lock has not expired yet)
            # holds the incident: not this entry's fault, so not acked and
            # redelivered when its lease runs out
            log.warning("worker: entry %s waits for %s", entry.id, exc)
            self._let_go(held)
            return
        except Exception as exc:  # a bad entry must not stop the queue
            if self._let_go(held):
                self._failed(entry, exc)
            return
        held.done += len(part)
        if held.done >= len(alerts) and self._let_go(held):
            self.store.ack(entry.id)

    def _let_go(self, held: Held) -> bool:
        """Stop holding ``held``; False when its lease went elsewhere meanwhile
        (then it is the new holder's to finish)."""
        if held not in self._held:
            return False
        self._held.remove(held)
        return True

    def _keep_leases(self) -> None:
        """Renew the leases of the entries held once a third of a lease has
        passed; let go of those another consumer took meanwhile."""
        lease = self.settings.worker_lease_seconds
        now = time.monotonic()
        due = [h for h in self._held if now - h.renewed >= lease / 3]
        if not due:
            return
        kept = set(self.store.renew_leases(self.consumer, [h.entry.id for h in due], lease))
        for held in due:
            if held.entry.id in kept:
                held.renewed = now
            else:
                log.warning("worker: entry %s was taken over; letting it go", held.entry.id)
                self._let_go(held)

    def _failed(self, entry: QueueEntry, exc: Exception) -> None:
        """Left to be redelivered, or set aside after ``MAX_DELIVERIES``."""
        if entry.deliveries < MAX_DELIVERIES:
            log.exception("worker: entry %s failed (delivery %d)", entry.id, entry.deliveries)
            return
        log.error(
            "worker: entry %s set aside after %d deliveries: %s",
            entry.id,
            entry.deliveries,
            exc,
        )
        audit(
            self.store,
            actor="robot",
            surface="worker",
            action="queue.dead_letter",
            subject=f"queue:{entry.id}",
            detail=f"{type(exc).__name__}: {exc}",
            after=entry.body.decode("utf-8", "replace")[:65536],
        )
        self.store.ack(entry.id)


@dataclass(eq=False)
class Held:
    """A claimed entry being worked through, a slice at a time."""

    entry: QueueEntry
    payload: WebhookPayload
    renewed: float
    """when its lease was last renewed (monotonic seconds)"""
    done: int = 0
    """alerts processed so far"""

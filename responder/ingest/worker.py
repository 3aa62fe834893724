"""The queue worker: drains accepted webhook payloads into the pipeline.

An entry is acked only after its alerts were processed, so a process that
dies between accepting and processing loses nothing: the entry's lease runs
out and the next worker (this process after a restart, or another replica)
takes it again. An entry that keeps failing is set aside after
``MAX_DELIVERIES`` attempts into the audit log rather than blocking the queue.

Every round also runs ``waiting`` (``ApprovalDesk.run_waiting``): approved
node actions that wait for the node action in flight start as soon as it
ends, rather than at the next scheduler round. Reading the waiting list
costs one store read while it is empty. Every ``sweep_interval_seconds``
the scheduler brings the due incidents back to the stages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable

import anyio.to_thread

from responder.ingest.payload import PayloadError, parse_payload
from responder.metrics import Metrics
from responder.pipeline.runner import Pipeline
from responder.pipeline.schedule import Scheduler
from responder.records.audit import AuditEntry
from responder.settings import Settings
from responder.store import LockBusy, QueueEntry, Store, StoreUnavailable

log = logging.getLogger(__name__)

MAX_DELIVERIES = 5


class QueueWorker:
    def __init__(
        self,
        store: Store,
        pipeline: Pipeline,
        scheduler: Scheduler,
        settings: Settings,
        metrics: Metrics,
        waiting: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.waiting = waiting
        self.pipeline = pipeline
        self.scheduler = scheduler
        self.settings = settings
        self.metrics = metrics
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self.wake = asyncio.Event()
        self.depth = 0
        self._stopping = False
        self._next_sweep = 0.0
        self.running = False

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
        """Claim one batch, process it, run the waiting approvals and the due
        incidents; return entries handled."""
        entries = self.store.claim(
            self.consumer, self.settings.worker_batch, self.settings.worker_lease_seconds
        )
        for handled, entry in enumerate(entries):
            if self._stopping:
                return handled  # the rest are redelivered when their lease ends
            self._handle(entry)
        self.depth = self.store.queue_depth()
        self.metrics.queue_depth.set(self.depth)
        if self.waiting is not None and not self._stopping:
            self._run_waiting()
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.settings.sweep_interval_seconds
            self.scheduler.run_due(stop=self.stopping)
        return len(entries)

    def _run_waiting(self) -> None:
        assert self.waiting is not None
        try:
            self.waiting()
        except StoreUnavailable:
            raise
        except Exception:  # a waiting approval that fails must not stop the queue
            log.exception("worker: running the waiting node actions failed")

    def _handle(self, entry: QueueEntry) -> None:
        try:
            payload = parse_payload(entry.body)
            self.pipeline.process(payload)
        except StoreUnavailable:
            raise
        except LockBusy as exc:
            # another replica (or a dead one whose lock has not expired yet)
            # holds the incident: not this entry's fault, so not acked and
            # redelivered when its lease runs out
            log.warning("worker: entry %s waits for %s", entry.id, exc)
            return
        except (PayloadError, Exception) as exc:  # a bad entry must not stop the queue
            if entry.deliveries < MAX_DELIVERIES:
                log.exception("worker: entry %s failed (delivery %d)", entry.id, entry.deliveries)
                return
            log.error(
                "worker: entry %s set aside after %d deliveries: %s",
                entry.id,
                entry.deliveries,
                exc,
            )
            self.store.append_audit(
                AuditEntry(
                    actor="robot",
                    surface="worker",
                    action="queue.dead_letter",
                    subject=f"queue:{entry.id}",
                    detail=f"{type(exc).__name__}: {exc}",
                    after=entry.body.decode("utf-8", "replace")[:65536],
                )
            )
        self.store.ack(entry.id)

"""The delivery thread: every chat message the notifier queues, delivered.

It keeps one thread per incident and chat, retries with backoff, fails over
to the next channel, sends a switched channel's new messages to the channel
standing in for it first, marks channels down and up, and caps new messages per
window (counted in the store, so replicas share the cap) with a digest for
the rest."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from responder.channels import render
from responder.channels.base import Channel, DeliveryFailed, MessageRef, Meta, OutgoingMessage
from responder.channels.inbox import Inbox
from responder.channels.jobs import Edit, Post, Reply
from responder.channels.routing import Destination, Router
from responder.channels.switch import read_switch
from responder.chat_settings import ChannelSettings
from responder.metrics import Metrics
from responder.records.audit import audit
from responder.store import Store, StoreUnavailable, VersionConflict
from responder.store.windows import WindowCounter

log = logging.getLogger(__name__)

T = TypeVar("T")
MESSAGES = "chat_messages"
#: the chats an incident has a thread in (``destinations``)
THREADS = "chat_threads"
THREAD_TTL_SECONDS = 30 * 24 * 3600.0
DOWN_TTL_SECONDS = 6 * 3600.0
MAX_QUEUE = 10_000


@dataclass(frozen=True)
class _Flush:
    pass


@dataclass(frozen=True)
class HealthChange:
    channel: str
    down: bool
    detail: str
    channels_down: tuple[str, ...]


Job = Post | Reply | Edit | _Flush | None


class Delivery:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        settings: ChannelSettings,
        channels: Mapping[str, Channel],
        router: Router,
        inbox: Inbox,
        clock: Callable[[], datetime],
        *,
        sleep: Callable[[float], None] = time.sleep,
        window_clock: Callable[[], float] = time.time,
        on_health: Callable[[HealthChange], None] | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.settings = settings
        self.channels = dict(channels)
        self.router = router
        self.inbox = inbox
        self.clock = clock
        self.sleep = sleep
        self.window_clock = window_clock
        # messages sent per channel and window, in the store: replicas share the cap
        self._sent = WindowCounter(store, "chat:sent", settings.window_seconds, window_clock)
        self.on_health = on_health
        self._queue: queue.Queue[Job] = queue.Queue(MAX_QUEUE)
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self._held: dict[Destination, tuple[int, list[str]]] = {}  # -> (window, lines)

    def start(self) -> None:
        """Start the delivery thread (once; only when there is a chat channel)."""
        with self._starting:
            if self._thread is None and self.channels:
                self._thread = threading.Thread(target=self._run, name="chat-notifier", daemon=True)
                self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued message was handled and send the held
        digests now; False if that took longer than ``timeout``."""
        if self._thread is None:
            return True
        self.put(_Flush())
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def close(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self.flush(timeout)
            self._queue.put(None)
            self._thread.join(timeout)
            with self._starting:
                self._thread = None
        for channel in self.channels.values():
            try:
                channel.close()
            except Exception as exc:
                log.warning("closing %s: %s", channel.name, exc)

    def put(self, job: Job) -> None:
        self.start()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            log.error("chat queue full (%d): a message was dropped (it is in the inbox)", MAX_QUEUE)

    def _run(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=self._until_window_ends())
            except queue.Empty:
                self._send_digests(force=False)
                continue
            try:
                if job is None:
                    return
                if isinstance(job, Post):
                    self._post(job)
                elif isinstance(job, Reply):
                    self._reply(job)
                elif isinstance(job, Edit):
                    self._edit(job)
                self._send_digests(force=isinstance(job, _Flush))
            except StoreUnavailable as exc:
                log.warning("chat delivery: store unavailable: %s", exc)
            except Exception:  # the delivery thread must outlive any one message
                log.exception("chat delivery failed")
            finally:
                self._queue.task_done()

    def _until_window_ends(self) -> float:
        if not self._held or any(self._limited(d.channel) for d in self._held):
            return 1.0
        return max(0.01, self._sent.seconds_left())

    # posting

    def _post(self, post: Post) -> None:
        results: list[dict[str, str]] = []
        reached = False
        tried: list[str] = []
        destinations = self._switched(post.destinations)
        for destination in destinations:
            tried.append(destination.channel)
            reached = self._post_to(post, destination, results) or reached
        if destinations and not reached:
            for destination in self.router.failover(tried):
                tried.append(destination.channel)
                if self._post_to(post, destination, results):
                    reached = True
                    if results[-1]["result"] == "sent":
                        results[-1]["result"] = "failover"
                    self._audit(
                        "chat.failover",
                        f"incident:{post.incident_id}",
                        f"{post.kind} message failed over to {destination}",
                        {"to": str(destination), "failed": sorted(set(tried[:-1]))},
                    )
                    break
            if not reached:
                self._audit(
                    "chat.undelivered",
                    f"incident:{post.incident_id}",
                    f"{post.kind} message reached no chat channel (tried "
                    f"{', '.join(tried)}); it is in the in-app inbox only",
                    {"tried": tried},
                )
        self.inbox.deliveries(post.incident_id, results, self.clock())

    def _switched(self, destinations: tuple[Destination, ...]) -> list[Destination]:
        """``destinations`` in sending order: a channel switched away
        (``failover_channel``) and still down comes after the default chat
        of the channel standing in for it. It is still tried, once (it is
        known down): that is how it is noticed when it delivers again."""
        chats = self.router.default_chats
        found: list[Destination] = []
        for destination in destinations:
            name = destination.channel
            to = read_switch(self.store, name).stand_in(self.clock())
            if to is not None and to in chats and self.store.get_key(f"chat:down:{name}"):
                found.append(Destination(to, chats[to]))
            found.append(destination)
        return list(dict.fromkeys(found))

    def _post_to(self, post: Post, destination: Destination, results: list[dict[str, str]]) -> bool:
        if not self._allow(destination.channel):
            self._hold(destination, post.event)
            results.append({"channel": str(destination), "result": "held", "detail": post.kind})
            return True
        channel = self.channels[destination.channel]
        head = self._thread_head(post.incident_id, destination)
        if post.kind == "incident" and head is not None:
            # the thread exists: reply with what changed, then edit its head
            follow_up = Meta(topics=post.meta.topics)
            reply = OutgoingMessage(head.chat, post.event, thread=head.id, meta=follow_up)
            sent, _ = self._attempt(destination.channel, partial(channel.send, reply))
            if sent:
                new_head = OutgoingMessage(head.chat, post.text, post.buttons, meta=post.meta)
                self._attempt(destination.channel, partial(channel.update, head, new_head))
        else:
            message = OutgoingMessage(
                head.chat if head else destination.chat,
                post.text,
                post.buttons,
                thread=head.id if head else None,
                meta=post.meta,
            )
            sent, ref = self._attempt(destination.channel, partial(channel.send, message))
            if ref is not None and post.kind == "incident":
                self._set_thread_head(post.incident_id, destination, ref)
            if ref is not None and post.approval_id is not None:
                self._remember(post.approval_id, ref)
        if not sent and self._limited(destination.channel):
            self._hold(destination, post.event)
            results.append({"channel": str(destination), "result": "held", "detail": post.kind})
            return True
        if not sent:
            results.append({"channel": str(destination), "result": "failed", "detail": post.kind})
            return False
        results.append({"channel": str(destination), "result": "sent", "detail": post.kind})
        self.metrics.chat_messages.labels(destination.channel, post.kind).inc()
        if post.kind == "incident":
            self.metrics.notifications.labels(
                post.incident_type, destination.channel, post.environment
            ).inc()
        return True

    def _reply(self, reply: Reply) -> None:
        """Post ``reply`` under the head of every thread of its incident (no
        failover: a thread lives in one chat)."""
        results: list[dict[str, str]] = []
        for destination in self._threads(reply.incident_id):
            channel = self.channels.get(destination.channel)
            head = self._thread_head(reply.incident_id, destination)
            if channel is None or head is None:
                continue
            if not self._allow(destination.channel):
                self._hold(destination, reply.text.splitlines()[0])
                results.append(
                    {"channel": str(destination), "result": "held", "detail": reply.kind}
                )
                continue
            message = OutgoingMessage(
                head.chat,
                reply.text,
                reply.buttons,
                thread=head.id,
                meta=Meta(topics=reply.meta.topics),
            )
            sent, ref = self._attempt(destination.channel, partial(channel.send, message))
            if ref is not None:
                self._remember(
                    reply.key, ref, {"text": reply.text, "incident_id": reply.incident_id}
                )
                self.metrics.chat_messages.labels(destination.channel, reply.kind).inc()
            if sent and reply.head_text is not None:
                new_head = OutgoingMessage(head.chat, reply.head_text, meta=reply.meta)
                self._attempt(destination.channel, partial(channel.update, head, new_head))
            results.append(
                {
                    "channel": str(destination),
                    "result": "sent" if sent else "failed",
                    "detail": reply.kind,
                }
            )
        self.inbox.deliveries(reply.incident_id, results, self.clock())

    def _edit(self, edit: Edit) -> None:
        results: list[dict[str, str]] = []
        refs, doc = self._refs(edit.key)
        text = edit.text
        if edit.append is not None:
            text = render.clip(f"{doc.get('text') or ''}\n{edit.append}".strip())
        for ref in refs:
            channel = self.channels.get(ref.channel)
            if channel is None:
                continue
            message = OutgoingMessage(ref.chat, text, edit.buttons, meta=edit.meta)
            done, _ = self._attempt(ref.channel, partial(channel.update, ref, message))
            results.append(
                {
                    "channel": f"{ref.channel}:{ref.chat}",
                    "result": "edited" if done else "failed",
                    "detail": edit.key.replace(":", " ")
                    if ":" in edit.key
                    else f"approval {edit.key}",
                }
            )
        incident_id = edit.incident_id or str(doc.get("incident_id") or "")
        if incident_id:
            self.inbox.deliveries(incident_id, results, self.clock())

    def _attempt(self, name: str, call: Callable[[], T]) -> tuple[bool, T | None]:
        """``call()`` with the retries: (True, its value), or (False, None)
        when it failed for good (counted, audited, the channel marked down).
        A channel already known to be down gets one attempt, not the full
        backoff: it is probed, and the message moves on to the failover."""
        known_down = self.store.get_key(f"chat:down:{name}") is not None
        attempts = 1 if known_down else self.settings.retry_attempts
        failure: DeliveryFailed | None = None
        for attempt in range(1, attempts + 1):
            try:
                value = call()
            except DeliveryFailed as exc:
                failure = exc
                if self._rate_limited(name, exc):
                    return False, None
                if not exc.retry or attempt == attempts:
                    break
                self.metrics.chat_delivery_retries.labels(name).inc()
                self.sleep(self._backoff(attempt, exc.retry_after))
                continue
            self._healthy(name)
            return True, value
        assert failure is not None
        self.metrics.chat_delivery_failures.labels(name).inc()
        log.warning("chat: %s failed: %s", name, failure.detail)
        self._audit(
            "chat.delivery_failed",
            f"channel:{name}",
            failure.detail,
            {"channel": name, "retryable": failure.retry},
        )
        self._unhealthy(name, failure.detail)
        return False, None

    def _rate_limited(self, name: str, failure: DeliveryFailed) -> bool:
        """A rate limit longer than the retries wait: the channel takes no
        message until it passes (new ones go to the digest); not down."""
        wait = failure.retry_after
        if wait is None or wait <= self.settings.retry_backoff_max_seconds:
            return False
        if self.store.set_if_absent(f"chat:limited:{name}", failure.detail[:500], wait):
            self.metrics.chat_delivery_retries.labels(name).inc()
            self._audit(
                "chat.rate_limited",
                f"channel:{name}",
                f"{name} asks for a pause of {wait:g}s: new messages go to the digest",
                {"channel": name, "retry_after": wait},
            )
        return True

    def _limited(self, name: str) -> bool:
        return self.store.get_key(f"chat:limited:{name}") is not None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = self.settings.retry_backoff_max_seconds
        if retry_after is not None:
            return min(max(retry_after, 0.0), ceiling)
        delay: float = self.settings.retry_backoff_seconds * 2.0 ** (attempt - 1)
        return min(delay, ceiling)

    # threads and message references

    def _thread_key(self, incident_id: str, destination: Destination) -> str:
        return f"chat:thread:{incident_id}:{destination.channel}:{destination.chat}"

    def _thread_head(self, incident_id: str, destination: Destination) -> MessageRef | None:
        raw = self.store.get_key(self._thread_key(incident_id, destination))
        if raw is None:
            return None
        found = json.loads(raw)
        return MessageRef(destination.channel, str(found["chat"]), str(found["id"]))

    def _set_thread_head(self, incident_id: str, destination: Destination, ref: MessageRef) -> None:
        value = json.dumps({"chat": ref.chat, "id": ref.id})
        if not self.store.set_if_absent(
            self._thread_key(incident_id, destination), value, THREAD_TTL_SECONDS
        ):
            return
        entry = {"channel": destination.channel, "chat": destination.chat}
        for _ in range(8):
            found = self.store.get_document(THREADS, incident_id)
            version, doc = found if found else (0, {"destinations": []})
            if entry in doc["destinations"]:
                return
            doc["destinations"] = [*doc["destinations"], entry]
            try:
                self.store.put_document(THREADS, incident_id, doc, expected_version=version)
                return
            except VersionConflict:
                continue

    def _threads(self, incident_id: str) -> list[Destination]:
        """The chats the incident has a thread in."""
        found = self.store.get_document(THREADS, incident_id)
        if found is None:
            return []
        return [Destination(d["channel"], d["chat"]) for d in found[1].get("destinations", [])]

    def _remember(self, key: str, ref: MessageRef, about: Mapping[str, str] | None = None) -> None:
        for _ in range(8):
            found = self.store.get_document(MESSAGES, key)
            fresh: dict[str, Any] = {**(about or {}), "refs": []}
            version, doc = found if found else (0, fresh)
            doc["refs"] = [*doc["refs"], {"channel": ref.channel, "chat": ref.chat, "id": ref.id}]
            try:
                self.store.put_document(MESSAGES, key, doc, expected_version=version)
                return
            except VersionConflict:
                continue

    def _refs(self, key: str) -> tuple[list[MessageRef], dict[str, Any]]:
        """The messages posted under ``key`` and their document."""
        found = self.store.get_document(MESSAGES, key)
        if found is None:
            return [], {}
        doc = found[1]
        return [MessageRef(r["channel"], r["chat"], r["id"]) for r in doc.get("refs", [])], doc

    # storm control

    def _window(self) -> int:
        return int(self.window_clock() // self.settings.window_seconds)

    def _allow(self, channel: str) -> bool:
        if self._limited(channel):
            return False
        sent, _ = self._sent.add(channel)
        return sent <= self.settings.max_messages_per_window

    def _hold(self, destination: Destination, line: str) -> None:
        window, lines = self._held.get(destination, (self._window(), []))
        lines.append(line)
        self._held[destination] = (window, lines)
        self.metrics.chat_digested.labels(destination.channel).inc()

    def _send_digests(self, force: bool) -> None:
        now_window = self._window()
        for destination, (window, lines) in list(self._held.items()):
            if (not force and window == now_window) or self._limited(destination.channel):
                continue
            del self._held[destination]
            text = render.digest_text(
                lines, self.settings.window_seconds, self.settings.max_messages_per_window
            )
            channel = self.channels[destination.channel]
            message = OutgoingMessage(destination.chat, text)
            # the digest itself takes a place in the new window
            self._sent.add(destination.channel)
            sent, _ = self._attempt(destination.channel, partial(channel.send, message))
            if sent:
                self.metrics.chat_messages.labels(destination.channel, "digest").inc()
                self._audit(
                    "chat.digest",
                    f"channel:{destination.channel}",
                    f"{len(lines)} message(s) to {destination} sent as one digest",
                    {"chat": destination.chat, "messages": len(lines)},
                )

    # channel health

    def channels_down(self) -> tuple[str, ...]:
        return tuple(n for n in self.channels if self.store.get_key(f"chat:down:{n}") is not None)

    def _unhealthy(self, name: str, detail: str) -> None:
        key = f"chat:down:{name}"
        record = json.dumps({"since": self.clock().isoformat(), "detail": detail[:500]})
        if not self.store.set_if_absent(key, record, DOWN_TTL_SECONDS):
            return  # already known to be down
        if not self._report(HealthChange(name, True, detail, self.channels_down())):
            # not reported: forget it so that the next failure reports again
            self.store.delete_key(key, expected=record)

    def _healthy(self, name: str) -> None:
        key = f"chat:down:{name}"
        if self.store.get_key(key) is None:
            return
        self.store.delete_key(key)
        self._report(HealthChange(name, False, "delivering again", self.channels_down()))

    def _report(self, change: HealthChange) -> bool:
        if self.on_health is None:
            return True
        try:
            self.on_health(change)
        except Exception:
            log.exception("chat: reporting %s %s failed", change.channel, change.detail)
            return False
        return True

    def _audit(self, action: str, subject: str, detail: str, after: dict[str, Any]) -> None:
        audit(
            self.store,
            actor="robot",
            surface="channels",
            action=action,
            subject=subject,
            after=after,
            detail=detail[:2000],
            at=self.clock(),
        )

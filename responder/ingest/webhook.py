"""``POST /webhooks/alertmanager``: validate, queue durably, answer fast.

Status codes follow Alertmanager's retry rule (it retries 5xx, never 4xx):
4xx only for a request that can never succeed; 503 when the store cannot
take the payload durably right now or the queue is full.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from responder.ingest.payload import PayloadError, parse_payload
from responder.ingest.worker import QueueWorker
from responder.metrics import Metrics
from responder.sections import WebhookSettings
from responder.store import Store, StoreUnavailable

log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    pass


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def token_ok(request: Request, expected: str | None) -> bool:
    if expected is None:
        return True
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


@dataclass(frozen=True)
class AlertmanagerWebhook:
    """The route's handler, with what it needs: the store it queues to, the
    worker it wakes, the settings it checks against."""

    store: Store
    worker: QueueWorker
    settings: WebhookSettings
    metrics: Metrics

    def _reject(
        self,
        status: int,
        body: dict[str, str],
        reason: str,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        self.metrics.webhook_rejections.labels(str(status)).inc()
        log.warning("webhook rejected with %d: %s", status, reason)
        return JSONResponse(body, status_code=status, headers=headers)

    async def handle(self, request: Request) -> JSONResponse:
        settings = self.settings
        started = time.perf_counter()
        if not token_ok(request, settings.webhook_token):
            return self._reject(
                401,
                {"error": "missing or wrong bearer token"},
                "bad or missing token",
                headers={"WWW-Authenticate": 'Bearer realm="robot-sre"'},
            )
        try:
            body = await read_limited(request, settings.max_body_bytes)
        except BodyTooLarge:
            return self._reject(
                413,
                {"error": f"body larger than {settings.max_body_bytes} bytes (max_body_bytes)"},
                "body too large",
            )
        try:
            payload = parse_payload(body)
        except PayloadError as exc:
            return self._reject(exc.status, exc.as_json(), exc.error)
        if len(payload.alerts) > settings.max_alerts_per_payload:
            cap = settings.max_alerts_per_payload
            return self._reject(
                413,
                {
                    "error": f"payload carries {len(payload.alerts)} alerts; at most {cap} are"
                    f" accepted (max_alerts_per_payload): set the webhook's max_alerts to {cap}"
                },
                "too many alerts",
            )
        worker = self.worker
        if worker.depth >= settings.queue_max_depth:
            return self._reject(
                503,
                {"error": f"queue full ({worker.depth} payloads waiting); retry later"},
                "queue full",
                headers={"Retry-After": "5"},
            )
        try:
            entry_id = await anyio.to_thread.run_sync(self.store.enqueue, body)
        except StoreUnavailable as exc:
            return self._reject(
                503,
                {"error": "store unavailable; retry later"},
                str(exc),
                headers={"Retry-After": "5"},
            )
        worker.depth += 1
        worker.wake.set()
        firing = sum(1 for a in payload.alerts if a.status == "firing")
        self.metrics.alerts_received.labels("firing").inc(firing)
        self.metrics.alerts_received.labels("resolved").inc(len(payload.alerts) - firing)
        self.metrics.webhook_duration.observe(time.perf_counter() - started)
        return JSONResponse(
            {
                "accepted": len(payload.alerts),
                "queued": entry_id,
                "truncated_alerts": payload.truncatedAlerts,
            }
        )

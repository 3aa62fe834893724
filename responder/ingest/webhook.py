"""``POST /webhooks/alertmanager``: validate, queue durably, answer fast.

Status codes follow Alertmanager's retry rule (it retries 5xx, never 4xx):
4xx only for a request that can never succeed; 503 when the store cannot
take the payload durably right now or the queue is full.
"""

from __future__ import annotations

import hmac
import logging
import time

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse

from responder.ingest.payload import PayloadError, parse_payload
from responder.runtime import Runtime
from responder.store import StoreUnavailable

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


def _reject(
    runtime: Runtime,
    status: int,
    body: dict[str, str],
    reason: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    runtime.metrics.webhook_rejections.labels(str(status)).inc()
    log.warning("webhook rejected with %d: %s", status, reason)
    return JSONResponse(body, status_code=status, headers=headers)


def token_ok(request: Request, expected: str | None) -> bool:
    if expected is None:
        return True
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


async def alertmanager_webhook(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    started = time.perf_counter()
    if not token_ok(request, settings.webhook_token):
        return _reject(
            runtime,
            401,
            {"error": "missing or wrong bearer token"},
            "bad or missing token",
            headers={"WWW-Authenticate": 'Bearer realm="robot-sre"'},
        )
    try:
        body = await read_limited(request, settings.max_body_bytes)
    except BodyTooLarge:
        return _reject(
            runtime,
            413,
            {"error": f"body larger than {settings.max_body_bytes} bytes (max_body_bytes)"},
            "body too large",
        )
    try:
        payload = parse_payload(body)
    except PayloadError as exc:
        return _reject(runtime, exc.status, exc.as_json(), exc.error)
    if runtime.worker.depth >= settings.queue_max_depth:
        return _reject(
            runtime,
            503,
            {"error": f"queue full ({runtime.worker.depth} payloads waiting); retry later"},
            "queue full",
            headers={"Retry-After": "5"},
        )
    try:
        entry_id = await anyio.to_thread.run_sync(runtime.store.enqueue, body)
    except StoreUnavailable as exc:
        return _reject(
            runtime,
            503,
            {"error": "store unavailable; retry later"},
            str(exc),
            headers={"Retry-After": "5"},
        )
    runtime.worker.depth += 1
    runtime.worker.wake.set()
    runtime.metrics.alerts_received.labels("firing").inc(
        sum(1 for a in payload.alerts if a.status == "firing")
    )
    runtime.metrics.alerts_received.labels("resolved").inc(
        sum(1 for a in payload.alerts if a.status == "resolved")
    )
    runtime.metrics.webhook_duration.observe(time.perf_counter() - started)
    return JSONResponse(
        {
            "accepted": len(payload.alerts),
            "queued": entry_id,
            "truncated_alerts": payload.truncatedAlerts,
        }
    )

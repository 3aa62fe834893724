"""``/healthz``, ``/readyz``, ``/metrics``."""

from __future__ import annotations

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from responder.records.levels import Environment
from responder.runtime import Runtime
from responder.store import StoreUnavailable


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready: the store answers, the worker runs, and (in production, unless
    ``allow_volatile_store``) the store keeps what it accepts on disk; a
    volatile store elsewhere is a warning in the answer."""
    runtime: Runtime = request.app.state.runtime
    try:
        await anyio.to_thread.run_sync(runtime.store.ping)
        volatile = await anyio.to_thread.run_sync(runtime.store.volatility)
    except StoreUnavailable as exc:
        return JSONResponse({"status": "unavailable", "store": str(exc)}, status_code=503)
    if not runtime.worker.running:
        return JSONResponse({"status": "unavailable", "worker": "not running"}, status_code=503)
    settings = runtime.settings
    production = settings.environment == Environment.production
    if volatile and production and not settings.allow_volatile_store:
        hint = "turn on AOF (appendonly yes) or RDB snapshots, or set ALLOW_VOLATILE_STORE"
        body = {"status": "unavailable", "store": volatile, "hint": hint}
        return JSONResponse(body, status_code=503)
    answer: dict[str, object] = {"status": "ready", "queue_depth": runtime.worker.depth}
    if volatile:
        answer["warnings"] = [volatile]
    return JSONResponse(answer)


async def metrics(request: Request) -> Response:
    """Every metric, or (``name[]=…``, as Prometheus' client libraries read
    it) only the ones named: the open-incident gauges read the store, the rest do not."""
    runtime: Runtime = request.app.state.runtime
    names = request.query_params.getlist("name[]")
    body = await anyio.to_thread.run_sync(lambda: runtime.metrics.render(names))
    return Response(body, media_type=CONTENT_TYPE_LATEST)

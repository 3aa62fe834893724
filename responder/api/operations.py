"""``/healthz``, ``/readyz``, ``/metrics``."""

from __future__ import annotations

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from responder.runtime import Runtime
from responder.store import StoreUnavailable


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    try:
        await anyio.to_thread.run_sync(runtime.store.ping)
    except StoreUnavailable as exc:
        return JSONResponse({"status": "unavailable", "store": str(exc)}, status_code=503)
    if not runtime.worker.running:
        return JSONResponse({"status": "unavailable", "worker": "not running"}, status_code=503)
    return JSONResponse({"status": "ready", "queue_depth": runtime.worker.depth})


async def metrics(request: Request) -> Response:
    """Every metric, or (``name[]=…``, as Prometheus' client libraries read
    it) only the ones named: the open-incident gauges read the store, the rest do not."""
    runtime: Runtime = request.app.state.runtime
    names = request.query_params.getlist("name[]")
    body = await anyio.to_thread.run_sync(lambda: runtime.metrics.render(names))
    return Response(body, media_type=CONTENT_TYPE_LATEST)

"""``/healthz``, ``/readyz``, ``/metrics``."""

from __future__ import annotations

from dataclasses import dataclass

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from responder.api.openapi import Operation
from responder.ingest.worker import QueueWorker
from responder.metrics import Metrics
from responder.records.levels import Environment
from responder.store import Store, StoreUnavailable


@dataclass(frozen=True)
class Operations:
    store: Store
    worker: QueueWorker
    metrics: Metrics
    environment: Environment
    allow_volatile_store: bool

    @Operation("Liveness", answers={200: "ok"})
    async def healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @Operation(
        "Readiness: the store answers and the worker runs",
        answers={
            200: "ready (warnings: a store that keeps nothing)",
            503: "store unavailable, worker stopped, or (production)"
            " a store that keeps nothing on disk",
        },
    )
    async def readyz(self, request: Request) -> JSONResponse:
        """Ready: the store answers, the worker runs, and (in production, unless
        ``allow_volatile_store``) the store keeps what it accepts on disk; a
        volatile store elsewhere is a warning in the answer."""
        try:
            await anyio.to_thread.run_sync(self.store.ping)
            volatile = await anyio.to_thread.run_sync(self.store.volatility)
        except StoreUnavailable as exc:
            return JSONResponse({"status": "unavailable", "store": str(exc)}, status_code=503)
        if not self.worker.running:
            return JSONResponse({"status": "unavailable", "worker": "not running"}, status_code=503)
        production = self.environment == Environment.production
        if volatile and production and not self.allow_volatile_store:
            hint = "turn on AOF (appendonly yes) or RDB snapshots, or set ALLOW_VOLATILE_STORE"
            body = {"status": "unavailable", "store": volatile, "hint": hint}
            return JSONResponse(body, status_code=503)
        answer: dict[str, object] = {"status": "ready", "queue_depth": self.worker.depth}
        if volatile:
            answer["warnings"] = [volatile]
        return JSONResponse(answer)

    @Operation("Prometheus metrics", answers={200: "text exposition"})
    async def metrics_text(self, request: Request) -> Response:
        """Every metric, or (``name[]=…``, as Prometheus' client libraries read
        it) only the ones named: the open-incident gauges read the store, the rest do not."""
        names = request.query_params.getlist("name[]")
        body = await anyio.to_thread.run_sync(lambda: self.metrics.render(names))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

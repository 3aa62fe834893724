"""Starlette assembly: routes, the runtime services and the queue worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Route

from responder.api import incidents, operations, taxonomy
from responder.api.openapi import openapi
from responder.incidents.classify import build_classifier
from responder.incidents.processor import IncidentProcessor
from responder.ingest.webhook import alertmanager_webhook
from responder.ingest.worker import QueueWorker
from responder.metrics import Metrics
from responder.runtime import Runtime
from responder.settings import Settings
from responder.store import Store, open_store
from responder.taxonomy import builtin_taxonomy

log = logging.getLogger(__name__)


def build_runtime(settings: Settings, store: Store | None = None) -> Runtime:
    """Load and validate everything a responder needs; raises on a bad catalogue."""
    taxonomy = builtin_taxonomy()
    store = store or open_store(settings.store_url, settings.store_namespace)

    def domain_of(type_id: str) -> str:
        known = taxonomy.incident_types.get(type_id)
        return known.domain if known else "unclassified"

    metrics = Metrics(lambda: store, domain_of)
    classifier = build_classifier(taxonomy, settings.alertname_map)
    processor = IncidentProcessor(store, taxonomy, classifier, settings, metrics)
    worker = QueueWorker(store, processor, settings, metrics)
    return Runtime(
        settings=settings,
        taxonomy=taxonomy,
        store=store,
        metrics=metrics,
        classifier=classifier,
        processor=processor,
        worker=worker,
    )


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    runtime = runtime or build_runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        log.info("robot-sre starting: %s", runtime.settings.redacted())
        if runtime.settings.effective_dry_run:
            log.info("no cluster configured: actions run in dry-run mode")
        task = asyncio.create_task(runtime.worker.run(), name="queue-worker")
        try:
            yield
        finally:
            runtime.worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)
            runtime.store.close()

    routes = [
        Route("/webhooks/alertmanager", alertmanager_webhook, methods=["POST"]),
        Route("/api/v1/incidents", incidents.list_incidents, methods=["GET"]),
        Route("/api/v1/incidents/{incident_id}", incidents.get_incident, methods=["GET"]),
        Route("/api/v1/taxonomy", taxonomy.get_taxonomy, methods=["GET"]),
        Route("/healthz", operations.healthz, methods=["GET"]),
        Route("/readyz", operations.readyz, methods=["GET"]),
        Route("/metrics", operations.metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.runtime = runtime
    return app

"""The baseline: a bare Starlette endpoint that parses the webhook body with
``json.loads`` and answers 200, served by the same uvicorn as the responder.

Run as ``python -m uvicorn bench.bare:app``.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def webhook(request: Request) -> JSONResponse:
    payload = json.loads(await request.body())
    return JSONResponse({"accepted": len(payload["alerts"])})


async def readyz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ready", "queue_depth": 0})


app = Starlette(
    routes=[
        Route("/webhooks/alertmanager", webhook, methods=["POST"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
)

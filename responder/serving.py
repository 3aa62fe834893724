"""The HTTP server's bounds, which uvicorn alone does not keep: a header
timeout (against clients sending a byte at a time), a connection cap that
drops the slowest waiting client first, 503 beyond the requests in flight
(except ``/healthz``, so a busy responder is not restarted), and rate-limited
logging of the event loop's own errors."""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

log = logging.getLogger(__name__)

#: descriptors kept for everything but client connections
DESCRIPTOR_RESERVE = 128
LOG_EVERY_SECONDS = 10.0
LIVENESS_PATH = "/healthz"


def connection_cap(configured: int) -> int:
    """``configured``, or (0) what the descriptor limit leaves after the reserve."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = max(16, soft - DESCRIPTOR_RESERVE) if soft != resource.RLIM_INFINITY else 65_536
    return min(configured, room) if configured > 0 else room


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout and a connection cap
    (the class :func:`bounded_protocol` makes holds one server's waiting list)."""

    header_timeout = 10.0
    max_connections = 1024
    #: this server's connections waiting for request headers, oldest first
    #: (a dict keeps insertion order)
    waiting: dict[BoundedHttpProtocol, None] = {}

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()
        if len(self.connections) > self.max_connections:
            oldest = next((p for p in self.waiting if p is not self), None)
            if oldest is not None:
                oldest._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_arrived()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._headers_arrived()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._await_headers()

    def _await_headers(self) -> None:
        self._headers_arrived()
        self.waiting[self] = None
        self._header_timer = self.loop.call_later(self.header_timeout, self._close)

    def _headers_arrived(self) -> None:
        self.waiting.pop(self, None)
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _close(self) -> None:
        self._headers_arrived()
        if not self.transport.is_closing():
            self.transport.abort()


def bounded_protocol(header_timeout: float, max_connections: int) -> type[BoundedHttpProtocol]:
    """The protocol class for ``uvicorn.run(http=...)`` with these bounds."""
    return type(
        "BoundedHttpProtocol",
        (BoundedHttpProtocol,),
        {
            "header_timeout": header_timeout,
            "max_connections": max_connections,
            "waiting": {},
        },
    )


@dataclass(eq=False)
class RequestLimit:
    """ASGI middleware: 503 with ``Retry-After`` beyond ``limit`` requests in
    flight (the liveness probe excepted)."""

    app: ASGIApp
    limit: int
    in_flight: int = field(default=0, init=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == LIVENESS_PATH:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            body = b'{"error": "too many requests in flight; retry shortly"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"retry-after", b"1"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


@dataclass(eq=False)
class QuietLoopErrors:
    """An event-loop exception handler that logs each kind of error at most
    once per ``every`` seconds, saying how many were left out."""

    every: float = LOG_EVERY_SECONDS
    _last: dict[str, tuple[float, int]] = field(default_factory=dict, init=False)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        kind = f"{context.get('message', '')}|{type(exception).__name__}"
        now = time.monotonic()
        last, left_out = self._last.get(kind, (float("-inf"), 0))
        if now - last < self.every:
            self._last[kind] = (last, left_out + 1)
            return
        self._last[kind] = (now, 0)
        more = f" ({left_out} like it in the last {self.every:g} s not logged)" if left_out else ""
        log.error("event loop: %s: %s%s", context.get("message"), exception, more)

"""The MCP server over streamable HTTP, behind API-token auth.

Every request needs a live API token with the ``mcp`` scope, whatever
``api_auth`` says: MCP never runs unauthenticated. Stateless, JSON answers:
any replica can answer any POST. DNS-rebinding host checks are off because a
browser cannot send the bearer token on its own."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio.to_thread
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from responder.accounts.http_auth import authentication_required
from responder.mcp.server import SCOPE, build_server
from responder.mcp.tools import McpTools
from responder.runtime import Runtime
from responder.store import StoreUnavailable

PATH = "/mcp"


class McpHttp:
    """The ASGI endpoint mounted at ``/mcp``."""

    def __init__(self, runtime: Runtime, tools: McpTools | None = None) -> None:
        self.runtime = runtime
        self.server = build_server(runtime, tools)
        self.app: ASGIApp = self.server.streamable_http_app(
            streamable_http_path=PATH,
            json_response=True,
            stateless_http=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._running = False

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Keep the session manager up (the responder's lifespan holds this)."""
        async with self.server.session_manager.run():
            self._running = True
            try:
                yield
            finally:
                self._running = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = await self._refusal(Request(scope))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if not self._running:
            await JSONResponse({"error": "the MCP server is not running"}, 503)(
                scope, receive, send
            )
            return
        await self.app({**scope, "path": PATH, "root_path": ""}, receive, send)

    async def _refusal(self, request: Request) -> JSONResponse | None:
        accounts = self.runtime.accounts
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        token = None
        if scheme.lower() == "bearer" and credential.strip():
            try:
                token = await anyio.to_thread.run_sync(accounts.tokens.verify, credential.strip())
            except StoreUnavailable as exc:
                return JSONResponse({"error": f"store unavailable: {exc}"}, 503)
        if token is None:
            return authentication_required("(robot-sre token create --scope mcp)")
        if not token.names_scope(SCOPE):
            return JSONResponse(
                {"error": f"token {token.name!r} lacks the mcp scope"}, status_code=403
            )
        return None

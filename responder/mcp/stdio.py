"""``robot-sre mcp``: the same MCP server over stdio, for a local agent.

The caller is an API token as over HTTP (``ROBOT_SRE_MCP_TOKEN``, or
``--token-file``): it must be live and name the ``mcp`` scope. The process
reads and writes the responder's store like ``robot-sre serve`` does, with
the backends the settings configure; it does not run the queue worker.
"""

from __future__ import annotations

import anyio

from responder.accounts.tokens import TokenBook
from responder.mcp.server import build_server, token_caller
from responder.runtime import Runtime

TOKEN_ENV = "ROBOT_SRE_MCP_TOKEN"


class StdioRefused(Exception):
    pass


def serve_stdio(runtime: Runtime, token_text: str) -> None:
    """Serve ``runtime`` (the caller built it; closed here) over stdio."""
    try:
        caller = token_caller(TokenBook(runtime.store).verify(token_text.strip()))
        if caller is None:
            raise StdioRefused(
                "the token is unknown, revoked or lacks the mcp scope "
                "(robot-sre token create --name NAME --role ROLE --scope mcp)"
            )
        server = build_server(runtime, caller=caller)
        anyio.run(server.run_stdio_async)
    finally:
        runtime.store.close()

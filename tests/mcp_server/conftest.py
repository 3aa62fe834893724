"""The MCP tests' shared responder (``mcp_world.py``)."""

from fixtures.mcp_world import world  # noqa: F401  (a fixture, registered here)

"""The MCP server: an AI layer that stays inside the policy boundaries."""

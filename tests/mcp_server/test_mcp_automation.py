"""Gradual automation over MCP, read only: ``automation_readiness`` answers
what ``GET /api/v1/automation/readiness`` answers for the same store, and
``automation_pauses`` lists the pauses people made through the API. The
responder is the MCP tests' running one (``mcp_world.py``); marks and pauses
are made over its HTTP API with an operator token."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fixtures.mcp_world import World, call, with_client
from mcp import Client

from responder.accounts.models import Role
from responder.mcp.frame import Caller, ToolFailure
from responder.mcp.tools import McpTools


@pytest.fixture(scope="module")
def api(world: World) -> httpx.Client:
    """``/api/v1`` as a person with the operator role (marks and pauses)."""
    accounts = world.story.runtime.accounts
    assert accounts is not None
    _, token = accounts.tokens.create("oncall", Role.operator, [], "test", "test")
    return httpx.Client(
        base_url=world.url.removesuffix("/mcp"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def readiness_over_mcp(world: World, **arguments: Any) -> dict[str, Any]:
    async def use(client: Client) -> dict[str, Any]:
        return await call(client, "automation_readiness", **arguments)

    return with_client(world, world.viewer_token, use)


def pauses_over_mcp(world: World) -> dict[str, Any]:
    async def use(client: Client) -> dict[str, Any]:
        return await call(client, "automation_pauses")

    return with_client(world, world.viewer_token, use)


def disk_pressure_row(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        row
        for row in answer["classes"]
        if (row["incident_type"], row["environment"]) == ("node_disk_pressure", "demo")
    ]


def test_readiness_rows_are_the_apis_after_a_mark(world: World, api: httpx.Client) -> None:
    before = readiness_over_mcp(world)
    assert before == api.get("/api/v1/automation/readiness").json()
    # the type is in auto by default: without a mark it has nothing to earn, so no row
    assert disk_pressure_row(before) == []

    marked = api.post(
        f"/api/v1/incidents/{world.incident_id}/mark",
        json={"classification": "right", "action": "right", "note": "the cleanup was right"},
    )
    assert marked.status_code == 200, marked.text

    after = readiness_over_mcp(world)
    assert after == api.get("/api/v1/automation/readiness").json()
    [row] = disk_pressure_row(after)
    assert row["marked"] == 1
    assert row["agreement_rate"] == 1.0
    assert row["false_positive_rate"] == 0.0
    assert row["mode"] == "auto"
    bar = world.story.settings.promotion_bar
    assert row["ready"] is False
    assert f"0 of {bar.min_shadow_decisions} shadow decisions" in row["missing"]
    assert after["bar"] == bar.model_dump() == row["bar"]

    filters = {"incident_type": "node_disk_pressure", "environment": "demo"}
    filtered = readiness_over_mcp(world, **filters)
    assert filtered == api.get("/api/v1/automation/readiness", params=filters).json()
    assert filtered["classes"] == [row]

    audit = world.story.runtime.store.list_audit(50, "automation:readiness")
    assert any(e.actor == "mcp:reader" and e.action == "mcp.automation_readiness" for e in audit)
    metric = world.story.runtime.metrics.registry.get_sample_value
    labels = {"tool": "automation_readiness", "outcome": "ok"}
    assert metric("ops_mcp_calls_total", labels) == 3


def test_a_pause_made_through_the_api_shows_in_automation_pauses(
    world: World, api: httpx.Client
) -> None:
    made = api.post(
        "/api/v1/automation/pause",
        json={
            "reason": "storage migration in image-factory",
            "duration_seconds": 3600,
            "environment": "production",
            "namespace": "image-factory",
        },
    )
    assert made.status_code == 201, made.text
    pause = made.json()
    try:
        listed = pauses_over_mcp(world)
        assert listed == api.get("/api/v1/automation/pause").json()
        assert pause in listed["pauses"]
        assert listed["count"] == len(listed["pauses"])
        [seen] = [p for p in listed["pauses"] if p["id"] == pause["id"]]
        assert seen["created_by"] != "mcp:reader"
        assert seen["scope"] == "environment production, namespace image-factory"
    finally:
        assert api.delete(f"/api/v1/automation/pause/{pause['id']}").status_code == 204
    assert pause["id"] not in [p["id"] for p in pauses_over_mcp(world)["pauses"]]
    audit = world.story.runtime.store.list_audit(50, "automation:pauses")
    assert [e.action for e in audit if e.actor == "mcp:reader"] == ["mcp.automation_pauses"] * 2


def test_a_bad_environment_is_a_tool_error_naming_the_argument(world: World) -> None:
    async def use(client: Client) -> Any:
        return await client.call_tool("automation_readiness", {"environment": "prod"})

    result = with_client(world, world.viewer_token, use)
    assert result.is_error
    text = result.content[0].text
    assert "environment" in text and "'demo', 'staging' or 'production'" in text

    # the tools refuse it too when a transport does not check the schema first
    tools = McpTools(world.story.runtime)
    with pytest.raises(ToolFailure) as refused:
        tools.automation_readiness(Caller("reader", Role.viewer), None, "prod")
    assert refused.value.message.startswith("environment: must be one of demo, staging")
    assert refused.value.outcome == "invalid"

"""A responder for the MCP tests: the disk-pressure story's cluster in kmock,
the incident opened with the act stage held back (so that nothing ran on its
own and every action is the agent's proposal), served by uvicorn on
127.0.0.1 in a thread, with three API tokens; and the SDK's HTTP client
to call it with."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import pytest
import uvicorn
from fixtures.kube import KubeCluster, seed_disk_pressure
from fixtures.processes import free_port, port_answers, wait_until
from fixtures.quiet import hands_tied
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from stories.storyline import Story

from responder.accounts.models import Role
from responder.app import create_app

PRESSURE = {
    "alertname": "KubeNodePressure",
    "condition": "DiskPressure",
    "node": "worker-1",
    "severity": "warning",
}
EVICTIONS = {
    "alertname": "KubeNodeEviction",
    "eviction_signal": "nodefs.available",
    "node": "worker-1",
    "severity": "warning",
}


@dataclass
class World:
    story: Story
    cluster: KubeCluster
    url: str
    store_url: str
    operator_token: str
    viewer_token: str
    api_token: str
    incident_id: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("mcp")
    cluster = KubeCluster(tmp).start()
    story = None
    server = None
    thread = None
    try:
        seed_disk_pressure(cluster)
        story = Story(cluster, tmp, environment="demo")
        runtime = story.runtime
        with hands_tied(runtime.pipeline):  # the incident opens; nothing acts on its own
            story.fire(PRESSURE, EVICTIONS)
        incident = story.incident()
        assert incident.confidence == "high"
        assert incident.executed_actions == [] or all(
            a.action == "notify_operator" for a in incident.executed_actions
        )
        tokens = runtime.accounts.tokens
        _, operator = tokens.create("agent", Role.operator, ["mcp"], "test", "test")
        _, viewer = tokens.create("reader", Role.viewer, ["mcp"], "test", "test")
        _, api = tokens.create("api-only", Role.admin, ["incidents"], "test", "test")
        port = free_port()
        config = uvicorn.Config(
            create_app(story.settings, runtime), host="127.0.0.1", port=port, log_level="warning"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_until(lambda: port_answers("127.0.0.1", port), 10, "uvicorn")
        yield World(
            story=story,
            cluster=cluster,
            url=f"http://127.0.0.1:{port}/mcp",
            store_url=str(story.settings.store_url),
            operator_token=operator,
            viewer_token=viewer,
            api_token=api,
            incident_id=incident.id,
        )
    finally:
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(10)
        if story is not None:
            story.close()
        cluster.stop()


T = TypeVar("T")


def with_client(world: World, token: str, use: Callable[[Client], Awaitable[T]]) -> T:
    """Run ``use`` with an MCP client over streamable HTTP, as ``token``."""

    async def main() -> T:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with http, Client(streamable_http_client(world.url, http_client=http)) as client:
            return await use(client)

    return anyio.run(main)


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """The structured answer of a tool call that must succeed."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content

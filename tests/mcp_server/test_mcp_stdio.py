"""``robot-sre mcp`` over stdio with the SDK's own client: the demo storm
(examples/storm/) is posted to a responder's store, then read through a
subprocess started with an API token."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from fixtures.clock import Clock
from fixtures.rigs import Responder
from mcp import Client, StdioServerParameters

from responder.accounts.models import Role
from responder.settings import Settings

STORM = Path(__file__).resolve().parents[2] / "examples" / "storm"


def storm_store(tmp: Path) -> tuple[str, str, str]:
    """A store holding the storm's incidents; (store url, mcp token, other token)."""
    store_url = f"sqlite:///{tmp}/storm.db"
    settings = Settings.model_validate({"environment": "demo", "store_url": store_url})
    rig = Responder(settings=settings, clock=Clock.from_now())
    runtime = rig.runtime
    try:
        with rig.client as client:
            for path in sorted(STORM.glob("0[1-4]-*.json")):
                answer = client.post("/webhooks/alertmanager", json=json.loads(path.read_text()))
                assert answer.status_code == 200, answer.text
            # the app's own worker runs too: wait until every entry is acked,
            # whichever worker took it
            deadline = time.monotonic() + 30
            while runtime.store.queue_depth() and time.monotonic() < deadline:
                if not runtime.worker.drain_once():
                    time.sleep(0.05)
            assert runtime.store.queue_depth() == 0
        _, token = runtime.accounts.tokens.create("desk", Role.viewer, ["mcp"], "t", "t")
        _, other = runtime.accounts.tokens.create("api", Role.viewer, [], "t", "t")
    finally:
        runtime.store.close()
    return store_url, token, other


def params(store_url: str, token: str) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROBOT_SRE_", "KUBECONFIG"))}
    env |= {"ROBOT_SRE_STORE_URL": store_url, "ROBOT_SRE_MCP_TOKEN": token}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "responder.cli", "mcp"], env=env
    )


def test_reads_the_storm_over_stdio(tmp_path: Path) -> None:
    store_url, token, _ = storm_store(tmp_path)

    async def main() -> tuple[set[str], dict[str, Any], dict[str, Any], str]:
        async with Client(params(store_url, token)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            listed = (await client.call_tool("list_incidents", {})).structured_content
            assert listed is not None
            disk = next(  # a node's incident (not the node storm, which has no alerts)
                i
                for i in listed["incidents"]
                if i["incident_type"] == "node_disk_pressure"
                and i["resource_scope"]["kind"] == "node"
            )
            got = await client.call_tool("get_incident", {"incident_id": disk["id"]})
            assert got.structured_content is not None
            prompt = await client.get_prompt("triage_incident", {"incident_id": disk["id"]})
            text = prompt.messages[0].content
            return names, listed, got.structured_content, getattr(text, "text", "")

    names, listed, got, prompt = anyio.run(main)
    assert "propose_action" in names and "get_incident" in names
    types = {i["incident_type"] for i in listed["incidents"]}
    assert {"node_disk_pressure", "registry_pull_failure", "unclassified"} <= types
    assert got["incident"]["environment"] == "demo"
    assert got["alerts"]
    assert "propose_action" in prompt


def test_stdio_refuses_a_token_without_the_mcp_scope(tmp_path: Path) -> None:
    import subprocess

    store_url, _, other = storm_store(tmp_path)
    chosen = params(store_url, other)
    done = subprocess.run(
        [chosen.command, *chosen.args],
        env=chosen.env,
        capture_output=True,
        text=True,
        timeout=60,
        input="",
    )
    assert done.returncode == 2
    assert "mcp scope" in done.stderr

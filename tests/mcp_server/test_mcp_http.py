"""The MCP server over streamable HTTP, with the SDK's own client, against
a running responder (uvicorn on 127.0.0.1) whose cluster is kmock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
from fixtures.explain import explain_request
from fixtures.mcp_world import World, call, with_client
from mcp import Client

from responder.records.incident import Incident


def fresh(world: World) -> Incident:
    found = world.story.runtime.store.get_incident(world.incident_id)
    assert found is not None
    return found


def test_no_token_is_401_and_a_token_without_the_mcp_scope_is_403(world: World) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(world.url, json=body, headers=headers).status_code == 401
    bad = {**headers, "Authorization": "Bearer rsre_nope_nope"}
    assert httpx.post(world.url, json=body, headers=bad).status_code == 401
    other = {**headers, "Authorization": f"Bearer {world.api_token}"}
    answer = httpx.post(world.url, json=body, headers=other)
    assert answer.status_code == 403
    assert "mcp scope" in answer.json()["error"]


def test_lists_the_tools_and_reads_the_incident(world: World) -> None:
    async def use(client: Client) -> tuple[set[str], dict[str, Any], dict[str, Any]]:
        names = {t.name for t in (await client.list_tools()).tools}
        listed = await call(client, "list_incidents", environment="demo")
        got = await call(client, "get_incident", incident_id=world.incident_id)
        return names, listed, got

    names, listed, got = with_client(world, world.viewer_token, use)
    assert names == {
        "list_incidents",
        "get_incident",
        "get_incident_type",
        "get_policy_matrix",
        "explain_decision",
        "list_rules",
        "list_approvals",
        "get_audit",
        "draft_rule",
        "automation_readiness",
        "automation_pauses",
        "collect_evidence",
        "add_incident_note",
        "propose_action",
    }
    assert [i["id"] for i in listed["incidents"]] == [world.incident_id]
    assert got["incident"]["incident_type"] == "node_disk_pressure"
    assert got["evidence"]["confidence"] == "high"
    assert got["decisions"] and all("layers" in d for d in got["decisions"])
    assert got["timeline"]
    audit = world.story.runtime.store.list_audit(50)
    assert any(e.actor == "mcp:reader" and e.action == "mcp.get_incident" for e in audit)


def test_a_viewer_token_may_not_propose(world: World) -> None:
    async def use(client: Client) -> Any:
        return await client.call_tool(
            "propose_action",
            {
                "incident_id": world.incident_id,
                "action": "cordon_node",
                "target": "node/worker-1",
                "rationale": "the node keeps evicting",
            },
        )

    result = with_client(world, world.viewer_token, use)
    assert result.is_error
    assert "operator role" in result.content[0].text


def test_explain_decision_equals_the_cli(world: World) -> None:
    request = explain_request(environment="production", severity="critical")

    async def use(client: Client) -> dict[str, Any]:
        return await call(client, "explain_decision", **request)

    answer = with_client(world, world.viewer_token, use)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROBOT_SRE_", "KUBECONFIG"))}
    env["ROBOT_SRE_STORE_URL"] = world.store_url
    cli = subprocess.run(
        [sys.executable, "-m", "responder.cli", "explain", "--json"]
        + [f"--{k.replace('_', '-')}={v}" for k, v in request.items()],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert answer == json.loads(cli.stdout)


def test_proposals_are_decided_by_the_policy(world: World) -> None:
    before = len(world.cluster.writes())

    async def use(client: Client) -> list[dict[str, Any]]:
        proposals = [
            ("delete_completed_pods", "cluster/cluster", "40 finished pods hold the node's disk"),
            ("delete_completed_pods", "cluster/cluster", "40 finished pods hold the node's disk"),
            ("cordon_node", "node/worker-1", "evictions continue after the cleanup"),
            ("delete_pvc", "persistentvolumeclaim/image-factory/scratch", "free the disk"),
        ]
        answers = [
            await call(
                client,
                "propose_action",
                incident_id=world.incident_id,
                action=action,
                target=target,
                rationale=rationale,
            )
            for action, target, rationale in proposals
        ]
        note = await call(
            client, "add_incident_note", incident_id=world.incident_id, text="looked at it"
        )
        return [*answers, note]

    first, again, cordon, human, note = with_client(world, world.operator_token, use)

    # the allowlisted contain action ran once, through the runner (kmock saw the deletes)
    assert first["outcome"] == "executed", first
    assert first["decision"] == "auto"
    deletes = [w for w in world.cluster.writes()[before:] if w.method == "DELETE"]
    assert len(deletes) == 40
    assert again["outcome"] == "skipped", again  # the cooldown holds
    assert len(world.cluster.writes()) == before + 40
    ran = [a for a in fresh(world).executed_actions if a.action == "delete_completed_pods"]
    assert [a.result for a in ran] == ["succeeded"]

    # the cordon is asked for, with the rationale
    assert cordon["outcome"] == "approval_requested", cordon
    approvals = world.story.runtime.approval_requests
    assert approvals is not None
    asked = approvals.get(cordon["approval_id"])
    assert asked is not None and asked.action == "cordon_node"
    assert "proposed by mcp:agent: evictions continue after the cleanup" in asked.why_now
    assert not any(w.path.endswith("/nodes/worker-1") for w in world.cluster.writes())

    # a human-only action is refused, with the trace
    assert human["outcome"] == "refused"
    assert human["decision"] == "human_only"
    assert human["trace"]["layers"][0]["layer"] == "taxonomy"

    assert note["author"] == "mcp:agent"
    notes = [e.detail for e in fresh(world).timeline if e.event == "agent_note"]
    assert notes == ["mcp:agent: looked at it"]

    metric = world.story.runtime.metrics.registry.get_sample_value
    assert metric("ops_mcp_calls_total", {"tool": "propose_action", "outcome": "executed"}) == 1
    assert metric("ops_mcp_calls_total", {"tool": "propose_action", "outcome": "refused"}) == 1

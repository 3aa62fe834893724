"""The tools in process: drafts are never saved, secrets never leave,
proposals are rate limited per client and counted, notes are marked as the
agent's, and the resources and prompts are served (the SDK's in-process
client)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fixtures.clock import Clock
from fixtures.executors import HttpExecutor
from fixtures.http_stub import StubServer
from fixtures.quiet import hands_tied
from fixtures.rigs import Responder
from mcp import Client

from responder.accounts.models import Role
from responder.mcp.frame import Caller, RateLimit, ToolFailure
from responder.mcp.server import build_server
from responder.mcp.tools import McpTools
from responder.records.alert import WebhookPayload
from responder.records.incident import NamedTarget
from responder.records.redaction import redact
from responder.runtime import Runtime
from responder.settings import Settings
from responder.store import IncidentFilter

STORM = Path(__file__).resolve().parents[2] / "examples" / "storm"
AGENT = Caller("agent", Role.operator)
READER = Caller("reader", Role.viewer)


@pytest.fixture
def runtime(tmp_path: Path, executor_stub: StubServer) -> Iterator[Runtime]:
    settings = Settings.model_validate(
        {"environment": "demo", "store_url": f"sqlite:///{tmp_path}/t.db"}
    )
    # the image patch an agent proposes runs on a stub backend (no cluster here)
    patches = HttpExecutor(executor_stub, frozenset({"patch_image_ref"}))
    built = Responder(settings=settings, clock=Clock.from_now(), executors=[patches]).runtime
    body = json.loads((STORM / "02-image-pull.json").read_text())
    alert = body["alerts"][0]
    alert["labels"]["api_token"] = "abc123"
    alert["annotations"]["description"] = "login failed: password=hunter2 for bob"
    with hands_tied(built.pipeline):  # nothing asked yet
        built.pipeline.process(WebhookPayload.model_validate(body))
    try:
        yield built
    finally:
        built.store.close()


def only(runtime: Runtime) -> str:
    [incident] = runtime.store.list_incidents(IncidentFilter())
    return incident.id


def metric(runtime: Runtime, tool: str, outcome: str) -> float:
    labels = {"tool": tool, "outcome": outcome}
    return runtime.metrics.registry.get_sample_value("ops_mcp_calls_total", labels) or 0.0


def test_secrets_are_redacted(runtime: Runtime) -> None:
    got = McpTools(runtime).get_incident(READER, only(runtime))
    text = json.dumps(got)
    assert "abc123" not in text and "hunter2" not in text
    assert "[redacted]" in text
    assert redact({"Authorization": "Bearer abcdefghijkl", "n": "rsre_ab12_secretpart"}) == {
        "Authorization": "[redacted]",
        "n": "[redacted]",
    }


def test_draft_rule_previews_and_never_saves(runtime: Runtime) -> None:
    tools = McpTools(runtime)
    before = [r.id for r in runtime.rules.all()]
    rule = {
        "id": "agent-draft",
        "name": "ask before suspending at night",
        "domain": "infrastructure",
        "incident_type": "node_disk_pressure",
        "owner": "agent",
        "allowed_action_profile": {"suspend_cronjob": "approval"},
    }
    answer = tools.draft_rule(AGENT, rule)
    assert answer["valid"] is True and answer["saved"] is False
    rows = {row["action"]: row for row in answer["preview"]["rows"]}
    demo = next(c for c in rows["suspend_cronjob"]["cells"] if c["environment"] == "demo")
    assert demo["after"] == "approval"
    bad = tools.draft_rule(AGENT, {**rule, "threshold_expression": "incident.("})
    assert bad["valid"] is False and bad["errors"]
    assert [r.id for r in runtime.rules.all()] == before


def image_patch_named(runtime: Runtime) -> str:
    """The incident, with the image patch on the backend Deployment named by
    the evidence (as the image-pull collector names it on a manifest unknown)."""
    incident = runtime.store.get_incident(only(runtime))
    assert incident is not None
    incident.named_targets.append(
        NamedTarget(
            action="patch_image_ref",
            kind="deployment",
            namespace="image-factory",
            name="backend",
            source="kubernetes.image_pulls",
            params={"container": "backend"},
        )
    )
    runtime.store.save_incident(incident)
    return incident.id


def test_proposals_are_rate_limited_per_client(runtime: Runtime) -> None:
    tools = McpTools(runtime, propose_limit=RateLimit(runtime.store, 2, 60.0))
    incident_id = image_patch_named(runtime)
    args = (incident_id, "patch_image_ref", "deployment/image-factory/backend", "mirror it")
    first = tools.propose_action(AGENT, *args)
    assert first["outcome"] == "approval_requested", first
    assert "proposed by mcp:agent: mirror it" in first["why_now"]
    assert tools.propose_action(AGENT, *args)["outcome"] == "already_pending"
    with pytest.raises(ToolFailure) as refused:
        tools.propose_action(AGENT, *args)
    assert refused.value.outcome == "rate_limited"
    other = Caller("other", Role.operator)
    assert tools.propose_action(other, *args)["outcome"] == "already_pending"
    assert metric(runtime, "propose_action", "rate_limited") == 1
    # another replica's tools (same store) count the same proposals
    replica = McpTools(runtime, propose_limit=RateLimit(runtime.store, 2, 60.0))
    with pytest.raises(ToolFailure):
        replica.propose_action(AGENT, *args)
    audit = runtime.store.list_audit(20, f"incident:{incident_id}")
    assert [e.actor for e in audit if e.action == "mcp.propose_action"].count("mcp:agent") == 4


def test_a_viewer_may_read_but_not_note(runtime: Runtime) -> None:
    tools = McpTools(runtime)
    incident_id = only(runtime)
    with pytest.raises(ToolFailure) as refused:
        tools.add_incident_note(READER, incident_id, "hello")
    assert refused.value.outcome == "forbidden"
    tools.add_incident_note(AGENT, incident_id, "checked the registry")
    incident = runtime.store.get_incident(incident_id)
    assert incident is not None
    assert incident.timeline[-1].event == "agent_note"
    assert incident.timeline[-1].detail == "mcp:agent: checked the registry"


def test_resources_and_prompts(runtime: Runtime) -> None:
    server = build_server(runtime, caller=READER)
    incident_id = only(runtime)

    async def main() -> tuple[Any, ...]:
        async with Client(server) as client:
            resources = {str(r.uri) for r in (await client.list_resources()).resources}
            taxonomy = await client.read_resource("robot-sre://taxonomy")
            record = await client.read_resource(f"robot-sre://incidents/{incident_id}")
            prompts = {p.name for p in (await client.list_prompts()).prompts}
            return resources, taxonomy, record, prompts

    resources, taxonomy, record, prompts = anyio.run(main)
    assert {"robot-sre://taxonomy", "robot-sre://policies"} <= resources
    assert "policy_matrix" in json.loads(taxonomy.contents[0].text)
    text = record.contents[0].text
    assert json.loads(text)["id"] == incident_id and "hunter2" not in text
    assert prompts == {"triage_incident", "summarize_incident", "postmortem_draft"}


def test_the_cli_makes_mcp_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from responder.accounts.tokens import TokenBook
    from responder.cli import main
    from responder.mcp.server import token_caller
    from responder.store import open_store

    monkeypatch.delenv("ROBOT_SRE_CONFIG", raising=False)
    monkeypatch.setenv("ROBOT_SRE_STORE_URL", f"sqlite:///{tmp_path}/cli.db")
    args = ["token", "create", "--name", "claude", "--role", "operator"]
    assert main([*args, "--scope", "mcp"]) == 0
    assert main([*args[:3], "all-of-api", *args[4:]]) == 0
    texts = [line.strip() for line in capsys.readouterr().out.splitlines() if "rsre_" in line]
    store = open_store(f"sqlite:///{tmp_path}/cli.db")
    try:
        found = [TokenBook(store).verify(t.split()[-1]) for t in texts]
    finally:
        store.close()
    assert [token_caller(t) for t in found] == [Caller("claude", Role.operator), None]

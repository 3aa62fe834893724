"""A person approves the step the ladder asks first, then undoes it: the
approval request must be runnable (a target of a kind the action accepts,
its params, the planned change before → after and what undoes it), the
approval goes through the inbox API with an approver's token, and the undo
runs the recorded inverse through the action runner, as a person would
(no API or MCP tool runs an inverse)."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures.kube import Seen
from stories.storyline import Story, target

from responder.records.action import ActionRequest, ActionRun
from responder.records.approval import ApprovalRequest
from responder.records.incident import ExecutedAction
from responder.records.target import Target

APPROVER = "alice"
TOKEN_ENV = "RSRE_STORY_APPROVER_TOKEN"
TOKEN = "story-approver-token-0123456789abcdef"


@pytest.fixture
def approver(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The settings of a story with an approver (alice, every environment)
    who answers through the inbox API."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    environments = ["demo", "staging", "production"]
    return {"approvers": [{"name": APPROVER, "environments": environments, "token_env": TOKEN_ENV}]}


def runnable_ask(story: Story, action: str, *, undoable: bool = True) -> ApprovalRequest:
    """The pending request for ``action``, checked runnable: a target of an
    accepted kind, its required params, a change that changes something, and
    what undoes it (``undoable`` False: that nothing does, in the prompt)."""
    [asked] = [a for a in story.approvals() if a.action == action and a.state == "pending"]
    spec = story.runtime.taxonomy.actions[action]
    assert asked.target["kind"] in spec.target_kinds, asked.target
    for name, param in spec.params.items():
        assert not param.required or name in asked.params, (name, asked.params)
    assert asked.change, asked
    assert all(c["before"] != c["after"] for c in asked.change), asked.change
    assert asked.undo, asked
    assert asked.undo.startswith("nothing undoes it by itself") != undoable, asked.undo
    assert asked.change_text in asked.prompt(story.clock.now)
    return asked


def approve(story: Story, asked: ApprovalRequest) -> list[Seen]:
    """Approve ``asked`` through the inbox API; the cluster writes it made.
    The approved action ran and succeeded (the request is ``executed``)."""
    before = len(story.writes())
    answer = story.client.post(
        f"/api/v1/approvals/{asked.id}/approve",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"note": "go ahead"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "executed", answer.json()
    final = story.runtime.approval_requests.get(asked.id)
    assert final is not None and final.state == "executed", final
    return story.writes()[before:]


def approved_run(story: Story, asked: ApprovalRequest) -> ExecutedAction:
    """What the approval of ``asked`` executed, as the incident records it."""
    [ran] = [a for a in story.incident().executed_actions if a.approval_id == asked.id]
    assert (ran.action, target(ran.target), ran.result) == (
        asked.action,
        target(asked.target),
        "succeeded",
    ), ran
    assert ran.actor == APPROVER
    return ran


def undo(story: Story, ran: ExecutedAction) -> tuple[ActionRun, list[Seen]]:
    """Run the recorded inverse of ``ran`` as the approver; the run and the
    cluster writes it made. It succeeded. An inverse that is the same action
    on the same target waits for that action's cooldown, as any run does."""
    assert ran.inverse is not None
    incident = story.incident()
    request = ActionRequest(
        action=ran.inverse["action"],
        target=Target.from_dict(ran.inverse["target"]),
        incident_id=incident.id,
        params=dict(ran.inverse["params"]),
    )
    if (request.action, request.target.as_dict()) == (ran.action, ran.target):
        cooldown = story.runtime.runner.cooldown_for(incident, ran.action)
        story.clock.advance(seconds=cooldown + 1)
    before = len(story.writes())
    run = story.runtime.runner.run(incident, request, "auto", actor=APPROVER)
    assert run.executed is not None and run.executed.result == "succeeded", run.outcome.detail
    return run, story.writes()[before:]


def write_of(seen: Seen) -> tuple[str, str, Any]:
    """``(method, path, body)`` of a cluster write."""
    return (seen.method, seen.path, seen.body)

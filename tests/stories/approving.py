"""A person's side of a story: the approval request as ``GET /api/v1/approvals``
lists it, approved through ``POST /api/v1/approvals/{id}/approve`` with an
approver's API token, and the recorded inverse of what that approval ran,
asked for, approved and carried out by the action runner (no API or MCP
tool runs an inverse yet, so the story does what such a path would do).
``since(story, mark)`` are the cluster writes after a moment the story marked."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from fixtures.kube import Seen
from stories.storyline import Story

from responder.records.action import ActionRequest, ActionRun, record_runs
from responder.records.incident import ExecutedAction, RecommendedAction
from responder.records.target import Target

APPROVER = "alice"
TOKEN_ENV = "STORY_ALICE_TOKEN"
TOKEN = "story-alice-token-0123456789abcdef"


def approvers(monkeypatch: pytest.MonkeyPatch, environment: str) -> list[dict[str, Any]]:
    """The ``approvers`` setting: alice answers in ``environment`` with ``TOKEN``."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return [{"name": APPROVER, "environments": [environment], "token_env": TOKEN_ENV}]


def listed(story: Story, action: str) -> dict[str, Any]:
    """The one approval request for ``action`` as the API lists it."""
    answer = story.client.get(
        "/api/v1/approvals",
        params={"incident_id": story.incident().id},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 200, answer.text
    [found] = [a for a in answer.json()["approvals"] if a["action"] == action]
    return dict(found)


def approve(story: Story, approval_id: str) -> dict[str, Any]:
    """Alice approves ``approval_id`` through the API; its answer."""
    answer = story.client.post(
        f"/api/v1/approvals/{approval_id}/approve",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"note": "go ahead"},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def approved_run(story: Story, action: str) -> ExecutedAction:
    """The one run of ``action`` a person's approval carried out."""
    [done] = [a for a in story.incident().executed_actions if a.action == action and a.approval_id]
    return done


def undo(
    story: Story, done: ExecutedAction, reason: str, incident_id: str | None = None
) -> ActionRun:
    """Run ``done``'s recorded inverse as a person would: asked for (its plan
    shown), approved by alice, carried out by the runner and put on the
    incident (``incident_id``; default: the story's only one)."""
    runtime = story.runtime
    incident = story.incident() if incident_id is None else runtime.store.get_incident(incident_id)
    assert incident is not None
    assert done.inverse is not None, f"{done.action} recorded no inverse"
    inverse = done.inverse
    request = ActionRequest(
        inverse["action"], Target.from_dict(inverse["target"]), incident.id, dict(inverse["params"])
    )
    spec = runtime.taxonomy.actions[request.action]
    asked = runtime.approval_requests.request(
        incident,
        RecommendedAction(
            action=request.action,
            action_class=str(spec.action_class),
            decision="approval",
            reason=reason,
            target=request.target.as_dict(),
            params=dict(request.params),
        ),
        reason,
        story.clock.now,
        planned=functools.partial(runtime.feasibility.planned, request, incident),
    )
    assert asked is not None
    runtime.approval_requests.grant(asked.id, APPROVER, reason, "in_app")
    run = runtime.runner.run(incident, request, "approval", approval_id=asked.id, actor=APPROVER)
    current = runtime.store.get_incident(incident.id)
    assert current is not None
    record_runs(current, [run], story.clock.now)
    runtime.store.save_incident(current)
    return run


def since(story: Story, mark: int) -> list[tuple[str, str, Any]]:
    """(method, path, body) of the cluster writes after the first ``mark``."""
    writes: list[Seen] = story.writes()[mark:]
    return [(w.method, w.path, w.body) for w in writes]

"""The ``/robot-sre`` slash command over HTTP: Slack's signed form in, the
console's answer out (at once, or through the command's response_url),
mrkdwn escaped; a disruptive approval counts only with the node's name typed."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from fixtures.alerts import DISK
from fixtures.chatops import ChatOpsHarness, Make
from fixtures.slack_api import SlackApi, signed, slash_command

ROUTE = "/webhooks/slack/commands"


@pytest.fixture
def harness(make_harness: Make) -> ChatOpsHarness:
    return make_harness(telegram=False, ladder_holds_asks=False)


def post(harness: ChatOpsHarness, text: str, **fields: str) -> Any:
    body = urlencode(slash_command(text, harness.slack_api.response_url(), **fields)).encode()
    return harness.client.post(ROUTE, content=body, headers=signed(body))


def answer(harness: ChatOpsHarness, text: str, **fields: str) -> dict[str, Any]:
    """Slack's view of the answer: the HTTP answer, or what followed
    through the response_url when the command took longer than Slack waits."""
    response = post(harness, text, **fields)
    assert response.status_code == 200
    if response.content:
        found: dict[str, Any] = response.json()
        return found
    return harness.slack_api.responses()[-1].args


def test_a_signed_command_runs_and_is_answered_at_once(harness: ChatOpsHarness) -> None:
    response = post(harness, "help")
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"  # a lookup: only the asker sees it
    assert body["text"].startswith("Robot SRE commands:")
    assert "/status — " in body["text"]
    [entry] = harness.runtime.store.list_audit(10, "chat:slack:COPS")
    assert (entry.actor, entry.action, entry.detail) == (
        "slack:U0ALICE",
        "chat.command.help",
        "help",
    )


def test_labels_arrive_mrkdwn_escaped(harness: ChatOpsHarness) -> None:
    harness.runtime.automation.pause(
        {"duration_seconds": 1800, "reason": "<!channel> <b>db</b> & co"}, "bob", "api"
    )
    text = answer(harness, "status")["text"]
    assert "&lt;!channel&gt; &lt;b&gt;db&lt;/b&gt; &amp; co" in text
    assert "<" not in text


def test_a_slow_command_answers_through_the_response_url(
    make_harness: Make, slack_api: SlackApi
) -> None:
    # no time at all: every answer follows through the response_url
    slack = {"channel": "COPS", "api_url": slack_api.url, "command_reply_seconds": 0}
    harness = make_harness(telegram=False, channels={"slack": slack})
    response = post(harness, "status")
    assert (response.status_code, response.content) == (200, b"")
    [later] = harness.slack_api.responses()
    assert later.args["response_type"] == "ephemeral"
    assert "queue depth 0" in later.args["text"]


@pytest.mark.parametrize("headers", [{}, signed(b"other body")], ids=["unsigned", "forged"])
def test_a_bad_signature_is_401_and_audited(
    harness: ChatOpsHarness, headers: dict[str, str]
) -> None:
    body = urlencode(slash_command("status", harness.slack_api.response_url())).encode()
    response = harness.client.post(ROUTE, content=body, headers=headers)
    assert response.status_code == 401
    actions = harness.audit_actions()
    assert "chat.callback_rejected" in actions
    assert "chat.command.status" not in actions  # not run
    assert harness.slack_api.responses() == []


def test_a_reboot_is_approved_only_with_the_node_name_typed(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    bare = answer(harness, f"approve {reboot.id}")
    assert bare["response_type"] == "ephemeral"
    assert f"type the node's name to approve it: approve {reboot.id} NODE" in bare["text"]
    wrong = answer(harness, f"approve {reboot.id} 10.0.10.203")
    assert wrong["response_type"] == "ephemeral"
    assert "'10.0.10.203' is not the node of this request: not approved." in wrong["text"]
    assert harness.approval("reboot_worker").state == "pending"
    assert harness.applies() == 0
    stranger = answer(harness, f"approve {reboot.id} 10.0.10.202", user="U0MALLORY")
    assert stranger["response_type"] == "ephemeral"
    assert "slack user U0MALLORY is not an approver" in stranger["text"]
    assert harness.approval("reboot_worker").state == "pending"

    approved = answer(harness, f"approve {reboot.id} 10.0.10.202")
    assert approved["response_type"] == "in_channel"  # the team sees who approved
    assert approved["text"].startswith("Approved by alice: reboot worker 10.0.10.202")
    done = harness.approval("reboot_worker")
    assert (done.state, done.decided_by, done.decided_via) == ("executed", "alice", "slack")
    assert harness.applies() == 1
    assert harness.audit_actions(f"approval:{reboot.id}").count("approval.approved") == 1
    commands = [e for e in harness.runtime.store.list_audit(50, "chat:slack:COPS")]
    assert {e.actor for e in commands} == {"slack:U0ALICE", "slack:U0MALLORY"}


def test_in_a_direct_conversation_the_answer_stays_private(harness: ChatOpsHarness) -> None:
    reboot = harness.approval_after(DISK)
    approved = answer(
        harness, f"approve {reboot.id} 10.0.10.202", channel="D0ALICE", channel_name="directmessage"
    )
    assert approved["response_type"] == "ephemeral"
    assert harness.approval("reboot_worker").state == "executed"


def test_without_slack_the_route_says_what_to_set(make_harness: Make, slack_api: SlackApi) -> None:
    harness = make_harness(slack=False, telegram=False)
    body = urlencode(slash_command("status", slack_api.response_url())).encode()
    response = harness.client.post(ROUTE, content=body, headers=signed(body))
    assert response.status_code == 404
    assert "ROBOT_SRE_SLACK_SIGNING_SECRET" in response.json()["error"]

"""Approve / Deny in the admin UI (through the approval answers, like the chat
buttons and the API) and the Channels page, over the example storm."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.accounts import csrf_of, login
from fixtures.slack_api import BOT_TOKEN, SIGNING_SECRET, SlackApi
from starlette.testclient import TestClient

from responder.app import create_app
from responder.chat_settings import ChannelSettings, SlackSettings
from responder.records.lifecycle import NOT_ACTING
from responder.settings import Settings

PASSWORD = "correct horse battery"


def _pending(client: TestClient, incident_type: str, action: str) -> list[dict[str, Any]]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    docs = [doc for _, doc in runtime.store.list_documents("approvals")]
    return [
        d
        for d in docs
        if d["state"] == "pending" and d["incident_type"] == incident_type and d["action"] == action
    ]


def _approval(client: TestClient, approval_id: str) -> dict[str, Any]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    found = runtime.store.get_document("approvals", approval_id)
    assert found is not None
    doc: dict[str, Any] = found[1]
    return doc


def test_an_approver_approves_and_denies_through_the_desk(fresh: TestClient) -> None:
    csrf = login(fresh, "abe", PASSWORD)
    listing = fresh.get("/admin/approvals").text
    runtime = fresh.app.state.runtime  # type: ignore[attr-defined]
    candidates = _pending(fresh, "node_disk_pressure", "delete_completed_pods")
    # the one to approve: on an incident the robot still acts on (one of the
    # storm's disk incidents may be recovering already: that answer is superseded)
    candidates.sort(key=lambda d: runtime.store.get_incident(d["incident_id"]).state in NOT_ACTING)
    first, second = candidates[:2]
    for element in ("Why now", "Expected impact", "Rollback / fallback", "Expires", "left"):
        assert element in listing
    assert f'action="/admin/approvals/{first["id"]}/approve"' in listing
    assert f'action="/admin/approvals/{first["id"]}/deny"' in listing

    back = f"/admin/incidents/{first['incident_id']}"
    incident_page = fresh.get(back).text
    assert f'action="/admin/approvals/{first["id"]}/approve"' in incident_page
    answered = fresh.post(
        f"/admin/approvals/{first['id']}/approve",
        data={"csrf_token": csrf, "back": back},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    assert answered.headers["location"] == f"{back}?answered={first['id']}&result=executed"
    after = fresh.get(answered.headers["location"]).text
    # carried out on the storm's emulated cluster, by the approver
    assert "approval_granted" in after and "approved by abe via in_app" in after
    executed = after.split('id="executed-actions"', 1)[1].split("</table>", 1)[0]
    assert "<td>delete_completed_pods</td>" in executed
    assert "<td>abe</td><td>succeeded</td><td>deleted 30 of 30 finished pods</td>" in executed
    assert _approval(fresh, first["id"])["decided_by"] == "abe"
    # single use: the same answer again is refused
    again = fresh.post(
        f"/admin/approvals/{first['id']}/approve",
        data={"csrf_token": csrf},
        follow_redirects=True,
    )
    assert "Somebody answered this request already." in again.text

    # deny needs a reason, and keeps it
    refused = fresh.post(
        f"/admin/approvals/{second['id']}/deny", data={"csrf_token": csrf, "note": " "}
    )
    assert refused.status_code == 400
    assert _approval(fresh, second["id"])["state"] == "pending"
    denied = fresh.post(
        f"/admin/approvals/{second['id']}/deny",
        data={"csrf_token": csrf, "note": "disk is being cleaned by hand"},
        follow_redirects=True,
    )
    assert "Denied: the robot will not ask again" in denied.text
    record = _approval(fresh, second["id"])
    assert (
        record["state"] == "denied" and record["decision_note"] == "disk is being cleaned by hand"
    )
    assert record["decided_via"] == "in_app"
    incident = fresh.get(f"/admin/incidents/{second['incident_id']}").text
    assert "approval_denied" in incident and "disk is being cleaned by hand" in incident


def test_no_answer_without_the_approver_role_or_the_csrf_token(fresh: TestClient) -> None:
    [target, *_] = _pending(fresh, "node_disk_pressure", "drain_node")
    for user in ("vera", "olga"):
        fresh.cookies.clear()
        csrf = login(fresh, user, PASSWORD)
        page = fresh.get("/admin/approvals").text
        assert "/approve" not in page and "/deny" not in page
        assert "Answering needs the approver role." in page
        incident = fresh.get(f"/admin/incidents/{target['incident_id']}").text
        assert "/approve" not in incident
        for verb in ("approve", "deny"):
            response = fresh.post(
                f"/admin/approvals/{target['id']}/{verb}",
                data={"csrf_token": csrf, "note": "no"},
            )
            assert response.status_code == 403 and "approver" in response.text
    fresh.cookies.clear()
    login(fresh, "abe", PASSWORD)
    forged = fresh.post(f"/admin/approvals/{target['id']}/approve", data={})
    assert forged.status_code == 403
    cross = fresh.post(
        f"/admin/approvals/{target['id']}/approve",
        data={"csrf_token": csrf_of(fresh.get("/admin/approvals").text)},
        headers={"Origin": "http://evil.example"},
    )
    assert cross.status_code == 403
    assert _approval(fresh, target["id"])["state"] == "pending"
    assert (
        fresh.post(
            "/admin/approvals/nope/approve",
            data={"csrf_token": csrf_of(fresh.get("/admin/approvals").text)},
        ).status_code
        == 404
    )


def test_the_api_still_takes_a_session_approver_with_its_csrf_header(fresh: TestClient) -> None:
    [target, *_] = _pending(fresh, "node_disk_pressure", "drain_node")
    csrf = login(fresh, "abe", PASSWORD)
    assert fresh.post(f"/api/v1/approvals/{target['id']}/deny").status_code == 401
    answered = fresh.post(
        f"/api/v1/approvals/{target['id']}/deny",
        headers={"X-CSRF-Token": csrf},
        json={"note": "not now"},
    )
    assert answered.status_code == 200 and answered.json()["result"] == "denied"
    page = fresh.get("/admin/approvals", params={"state": "denied"}).text
    assert "not now" in page and "by abe via in-app" in page


def test_the_channels_page_without_a_chat_channel(fresh: TestClient) -> None:
    csrf = login(fresh, "vera", PASSWORD)
    page = fresh.get("/admin/channels").text
    assert 'id="no-channel"' in page and "The in-app inbox is the channel" in page
    assert "Send test message" not in page
    assert fresh.post("/admin/channels/in_app/test", data={"csrf_token": csrf}).status_code == 403
    fresh.cookies.clear()
    csrf = login(fresh, "olga", PASSWORD)
    sent = fresh.post(
        "/admin/channels/in_app/test", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "Test message sent to the in-app inbox." in sent.text
    inbox = fresh.get("/api/v1/approvals").json()["notifications"]
    assert any(n["incident_id"] == "channel-test" for n in inbox)
    assert fresh.post("/admin/channels/in_app/test", data={}).status_code == 403
    assert fresh.post("/admin/channels/slack/test", data={"csrf_token": csrf}).status_code == 404


@pytest.fixture(scope="module")
def slack_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, SlackApi]]:
    api = SlackApi().start()
    db = tmp_path_factory.mktemp("channels") / "s.db"
    settings = Settings(
        store_url=f"sqlite:///{db}",
        admin_user="root",
        admin_password=PASSWORD,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        channels=ChannelSettings(
            slack=SlackSettings(channel="#ops", api_url=api.url, timeout_seconds=2),
            retry_attempts=1,
        ),
    )
    try:
        with TestClient(create_app(settings), base_url="http://127.0.0.1:8080") as client:
            yield client, api
    finally:
        api.stop()


def test_the_channels_page_shows_slack_and_sends_a_test_message(
    slack_site: tuple[TestClient, SlackApi],
) -> None:
    client, api = slack_site
    csrf = login(client, "root", PASSWORD)
    page = client.get("/admin/channels").text
    row = re.search(r'<tr id="channel-slack" data-state="up">(.*?)</tr>', page, re.S)
    assert row is not None and "#ops" in row.group(1) and "never" in row.group(1)
    sent = client.post(
        "/admin/channels/slack/test", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "Test message sent to slack." in sent.text
    assert any("test message" in c.text for c in api.posted())
    row = re.search(r'<tr id="channel-slack".*?</tr>', sent.text, re.S)
    assert row is not None and "sent: test" in row.group(0)

    api.down()
    failed = client.post(
        "/admin/channels/slack/test", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "The test message to slack failed" in failed.text
    cell = failed.text.split('id="channel-slack"', 1)[1].split('class="last-failed">', 1)[1]
    assert not cell.startswith("never")
    api.up()
    audit = client.get("/admin/audit", params={"subject": "channel:slack"}).text
    assert "channel.test" in audit and "channel.test_failed" in audit


class _ClosedWindows:
    """Guard rails whose action windows are all closed."""

    def outside_windows(self, action_class: str, at: object = None) -> bool:
        return action_class in ("recover", "disruptive")


def test_outside_the_action_windows_approving_needs_the_override(
    fresh: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = fresh.app.state.runtime  # type: ignore[attr-defined]
    monkeypatch.setattr(runtime.approval_answers, "guards", _ClosedWindows())
    [target, *_] = _pending(fresh, "node_disk_pressure", "cordon_node")
    csrf = login(fresh, "abe", PASSWORD)
    assert f'id="override-{target["id"]}"' in fresh.get("/admin/approvals").text
    url = f"/admin/approvals/{target['id']}/approve"
    held = fresh.post(url, data={"csrf_token": csrf}, follow_redirects=True)
    assert "Outside the action windows: the request stays pending" in held.text
    assert _approval(fresh, target["id"])["state"] == "pending"
    done = fresh.post(
        url, data={"csrf_token": csrf, "override_window": "on"}, follow_redirects=False
    )
    assert done.status_code == 303 and "result=outside_window" not in done.headers["location"]
    assert _approval(fresh, target["id"])["state"] != "pending"

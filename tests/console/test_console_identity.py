"""Linking a chat identity: a code from the admin Account page, sent as
``start CODE``, links once within ten minutes (a wrong, used or expired code
links nothing); the approvers setting's chat ids are approvers' identities;
the Account page makes the code."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fixtures.console import PASSWORD, STRANGER, ConsoleRig, chat_user

from responder.accounts.models import Role
from responder.console.identity import LINKS
from responder.store import Store


@pytest.fixture
def rig(store: Store) -> Iterator[ConsoleRig]:
    made = ConsoleRig(
        store,
        approvers=[
            {"name": "carol", "environments": ["staging"], "telegram_users": [4242]},
            {"name": "dave", "environments": ["production"], "slack_users": ["U77"]},
        ],
    )
    try:
        yield made
    finally:
        made.close()


def test_a_code_links_once_and_is_audited(rig: ConsoleRig) -> None:
    rig.runtime.accounts.users.create("frank", PASSWORD, Role.operator, "t", "t")
    code = rig.console.identities.issue_code("frank", "admin")
    linked = rig.run(STRANGER, f"start {code.lower()}")
    assert (
        linked.text == "Linked: you are frank (operator) to Robot SRE.\nSend help for the commands."
    )
    assert rig.console.identities.account_of(STRANGER).role == Role.operator  # type: ignore[union-attr]
    other = chat_user("31337", "mallory", "slack")
    again = rig.run(other, f"link {code}")
    assert again.text.startswith("Not linked: that code links nothing")
    assert rig.console.identities.account_of(other) is None
    entries = rig.store.list_audit(20, "user:frank")
    assert [e.action for e in entries][:2] == ["chat.link", "chat.link_code"]
    assert all(code not in e.detail for e in rig.store.list_audit(50))


def test_a_wrong_or_expired_code_links_nothing(rig: ConsoleRig) -> None:
    assert rig.run(STRANGER, "start ABCDEFGHJK").text.startswith("Not linked: that code")
    code = rig.console.identities.issue_code("viewer-person", "admin")
    rig.clock.advance(minutes=10)
    assert rig.run(STRANGER, f"start {code}").text.startswith("Not linked: that code")
    assert rig.run(STRANGER, "status").text.startswith("Sorry, I do not know you yet.")


def test_a_disabled_account_speaks_for_nobody(rig: ConsoleRig) -> None:
    rig.runtime.accounts.users.update("admin-person", "t", "t", disabled=True)
    reply = rig.as_role(Role.admin, "incidents")
    assert reply.text.startswith("Sorry, I do not know you yet.")


def test_approvers_chat_ids_are_their_linked_identities(rig: ConsoleRig) -> None:
    carol = chat_user("4242", "carol")
    dave = chat_user("U77", "dave", "slack")
    account = rig.console.identities.account_of(carol)
    assert account is not None
    assert (account.name, account.role, account.environments) == (
        "carol",
        Role.approver,
        frozenset({"staging"}),
    )
    assert rig.run(carol, "incidents").text == "No open incidents."
    assert rig.run(dave, "ack 0000").text == "No incident 0000."
    assert rig.run(chat_user("U77", "dave"), "incidents").text.startswith("Sorry, I do not know")


def test_the_account_page_makes_a_code_that_links(rig: ConsoleRig) -> None:
    client = rig.client
    session, cookie = rig.runtime.accounts.sessions.start("operator-person")
    client.cookies.set("rsre_session", cookie)
    page = client.get("/admin/account")
    assert page.status_code == 200
    assert "Link a chat identity" in page.text
    assert "telegram:1001" in page.text
    made = client.post("/admin/account/chat-link", data={"csrf_token": session.csrf})
    assert made.status_code == 201
    found = re.search(r'id="chat-link-code">([A-Z0-9]+)<', made.text)
    assert found is not None
    slack = chat_user("U9", "op", "slack")
    assert rig.run(slack, f"link {found.group(1)}").text.startswith(
        "Linked: you are operator-person (operator)"
    )
    assert rig.store.get_document(LINKS, "slack:U9") is not None


def test_a_linked_approver_account_answers_approval_buttons_a_viewer_does_not(
    rig: ConsoleRig,
) -> None:
    identities = rig.console.identities
    approver = rig.people[Role.approver]
    found = identities.by_chat_user("telegram", approver.user_id)
    assert found is not None and found.name == "approver-person"
    assert found.may_answer("production") and found.may_answer("demo")
    assert identities.by_chat_user("telegram", rig.people[Role.viewer].user_id) is None
    assert identities.by_chat_user("telegram", rig.people[Role.operator].user_id) is None
    assert identities.by_chat_user("telegram", STRANGER.user_id) is None

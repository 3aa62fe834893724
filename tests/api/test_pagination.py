"""Cursor pagination: a listing paged with ``next_cursor`` shows every item
once, however many are created at the top while it is read (offsets repeat
items then), on both stores; and API tokens that expire."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fixtures.demo_world import storm_world
from fixtures.incidents import make_incident
from fixtures.rigs import Responder, post_storm
from starlette.applications import Starlette
from starlette.testclient import TestClient

from responder.accounts.models import Role
from responder.accounts.tokens import parse_lifetime
from responder.accounts.users import AccountError
from responder.app import create_app
from responder.records.audit import AuditEntry
from responder.records.incident import Incident
from responder.settings import Settings
from responder.store import Store


def incident(n: int, second: int) -> Incident:
    # pairs share a second: the cursor must order ties by id
    moment = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=second)
    return make_incident(f"inc-{n:04d}", node=f"n{n}", created_at=moment)


@pytest.fixture
def client(store: Store) -> TestClient:
    return Responder(store).client


def pages(
    client: TestClient, path: str, key: str, between: Any, limit: int = 7
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": str(limit)}
    for turn in range(100):
        answer = client.get(path, params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen.extend(body[key])
        if body["next_cursor"] is None:
            return seen
        between(turn)
        params = {"limit": str(limit), "cursor": body["next_cursor"]}
    raise AssertionError("no end to the pages")


def test_incident_pages_show_each_incident_once_while_new_ones_arrive(
    client: TestClient, store: Store
) -> None:
    for n in range(30):
        store.save_incident(incident(n, n // 2))

    def newer(turn: int) -> None:  # three new incidents at the top before each page
        for k in range(3):
            store.save_incident(incident(100 + turn * 3 + k, 1000 + turn))

    seen = [i["id"] for i in pages(client, "/api/v1/incidents", "incidents", newer)]
    assert seen == [f"inc-{n:04d}" for n in reversed(range(30))]


def test_audit_pages_show_each_entry_once_while_new_ones_arrive(
    client: TestClient, store: Store
) -> None:
    for n in range(25):
        store.append_audit(AuditEntry(actor="t", surface="test", action=f"a{n}", subject="s:1"))

    def newer(turn: int) -> None:
        for _ in range(2):
            store.append_audit(AuditEntry(actor="t", surface="test", action="new", subject="s:1"))

    seen = [e["action"] for e in pages(client, "/api/v1/audit", "entries", newer)]
    assert [a for a in seen if a != "new"] == [f"a{n}" for n in reversed(range(25))]
    assert "new" not in seen  # all came after the first page was read
    by_subject = client.get("/api/v1/audit", params={"subject": "s:1", "limit": "5"}).json()
    rest = client.get(
        "/api/v1/audit",
        params={"subject": "s:1", "limit": "100", "cursor": by_subject["next_cursor"]},
    ).json()
    ids = [e["id"] for e in by_subject["entries"] + rest["entries"]]
    assert len(ids) == len(set(ids)) == 25 + 2 * 3


def test_a_cursor_the_api_did_not_give_is_refused(client: TestClient) -> None:
    for path in ("/api/v1/incidents", "/api/v1/audit", "/api/v1/approvals"):
        answer = client.get(path, params={"cursor": "not-a-cursor"})
        assert answer.status_code == 400 and answer.json()["field"] == "cursor", path


def test_approval_pages_show_each_request_once(tmp_path: Path) -> None:
    with storm_world(tmp_path) as world:
        settings = Settings(
            store_url=f"sqlite:///{tmp_path}/s.db",
            ladder_holds_asks=False,
            kubeconfig=str(world.kubeconfig),
            dry_run=False,
        )
        paged, everything = approval_pages(create_app(settings))
    assert len(everything) > 3  # more than one page
    assert [a["id"] for a in paged] == [a["id"] for a in everything]


def approval_pages(app: Starlette) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The storm's approval requests read page by page, and all at once."""
    with TestClient(app) as client:
        post_storm(client)
        everything = client.get("/api/v1/approvals", params={"limit": "500"}).json()["approvals"]
        paged = pages(client, "/api/v1/approvals", "approvals", lambda turn: None, limit=3)
    return paged, list(everything)


# tokens that expire


def test_lifetimes_are_read_and_bad_ones_named() -> None:
    assert parse_lifetime("90d") == timedelta(days=90)
    assert parse_lifetime("12h") == timedelta(hours=12)
    assert parse_lifetime("never") is None
    for bad in ("0d", "90", "soon", "-1d"):
        with pytest.raises(AccountError) as refused:
            parse_lifetime(bad)
        assert refused.value.field == "expires_in"


def test_an_expired_token_is_refused_and_shown_as_expired(tmp_path: Path) -> None:
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/s.db", admin_user="root", admin_password="x" * 12
    )
    app = create_app(settings)
    with TestClient(app) as client:
        tokens = app.state.runtime.accounts.tokens
        # long enough for the first request on a loaded machine
        lifetime = 3.0
        created = time.monotonic()
        _, short = tokens.create("short", Role.admin, (), "t", "t", timedelta(seconds=lifetime))
        _, forever = tokens.create("forever", Role.admin, (), "t", "t", None)
        assert (
            client.get("/api/v1/rules", headers={"Authorization": f"Bearer {short}"}).status_code
            == 200
        )
        time.sleep(max(0.0, created + lifetime + 0.1 - time.monotonic()))
        assert (
            client.get("/api/v1/rules", headers={"Authorization": f"Bearer {short}"}).status_code
            == 401
        )
        page = client.get("/admin/tokens", headers={"Authorization": f"Bearer {forever}"})
        assert page.status_code == 200
        assert "expired" in page.text and "never" in page.text

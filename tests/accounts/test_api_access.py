"""One access model for /api/v1: open while no account exists (``api_auth:
auto``), then bearer tokens, trusted proxy headers or a session with its
CSRF header; reads need viewer, rule changes operator."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.accounts import login
from fixtures.explain import explain_request
from starlette.testclient import TestClient

from responder.accounts.models import Role
from responder.app import create_app
from responder.settings import Settings

PASSWORD = "correct horse battery"
CLONE = "/api/v1/rules/builtin.node_disk_pressure/clone"


def _client(tmp_path: Path, **settings: Any) -> TestClient:
    app = create_app(Settings(store_url=f"sqlite:///{tmp_path}/s.db", **settings))
    return TestClient(app, base_url="http://127.0.0.1:8080", client=("127.0.0.1", 50000))


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[TestClient]:
    with _client(tmp_path, admin_user="root", admin_password=PASSWORD) as client:
        yield client


def _token(client: TestClient, role: Role, scopes: tuple[str, ...] = ()) -> dict[str, str]:
    accounts = client.app.state.runtime.accounts  # type: ignore[attr-defined]
    _, text = accounts.tokens.create(f"{role}-token", role, scopes, "test", "test")
    return {"Authorization": f"Bearer {text}"}


def test_the_api_stays_open_while_no_account_exists(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        assert client.get("/api/v1/rules").status_code == 200
        assert client.post(CLONE).status_code == 201


def test_once_an_admin_exists_the_api_wants_a_credential(secured: TestClient) -> None:
    response = secured.get("/api/v1/rules")
    assert response.status_code == 401
    assert "robot-sre token create" in response.json()["error"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert (
        secured.get("/api/v1/rules", headers={"Authorization": "Bearer rsre_x_y"}).status_code
        == 401
    )
    # the operations endpoints and the webhook are not behind it
    assert secured.get("/healthz").status_code == 200


def test_reads_need_viewer_and_rule_changes_need_operator(secured: TestClient) -> None:
    viewer = _token(secured, Role.viewer)
    assert secured.get("/api/v1/rules", headers=viewer).status_code == 200
    assert secured.get("/api/v1/incidents", headers=viewer).status_code == 200
    refused = secured.post(CLONE, headers=viewer)
    assert refused.status_code == 403
    assert "operator" in refused.json()["error"]
    operator = _token(secured, Role.operator)
    cloned = secured.post(CLONE, headers=operator)
    assert cloned.status_code == 201
    rule_id = cloned.json()["id"]
    body = {**cloned.json(), "threshold_expression": "incident.firing_alerts >= 2"}
    assert secured.put(f"/api/v1/rules/{rule_id}", json=body, headers=viewer).status_code == 403
    assert secured.put(f"/api/v1/rules/{rule_id}", json=body, headers=operator).status_code == 200
    assert secured.delete(f"/api/v1/rules/{rule_id}", headers=viewer).status_code == 403
    # the audit log names the token, not a header anybody can send
    entries = secured.get(
        "/api/v1/audit", params={"subject": f"rule:{rule_id}"}, headers=viewer
    ).json()["entries"]
    assert {e["actor"] for e in entries} == {"token/operator-token"}


def test_explain_is_a_read(secured: TestClient) -> None:
    body = explain_request(action="collect_evidence", target=None)
    response = secured.post(
        "/api/v1/policy/explain", json=body, headers=_token(secured, Role.viewer)
    )
    assert response.status_code == 200


def test_a_scoped_token_reaches_only_its_scopes(secured: TestClient) -> None:
    incidents_only = _token(secured, Role.admin, ("incidents",))
    assert secured.get("/api/v1/incidents", headers=incidents_only).status_code == 200
    refused = secured.get("/api/v1/rules", headers=incidents_only)
    assert refused.status_code == 403
    assert "incidents" in refused.json()["error"]


def test_an_automation_token_may_pause_and_nothing_else(secured: TestClient) -> None:
    # e.g. a deploy pipeline that pauses the robot during a cluster upgrade
    deployer = _token(secured, Role.operator, ("automation",))
    paused = secured.post(
        "/api/v1/automation/pause",
        json={"reason": "cluster upgrade", "duration_seconds": 600},
        headers=deployer,
    )
    assert paused.status_code == 201, paused.text
    listed = secured.get("/api/v1/automation/pause", headers=deployer).json()
    assert [p["id"] for p in listed["pauses"]] == [paused.json()["id"]]
    assert secured.get("/api/v1/incidents", headers=deployer).status_code == 403
    assert secured.post(CLONE, headers=deployer).status_code == 403


def test_api_auth_off_keeps_the_api_open_with_accounts(tmp_path: Path) -> None:
    with _client(tmp_path, admin_user="root", admin_password=PASSWORD, api_auth="off") as client:
        assert client.post(CLONE).status_code == 201


def test_api_auth_on_refuses_even_before_any_account(tmp_path: Path) -> None:
    with _client(tmp_path, api_auth="on") as client:
        assert client.get("/api/v1/rules").status_code == 401


def test_proxy_headers_count_only_from_trusted_addresses(tmp_path: Path) -> None:
    proxied = {"X-Auth-Request-User": "carol", "X-Auth-Request-Groups": "sre,ops-readers"}
    settings: dict[str, Any] = {
        "admin_user": "root",
        "admin_password": PASSWORD,
        "proxy_group_roles": {"ops-readers": "viewer", "sre": "operator"},
    }
    with _client(tmp_path / "a", trusted_proxies=["10.9.0.0/16"], **settings) as untrusted:
        assert untrusted.get("/api/v1/rules", headers=proxied).status_code == 401
    with _client(tmp_path / "b", trusted_proxies=["127.0.0.1"], **settings) as trusted:
        assert trusted.get("/api/v1/rules", headers=proxied).status_code == 200
        # the proxy authenticates a browser by its cookie: writes need the
        # CSRF token its pages carry, as a session's do
        assert trusted.post(CLONE, headers=proxied).status_code == 403
        page = trusted.get("/admin/rules", headers=proxied).text
        found = re.search(r'"X-CSRF-Token": "([^"]+)"', html.unescape(page))
        assert found is not None
        cloned = trusted.post(CLONE, headers={**proxied, "X-CSRF-Token": found.group(1)})
        assert cloned.status_code == 201
        assert cloned.json()["owner"] == "carol"
        no_role = {"X-Auth-Request-User": "mallory", "X-Auth-Request-Groups": "guests"}
        assert trusted.get("/api/v1/rules", headers=no_role).status_code == 401


def test_a_browser_session_writes_to_the_api_only_with_its_csrf_header(
    secured: TestClient,
) -> None:
    csrf = login(secured, "root", PASSWORD)
    assert secured.get("/api/v1/rules").status_code == 200
    assert secured.post(CLONE).status_code == 403
    assert secured.post(CLONE, headers={"X-CSRF-Token": csrf}).status_code == 201
    forged = secured.post(CLONE, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert forged.status_code == 403

"""Every route of the app by every kind of caller: who gets in and who is
refused. The routes come from the app's route table, so a route added
without a line in ``EXPECTED`` fails here until someone says who may use it.

"Refused" is 401 or 403 (or, for an admin page, the way to the login page);
"let in" is anything else: the handler ran, even if it found nothing for
the placeholder ids (404) or an empty body wanting (400).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from responder.accounts.models import SCOPES, Role
from responder.accounts.sessions import COOKIE
from responder.app import create_app
from responder.settings import Settings

PASSWORD = "correct horse battery"
RULE = "builtin.node_disk_pressure"


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role | None = None  # None: nobody (no credential, or a dead one)
    via: str = "none"  # none, session, token, proxy
    scopes: tuple[str, ...] = ()
    revoked: bool = False


CALLERS = (
    Caller("nobody"),
    Caller("revoked admin token", Role.admin, "token", revoked=True),
    *(Caller(f"{role} session", role, "session") for role in Role),
    *(Caller(f"{role} token", role, "token") for role in Role),
    *(Caller(f"admin token scoped {s}", Role.admin, "token", (s,)) for s in SCOPES),
    Caller("viewer token scoped incidents+audit", Role.viewer, "token", ("incidents", "audit")),
    Caller("operator behind the proxy", Role.operator, "proxy"),
)

# Who may use each route: ("open",) for everyone; ("api"|"admin", role, area)
# for a role and the scope a token must name (area "accounts": users and
# tokens, an unscoped caller only; None: any scope); ("mcp",) for a token
# naming the mcp scope; ("own",) for a route with a check of its own that no
# session or token passes: a chat callback's signature (404 here: no chat is
# set up), the login form's cookie.
OPEN = ("open",)
EXPECTED: dict[tuple[str, str], tuple[object, ...]] = {
    ("POST", "/webhooks/alertmanager"): OPEN,  # its own token, when set
    ("POST", "/webhooks/slack/interactions"): ("own",),
    ("POST", "/webhooks/slack/commands"): ("own",),
    ("POST", "/webhooks/telegram"): ("own",),
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
    ("GET", "/metrics"): OPEN,
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/runbooks/{name}"): OPEN,
    ("GET", "/api/v1/incidents"): ("api", Role.viewer, "incidents"),
    ("GET", "/api/v1/incidents/{incident_id}"): ("api", Role.viewer, "incidents"),
    ("POST", "/api/v1/incidents/{incident_id}/mark"): ("api", Role.operator, "incidents"),
    ("GET", "/api/v1/taxonomy"): ("api", Role.viewer, "taxonomy"),
    ("POST", "/api/v1/policy/explain"): ("api", Role.viewer, "policy"),
    ("GET", "/api/v1/rules"): ("api", Role.viewer, "rules"),
    ("POST", "/api/v1/rules"): ("api", Role.operator, "rules"),
    ("GET", "/api/v1/rules/{rule_id}"): ("api", Role.viewer, "rules"),
    ("PUT", "/api/v1/rules/{rule_id}"): ("api", Role.operator, "rules"),
    ("DELETE", "/api/v1/rules/{rule_id}"): ("api", Role.operator, "rules"),
    ("GET", "/api/v1/rules/{rule_id}/history"): ("api", Role.viewer, "rules"),
    ("POST", "/api/v1/rules/{rule_id}/clone"): ("api", Role.operator, "rules"),
    ("GET", "/api/v1/audit"): ("api", Role.viewer, "audit"),
    ("GET", "/api/v1/automation/pause"): ("api", Role.viewer, "automation"),
    ("POST", "/api/v1/automation/pause"): ("api", Role.operator, "automation"),
    ("DELETE", "/api/v1/automation/pause/{pause_id}"): ("api", Role.operator, "automation"),
    ("GET", "/api/v1/automation/modes"): ("api", Role.viewer, "automation"),
    ("PUT", "/api/v1/automation/modes"): ("api", Role.operator, "automation"),
    ("GET", "/api/v1/automation/readiness"): ("api", Role.viewer, "automation"),
    ("GET", "/api/v1/approvals"): ("api", Role.viewer, "approvals"),
    ("POST", "/api/v1/approvals/{approval_id}/approve"): ("api", Role.approver, "approvals"),
    ("POST", "/api/v1/approvals/{approval_id}/deny"): ("api", Role.approver, "approvals"),
    ("GET", "/mcp"): ("mcp",),
    ("POST", "/mcp"): ("mcp",),
    ("DELETE", "/mcp"): ("mcp",),
    ("GET", "/admin/"): OPEN,  # a redirect to the rules page
    ("GET", "/admin/static/{name}"): OPEN,
    ("GET", "/admin/login"): OPEN,
    ("POST", "/admin/login"): ("own",),
    ("POST", "/admin/logout"): ("admin", Role.viewer, None),
    ("GET", "/admin/account"): ("admin", Role.viewer, None),
    ("POST", "/admin/account/chat-link"): ("admin", Role.viewer, None),
    ("GET", "/admin/rules"): ("admin", Role.viewer, "rules"),
    ("GET", "/admin/rules/{rule_id}"): ("admin", Role.viewer, "rules"),
    ("POST", "/admin/rules/{rule_id}"): ("admin", Role.operator, "rules"),
    ("POST", "/admin/rules/{rule_id}/preview"): ("admin", Role.operator, "rules"),
    ("POST", "/admin/rules/{rule_id}/backtest"): ("admin", Role.operator, "rules"),
    ("POST", "/admin/rules/{rule_id}/clone"): ("admin", Role.operator, "rules"),
    ("POST", "/admin/rules/{rule_id}/environments"): ("admin", Role.operator, "rules"),
    ("GET", "/admin/rules/{rule_id}/history"): ("admin", Role.viewer, "rules"),
    ("POST", "/admin/rules/{rule_id}/revert"): ("admin", Role.operator, "rules"),
    ("GET", "/admin/incidents"): ("admin", Role.viewer, "incidents"),
    ("GET", "/admin/incidents/{incident_id}"): ("admin", Role.viewer, "incidents"),
    ("POST", "/admin/incidents/{incident_id}/mark"): ("admin", Role.operator, "incidents"),
    ("GET", "/admin/approvals"): ("admin", Role.viewer, "approvals"),
    ("POST", "/admin/approvals/{approval_id}/approve"): ("admin", Role.approver, "approvals"),
    ("POST", "/admin/approvals/{approval_id}/deny"): ("admin", Role.approver, "approvals"),
    ("GET", "/admin/automation"): ("admin", Role.viewer, "automation"),
    ("POST", "/admin/automation/pause"): ("admin", Role.operator, "automation"),
    ("POST", "/admin/automation/pause/{pause_id}/resume"): ("admin", Role.operator, "automation"),
    ("POST", "/admin/automation/modes"): ("admin", Role.operator, "automation"),
    ("POST", "/admin/automation/promote"): ("admin", Role.operator, "automation"),
    ("GET", "/admin/channels"): ("admin", Role.viewer, "automation"),
    ("POST", "/admin/channels/{channel}/test"): ("admin", Role.operator, "automation"),
    ("GET", "/admin/policy"): ("admin", Role.viewer, "policy"),
    ("GET", "/admin/audit"): ("admin", Role.viewer, "audit"),
    ("GET", "/admin/audit/export.csv"): ("admin", Role.viewer, "audit"),
    ("GET", "/admin/audit/export.json"): ("admin", Role.viewer, "audit"),
    ("GET", "/admin/users"): ("admin", Role.admin, "accounts"),
    ("POST", "/admin/users"): ("admin", Role.admin, "accounts"),
    ("POST", "/admin/users/{username}"): ("admin", Role.admin, "accounts"),
    ("GET", "/admin/tokens"): ("admin", Role.admin, "accounts"),
    ("POST", "/admin/tokens"): ("admin", Role.admin, "accounts"),
    ("POST", "/admin/tokens/{token_id}/revoke"): ("admin", Role.admin, "accounts"),
}


def app_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path template) of every route, the admin UI's included."""
    found = []

    def walk(routes: list[object], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(list(route.routes), prefix + route.path)
            elif isinstance(route, Route):
                for method in sorted((route.methods or set()) - {"HEAD"}):
                    found.append((method, prefix + route.path))

    walk(list(client.app.routes), "")  # type: ignore[attr-defined]
    return found


def let_in(caller: Caller, rule: tuple[object, ...]) -> bool:
    kind = rule[0]
    if kind == "open":
        return True
    if kind == "own" or caller.role is None or caller.revoked:
        return False
    if kind == "mcp":
        return caller.via == "token" and "mcp" in caller.scopes
    role, area = rule[1], rule[2]
    assert isinstance(role, Role)
    if not caller.role.includes(role):
        return False
    if area == "accounts":
        return not caller.scopes
    return area is None or not caller.scopes or area in caller.scopes


def concrete(path: str) -> str:
    path = path.replace("{rule_id}", RULE).replace("{name}", "app.css")
    return re.sub(r"\{\w+\}", "no-such-thing", path)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("matrix") / "s.db"
    settings = Settings(
        store_url=f"sqlite:///{db}",
        admin_user="root",
        admin_password=PASSWORD,
        trusted_proxies=["127.0.0.1"],
        proxy_group_roles={"sre": "operator"},
    )
    app = create_app(settings)
    with TestClient(app, base_url="http://127.0.0.1:8080", client=("127.0.0.1", 50000)) as client:
        accounts = app.state.runtime.accounts
        accounts.prepare()
        for role in Role:
            if role != Role.admin:
                accounts.users.create(f"user-{role}", PASSWORD, role, "test", "test")
        yield client


def credentials(site: TestClient, caller: Caller) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and cookies that present ``caller``; a session is new each time
    (a logout in the matrix ends only its own)."""
    accounts = site.app.state.runtime.accounts  # type: ignore[attr-defined]
    if caller.role is None:
        return {}, {}
    if caller.via == "token":
        token, text = accounts.tokens.create(caller.name, caller.role, caller.scopes, "t", "t")
        if caller.revoked:
            accounts.tokens.revoke(token.id, "t", "t")
        return {"Authorization": f"Bearer {text}"}, {}
    if caller.via == "proxy":
        headers = {"X-Auth-Request-User": "pat", "X-Auth-Request-Groups": "sre"}
        principal = accounts.authenticate(_Headers(headers))
        return {**headers, "X-CSRF-Token": principal.csrf}, {}
    username = "root" if caller.role == Role.admin else f"user-{caller.role}"
    session, cookie = accounts.sessions.start(username)
    return {"X-CSRF-Token": session.csrf}, {COOKIE: cookie}


class _Headers:
    """Just enough of a request for ``Accounts.authenticate``."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.cookies: dict[str, str] = {}
        self.client = type("Client", (), {"host": "127.0.0.1"})()


def refused(status: int, location: str, rule: tuple[object, ...]) -> bool:
    if rule == ("own",) and status == 404:
        return True
    return status in (401, 403) or (status == 303 and location.startswith("/admin/login?"))


def test_every_route_is_in_the_matrix(site: TestClient) -> None:
    routes = set(app_routes(site))
    assert routes - EXPECTED.keys() == set(), "routes nobody has said who may use"
    assert EXPECTED.keys() - routes == set(), "routes the app no longer has"


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.name)
def test_every_route_lets_in_exactly_whom_it_should(site: TestClient, caller: Caller) -> None:
    wrong = []
    for method, template in app_routes(site):
        rule = EXPECTED[(method, template)]
        headers, cookies = credentials(site, caller)
        if template == "/mcp":
            headers["Accept"] = "application/json"  # not the event stream GET would open
        site.cookies.clear()
        for name, value in cookies.items():
            site.cookies.set(name, value)
        response = site.request(method, concrete(template), headers=headers, follow_redirects=False)
        got_in = not refused(response.status_code, response.headers.get("location", ""), rule)
        if got_in != let_in(caller, rule):
            wrong.append(f"{method} {template}: {response.status_code}")
        assert response.status_code < 500, f"{method} {template}: {response.text[:300]}"
    site.cookies.clear()
    assert wrong == [], f"{caller.name}: let in or refused wrongly: {wrong}"


def test_a_scoped_admin_token_mints_no_token_and_makes_no_admin(site: TestClient) -> None:
    accounts = site.app.state.runtime.accounts  # type: ignore[attr-defined]
    narrow = Caller("narrow", Role.admin, "token", ("mcp",))
    headers, _ = credentials(site, narrow)
    tokens_before = len(accounts.tokens.all())
    minted = site.post("/admin/tokens", headers=headers, data={"name": "wide", "role": "admin"})
    made = site.post(
        "/admin/users",
        headers=headers,
        data={"username": "mallory", "password": PASSWORD, "role": "admin"},
    )
    demoted = site.post("/admin/users/root", headers=headers, data={"role": "viewer"})
    assert (minted.status_code, made.status_code, demoted.status_code) == (403, 403, 403)
    assert "unscoped admin" in minted.text
    assert len(accounts.tokens.all()) == tokens_before
    assert accounts.users.get("mallory") is None
    assert accounts.users.get("root").role == Role.admin

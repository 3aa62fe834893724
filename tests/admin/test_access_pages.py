"""Logging in, sessions, CSRF, roles and the security headers of the admin UI."""

from __future__ import annotations

import re
from pathlib import Path

from fixtures.accounts import csrf_of, login
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from responder.app import create_app
from responder.settings import Settings

PASSWORD = "correct horse battery"
READ_PAGES = (
    "/admin/rules",
    "/admin/rules/builtin.node_disk_pressure",
    "/admin/rules/builtin.node_disk_pressure/history",
    "/admin/incidents",
    "/admin/approvals",
    "/admin/policy",
    "/admin/audit",
)
ADMIN_PAGES = ("/admin/users", "/admin/tokens")


def _admin_post_routes(client: TestClient) -> list[str]:
    mount = next(r for r in client.app.routes if isinstance(r, Mount) and r.path == "/admin")  # type: ignore[attr-defined]
    paths = []
    for route in mount.routes:
        if isinstance(route, Route) and route.methods and "POST" in route.methods:
            path = re.sub(r"\{rule_id\}", "builtin.node_disk_pressure", route.path)
            path = re.sub(r"\{\w+\}", "x", path)
            paths.append("/admin" + path)
    return paths


def test_every_page_sends_a_stranger_to_the_login_page(fresh: TestClient) -> None:
    for path in (*READ_PAGES, *ADMIN_PAGES):
        response = fresh.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/admin/login?next=")


def test_login_sets_a_signed_httponly_samesite_session_cookie(fresh: TestClient) -> None:
    page = fresh.get("/admin/login")
    assert 'name="username"' in page.text and 'name="password"' in page.text
    response = fresh.post(
        "/admin/login",
        data={"username": "vera", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("rsre_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    session_id, signature = value.rsplit(".", 1)
    assert len(signature) == 64
    # a forged signature is no session
    fresh.cookies.clear()
    fresh.cookies.set("rsre_session", f"{session_id}.{'0' * 64}")
    assert fresh.get("/admin/rules", follow_redirects=False).status_code == 303


def test_a_wrong_password_is_refused_and_repeated_failures_are_slowed_down(
    site: TestClient,
) -> None:
    # its own address: the throttle counts per client address too
    fresh = TestClient(site.app, base_url="http://127.0.0.1:8080", client=("10.1.2.3", 5000))
    for attempt in range(6):
        page = fresh.get("/admin/login")
        response = fresh.post(
            "/admin/login",
            data={"username": "nobody-here", "password": "wrong", "csrf_token": csrf_of(page.text)},
        )
        if attempt < 5:
            assert response.status_code == 401
            assert "Wrong user name or password" in response.text
    assert response.status_code == 429
    assert "Too many failed logins" in response.text
    assert int(response.headers["retry-after"]) >= 1


def test_the_admin_logs_in_while_an_attacker_hammers_the_same_name_elsewhere(
    site: TestClient,
) -> None:
    attacker = TestClient(site.app, base_url="http://127.0.0.1:8080", client=("10.6.6.6", 4444))
    statuses = []
    for _ in range(40):
        page = attacker.get("/admin/login")
        response = attacker.post(
            "/admin/login",
            data={"username": "root", "password": "guess", "csrf_token": csrf_of(page.text)},
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429
    admin = TestClient(site.app, base_url="http://127.0.0.1:8080", client=("192.0.2.10", 5555))
    login(admin, "root", PASSWORD)  # 303 and a session, or it raises
    assert admin.get("/admin/users", follow_redirects=False).status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_is_throttled(tmp_path: Path) -> None:
    app = create_app(
        Settings(
            store_url=f"sqlite:///{tmp_path}/s.db",
            admin_user="root",
            admin_password=PASSWORD,
            trusted_proxies=["10.0.0.0/8"],
        )
    )
    ingress = TestClient(app, base_url="http://127.0.0.1:8080", client=("10.0.0.5", 443))

    def attempt(forwarded_for: str, password: str) -> int:
        page = ingress.get("/admin/login")
        return ingress.post(
            "/admin/login",
            headers={"X-Forwarded-For": forwarded_for},
            data={"username": "root", "password": password, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        ).status_code

    with ingress:
        assert [attempt("203.0.113.9", "guess") for _ in range(7)][-1] == 429
        assert attempt("198.51.100.7", PASSWORD) == 303


def test_the_login_form_refuses_a_post_without_its_token(fresh: TestClient) -> None:
    response = fresh.post("/admin/login", data={"username": "root", "password": PASSWORD})
    assert response.status_code == 403


def test_logout_ends_the_session_on_the_server(fresh: TestClient) -> None:
    csrf = login(fresh, "vera", PASSWORD)
    stolen = fresh.cookies.get("rsre_session")
    assert fresh.post("/admin/logout", data={"csrf_token": csrf}).status_code == 200
    fresh.cookies.clear()
    fresh.cookies.set("rsre_session", stolen or "")
    assert fresh.get("/admin/rules", follow_redirects=False).status_code == 303


def test_every_page_renders_with_a_strict_csp_and_no_inline_script_or_style(
    fresh: TestClient,
) -> None:
    login(fresh, "root", PASSWORD)
    incident = fresh.get("/api/v1/incidents").json()["incidents"][0]["id"]
    for path in (*READ_PAGES, *ADMIN_PAGES, f"/admin/incidents/{incident}"):
        response = fresh.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        html = response.text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html and " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_static_files_are_served_under_their_content_hash(fresh: TestClient) -> None:
    login(fresh, "vera", PASSWORD)
    html = fresh.get("/admin/rules").text
    css = re.search(r'href="(/admin/static/admin\.[0-9a-f]{12}\.css)"', html)
    js = re.search(r'src="(/admin/static/htmx-2\.0\.11\.min\.[0-9a-f]{12}\.js)"', html)
    assert css and js
    response = fresh.get(css.group(1))
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert fresh.get(js.group(1)).headers["content-type"].startswith("text/javascript")
    assert fresh.get("/admin/static/admin.css").status_code == 404
    assert fresh.get("/admin/static/admin.000000000000.css").status_code == 404


def test_a_viewer_sees_no_edit_controls(fresh: TestClient) -> None:
    login(fresh, "vera", PASSWORD)
    listing = fresh.get("/admin/rules").text
    assert "/clone" not in listing and "/environments" not in listing
    detail = fresh.get("/admin/rules/builtin.node_disk_pressure").text
    assert 'id="rule-form"' not in detail and "/clone" not in detail
    assert fresh.get("/admin/users").status_code == 403
    assert "Users" not in re.sub(r"<main.*", "", detail, flags=re.S)


def test_a_viewer_posting_directly_gets_403(fresh: TestClient) -> None:
    csrf = login(fresh, "vera", PASSWORD)
    response = fresh.post(
        "/admin/rules/builtin.node_disk_pressure/clone", data={"csrf_token": csrf}
    )
    assert response.status_code == 403
    assert "operator" in response.text


def test_every_state_changing_route_refuses_a_request_without_the_csrf_token(
    fresh: TestClient,
) -> None:
    login(fresh, "root", PASSWORD)
    paths = _admin_post_routes(fresh)
    assert len(paths) >= 12
    for path in paths:
        response = fresh.post(path, data={"version": "1"})
        assert response.status_code == 403, path
    wrong = fresh.post(
        "/admin/rules/builtin.node_disk_pressure/clone", data={"csrf_token": "forged"}
    )
    assert wrong.status_code == 403


def test_a_cross_site_post_is_refused_even_with_a_token(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = fresh.post(
            "/admin/rules/builtin.node_disk_pressure/clone",
            data={"csrf_token": csrf},
            headers=headers,
        )
        assert response.status_code == 403
        assert "Cross-site" in response.text


def test_admins_make_users_and_tokens_shown_once(fresh: TestClient) -> None:
    csrf = login(fresh, "root", PASSWORD)
    made = fresh.post(
        "/admin/users",
        data={"csrf_token": csrf, "username": "newbie", "role": "approver", "password": PASSWORD},
    )
    assert made.status_code == 200 and "newbie" in made.text
    short = fresh.post(
        "/admin/users",
        data={"csrf_token": csrf, "username": "shorty", "role": "viewer", "password": "x"},
    )
    assert short.status_code == 400 and "at least 12 characters" in short.text
    created = fresh.post(
        "/admin/tokens", data={"csrf_token": csrf, "name": "grafana", "role": "viewer"}
    )
    assert created.status_code == 201
    token = re.search(r'id="new-token">([^<]+)<', created.text)
    assert token is not None
    assert (
        fresh.get(
            "/api/v1/rules", headers={"Authorization": f"Bearer {token.group(1)}"}
        ).status_code
        == 200
    )
    assert token.group(1) not in fresh.get("/admin/tokens").text

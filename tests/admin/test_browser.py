"""The admin UI in a real browser: Debian's chromium driven by Playwright
against a ``robot-sre serve`` process fed the example storm.

Covers the operator's path (log in, clone a built-in rule, change its
threshold, watch preview and backtest change, save, see the new version and
its audit entry, revert), switching a rule off in production only, a
viewer's view and a viewer's direct POST, a cross-site form post, and axe-core
on every page (no serious or critical violation), with a screenshot of each
page in a temporary directory (``ROBOT_SRE_SCREENSHOTS`` names another)."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from fixtures.demo_world import storm_world
from fixtures.kube import KubeCluster
from fixtures.processes import Responder, free_port
from fixtures.rigs import STORM
from fixtures.slack_api import BOT_TOKEN, SIGNING_SECRET, SlackApi
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN, PASSWORD = "root", "correct horse battery"
VIEWER = "vera"
BUILTIN = "builtin.node_disk_pressure"


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackApi]:
    api = SlackApi().start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    with storm_world(tmp_path_factory.mktemp("world")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def responder(
    tmp_path_factory: pytest.TempPathFactory, slack: SlackApi, world: KubeCluster
) -> Iterator[tuple[Responder, str]]:
    """A responder with an admin and Slack (the local stub), acting on the
    storm's emulated cluster, fed the storm; yields it and an admin API token."""
    tmp = tmp_path_factory.mktemp("browser")
    config = tmp / "robot-sre.yaml"
    config.write_text(
        f"channels:\n  slack:\n    channel: '#ops'\n    api_url: '{slack.url}'\n"
        "    timeout_seconds: 2\n  retry_attempts: 1\n"
        # about answering approvals in the browser, not about when the ladder raises them
        "ladder_holds_asks: false\n"
    )
    env = {
        "ROBOT_SRE_STORE_URL": f"sqlite:///{tmp}/robot-sre.db",
        "ROBOT_SRE_ADMIN_USER": ADMIN,
        "ROBOT_SRE_ADMIN_PASSWORD": PASSWORD,
        "ROBOT_SRE_ENVIRONMENT": "demo",
        "ROBOT_SRE_WEBHOOK_TOKEN": "",
        "ROBOT_SRE_CONFIG": str(config),
        "ROBOT_SRE_SLACK_BOT_TOKEN": BOT_TOKEN,
        "ROBOT_SRE_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "ROBOT_SRE_KUBECONFIG": str(world.kubeconfig),
        "ROBOT_SRE_DRY_RUN": "false",
    }
    process = Responder(env, tmp).start()
    try:
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "responder.cli",
                "token",
                "create",
                "--name",
                "e2e",
                "--role",
                "admin",
            ],
            env={**os.environ, **env},
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        )
        token = made.stdout.strip().splitlines()[-1]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=process.url, timeout=10) as client:
            for path in STORM:
                assert (
                    client.post("/webhooks/alertmanager", content=path.read_bytes()).status_code
                    == 200
                )
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                found = client.get("/api/v1/incidents", headers=headers).json()["count"]
                depth = re.search(r"^ops_queue_depth (\S+)", client.get("/metrics").text, re.M)
                if found >= 3 and depth and float(depth.group(1)) == 0:
                    break
                time.sleep(0.1)
        yield process, token
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("ROBOT_SRE_SCREENSHOTS")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _login(browser: Browser, url: str, username: str) -> Page:
    page = browser.new_page(base_url=url, viewport={"width": 1400, "height": 1000})
    page.goto("/admin/rules")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/rules$"))
    return page


def _figure(page: Page, name: str) -> int:
    return int(page.inner_text(f"#bt-{name}"))


def test_an_operator_clones_tunes_previews_backtests_saves_and_reverts(
    responder: tuple[Responder, str], browser: Browser, shots: Path
) -> None:
    process, _ = responder
    page = _login(browser, process.url, ADMIN)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.click(f"button[aria-label='Clone {BUILTIN}']")
    expect(page.locator(".notice")).to_contain_text("Cloned")
    rule_url = page.url.split("?")[0]
    rule_id = rule_url.rsplit("/", 1)[1]

    # preview with the clone as it is: nothing changes; htmx swaps the result in
    with page.expect_request(lambda r: r.url.endswith("/preview")) as sent:
        page.click("#preview-button")
    assert sent.value.headers.get("hx-request") == "true"
    expect(page.locator("#preview-changed")).to_have_text("0")
    assert page.url.split("?")[0] == rule_url
    # tighten an action and raise the threshold past what any incident has
    page.select_option("#f-profile-delete_completed_pods", "approval")
    page.click("#preview-button")
    expect(page.locator("#preview-changed")).not_to_have_text("0")
    demo = page.locator("td[data-env=demo][data-action=delete_completed_pods]")
    expect(demo).to_have_attribute("data-decision", "approval")
    demo.locator("summary").click()
    expect(demo.locator(".trace ol")).to_contain_text("hard constraints")
    page.screenshot(path=str(shots / "rule-preview.png"), full_page=True)
    page.click("#backtest-button")
    expect(page.locator("#bt-matched")).to_be_visible()
    matched = _figure(page, "matched")
    assert matched >= 1 and _figure(page, "decision") >= 1
    page.screenshot(path=str(shots / "rule-backtest.png"), full_page=True)

    page.fill("#f-threshold_expression", "incident.firing_alerts > 100")
    page.click("#backtest-button")
    expect(page.locator("#bt-matched")).to_have_text("0")
    page.click("#preview-button")
    expect(page.locator("#whatif")).to_contain_text("does not apply")

    page.click("#save-button")
    expect(page.locator(".notice")).to_have_text("Saved as version 2.")
    expect(page.locator("#f-threshold_expression")).to_have_value("incident.firing_alerts > 100")

    page.goto(f"/admin/audit?subject=rule:{rule_id}")
    row = page.locator("table.audit tbody tr").first
    expect(row).to_contain_text("rule.update")
    expect(row).to_contain_text(ADMIN)
    row.locator("summary").click()
    expect(row.locator("table.diff")).to_contain_text("threshold_expression")

    page.goto(f"/admin/rules/{rule_id}/history")
    expect(page.locator("#v2")).to_contain_text("incident.firing_alerts > 100")
    page.click("#v1 button:has-text('Revert to version 1')")
    expect(page.locator(".notice")).to_have_text("Reverted: saved as version 3.")
    page.goto(rule_url)
    expect(page.locator("#f-threshold_expression")).to_have_value("true")
    # the strict CSP never had to block anything
    assert [line for line in console if line.startswith("error")] == []
    page.close()


def test_a_rule_is_switched_off_for_production_only(
    responder: tuple[Responder, str], browser: Browser
) -> None:
    process, token = responder
    page = _login(browser, process.url, ADMIN)
    page.click("button[aria-label='Clone builtin.registry_pull_failure']")
    rule_id = page.url.split("?")[0].rsplit("/", 1)[1]
    page.goto("/admin/rules?kind=custom")
    page.click(f"button[aria-label='Disable {rule_id} in production']")
    expect(page.locator(f"#rule-{rule_id} .envs")).to_contain_text("production: off")
    expect(page.locator(f"#rule-{rule_id} .envs")).to_contain_text("demo: on")
    rule = httpx.get(
        f"{process.url}/api/v1/rules/{rule_id}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert rule["environment_scope"] == ["demo", "staging"] and rule["enabled"] is True
    page.close()


def test_a_viewer_sees_no_edit_controls_and_a_direct_post_gets_403(
    responder: tuple[Responder, str], browser: Browser
) -> None:
    process, _ = responder
    admin = _login(browser, process.url, ADMIN)
    admin.goto("/admin/users")
    admin.fill("#f-username", VIEWER)
    admin.select_option("#f-role", "viewer")
    admin.fill("#f-password", PASSWORD)
    admin.click("button:has-text('Create user')")
    expect(admin.locator("table.list")).to_contain_text(VIEWER)
    admin.close()

    page = _login(browser, process.url, VIEWER)
    expect(page.locator("button:has-text('Clone')")).to_have_count(0)
    expect(page.locator("form[action$='/environments']")).to_have_count(0)
    expect(page.locator("nav.tabs")).not_to_contain_text("Users")
    page.goto(f"/admin/rules/{BUILTIN}")
    expect(page.locator("#rule-form")).to_have_count(0)
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post(
        f"/admin/rules/{BUILTIN}/clone",
        form={"csrf_token": csrf or ""},
        headers={"Origin": process.url},
    )
    assert response.status == 403
    assert "operator" in response.text()
    page.close()


def test_a_cross_site_post_without_the_csrf_token_is_refused(
    responder: tuple[Responder, str], browser: Browser
) -> None:
    process, _ = responder
    page = _login(browser, process.url, ADMIN)
    evil = (
        "<!doctype html><title>win a prize</title>"
        f'<form method="post" action="{process.url}/admin/rules/{BUILTIN}/clone">'
        '<button id="go">claim</button></form>'
    ).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(evil)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", free_port()), Evil)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        with page.expect_response(re.compile(r"/clone$")) as answer:
            page.click("#go")
        assert answer.value.status == 403
        expect(page.locator("main")).to_contain_text("Cross-site request refused")
    finally:
        server.shutdown()
        server.server_close()
    page.close()


def test_every_page_passes_axe_and_is_photographed(
    responder: tuple[Responder, str], browser: Browser, shots: Path
) -> None:
    process, token = responder
    # a node's incident (not the storm's): its page has every section, the ladder too
    incident = next(
        found["id"]
        for found in httpx.get(
            f"{process.url}/api/v1/incidents",
            params={"type": "node_disk_pressure"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["incidents"]
        if found["ladder"] is not None
    )
    page = _login(browser, process.url, ADMIN)
    pages = {
        "rules": "/admin/rules",
        "rule": f"/admin/rules/{BUILTIN}",
        "rule-history": f"/admin/rules/{BUILTIN}/history",
        "incidents": "/admin/incidents",
        "incident": f"/admin/incidents/{incident}",
        "approvals": "/admin/approvals",
        "automation": "/admin/automation",
        "channels": "/admin/channels",
        "policy": "/admin/policy?incident_type=node_disk_pressure&environment=production"
        "&severity=warning&confidence=high&action=reboot_worker&target=node/10.0.10.202",
        "audit": "/admin/audit",
        "users": "/admin/users",
        "tokens": "/admin/tokens",
    }
    axe = Axe()
    problems = {}
    for name, path in pages.items():
        page.goto(path)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        violations = axe.run(page).response["violations"]
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
        if bad:
            problems[name] = bad
    page.context.clear_cookies()
    page.goto("/admin/login")
    page.screenshot(path=str(shots / "login.png"), full_page=True)
    login_bad = [
        v["id"]
        for v in Axe().run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    if login_bad:
        problems["login"] = login_bad
    assert problems == {}
    assert len(list(shots.glob("*.png"))) >= len(pages) + 1
    page.close()


APPROVER = "abe"


def _ensure_user(browser: Browser, url: str, username: str, role: str) -> None:
    admin = _login(browser, url, ADMIN)
    admin.goto("/admin/users")
    if admin.locator("table.list").inner_text().find(username) < 0:
        admin.fill("#f-username", username)
        admin.select_option("#f-role", role)
        admin.fill("#f-password", PASSWORD)
        admin.click("button:has-text('Create user')")
        expect(admin.locator("table.list")).to_contain_text(username)
    admin.close()


def _pending(url: str, token: str, action: str) -> list[dict[str, str]]:
    found = httpx.get(
        f"{url}/api/v1/approvals",
        params={"state": "pending"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["approvals"]
    return [
        a for a in found if a["incident_type"] == "node_disk_pressure" and a["action"] == action
    ]


def _serious(page: Page) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in Axe().run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_an_approver_approves_one_request_and_denies_another(
    responder: tuple[Responder, str], browser: Browser, shots: Path
) -> None:
    process, token = responder
    _ensure_user(browser, process.url, APPROVER, "approver")
    candidates = _pending(process.url, token, "delete_completed_pods")
    # approve the one whose incident the robot still acts on (not recovering)
    states = {
        c["incident_id"]: httpx.get(
            f"{process.url}/api/v1/incidents/{c['incident_id']}",
            headers={"Authorization": f"Bearer {token}"},
        ).json()["state"]
        for c in candidates
    }
    candidates.sort(key=lambda c: states[c["incident_id"]] in ("recovering", "resolved"))
    first, second = candidates[:2]
    assert first["incident_id"] != second["incident_id"]
    page = _login(browser, process.url, APPROVER)

    # on the incident page: the six elements, the time left, Approve
    page.goto(f"/admin/incidents/{first['incident_id']}")
    card = page.locator(f"#approval-{first['id']}")
    for element in ("Action", "Target", "Why now", "Expected impact", "Rollback", "Expires"):
        expect(card.locator("dl.facts")).to_contain_text(element)
    expect(card.locator(".time-left")).to_contain_text("left")
    expect(page.locator("#executed-actions")).not_to_contain_text("delete_completed_pods")
    card.locator("button:has-text('Approve')").click()
    expect(page.locator(".notice")).to_contain_text("Approved: the action ran.")
    expect(card).not_to_have_attribute("data-state", "pending")
    expect(card.locator("button")).to_have_count(0)
    expect(card).to_contain_text(f"by {APPROVER} via in-app")
    expect(page.locator("#timeline")).to_contain_text("approval_granted")
    executed = page.locator("#executed-actions tbody tr", has_text="delete_completed_pods")
    expect(executed.first).to_contain_text("deleted 30 of 30 finished pods")
    assert card.get_attribute("data-state") in ("approved", "executed")

    # on the Approvals page: Deny with a reason
    page.goto("/admin/approvals?state=pending")
    card = page.locator(f"#approval-{second['id']}")
    card.locator("input[name=note]").fill("disk is being cleaned by hand")
    card.locator("button:has-text('Deny')").click()
    expect(page.locator(".notice")).to_contain_text("Denied")
    page.goto("/admin/approvals?state=denied")
    denied = page.locator(f"#approval-{second['id']}")
    expect(denied).to_have_attribute("data-state", "denied")
    expect(denied).to_contain_text("disk is being cleaned by hand")
    page.goto(f"/admin/incidents/{second['incident_id']}")
    expect(page.locator("#timeline")).to_contain_text("approval_denied")

    page.goto("/admin/approvals")
    page.screenshot(path=str(shots / "approvals-answer.png"))  # the top: pending, answerable
    assert _serious(page) == []
    page.close()


def test_a_viewer_sees_no_approve_or_deny_and_a_direct_post_gets_403(
    responder: tuple[Responder, str], browser: Browser
) -> None:
    process, token = responder
    _ensure_user(browser, process.url, "val", "viewer")
    [target, *_] = _pending(process.url, token, "cordon_node")
    page = _login(browser, process.url, "val")
    page.goto("/admin/approvals")
    expect(page.locator(f"#approval-{target['id']}")).to_be_visible()
    expect(page.locator("form[action$='/approve'], form[action$='/deny']")).to_have_count(0)
    page.goto(f"/admin/incidents/{target['incident_id']}")
    expect(page.locator("button:has-text('Approve')")).to_have_count(0)
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post(
        f"/admin/approvals/{target['id']}/approve",
        form={"csrf_token": csrf or ""},
        headers={"Origin": process.url},
    )
    assert response.status == 403 and "approver" in response.text()
    assert target["id"] in {a["id"] for a in _pending(process.url, token, "cordon_node")}
    page.close()


def test_the_channels_page_shows_slack_and_sends_a_test_message(
    responder: tuple[Responder, str], browser: Browser, shots: Path, slack: SlackApi
) -> None:
    process, _ = responder
    page = _login(browser, process.url, ADMIN)
    page.goto("/admin/channels")
    row = page.locator("#channel-slack")
    expect(row).to_contain_text("#ops")
    expect(row).to_have_attribute("data-state", "up")
    row.locator("button:has-text('Send test message')").click()
    expect(page.locator(".notice")).to_contain_text("Test message sent to slack.")
    expect(page.locator("#channel-slack .last-ok")).to_contain_text("sent: test")
    assert any("test message" in call.text for call in slack.posted())
    page.screenshot(path=str(shots / "channels.png"), full_page=True)
    assert _serious(page) == []
    page.close()


def test_an_operator_pauses_automation_sees_the_banner_and_resumes(
    responder: tuple[Responder, str], browser: Browser, shots: Path
) -> None:
    process, token = responder
    headers = {"Authorization": f"Bearer {token}"}
    page = _login(browser, process.url, ADMIN)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.click("nav.tabs a:has-text('Automation')")
    expect(page).to_have_url(re.compile(r"/admin/automation$"))
    expect(page.locator("#pause-banner")).to_have_count(0)
    expect(page.locator("#mode-matrix")).to_contain_text("node_disk_pressure")
    expect(page.locator("#readiness-table")).to_be_visible()

    page.fill("#f-reason", "cluster upgrade")
    page.fill("#f-duration_minutes", "45")
    page.select_option("#f-environment", "demo")
    page.click("#pause-button")
    expect(page.locator(".notice")).to_contain_text("Automation paused")
    [pause] = httpx.get(f"{process.url}/api/v1/automation/pause", headers=headers).json()["pauses"]
    assert pause["reason"] == "cluster upgrade" and pause["environment"] == "demo"
    row = page.locator(f"#pause-{pause['id']}")
    expect(row).to_contain_text("environment demo")
    expect(row).to_contain_text(ADMIN)
    page.screenshot(path=str(shots / "automation.png"), full_page=True)
    assert _serious(page) == []

    # the banner is on every page while the pause is in force
    page.goto("/admin/incidents")
    banner = page.locator("#pause-banner")
    expect(banner).to_contain_text("Automation paused: environment demo until")
    expect(banner).to_contain_text("cluster upgrade")
    page.screenshot(path=str(shots / "automation-banner.png"))
    banner.locator("a").first.click()
    expect(page).to_have_url(re.compile(r"/admin/automation#pauses$"))
    page.locator(f"#pause-{pause['id']} button:has-text('Resume')").click()
    expect(page.locator(".notice")).to_contain_text("Pause lifted")
    expect(page.locator("#pause-banner")).to_have_count(0)
    page.goto("/admin/rules")
    expect(page.locator("#pause-banner")).to_have_count(0)
    listed = httpx.get(f"{process.url}/api/v1/automation/pause", headers=headers).json()
    assert listed["pauses"] == []
    assert [line for line in console if line.startswith("error")] == []
    page.close()


def test_an_operator_marks_an_incident_from_its_page(
    responder: tuple[Responder, str], browser: Browser, shots: Path
) -> None:
    process, token = responder
    headers = {"Authorization": f"Bearer {token}"}
    incident = httpx.get(
        f"{process.url}/api/v1/incidents",
        params={"type": "registry_pull_failure"},
        headers=headers,
    ).json()["incidents"][0]["id"]
    page = _login(browser, process.url, ADMIN)
    page.goto(f"/admin/incidents/{incident}")
    expect(page.locator("#current-mark")).to_contain_text("Nobody marked this incident yet.")
    page.check("#f-classification-right")
    page.check("#f-action-false_positive")
    page.fill("#f-note", "the image tag was right; the registry was down")
    page.click("#mark-button")
    expect(page.locator(".notice")).to_contain_text("Mark saved.")
    expect(page.locator("#current-mark")).to_contain_text("false positive")
    expect(page.locator("#current-mark")).to_contain_text(f"by {ADMIN}")
    expect(page.locator("#f-action-false_positive")).to_be_checked()
    page.locator("#mark").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "incident-mark.png"))
    assert _serious(page) == []
    entries = httpx.get(
        f"{process.url}/api/v1/audit", params={"subject": f"incident:{incident}"}, headers=headers
    ).json()["entries"]
    assert any(e["action"] == "incident.mark" and e["surface"] == "admin" for e in entries)
    page.close()

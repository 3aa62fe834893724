"""The Automation page (pauses, modes, readiness and promotion), the pause
banner on every page, and marking an incident from its page, over the
example storm."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fixtures.accounts import csrf_of, login
from fixtures.rigs import post_storm
from starlette.testclient import TestClient

from responder.accounts.models import Role
from responder.app import create_app
from responder.settings import PromotionBar, Settings

PASSWORD = "correct horse battery"
BANNER = re.compile(r'<aside class="paused" id="pause-banner".*?</aside>', re.S)


def _runtime(client: TestClient) -> Any:
    return client.app.state.runtime  # type: ignore[attr-defined]


def _alerts(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error" id="err-([^"]+)" role="alert">([^<]+)<', html))


def _version(html: str) -> str:
    found = re.search(r'<input type="hidden" name="version" value="(\d+)">', html)
    assert found is not None, "the page has no modes version"
    return found.group(1)


def _cell(html: str, incident_type: str, environment: str) -> str:
    found = re.search(
        rf'<td data-type="{incident_type}" data-env="{environment}" data-mode="(\w+)">'
        r'.*?<span class="muted">(\w+)</span>',
        html,
    )
    assert found is not None
    return f"{found.group(1)} {found.group(2)}"


def _audit(client: TestClient, subject: str) -> list[Any]:
    return list(_runtime(client).store.list_audit(50, subject))


def _disk_incident(client: TestClient) -> str:
    incidents = client.get("/api/v1/incidents", params={"type": "node_disk_pressure"}).json()
    return str(incidents["incidents"][0]["id"])


def test_an_operator_pauses_and_resumes_and_the_banner_follows(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    page = fresh.get("/admin/automation").text
    assert "No pause in force" in page and 'id="pause-form"' in page
    assert BANNER.search(fresh.get("/admin/incidents").text) is None

    paused = fresh.post(
        "/admin/automation/pause",
        data={
            "csrf_token": csrf,
            "reason": "cluster upgrade",
            "duration_minutes": "30",
            "environment": "demo",
            "incident_type": "",
            "namespace": "",
        },
        follow_redirects=False,
    )
    assert paused.status_code == 303
    listed = fresh.get("/api/v1/automation/pause").json()
    [pause] = listed["pauses"]
    assert pause["reason"] == "cluster upgrade" and pause["environment"] == "demo"
    assert pause["created_by"] == "olga" and pause["scope"] == "environment demo"
    assert pause["incident_type"] is None and pause["namespace"] is None
    [entry] = _audit(fresh, f"pause:{pause['id']}")
    assert (entry.action, entry.actor, entry.surface) == ("automation.pause", "olga", "admin")

    # the banner is on every other page, and links to the Automation page
    for other in ("/admin/incidents", "/admin/rules", "/admin/audit"):
        banner = BANNER.search(fresh.get(other).text)
        assert banner is not None, other
        assert "Automation paused: environment demo until" in banner.group(0)
        assert "— cluster upgrade" in banner.group(0)
        assert 'href="/admin/automation#pauses"' in banner.group(0)
    page = fresh.get("/admin/automation").text
    assert f'id="pause-{pause["id"]}"' in page
    assert f'action="/admin/automation/pause/{pause["id"]}/resume"' in page

    resumed = fresh.post(
        f"/admin/automation/pause/{pause['id']}/resume",
        data={"csrf_token": csrf},
        follow_redirects=True,
    )
    assert "Pause lifted: automation resumes." in resumed.text
    assert fresh.get("/api/v1/automation/pause").json()["pauses"] == []
    assert BANNER.search(fresh.get("/admin/incidents").text) is None
    assert _audit(fresh, f"pause:{pause['id']}")[0].action == "automation.resume"
    again = fresh.post(f"/admin/automation/pause/{pause['id']}/resume", data={"csrf_token": csrf})
    assert again.status_code == 404 and "No active pause" in again.text


def test_a_bad_pause_is_refused_at_its_field(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    form = {
        "csrf_token": csrf,
        "reason": "flaky registry",
        "duration_minutes": "0",
        "environment": "staging",
        "incident_type": "registry_pull_failure",
        "namespace": "",
    }
    zero = fresh.post("/admin/automation/pause", data=form)
    assert zero.status_code == 400
    assert "from 1 to 10080" in _alerts(zero.text)["duration_minutes"]
    assert 'value="flaky registry"' in zero.text  # what was typed stays
    blank = fresh.post(
        "/admin/automation/pause", data={**form, "duration_minutes": "5", "reason": "  "}
    )
    assert blank.status_code == 400 and "reason" in _alerts(blank.text)
    long_namespace = fresh.post(
        "/admin/automation/pause", data={**form, "duration_minutes": "5", "namespace": "n" * 300}
    )
    assert long_namespace.status_code == 400 and "namespace" in _alerts(long_namespace.text)
    assert fresh.get("/api/v1/automation/pause").json()["pauses"] == []


def test_a_mode_is_changed_and_a_stale_version_is_refused(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    page = fresh.get("/admin/automation").text
    assert _cell(page, "registry_pull_failure", "staging") == "auto default"
    version = _version(page)
    form = {
        "csrf_token": csrf,
        "version": version,
        "mode_incident_type": "registry_pull_failure",
        "mode_environment": "staging",
        "mode": "approval",
    }
    saved = fresh.post("/admin/automation/modes", data=form, follow_redirects=True)
    assert "Automation mode saved." in saved.text
    assert _cell(saved.text, "registry_pull_failure", "staging") == "approval set"
    assert _cell(saved.text, "registry_pull_failure", "production") == "auto default"
    modes = fresh.get("/api/v1/automation/modes").json()
    assert modes["version"] == int(version) + 1
    assert {
        "incident_type": "registry_pull_failure",
        "environment": "staging",
        "mode": "approval",
        "source": "set",
    } in modes["modes"]
    entry = _audit(fresh, "automation:modes")[0]
    assert (entry.action, entry.actor, entry.surface) == ("automation.modes", "olga", "admin")

    stale = fresh.post("/admin/automation/modes", data={**form, "mode": "off"})
    assert stale.status_code == 409
    assert "somebody changed the automation modes" in _alerts(stale.text)["modes_form"]
    assert _cell(fresh.get("/admin/automation").text, "registry_pull_failure", "staging") == (
        "approval set"
    )
    unknown = fresh.post(
        "/admin/automation/modes", data={**form, "version": str(modes["version"]), "mode": "yolo"}
    )
    assert unknown.status_code == 400 and "mode" in _alerts(unknown.text)


def test_a_viewer_reads_but_cannot_write(fresh: TestClient) -> None:
    csrf = login(fresh, "vera", PASSWORD)
    page = fresh.get("/admin/automation")
    assert page.status_code == 200 and 'id="mode-matrix"' in page.text
    assert 'id="pause-form"' not in page.text and 'id="mode-form"' not in page.text
    incident = _disk_incident(fresh)
    incident_page = fresh.get(f"/admin/incidents/{incident}").text
    assert 'id="current-mark"' in incident_page and 'id="mark-form"' not in incident_page
    writes = {
        "/admin/automation/pause": {"reason": "no", "duration_minutes": "5"},
        "/admin/automation/modes": {
            "version": "0",
            "mode_incident_type": "node_disk_pressure",
            "mode_environment": "demo",
            "mode": "off",
        },
        "/admin/automation/promote": {
            "incident_type": "node_disk_pressure",
            "environment": "demo",
            "mode": "shadow",
            "version": "0",
        },
        f"/admin/incidents/{incident}/mark": {"classification": "right"},
    }
    for path, data in writes.items():
        refused = fresh.post(path, data={"csrf_token": csrf, **data})
        assert refused.status_code == 403 and "operator" in refused.text, path
    runtime = _runtime(fresh)
    assert runtime.automation.active_pauses() == []
    assert runtime.marks.get(incident) is None


def test_writes_need_the_csrf_token_and_this_origin(fresh: TestClient) -> None:
    login(fresh, "olga", PASSWORD)
    csrf = csrf_of(fresh.get("/admin/automation").text)
    form = {"reason": "forged", "duration_minutes": "5"}
    assert fresh.post("/admin/automation/pause", data=form).status_code == 403
    cross = fresh.post(
        "/admin/automation/pause",
        data={"csrf_token": csrf, **form},
        headers={"Origin": "http://evil.example"},
    )
    assert cross.status_code == 403 and "Cross-site request refused" in cross.text
    incident = _disk_incident(fresh)
    forged = fresh.post(f"/admin/incidents/{incident}/mark", data={"classification": "right"})
    assert forged.status_code == 403
    runtime = _runtime(fresh)
    assert runtime.automation.active_pauses() == []
    assert runtime.marks.get(incident) is None


def test_an_operator_marks_an_incident_from_its_page(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    incident = _disk_incident(fresh)
    page = fresh.get(f"/admin/incidents/{incident}").text
    assert "Nobody marked this incident yet." in page and 'id="mark-form"' in page

    empty = fresh.post(f"/admin/incidents/{incident}/mark", data={"csrf_token": csrf})
    assert empty.status_code == 400 and "classification" in _alerts(empty.text)
    long_note = fresh.post(
        f"/admin/incidents/{incident}/mark",
        data={"csrf_token": csrf, "classification": "right", "note": "x" * 501},
    )
    assert long_note.status_code == 400 and "note" in _alerts(long_note.text)
    assert _runtime(fresh).marks.get(incident) is None

    marked = fresh.post(
        f"/admin/incidents/{incident}/mark",
        data={
            "csrf_token": csrf,
            "classification": "right",
            "action": "false_positive",
            "note": "the pods were not the problem",
        },
        follow_redirects=True,
    )
    assert "Mark saved." in marked.text
    mark = _runtime(fresh).marks.get(incident)
    assert mark is not None
    assert (mark["classification"], mark["action"], mark["rolled_back"]) == (
        "right",
        "false_positive",
        False,
    )
    assert mark["marked_by"] == "olga" and mark["note"] == "the pods were not the problem"
    shown = marked.text.split('id="current-mark"', 1)[1].split("</dl>", 1)[0]
    assert "false positive" in shown and "by olga" in shown
    assert 'id="f-action-false_positive" name="action" value="false_positive" checked' in (
        marked.text
    )
    [entry] = _audit(fresh, f"incident:{incident}")[:1]
    assert (entry.action, entry.actor, entry.surface) == ("incident.mark", "olga", "admin")

    # marking again replaces the mark
    fresh.post(
        f"/admin/incidents/{incident}/mark",
        data={"csrf_token": csrf, "rolled_back": "on"},
        follow_redirects=False,
    )
    again = _runtime(fresh).marks.get(incident)
    assert again["rolled_back"] is True and again["classification"] is None
    assert again["version"] == mark["version"] + 1
    assert (
        fresh.post("/admin/incidents/nope/mark", data={"csrf_token": csrf, "action": "right"})
    ).status_code == 404


@pytest.fixture(scope="module")
def shadow_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A responder whose promotion bar wants one shadow decision; disk
    pressure in demo is put in shadow mode from the page before the storm."""
    db = tmp_path_factory.mktemp("promotion") / "s.db"
    settings = Settings(
        store_url=f"sqlite:///{db}",
        admin_user="root",
        admin_password=PASSWORD,
        promotion_bar=PromotionBar(min_shadow_decisions=1),
    )
    app = create_app(settings)
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        runtime = app.state.runtime
        runtime.accounts.prepare()
        runtime.accounts.users.create("olga", PASSWORD, Role.operator, "test", "test")
        runtime.accounts.users.create("vera", PASSWORD, Role.viewer, "test", "test")
        csrf = login(client, "olga", PASSWORD)
        shadowed = client.post(
            "/admin/automation/modes",
            data={
                "csrf_token": csrf,
                "version": _version(client.get("/admin/automation").text),
                "mode_incident_type": "node_disk_pressure",
                "mode_environment": "demo",
                "mode": "shadow",
            },
            follow_redirects=False,
        )
        assert shadowed.status_code == 303
        post_storm(client)
        client.cookies.clear()
        yield client


def _row(html: str, incident_type: str, environment: str) -> str:
    found = re.search(
        rf'<tr id="ready-{incident_type}-{environment}" data-ready="\w+">.*?</tr>', html, re.S
    )
    assert found is not None, f"no readiness row for {incident_type} in {environment}"
    return found.group(0)


def test_readiness_is_shown_and_a_ready_class_is_promoted_by_a_person(
    shadow_site: TestClient,
) -> None:
    client = shadow_site
    csrf = login(client, "olga", PASSWORD)
    runtime = _runtime(client)
    [expected] = runtime.marks.readiness("node_disk_pressure", "demo")
    assert expected["shadow_decisions"] >= 1 and expected["mode"] == "shadow"
    row = _row(client.get("/admin/automation").text, "node_disk_pressure", "demo")
    assert 'data-ready="no"' in row and "no action verdicts yet" in row
    assert f"<td>{expected['shadow_decisions']}</td>" in row
    assert "Promote" not in row

    incident = _disk_incident(client)
    marked = client.post(
        f"/admin/incidents/{incident}/mark",
        data={"csrf_token": csrf, "classification": "right", "action": "right"},
        follow_redirects=False,
    )
    assert marked.status_code == 303
    page = client.get("/admin/automation").text
    row = _row(page, "node_disk_pressure", "demo")
    assert 'data-ready="yes"' in row and "<td>100.0%</td>" in row and "<td>1</td>" in row
    assert "Promote to approval" in row
    assert runtime.automation.mode("node_disk_pressure", "demo")[0] == "shadow"  # not by itself

    form = {
        "csrf_token": csrf,
        "incident_type": "node_disk_pressure",
        "environment": "demo",
        "mode": "shadow",
        "version": _version(page),
    }
    promoted = client.post("/admin/automation/promote", data=form, follow_redirects=True)
    assert "Promoted: the class runs one step more automatically." in promoted.text
    modes = client.get("/api/v1/automation/modes").json()["modes"]
    assert {
        "incident_type": "node_disk_pressure",
        "environment": "demo",
        "mode": "approval",
        "source": "set",
    } in modes
    row = _row(promoted.text, "node_disk_pressure", "demo")
    assert 'class="badge mode-approval"' in row and "Promote to auto" in row
    [promotion] = _audit(client, "automation:node_disk_pressure|demo")
    assert (promotion.action, promotion.actor, promotion.surface) == (
        "automation.promote",
        "olga",
        "admin",
    )
    assert promotion.before == {"mode": "shadow"} and promotion.after["mode"] == "approval"
    assert promotion.after["evidence"]["ready"] is True
    change = _audit(client, "automation:modes")[0]
    assert change.actor == "olga" and "node_disk_pressure in demo: approval" in change.detail

    # the same form again: the class is not in shadow any more
    twice = client.post("/admin/automation/promote", data=form)
    assert twice.status_code == 409 and "approval mode now" in twice.text
    # a class in auto has no next step; a class short of the bar is refused
    top = client.post(
        "/admin/automation/promote",
        data={**form, "incident_type": "registry_pull_failure", "mode": "auto"},
    )
    assert top.status_code == 400 and "promotion goes shadow" in top.text
    client.post(
        f"/admin/incidents/{incident}/mark", data={"csrf_token": csrf, "action": "false_positive"}
    )
    short = client.post(
        "/admin/automation/promote",
        data={
            **form,
            "mode": "approval",
            "version": str(client.get("/api/v1/automation/modes").json()["version"]),
        },
    )
    assert short.status_code == 400 and "does not meet the promotion bar" in short.text
    assert runtime.automation.mode("node_disk_pressure", "demo")[0] == "approval"

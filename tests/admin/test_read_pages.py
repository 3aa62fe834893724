"""Incidents, approvals, policy and audit pages over the example storm."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from fixtures.accounts import login
from fixtures.alerts import DISK
from fixtures.explain import explain_request
from fixtures.rigs import Responder
from starlette.testclient import TestClient

from responder.settings import Settings
from responder.store import IncidentFilter

PASSWORD = "correct horse battery"
LADDER_STEP = re.compile(r'<tr id="ladder-step-([a-z_]+)"')
CURRENT_STEP = re.compile(r'<tr id="ladder-step-([a-z_]+)" data-step="[a-z_]+" class="on-step"')


def test_the_incident_list_filters_and_pages(fresh: TestClient) -> None:
    login(fresh, "vera", PASSWORD)
    incidents = fresh.get("/api/v1/incidents").json()["incidents"]
    listing = fresh.get("/admin/incidents").text
    assert all(i["id"] in listing for i in incidents)
    disk = fresh.get("/admin/incidents", params={"type": "node_disk_pressure"}).text
    expected = {i["id"] for i in incidents if i["incident_type"] == "node_disk_pressure"}
    assert expected and all(i["id"] in disk for i in incidents if i["id"] in expected)
    assert all(i["id"] not in disk for i in incidents if i["id"] not in expected)
    critical = fresh.get("/admin/incidents", params={"severity": "critical"}).text
    for incident in incidents:
        assert (incident["id"] in critical) == (incident["severity"] == "critical")
    future = fresh.get("/admin/incidents", params={"since": "2999-01-01"}).text
    assert all(i["id"] not in future for i in incidents)
    bad = fresh.get("/admin/incidents", params={"since": "yesterday"})
    assert bad.status_code == 400 and 'id="err-since"' in bad.text
    assert 'rel="next"' not in listing


def test_an_incident_page_tells_the_whole_story(fresh: TestClient) -> None:
    login(fresh, "vera", PASSWORD)
    incidents = fresh.get("/api/v1/incidents", params={"type": "node_disk_pressure"}).json()
    # (the storm's cluster-level incident has no alert of its own: take a node's)
    record = next(i for i in incidents["incidents"] if i["alerts"])
    page = fresh.get(f"/admin/incidents/{record['id']}").text
    for heading in ("Timeline", "Alerts", "Signals", "Decisions", "Executed actions", "Approvals"):
        assert f"<h2>{heading}" in page
    alert = next(iter(record["alerts"].values()))
    assert f'href="{alert["generator_url"].replace("&", "&amp;")}"' in page
    assert f"confidence band: {record['confidence']}" in page
    assert page.count('<details class="trace">') >= len(record["decisions"])
    for decision in record["decisions"]:
        assert decision["reason"].replace("'", "&#39;").replace(">", "&gt;")[:40] in page
    assert fresh.get("/admin/incidents/nope").status_code == 404


def test_an_incident_page_shows_its_escalation_ladder_as_it_climbs(tmp_path: Path) -> None:
    rig = Responder(
        settings=Settings(
            store_url=f"sqlite:///{tmp_path}/s.db", admin_user="root", admin_password=PASSWORD
        )
    )
    runtime, clock = rig.runtime, rig.clock
    runtime.accounts.prepare()
    rig.fire(DISK)
    incident = rig.only()
    assert incident.incident_type == "node_disk_pressure"
    client = rig.client  # no lifespan: no workers
    login(client, "root", PASSWORD)

    page = client.get(f"/admin/incidents/{incident.id}").text
    assert '<h2 id="ladder">Escalation ladder</h2>' in page
    assert LADDER_STEP.findall(page) == [
        "contain",
        "ask_cordon",
        "ask_drain",
        "ask_reboot",
        "ask_replace",
    ]
    assert CURRENT_STEP.findall(page) == ["contain"]
    assert page.count('aria-current="step"') == 1
    for step in runtime.taxonomy.ladder("node_disk_pressure"):  # actions by display name
        names = ", ".join(runtime.taxonomy.action(a).display_name for a in step.actions)
        assert f"<td>{names}</td>" in page
    assert "<td>10m</td>" in page and "<td>30m</td>" in page
    assert "1 of 5: <code>contain</code>" in page
    assert "since 2026-11-26 08:00:00 UTC, waits until 2026-11-26 08:10:00 UTC" in page
    assert "<dt>Escalated</dt><dd>no</dd>" in page

    clock.advance(600)  # the contain step's wait passes with the pressure still on
    runtime.scheduler.poll()
    climbed = client.get(f"/admin/incidents/{incident.id}").text
    assert CURRENT_STEP.findall(climbed) == ["ask_cordon"]
    assert "2 of 5: <code>ask_cordon</code>" in climbed
    assert "since 2026-11-26 08:10:00 UTC, waits until 2026-11-26 08:20:00 UTC" in climbed
    assert climbed.count("climbed past") == 1


def test_a_node_storm_page_shows_no_ladder(fresh: TestClient) -> None:
    login(fresh, "vera", PASSWORD)
    runtime = fresh.app.state.runtime  # type: ignore[attr-defined]
    incidents = runtime.store.list_incidents(IncidentFilter())
    [storm] = [i for i in incidents if i.correlation_key.startswith("node_storm|")]
    member = next(i for i in incidents if i.alerts and i.ladder is not None)
    assert storm.state == "escalated"
    assert "Escalation ladder" not in fresh.get(f"/admin/incidents/{storm.id}").text
    assert "Escalation ladder" in fresh.get(f"/admin/incidents/{member.id}").text


def test_the_approvals_page_lists_the_pending_requests_in_full(fresh: TestClient) -> None:
    login(fresh, "vera", PASSWORD)
    runtime = fresh.app.state.runtime  # type: ignore[attr-defined]
    pending = [
        doc for _, doc in runtime.store.list_documents("approvals") if doc["state"] == "pending"
    ]
    assert pending
    page = fresh.get("/admin/approvals").text
    assert f"{len(pending)} pending" in page
    for doc in pending:
        assert f"/admin/incidents/{doc['incident_id']}" in page
    assert "Robot SRE requests approval:" in page and "Approval expires in" in page
    denied = fresh.get("/admin/approvals", params={"state": "denied"}).text
    assert "No approval request is denied." in denied


def test_the_policy_page_shows_the_matrix_and_explains(fresh: TestClient) -> None:
    csrf = login(fresh, "vera", PASSWORD)
    page = fresh.get("/admin/policy").text
    for environment in ("demo", "staging", "production"):
        assert f"<caption>{environment}</caption>" in page
    assert page.count('<th scope="row">node_disk_pressure</th>') == 3
    request = explain_request(
        environment="production",
        severity="warning",
        action="reboot_worker",
        target="node/10.0.10.202",
    )
    explained = fresh.get("/admin/policy", params=request).text
    api = fresh.post("/api/v1/policy/explain", json=request, headers={"X-CSRF-Token": csrf}).json()
    assert 'id="explain-answer"' in explained
    assert f'class="badge d-{api["decision"]}"' in explained
    for layer in api["layers"]:
        assert layer["reason"].replace("'", "&#39;")[:30] in explained
    wrong = fresh.get(
        "/admin/policy",
        params={
            "incident_type": "nope",
            "environment": "demo",
            "confidence": "high",
            "action": "reboot_worker",
        },
    )
    assert wrong.status_code == 400 and "unknown incident type" in wrong.text


def test_the_audit_page_filters_and_exports_the_same_entries(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    fresh.post("/admin/rules/builtin.registry_pull_failure/clone", data={"csrf_token": csrf})
    page = fresh.get("/admin/audit", params={"actor": "olga", "action": "rule."}).text
    assert "rule.clone" in page and "approval.request" not in page
    exported = fresh.get("/admin/audit/export.json", params={"actor": "olga", "action": "rule."})
    assert exported.headers["content-disposition"].startswith("attachment")
    entries = exported.json()["entries"]
    assert entries and all(
        e["actor"] == "olga" and e["action"].startswith("rule.") for e in entries
    )
    table = fresh.get("/admin/audit/export.csv", params={"actor": "olga", "action": "rule."})
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [r["action"] for r in rows] == [e["action"] for e in entries]
    assert json.loads(rows[-1]["after"])["owner"] == "olga"
    bad = fresh.get("/admin/audit", params={"limit": "0"})
    assert bad.status_code == 400 and 'id="err-limit"' in bad.text


def test_csv_export_defuses_spreadsheet_formulas() -> None:
    from responder.admin.audit_pages import _cell

    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("plain") == "plain"

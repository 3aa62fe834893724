"""Rules in the admin UI: list and filter, clone, edit (validated as the API
validates), per-environment switches, preview, backtest, history, revert."""

from __future__ import annotations

import re
from typing import Any

from fixtures.accounts import login
from starlette.testclient import TestClient

PASSWORD = "correct horse battery"
BUILTIN = "builtin.node_disk_pressure"


def _clone(client: TestClient, csrf: str) -> str:
    response = client.post(
        f"/admin/rules/{BUILTIN}/clone", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 303
    return str(response.headers["location"]).split("?")[0]


def _form(csrf: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": csrf,
        "name": "disk pressure (custom)",
        "owner": "olga",
        "enabled": "on",
        "environment_scope": ["demo", "staging", "production"],
        "threshold_expression": "true",
        "days": "7",
    }
    form.update(changes)
    return form


def _alerts(html: str) -> list[str]:
    return re.findall(r'role="alert">([^<]+)<', html)


def test_the_list_shows_builtin_and_custom_rules_and_filters_them(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    rule = _clone(fresh, csrf).rsplit("/", 1)[1]
    listing = fresh.get("/admin/rules").text
    assert BUILTIN in listing and rule in listing
    for column in ("Domain", "Type", "Environments", "Enabled", "Version", "Owner", "Last change"):
        assert f">{column}<" in listing
    custom = fresh.get("/admin/rules", params={"kind": "custom"}).text
    assert rule in custom and f'id="rule-{BUILTIN}"' not in custom
    searched = fresh.get("/admin/rules", params={"q": "registry"}).text
    assert "builtin.registry_pull_failure" in searched and f'id="rule-{BUILTIN}"' not in searched
    by_domain = fresh.get("/admin/rules", params={"domain": "golden_signals"}).text
    assert "builtin.http_error_rate_spike" in by_domain and f'id="rule-{BUILTIN}"' not in by_domain


def test_saving_makes_a_new_version_with_its_audit_entry(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    page = _clone(fresh, csrf)
    rule = page.rsplit("/", 1)[1]
    saved = fresh.post(
        page,
        data=_form(
            csrf,
            version="1",
            threshold_expression="incident.firing_alerts >= 2",
            severity="critical",
            cooldown_seconds="1200",
            notify_channels="slack, telegram",
            suppression_schedule="sat,sun 00:00-06:00 Europe/Berlin",
            **{"profile.suspend_cronjob": "approval"},
        ),
        follow_redirects=False,
    )
    assert saved.status_code == 303, _alerts(saved.text)
    assert saved.headers["location"].endswith("?saved=2")
    api = fresh.get(f"/api/v1/rules/{rule}").json()
    assert api["version"] == 2
    assert api["threshold_expression"] == "incident.firing_alerts >= 2"
    assert api["severity"] == "critical" and api["cooldown_seconds"] == 1200
    assert api["notification_policy"]["channels"] == ["slack", "telegram"]
    assert api["suppression_schedule"][0]["days"] == ["sat", "sun"]
    assert api["allowed_action_profile"]["suspend_cronjob"] == "approval"
    audit = fresh.get("/admin/audit", params={"subject": f"rule:{rule}"}).text
    assert "rule.update" in audit and "olga" in audit and "threshold_expression" in audit


def test_a_save_crossing_a_safety_boundary_shows_the_reason_at_the_field(
    fresh: TestClient,
) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    page = _clone(fresh, csrf)
    refused = fresh.post(page, data=_form(csrf, version="1", **{"profile.reboot_worker": "auto"}))
    assert refused.status_code == 400
    field = re.search(
        r'id="f-profile-reboot_worker"[^>]*aria-invalid="true"[^>]*aria-describedby="err-profile-reboot_worker"',
        refused.text,
    )
    assert field is not None
    assert "destructive actions are never auto-allowed" in refused.text
    # what was typed stays in the form
    assert re.search(r'<option value="auto" selected>auto</option>', refused.text)
    human = fresh.post(
        page, data=_form(csrf, version="1", **{"profile.delete_persistent_data": "approval"})
    )
    assert "human-only actions stay human-only" in human.text
    assert fresh.get(page.replace("/admin/rules/", "/api/v1/rules/")).json()["version"] == 1


def test_a_cel_error_is_shown_at_the_threshold_field(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    page = _clone(fresh, csrf)
    refused = fresh.post(
        page, data=_form(csrf, version="1", threshold_expression="incident.firing_alerts >=")
    )
    assert refused.status_code == 400
    assert 'id="err-threshold_expression"' in refused.text
    assert "CEL" in refused.text and "(valid CEL)" in refused.text
    assert "incident.firing_alerts &gt;=</textarea>" in refused.text


def test_a_stale_form_cannot_overwrite_a_newer_version(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    page = _clone(fresh, csrf)
    assert (
        fresh.post(page, data=_form(csrf, version="1"), follow_redirects=False).status_code == 303
    )
    stale = fresh.post(page, data=_form(csrf, version="1", name="stale"))
    assert stale.status_code == 400 and "changed since version 1" in stale.text


def test_the_preview_shows_every_action_in_every_environment_and_what_changes(
    fresh: TestClient,
) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    page = _clone(fresh, csrf)
    unchanged = fresh.post(f"{page}/preview", data=_form(csrf))
    assert unchanged.status_code == 200
    assert re.search(r'id="preview-changed">0<', unchanged.text)
    cells = re.findall(
        r'data-env="(\w+)" data-action="(\w+)" data-decision="(\w+)"', unchanged.text
    )
    environments = {c[0] for c in cells}
    assert environments == {"demo", "staging", "production"}
    assert len(cells) == 3 * len({c[1] for c in cells})
    # reboot_worker would be auto in no environment: the hard constraints keep it at approval
    assert all(d == "approval" for e, a, d in cells if a == "reboot_worker")
    tightened = fresh.post(
        f"{page}/preview",
        data=_form(
            csrf, environment_scope=["demo"], **{"profile.delete_completed_pods": "approval"}
        ),
    )
    changed = re.findall(
        r'data-env="(\w+)" data-action="delete_completed_pods" data-decision="(\w+)"',
        tightened.text,
    )
    assert changed == [("demo", "approval")]
    assert "was auto" in tightened.text
    assert "layer trace" not in tightened.text or "<details" in tightened.text
    # nothing was saved
    assert fresh.get(page.replace("/admin/rules/", "/api/v1/rules/")).json()["version"] == 1


def test_the_preview_marks_hard_constraint_clamps(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    page = _clone(fresh, csrf)
    # low confidence: the hard constraints hold automatic containment back
    clamped = fresh.post(f"{page}/preview", data=_form(csrf, preview_confidence="low"))
    assert 'class="badge clamp"' in clamped.text


def test_the_backtest_counts_first_and_changes_nothing(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    page = _clone(fresh, csrf)
    before = fresh.get("/api/v1/incidents").json()["incidents"]

    def figures(**changes: Any) -> dict[str, int]:
        response = fresh.post(f"{page}/backtest", data=_form(csrf, **changes))
        assert response.status_code == 200, _alerts(response.text)
        return {k: int(v) for k, v in re.findall(r'id="bt-(\w+)">(\d+)<', response.text)}

    plain = figures()
    assert plain["scanned"] >= 1 and plain["matched"] == plain["scanned"]
    assert plain["decision"] == 0 and plain["severity"] == 0
    escalated = figures(severity="critical", **{"profile.delete_completed_pods": "approval"})
    assert escalated["severity"] >= 1 and escalated["decision"] >= 1
    quiet = figures(suppression_schedule="00:00-23:59")
    assert quiet["suppressed"] == quiet["matched"] >= 1
    nothing = figures(threshold_expression="incident.firing_alerts > 100")
    assert nothing["matched"] == 0
    assert fresh.get("/api/v1/incidents").json()["incidents"] == before
    assert fresh.get(page.replace("/admin/rules/", "/api/v1/rules/")).json()["version"] == 1


def test_history_shows_each_versions_diff_and_revert_is_a_new_version(
    fresh: TestClient,
) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    page = _clone(fresh, csrf)
    api = page.replace("/admin/rules/", "/api/v1/rules/")
    fresh.post(page, data=_form(csrf, version="1", cooldown_seconds="60"), follow_redirects=False)
    history = fresh.get(f"{page}/history").text
    assert 'id="v2"' in history and 'id="v1"' in history
    v2 = history.split('id="v2"')[1].split('id="v1"')[0]
    assert "cooldown_seconds" in v2 and ">60<" in v2
    reverted = fresh.post(
        f"{page}/revert", data={"csrf_token": csrf, "version": "1"}, follow_redirects=False
    )
    assert reverted.headers["location"].endswith("?reverted=3")
    current = fresh.get(api).json()
    assert current["version"] == 3 and current["cooldown_seconds"] == 900
    assert len(fresh.get(f"{api}/history").json()["versions"]) == 3


def test_a_rule_can_be_switched_off_in_production_only(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    page = _clone(fresh, csrf)
    api = page.replace("/admin/rules/", "/api/v1/rules/")
    off = fresh.post(
        f"{page}/environments",
        data={
            "csrf_token": csrf,
            "environment": "production",
            "turn": "off",
            "back": "/admin/rules",
        },
        follow_redirects=False,
    )
    assert off.status_code == 303 and off.headers["location"] == "/admin/rules"
    rule = fresh.get(api).json()
    assert rule["environment_scope"] == ["demo", "staging"] and rule["enabled"] is True
    for environment in ("demo", "staging"):
        fresh.post(
            f"{page}/environments",
            data={"csrf_token": csrf, "environment": environment, "turn": "off"},
        )
    last = fresh.post(
        f"{page}/environments", data={"csrf_token": csrf, "environment": "staging", "turn": "off"}
    )
    assert fresh.get(api).json()["environment_scope"] == ["staging"]
    assert last.status_code == 400 and "untick Enabled" in last.text


def test_builtin_rules_are_read_only_in_the_ui(fresh: TestClient) -> None:
    csrf = login(fresh, "olga", PASSWORD)
    page = fresh.get(f"/admin/rules/{BUILTIN}").text
    assert 'id="rule-form"' not in page and "Clone into a custom rule" in page
    refused = fresh.post(f"/admin/rules/{BUILTIN}", data=_form(csrf, version="1"))
    assert refused.status_code == 400 and "clone one" in refused.text

"""``/api/v1/rules``: built-in rules listed, cloned into custom overrides,
versioned (If-Match), refused at the safety boundaries, deleted, and every
change audited with its actor and before/after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from responder.app import create_app
from responder.policy.cel import CelError, default_engine
from responder.settings import Settings
from responder.taxonomy import builtin_taxonomy

TAXONOMY = builtin_taxonomy()
ACTOR = {"X-Robot-SRE-Actor": "alice@example.org"}
BUILTIN = "builtin.node_disk_pressure"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(store_url=f"sqlite:///{tmp_path}/s.db"))
    with TestClient(app) as client:
        yield client


def _rule(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "nightly-quiet",
        "name": "quiet disk pressure at night",
        "domain": "infrastructure",
        "incident_type": "node_disk_pressure",
        "owner": "alice",
        "allowed_action_profile": {"suspend_cronjob": "approval"},
    }
    body.update(overrides)
    return body


def _audit(client: TestClient, rule_id: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit", params={"subject": f"rule:{rule_id}"})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def _clone(client: TestClient, source: str = BUILTIN) -> dict[str, Any]:
    response = client.post(f"/api/v1/rules/{source}/clone", headers=ACTOR)
    assert response.status_code == 201, response.text
    clone: dict[str, Any] = response.json()
    return clone


# listing


def test_the_list_has_one_builtin_rule_per_incident_type(client: TestClient) -> None:
    response = client.get("/api/v1/rules")
    assert response.status_code == 200
    body = response.json()
    rules = body["rules"]
    assert body["count"] == len(rules) == 11 == len(TAXONOMY.incident_types)
    assert {r["id"] for r in rules} == {f"builtin.{t}" for t in TAXONOMY.incident_types}
    assert all(r["builtin"] is True for r in rules)
    disk = next(r for r in rules if r["id"] == BUILTIN)
    assert disk["incident_type"] == "node_disk_pressure"
    assert disk["domain"] == "infrastructure"
    assert disk["allowed_action_profile"]["suspend_cronjob"] == "auto"
    assert disk["allowed_action_profile"]["reboot_worker"] == "approval"
    # the rule schema of spec section 10
    assert {
        "id",
        "name",
        "enabled",
        "domain",
        "incident_type",
        "environment_scope",
        "signal_selector",
        "threshold_expression",
        "severity",
        "notification_policy",
        "allowed_action_profile",
        "cooldown_seconds",
        "suppression_schedule",
        "owner",
        "version",
    } <= set(disk)


def test_a_builtin_rule_can_be_read_on_its_own(client: TestClient) -> None:
    response = client.get(f"/api/v1/rules/{BUILTIN}")
    assert response.status_code == 200
    assert response.json()["builtin"] is True
    history = client.get(f"/api/v1/rules/{BUILTIN}/history").json()["versions"]
    assert [v["version"] for v in history] == [1]


# clone, update, history


def test_clone_update_history_and_audit(client: TestClient) -> None:
    clone = _clone(client)
    rule_id = clone["id"]
    assert clone["overrides"] == BUILTIN
    assert clone["version"] == 1
    assert clone["builtin"] is False
    assert clone["owner"] == "alice@example.org"
    assert not rule_id.startswith("builtin.")

    changed = {**clone, "threshold_expression": "incident.facts.nodes_affected > 1"}
    response = client.put(
        f"/api/v1/rules/{rule_id}", json=changed, headers={**ACTOR, "If-Match": "1"}
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["version"] == 2
    assert updated["threshold_expression"] == "incident.facts.nodes_affected > 1"
    assert client.get(f"/api/v1/rules/{rule_id}").json() == updated

    history = client.get(f"/api/v1/rules/{rule_id}/history")
    assert history.status_code == 200
    versions = history.json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["threshold_expression"] == "true"
    assert versions[1]["threshold_expression"] == "incident.facts.nodes_affected > 1"

    entries = _audit(client, rule_id)
    assert [e["action"] for e in entries] == ["rule.update", "rule.clone"]
    assert {e["actor"] for e in entries} == {"alice@example.org"}
    update, created = entries
    assert created["before"] is None
    assert created["after"]["version"] == 1
    assert update["before"]["threshold_expression"] == "true"
    assert update["before"]["version"] == 1
    assert update["after"]["threshold_expression"] == "incident.facts.nodes_affected > 1"
    assert update["after"]["version"] == 2
    assert all(e["subject"] == f"rule:{rule_id}" for e in entries)


def test_a_stale_if_match_is_a_conflict(client: TestClient) -> None:
    clone = _clone(client)
    rule_id = clone["id"]
    first = client.put(
        f"/api/v1/rules/{rule_id}",
        json={**clone, "cooldown_seconds": 600},
        headers={"If-Match": "1"},
    )
    assert first.status_code == 200
    stale = client.put(
        f"/api/v1/rules/{rule_id}",
        json={**clone, "cooldown_seconds": 300},
        headers={"If-Match": "1"},
    )
    assert stale.status_code == 409, stale.text
    assert client.get(f"/api/v1/rules/{rule_id}").json()["cooldown_seconds"] == 600
    # a quoted ETag-style version is read the same way
    ok = client.put(
        f"/api/v1/rules/{rule_id}",
        json={**clone, "cooldown_seconds": 300},
        headers={"If-Match": '"2"'},
    )
    assert ok.status_code == 200
    assert ok.json()["version"] == 3
    assert [e["action"] for e in _audit(client, rule_id)].count("rule.update") == 2


def test_a_malformed_if_match_is_refused(client: TestClient) -> None:
    clone = _clone(client)
    response = client.put(f"/api/v1/rules/{clone['id']}", json=clone, headers={"If-Match": "v1"})
    assert response.status_code == 400
    assert response.json()["field"] == "If-Match"


@pytest.mark.parametrize("builtin", sorted(f"builtin.{t}" for t in TAXONOMY.incident_types))
def test_every_builtin_rule_can_be_cloned(client: TestClient, builtin: str) -> None:
    """Cloning is how operators change a built-in rule; it must work for
    every type, registry_pull_failure (whose profile names patch_pull_secret)
    included."""
    clone = _clone(client, builtin)
    assert clone["overrides"] == builtin
    source = client.get(f"/api/v1/rules/{builtin}").json()
    assert clone["allowed_action_profile"] == source["allowed_action_profile"]


def test_clone_into_a_chosen_id_and_twice_is_a_conflict(client: TestClient) -> None:
    response = client.post(f"/api/v1/rules/{BUILTIN}/clone", params={"id": "my-disk"})
    assert response.status_code == 201
    assert response.json()["id"] == "my-disk"
    again = client.post(f"/api/v1/rules/{BUILTIN}/clone", params={"id": "my-disk"})
    assert again.status_code == 409


# built-in rules are versioned in code


def test_a_builtin_rule_cannot_be_replaced(client: TestClient) -> None:
    builtin = client.get(f"/api/v1/rules/{BUILTIN}").json()
    response = client.put(f"/api/v1/rules/{BUILTIN}", json={**builtin, "cooldown_seconds": 60})
    assert response.status_code == 400
    body = response.json()
    assert body["boundary"] == "built-in rules are versioned in code"
    assert "clone" in body["error"]
    assert client.get(f"/api/v1/rules/{BUILTIN}").json()["cooldown_seconds"] == 900


def test_a_builtin_rule_cannot_be_deleted(client: TestClient) -> None:
    response = client.delete(f"/api/v1/rules/{BUILTIN}")
    assert response.status_code == 400
    assert response.json()["boundary"] == "built-in rules are versioned in code"
    assert client.get(f"/api/v1/rules/{BUILTIN}").status_code == 200


# refusals


def test_a_rule_making_a_worker_reboot_automatic_is_refused(client: TestClient) -> None:
    response = client.post(
        "/api/v1/rules", json=_rule(allowed_action_profile={"reboot_worker": "auto"}), headers=ACTOR
    )
    assert response.status_code == 400
    body = response.json()
    assert body["boundary"] == "destructive actions are never auto-allowed"
    assert body["field"] == "allowed_action_profile.reboot_worker"
    assert client.get("/api/v1/rules/nightly-quiet").status_code == 404
    assert _audit(client, "nightly-quiet") == []


@pytest.mark.parametrize(
    ("overrides", "boundary"),
    [
        (
            {"allowed_action_profile": {"delete_pvc": "approval"}},
            "human-only actions stay human-only",
        ),
        ({"allowed_action_profile": {"rollout_restart": "auto"}}, "recover actions need approval"),
        ({"name": "kubectl delete ns image-factory"}, "no shell commands"),
        ({"owner": "password=hunter2"}, "no secret values"),
    ],
)
def test_refusals_name_the_boundary(
    client: TestClient, overrides: dict[str, Any], boundary: str
) -> None:
    response = client.post("/api/v1/rules", json=_rule(**overrides))
    assert response.status_code == 400
    assert response.json()["boundary"] == boundary


def test_an_unknown_field_is_refused_by_name(client: TestClient) -> None:
    response = client.post("/api/v1/rules", json=_rule(escalation_chain=["bob"]))
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "escalation_chain"
    assert "escalation_chain" in body["error"]
    assert "unknown rule field" in body["error"]


def test_an_invalid_threshold_is_refused_with_the_cel_message(client: TestClient) -> None:
    expression = "incident.facts.nodes_affected >"
    with pytest.raises(CelError) as cel:
        default_engine().compile(expression)
    response = client.post("/api/v1/rules", json=_rule(threshold_expression=expression))
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "threshold_expression"
    assert body["boundary"] == "valid CEL"
    assert str(cel.value) in body["error"]


def test_an_update_is_validated_too(client: TestClient) -> None:
    clone = _clone(client)
    hostile = {**clone, "allowed_action_profile": {"drain_node": "auto"}}
    response = client.put(f"/api/v1/rules/{clone['id']}", json=hostile)
    assert response.status_code == 400
    assert response.json()["boundary"] == "destructive actions are never auto-allowed"
    assert client.get(f"/api/v1/rules/{clone['id']}").json()["version"] == 1


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"a rule"'])
def test_a_body_that_is_not_a_json_object_is_refused(client: TestClient, content: bytes) -> None:
    response = client.post("/api/v1/rules", content=content)
    assert response.status_code == 400
    assert "error" in response.json()


# create and delete


def test_create_then_delete(client: TestClient) -> None:
    created = client.post("/api/v1/rules", json=_rule(), headers=ACTOR)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    assert created.json()["builtin"] is False
    listed = client.get("/api/v1/rules").json()
    assert listed["count"] == 12
    assert "nightly-quiet" in {r["id"] for r in listed["rules"]}

    duplicate = client.post("/api/v1/rules", json=_rule())
    assert duplicate.status_code == 409

    deleted = client.delete("/api/v1/rules/nightly-quiet", headers={"X-Robot-SRE-Actor": "bob"})
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get("/api/v1/rules/nightly-quiet").status_code == 404
    assert client.delete("/api/v1/rules/nightly-quiet").status_code == 404
    assert client.get("/api/v1/rules").json()["count"] == 11

    removal, creation = _audit(client, "nightly-quiet")
    assert (creation["action"], creation["actor"]) == ("rule.create", "alice@example.org")
    assert creation["before"] is None
    assert creation["after"]["id"] == "nightly-quiet"
    assert (removal["action"], removal["actor"]) == ("rule.delete", "bob")
    assert removal["before"]["id"] == "nightly-quiet"
    assert removal["after"] is None


def test_without_the_actor_header_the_actor_is_api(client: TestClient) -> None:
    client.post("/api/v1/rules", json=_rule())
    [entry] = _audit(client, "nightly-quiet")
    assert entry["actor"] == "api"
    assert entry["surface"] == "api"


def test_unknown_rules_are_404(client: TestClient) -> None:
    assert client.get("/api/v1/rules/nope").status_code == 404
    assert client.put("/api/v1/rules/nope", json=_rule(id="nope")).status_code == 404
    assert client.post("/api/v1/rules/nope/clone").status_code == 404
    assert client.get("/api/v1/rules/nope/history").status_code == 404

"""``/api/v1/automation``: pauses made, listed and lifted; automation modes
read and set, versioned; every change audited with its actor; writes need
the operator role; two replicas on one Redis see a pause within a second;
the explain answer names the pause."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fixtures.clock import T0, Clock
from fixtures.explain import explain_request
from fixtures.rigs import Responder
from starlette.testclient import TestClient

from responder.accounts.models import Role
from responder.app import create_app
from responder.guards.automation import AutomationBook, AutomationMode
from responder.guards.rails import GuardRails, GuardSubject, judge
from responder.sections import GuardSettings
from responder.settings import Settings
from responder.store import open_store
from responder.taxonomy import builtin_taxonomy

TAXONOMY = builtin_taxonomy()
ACTOR = {"X-Robot-SRE-Actor": "alice@example.org"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    rig = Responder(settings=Settings(store_url=f"sqlite:///{tmp_path}/s.db"), clock=clock)
    with rig.client as client:
        yield client


def _pause(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/automation/pause",
        json={"reason": "release freeze", "duration_seconds": 600, **body},
        headers=ACTOR,
    )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def _audit(client: TestClient, subject: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit", params={"subject": subject})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


# pauses


def test_a_pause_is_answered_with_its_record_and_listed(client: TestClient) -> None:
    pause = _pause(client, environment="demo", namespace="image-factory")
    assert pause["id"].startswith("pause-")
    assert pause["reason"] == "release freeze"
    assert pause["created_by"] == "alice@example.org"
    assert pause["scope"] == "environment demo, namespace image-factory"
    assert pause["expires_at"] == (T0 + timedelta(seconds=600)).isoformat().replace("+00:00", "Z")
    listed = client.get("/api/v1/automation/pause").json()
    assert listed["count"] == 1
    assert listed["pauses"][0]["id"] == pause["id"]


def test_a_pause_without_scope_pauses_the_whole_robot(client: TestClient) -> None:
    assert _pause(client)["scope"] == "the whole robot"


def test_a_pause_ends_on_its_own_when_its_duration_passes(client: TestClient, clock: Clock) -> None:
    _pause(client, duration_seconds=60)
    clock.now = T0 + timedelta(seconds=59)
    assert client.get("/api/v1/automation/pause").json()["count"] == 1
    clock.now = T0 + timedelta(seconds=60)
    assert client.get("/api/v1/automation/pause").json()["count"] == 0
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    assert store.list_documents("automation_pauses") == []  # collected, not just hidden


def test_delete_resumes_and_both_ends_are_audited(client: TestClient) -> None:
    pause = _pause(client)
    response = client.delete(f"/api/v1/automation/pause/{pause['id']}", headers=ACTOR)
    assert response.status_code == 204
    assert client.get("/api/v1/automation/pause").json()["count"] == 0
    assert client.delete(f"/api/v1/automation/pause/{pause['id']}").status_code == 404
    entries = _audit(client, f"pause:{pause['id']}")
    assert [e["action"] for e in entries] == ["automation.resume", "automation.pause"]
    assert all(e["actor"] == "alice@example.org" for e in entries)
    assert "release freeze" in entries[1]["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"duration_seconds": 60}, "reason"),
        ({"reason": "  ", "duration_seconds": 60}, "reason"),
        ({"reason": "x"}, "duration_seconds"),
        ({"reason": "x", "duration_seconds": 0}, "duration_seconds"),
        ({"reason": "x", "duration_seconds": 60, "environment": "moon"}, "environment"),
        ({"reason": "x", "duration_seconds": 60, "everything": True}, "everything"),
    ],
)
def test_a_bad_pause_is_refused_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/automation/pause", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field


# modes


def test_modes_default_to_auto_for_every_builtin_type(client: TestClient) -> None:
    matrix = client.get("/api/v1/automation/modes").json()
    assert matrix["version"] == 0
    assert len(matrix["modes"]) == 3 * len(TAXONOMY.incident_types)
    assert {(m["mode"], m["source"]) for m in matrix["modes"]} == {("auto", "default")}


def test_setting_a_mode_is_versioned_and_audited(client: TestClient) -> None:
    body = {
        "modes": [
            {"incident_type": "node_disk_pressure", "environment": "production", "mode": "shadow"}
        ]
    }
    response = client.put("/api/v1/automation/modes", json=body, headers=ACTOR)
    assert response.status_code == 200, response.text
    matrix = response.json()
    assert matrix["version"] == 1
    row = next(
        m
        for m in matrix["modes"]
        if (m["incident_type"], m["environment"]) == ("node_disk_pressure", "production")
    )
    assert (row["mode"], row["source"]) == ("shadow", "set")
    # a stale version is refused
    stale = client.put("/api/v1/automation/modes", json=body, headers={**ACTOR, "If-Match": '"0"'})
    assert stale.status_code == 409
    [entry] = _audit(client, "automation:modes")
    assert entry["actor"] == "alice@example.org"
    assert entry["after"]["modes"] == {"node_disk_pressure|production": "shadow"}


@pytest.mark.parametrize(
    "entry",
    [
        {"incident_type": "no_such_type", "environment": "demo", "mode": "auto"},
        {"incident_type": "node_disk_pressure", "environment": "demo", "mode": "yolo"},
        {"incident_type": "node_disk_pressure", "environment": "mars", "mode": "auto"},
    ],
)
def test_a_bad_mode_is_refused(client: TestClient, entry: dict[str, str]) -> None:
    response = client.put("/api/v1/automation/modes", json={"modes": [entry]})
    assert response.status_code == 400, response.text
    assert response.json()["field"].startswith("modes[0]")


def test_types_outside_the_builtin_catalogue_start_in_shadow(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    book = AutomationBook(store, ["node_disk_pressure"])
    assert book.mode("node_disk_pressure", "demo") == (AutomationMode.auto, False)
    assert book.mode("operator_defined_type", "demo") == (AutomationMode.shadow, False)
    store.close()


# access


def test_writes_need_the_operator_role_reads_the_viewer_role(client: TestClient) -> None:
    accounts = client.app.state.runtime.accounts  # type: ignore[attr-defined]
    _, viewer = accounts.tokens.create("dashboards", Role.viewer, (), "admin", "test")
    _, operator = accounts.tokens.create("on-call", Role.operator, (), "admin", "test")
    accounts._exists = None  # the "any account yet" cache
    body = {"reason": "incident review", "duration_seconds": 60}
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    as_operator = {"Authorization": f"Bearer {operator}"}
    assert client.post("/api/v1/automation/pause", json=body).status_code == 401
    assert client.post("/api/v1/automation/pause", json=body, headers=as_viewer).status_code == 403
    assert client.get("/api/v1/automation/pause", headers=as_viewer).status_code == 200
    made = client.post("/api/v1/automation/pause", json=body, headers=as_operator)
    assert made.status_code == 201, made.text
    assert made.json()["created_by"] == "token/on-call"
    gone = client.delete(f"/api/v1/automation/pause/{made.json()['id']}", headers=as_viewer)
    assert gone.status_code == 403


# explain


def test_explain_names_the_pause_in_its_guards(client: TestClient) -> None:
    request = explain_request()
    before = client.post("/api/v1/policy/explain", json=request).json()
    assert (before["decision"], before["guards"]) == ("auto", [])
    pause = _pause(client, reason="database migration in progress")
    answer = client.post("/api/v1/policy/explain", json=request).json()
    assert answer["policy_decision"] == "auto"
    assert answer["decision"] == "approval"
    assert [layer["layer"] for layer in answer["layers"]] == [
        "taxonomy",
        "defaults",
        "environment",
        "operator",
        "hard_constraints",
    ]
    [note] = answer["guards"]
    assert note["guard"] == "pause"
    assert pause["id"] in note["reason"]
    assert "database migration in progress" in note["reason"]
    assert answer["reason"] == note["reason"]


# replicas


def test_a_replica_sharing_redis_sees_a_pause_within_a_second(
    redis_url: str, redis_namespace: str
) -> None:
    """A pause set on one replica stops ``auto`` on another within 1 s and
    lifts at its expiry (the replicas' clock is injected and moved by hand)."""
    one = open_store(redis_url, redis_namespace)
    two = open_store(redis_url, redis_namespace)
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    first = AutomationBook(one, TAXONOMY.incident_types, clock)
    second = AutomationBook(two, TAXONOMY.incident_types, clock)
    rails = GuardRails(two, second, Settings().section(GuardSettings), clock)
    contain = GuardSubject(
        incident_type="node_disk_pressure",
        environment="demo",
        action="suspend_cronjob",
        action_class="contain",
        target={"kind": "cronjob", "namespace": "trivy-system", "name": "trivy-db-warmup"},
        namespace="trivy-system",
    )

    def on_two() -> str:
        return judge("auto", "the policy", contain, rails.snapshot()).decision

    def within_a_second(wanted: str, what: str) -> None:
        started = time.monotonic()
        while on_two() != wanted:
            assert time.monotonic() - started < 1.2, f"the replica did not see {what} in 1 s"
            time.sleep(0.05)

    try:
        assert second.active_pauses() == []  # cached empty now
        assert on_two() == "auto"
        made = first.pause({"reason": "freeze", "duration_seconds": 300}, "alice", "api")
        within_a_second("approval", "the pause")
        assert [p.id for p in second.active_pauses()] == [made.id]
        first.resume(made.id, "alice", "api")
        within_a_second("auto", "the resume")
        assert second.active_pauses() == []

        # a pause that runs out lifts at its expiry, on the other replica too
        short = first.pause({"reason": "short freeze", "duration_seconds": 120}, "alice", "api")
        within_a_second("approval", "the second pause")
        clock.advance(119)
        assert on_two() == "approval"
        clock.advance(1)  # the expiry
        assert on_two() == "auto"
        assert second.active_pauses() == []
        assert [p.id for p in first.active_pauses()] == []
        assert short.expires_at == clock()
    finally:
        one.close()
        two.close()


def test_explain_shows_an_automatic_restart_waiting_outside_the_windows(tmp_path: Path) -> None:
    window = {"days": ["sat"], "start": "02:00", "end": "04:00", "timezone": "Europe/Berlin"}
    settings = Settings(store_url=f"sqlite:///{tmp_path}/s.db", action_windows=[window])
    request = {
        "incident_type": "runtime_dependency_outage",
        "environment": "demo",
        "confidence": "high",
        "action": "rollout_restart",
        "target": "deployment/data/redis-master",
    }
    with TestClient(create_app(settings)) as client:
        thursday = client.post(
            "/api/v1/policy/explain", json={**request, "at": "2026-11-26T08:00:00Z"}
        ).json()
        assert (thursday["policy_decision"], thursday["decision"]) == ("auto", "approval")
        assert [g["guard"] for g in thursday["guards"]] == ["action_window"]
        inside = client.post(
            "/api/v1/policy/explain", json={**request, "at": "2026-11-28T02:30:00+01:00"}
        ).json()
        assert (inside["decision"], inside["guards"]) == ("auto", [])
        # containment is not held by windows
        contain = client.post(
            "/api/v1/policy/explain",
            json={
                **request,
                "incident_type": "node_disk_pressure",
                "action": "suspend_cronjob",
                "target": "cronjob/trivy-system/trivy-db-warmup",
                "at": "2026-11-26T08:00:00Z",
            },
        ).json()
        assert contain["decision"] == "auto"


def test_the_openapi_document_describes_the_automation_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/v1/automation/pause"]) == {"get", "post"}
    assert set(paths["/api/v1/automation/pause/{pause_id}"]) == {"delete"}
    assert set(paths["/api/v1/automation/modes"]) == {"get", "put"}


def test_the_approve_answer_takes_an_override_window_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUARDS_BOB_TOKEN", "bob-" + "x" * 32)
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/s.db",
        approvers=[{"name": "bob", "environments": ["demo"], "token_env": "GUARDS_BOB_TOKEN"}],
    )
    bob = {"Authorization": "Bearer bob-" + "x" * 32}
    with TestClient(create_app(settings)) as client:
        bad = client.post(
            "/api/v1/approvals/nope/approve", json={"override_window": "yes"}, headers=bob
        )
        assert bad.status_code == 400
        assert bad.json()["field"] == "override_window"
        unknown = client.post(
            "/api/v1/approvals/nope/approve", json={"override_window": True}, headers=bob
        )
        assert unknown.status_code == 404

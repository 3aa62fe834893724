"""Promotion by evidence: incidents made by the real pipeline in shadow mode
(acting through a real runner on an HTTP stub, with an injected
clock), marked through ``POST /api/v1/incidents/{id}/mark``, and the
readiness of each class read from ``GET /api/v1/automation/readiness``:
shadow counts, agreement and false-positive rates, rollbacks inside and
outside the window, the bar's edges, classes kept apart, marks replaced,
audited and counted, bad requests answered with the field."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fixtures.alerts import disk
from fixtures.clock import T0, Clock
from fixtures.executors import HttpExecutor, applies
from fixtures.http_stub import StubServer
from fixtures.rigs import Responder

from responder.accounts.models import Role
from responder.records.action import ActionRequest
from responder.records.incident import ExecutedAction, Incident
from responder.records.target import Target
from responder.store import IncidentFilter, Store, open_store

ACTOR = {"X-Robot-SRE-Actor": "alice@example.org"}
#: what the stub executor serves (the chat failover too: no chat channel is
#: configured here, so nothing else would serve it and it could not run)
ACTIONS = frozenset(
    {
        "delete_completed_pods",
        "suspend_cronjob",
        "scale_to_zero",
        "resume_workload",
        "failover_channel",
    }
)
CHATOPS = "chatops_delivery_failure"
DRIFT = "release_drift_or_partial_apply"
DISK = "node_disk_pressure"
DAY = 86400
BAR = {"min_shadow_decisions": 20, "min_agreement": 0.95, "rollback_free_days": 14}


def channel_failing(integration: str = "slack") -> list[dict[str, str]]:
    """One alert: a cluster-wide chat-delivery incident (one shadow decision:
    ``failover_channel``, again after each 15-minute action cooldown)."""
    return [
        {
            "alertname": "AlertmanagerFailedToSendAlerts",
            "integration": integration,
            "severity": "warning",
        }
    ]


def rollout_stuck(deployment: str) -> list[dict[str, str]]:
    """One alert: a release-drift incident on ``deployment`` (one shadow decision:
    the restart; the field ownership needs the drifted fields and the reconcile
    a Helm release, which nothing names here: both are recommendations)."""
    return [
        {
            "alertname": "KubeDeploymentRolloutStuck",
            "namespace": "apps",
            "deployment": deployment,
            "severity": "warning",
        }
    ]


class Robot(Responder):
    """A responder with its HTTP API."""

    def __init__(
        self, executor_stub: StubServer, store: Store, clock: Clock | None = None, **settings: Any
    ) -> None:
        super().__init__(
            store,
            executors=[HttpExecutor(executor_stub, ACTIONS)],
            clock=clock,
            **{"action_timeout_seconds": 2.0, "observation_poll_seconds": 60, **settings},
        )
        self.executor_stub = executor_stub
        self.runtime.automation.refresh_seconds = 0.0  # the test moves faster than the cache

    def set_mode(self, incident_type: str, mode: str) -> None:
        answer = self.client.put(
            "/api/v1/automation/modes",
            json={
                "modes": [
                    {
                        "incident_type": incident_type,
                        "environment": str(self.settings.environment),
                        "mode": mode,
                    }
                ]
            },
            headers=ACTOR,
        )
        assert answer.status_code == 200, answer.text

    def open_incident(self, alerts: list[dict[str, str]]) -> Incident:
        """Fire ``alerts``; the incident they made or updated."""
        self.fire(*alerts)
        key_label = alerts[0].get("deployment") or alerts[0].get("node") or "cluster"
        [found] = [
            i
            for i in self.runtime.store.list_incidents(IncidentFilter(limit=1000))
            if i.resource_scope.name == key_label and i.environment == self.settings.environment
        ]
        return found

    def poll_after_cooldown(self) -> None:
        self.clock.advance(900)
        self.runtime.scheduler.poll()

    def mark(self, incident_id: str, **body: Any) -> dict[str, Any]:
        answer = self.client.post(f"/api/v1/incidents/{incident_id}/mark", json=body, headers=ACTOR)
        assert answer.status_code == 200, answer.text
        mark: dict[str, Any] = answer.json()
        return mark

    def readiness(self, **query: str) -> dict[str, Any]:
        answer = self.client.get("/api/v1/automation/readiness", params=query)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def row(self, incident_type: str, environment: str = "demo") -> dict[str, Any]:
        answer = self.readiness(incident_type=incident_type, environment=environment)
        assert answer["bar"] == self.settings.promotion_bar.model_dump()
        [row] = answer["classes"]
        found: dict[str, Any] = row
        return found

    def counted(self, name: str, **labels: str) -> float:
        value = self.runtime.metrics.registry.get_sample_value(name, labels)
        return value or 0.0


@pytest.fixture
def make(executor_stub: StubServer, tmp_path: Path) -> Iterator[Any]:
    stores: list[Store] = []

    def build(**settings: Any) -> Robot:
        store = open_store(f"sqlite:///{tmp_path}/state.db")
        stores.append(store)
        return Robot(executor_stub, store, **settings)

    yield build
    for store in stores:
        store.close()


# the shadow-decision edge of the bar


def test_nineteen_shadow_decisions_are_not_enough_twenty_are(make: Any) -> None:
    robot = make()
    robot.set_mode(CHATOPS, "shadow")
    incident = robot.open_incident(channel_failing())
    before = robot.row(CHATOPS)
    assert before["mode"] == "shadow"
    assert (before["shadow_decisions"], before["marked"]) == (1, 0)
    assert (before["agreement_rate"], before["false_positive_rate"]) == (None, None)
    assert before["missing"] == [
        "1 of 20 shadow decisions",
        "no action verdicts yet (agreement must reach 95%)",
    ]
    robot.mark(incident.id, classification="right", action="right")
    for _ in range(18):
        robot.poll_after_cooldown()
    row = robot.row(CHATOPS)
    assert (row["shadow_decisions"], row["marked"]) == (19, 1)
    assert (row["agreement_rate"], row["false_positive_rate"]) == (1.0, 0.0)
    assert (row["ready"], row["missing"]) == (False, ["19 of 20 shadow decisions"])
    robot.poll_after_cooldown()
    row = robot.row(CHATOPS)
    assert row["shadow_decisions"] == 20
    assert (row["ready"], row["missing"], row["rollbacks"]) == (True, [], 0)
    # what the readiness counts is what the shadow-decision metric counts
    shadow_counted = sum(
        robot.counted(
            "ops_shadow_decisions_total",
            incident_type=CHATOPS,
            action="failover_channel",
            environment="demo",
            decision=decision,
        )
        for decision in ("auto", "approval")
    )
    assert shadow_counted == 20.0
    # readiness says so; the mode stays a person's to change, and nothing ran
    assert robot.row(CHATOPS)["mode"] == "shadow"
    assert applies(robot.executor_stub) == 0


# the agreement edge of the bar, and the false-positive rate


def test_eighteen_of_nineteen_agreeing_is_not_ready_nineteen_of_twenty_is(make: Any) -> None:
    robot = make()
    robot.set_mode(DRIFT, "shadow")
    incidents = [robot.open_incident(rollout_stuck(f"web-{n}")) for n in range(20)]
    for n, incident in enumerate(incidents[:19]):
        robot.mark(
            incident.id,
            action="false_positive" if n == 0 else "right",
            classification="false_positive" if n in (1, 2) else "right",
        )
    row = robot.row(DRIFT)
    assert (row["shadow_decisions"], row["marked"]) == (20, 19)
    assert row["agreement_rate"] == pytest.approx(18 / 19)
    assert row["false_positive_rate"] == pytest.approx(2 / 19)
    assert (row["ready"], row["missing"]) == (False, ["agreement 94.7% < 95%"])
    # a mark with only an action verdict moves the agreement, not the false positives
    robot.mark(incidents[19].id, action="right")
    row = robot.row(DRIFT)
    assert row["marked"] == 20
    assert row["agreement_rate"] == 0.95
    assert row["false_positive_rate"] == pytest.approx(2 / 19)
    assert (row["ready"], row["missing"]) == (True, [])
    assert (
        robot.counted(
            "ops_false_positives_total", incident_type=DRIFT, environment="demo", kind="action"
        )
        == 1.0
    )
    assert (
        robot.counted(
            "ops_false_positives_total",
            incident_type=DRIFT,
            environment="demo",
            kind="classification",
        )
        == 2.0
    )


# rollbacks


def test_a_rolled_back_mark_holds_the_class_back_for_fourteen_days(make: Any) -> None:
    robot = make(promotion_bar={"min_shadow_decisions": 1})
    robot.set_mode(CHATOPS, "shadow")
    incident = robot.open_incident(channel_failing())
    robot.mark(incident.id, action="right", rolled_back=True)
    row = robot.readiness(incident_type=CHATOPS, environment="demo")["classes"][0]
    assert (row["rollbacks"], row["last_rollback_at"]) == (1, T0.isoformat())
    assert (row["ready"], row["missing"]) == (False, ["rolled back today"])
    robot.clock.advance(3 * DAY)
    row = robot.readiness(incident_type=CHATOPS)["classes"][0]
    assert row["missing"] == ["rolled back 3 days ago"]
    robot.clock.advance(11 * DAY - 60)  # one minute short of 14 days
    row = robot.readiness(incident_type=CHATOPS)["classes"][0]
    assert (row["rollbacks"], row["missing"]) == (1, ["rolled back 13 days ago"])
    robot.clock.advance(120)  # 14 days and a minute
    row = robot.readiness(incident_type=CHATOPS)["classes"][0]
    assert (row["rollbacks"], row["ready"], row["missing"]) == (0, True, [])
    assert row["last_rollback_at"] == T0.isoformat()
    assert row["bar"] == {**BAR, "min_shadow_decisions": 1}


def test_a_robot_write_a_person_undid_is_a_rollback(make: Any) -> None:
    robot = make(promotion_bar={"min_shadow_decisions": 0})
    incident = robot.open_incident(disk("10.0.10.202"))  # a built-in type: auto, the robot contains
    [done] = [
        a
        for a in incident.executed_actions
        if a.action == "delete_completed_pods" and a.result == "succeeded"
    ]
    assert done.actor == "robot" and done.inverse is not None
    robot.mark(incident.id, action="right")
    assert robot.row(DISK)["rollbacks"] == 0
    # two hours later a person runs the recorded inverse on the same target
    robot.clock.advance(2 * 3600)
    undo = robot.runtime.runner.run(
        incident,
        ActionRequest(
            action=done.inverse["action"],
            target=Target(
                kind=done.inverse["target"]["kind"],
                namespace=done.inverse["target"].get("namespace") or None,
                name=done.inverse["target"]["name"],
            ),
            incident_id=incident.id,
            params=done.inverse["params"],
        ),
        "auto",
        actor="alice",
    )
    assert undo.executed is not None and undo.executed.result == "succeeded"
    current = robot.runtime.store.get_incident(incident.id)
    assert current is not None
    current.executed_actions.append(undo.executed)
    robot.runtime.store.save_incident(current)
    row = robot.row(DISK)
    assert (row["rollbacks"], row["ready"]) == (1, False)
    assert row["last_rollback_at"] == (T0 + timedelta(hours=2)).isoformat()
    assert row["missing"] == ["rolled back today"]
    # the robot running an inverse itself is no person's undo
    current.executed_actions.append(
        ExecutedAction(
            action=done.action,
            target=done.target,
            actor="robot",
            result="succeeded",
            at=robot.clock(),
            inverse=done.inverse,
        )
    )
    current.executed_actions.append(replace(undo.executed, actor="robot", at=robot.clock()))
    robot.runtime.store.save_incident(current)
    assert robot.row(DISK)["rollbacks"] == 1
    robot.clock.advance(15 * DAY)
    assert (robot.row(DISK)["rollbacks"], robot.row(DISK)["ready"]) == (0, True)


# classes kept apart


def test_another_type_or_environment_does_not_leak_into_a_class(make: Any) -> None:
    # two responders, one per environment, on one store
    demo = make(promotion_bar={"min_shadow_decisions": 1})
    staging = make(environment="staging", promotion_bar={"min_shadow_decisions": 1})
    demo.set_mode(CHATOPS, "shadow")
    demo.set_mode(DRIFT, "shadow")
    staging.set_mode(DRIFT, "shadow")
    chat = demo.open_incident(channel_failing())
    drift_demo = demo.open_incident(rollout_stuck("web"))
    drift_staging = staging.open_incident(rollout_stuck("api"))
    demo.mark(chat.id, action="right", classification="right")
    demo.mark(drift_demo.id, action="false_positive", classification="false_positive")
    staging.mark(drift_staging.id, action="right", rolled_back=True)
    everything = demo.readiness()["classes"]
    assert [(r["incident_type"], r["environment"]) for r in everything] == [
        (CHATOPS, "demo"),
        (DRIFT, "demo"),
        (DRIFT, "staging"),
    ]
    chat_row, drift_row, staging_row = everything
    assert (chat_row["shadow_decisions"], chat_row["agreement_rate"]) == (1, 1.0)
    assert (chat_row["false_positive_rate"], chat_row["ready"]) == (0.0, True)
    assert (drift_row["shadow_decisions"], drift_row["agreement_rate"]) == (1, 0.0)
    assert (drift_row["false_positive_rate"], drift_row["rollbacks"]) == (1.0, 0)
    assert drift_row["missing"] == ["agreement 0% < 95%"]
    assert (staging_row["shadow_decisions"], staging_row["agreement_rate"]) == (1, 1.0)
    assert staging_row["false_positive_rate"] is None
    assert (staging_row["rollbacks"], staging_row["missing"]) == (1, ["rolled back today"])
    assert [r["environment"] for r in demo.readiness(environment="staging")["classes"]] == [
        "staging"
    ]
    assert [r["environment"] for r in demo.readiness(incident_type=DRIFT)["classes"]] == [
        "demo",
        "staging",
    ]
    # a class asked for by name answers even before it has incidents
    [empty] = demo.readiness(incident_type=DISK, environment="production")["classes"]
    assert (empty["shadow_decisions"], empty["marked"], empty["ready"]) == (0, 0, False)
    assert empty["mode"] == "auto"
    assert empty["missing"][0] == "0 of 1 shadow decisions"


def test_readiness_pages_through_thousands_of_incidents(make: Any) -> None:
    robot = make()
    robot.set_mode(CHATOPS, "shadow")
    robot.set_mode(DRIFT, "shadow")
    chat = robot.open_incident(channel_failing())
    drift = robot.open_incident(rollout_stuck("web"))
    store = robot.runtime.store
    for n in range(1, 1201):
        template = chat if n % 2 else drift
        store.save_incident(
            template.model_copy(
                update={
                    "id": f"{template.incident_type[:4]}-{n:05d}",
                    "correlation_key": f"{template.correlation_key}#{n}",
                    "created_at": T0 - timedelta(minutes=n),
                }
            )
        )
    robot.mark(f"chat-{1199:05d}", action="right")
    robot.mark(f"rele-{1200:05d}", action="false_positive")
    rows = {r["incident_type"]: r for r in robot.readiness()["classes"]}
    assert rows[CHATOPS]["shadow_decisions"] == 601 * 1
    assert rows[DRIFT]["shadow_decisions"] == 601 * 1
    assert (rows[CHATOPS]["marked"], rows[CHATOPS]["agreement_rate"]) == (1, 1.0)
    assert (rows[DRIFT]["marked"], rows[DRIFT]["agreement_rate"]) == (1, 0.0)
    [chat_only] = robot.readiness(incident_type=CHATOPS)["classes"]
    assert chat_only["shadow_decisions"] == 601


# marks: replaced, kept, audited, counted


def test_marking_again_replaces_the_mark_keeps_history_audits_and_counts(make: Any) -> None:
    robot = make()
    robot.set_mode(CHATOPS, "shadow")
    incident = robot.open_incident(channel_failing())
    assert robot.runtime.marks.get(incident.id) is None
    first = robot.mark(
        incident.id, classification="false_positive", action="false_positive", note=" noisy "
    )
    assert first == {
        "incident_id": incident.id,
        "incident_type": CHATOPS,
        "environment": "demo",
        "classification": "false_positive",
        "action": "false_positive",
        "rolled_back": None,
        "note": "noisy",
        "marked_by": "alice@example.org",
        "marked_at": T0.isoformat(),
        "version": 1,
    }
    labels = {"incident_type": CHATOPS, "environment": "demo"}
    assert robot.counted("ops_false_positives_total", **labels, kind="classification") == 1.0
    assert robot.counted("ops_false_positives_total", **labels, kind="action") == 1.0
    robot.clock.advance(60)
    again = robot.mark(incident.id, classification="false_positive", action="false_positive")
    assert again["version"] == 2
    # the same verdict again is not a new false positive
    assert robot.counted("ops_false_positives_total", **labels, kind="classification") == 1.0
    third = robot.mark(incident.id, action="right")
    assert (third["version"], third["classification"], third["action"]) == (3, None, "right")
    assert robot.runtime.marks.get(incident.id) == third
    row = robot.row(CHATOPS)
    assert (row["marked"], row["agreement_rate"], row["false_positive_rate"]) == (1, 1.0, None)
    robot.mark(incident.id, classification="false_positive")
    assert robot.counted("ops_false_positives_total", **labels, kind="classification") == 2.0
    assert robot.counted("ops_false_positives_total", **labels, kind="action") == 1.0
    history = robot.runtime.store.document_history("incident_marks", incident.id)
    assert [v for v, _ in history] == [1, 2, 3, 4]
    audit = robot.client.get("/api/v1/audit", params={"subject": f"incident:{incident.id}"}).json()
    marks = [e for e in audit["entries"] if e["action"] == "incident.mark"]
    assert len(marks) == 4
    newest = marks[0]
    assert (newest["actor"], newest["surface"]) == ("alice@example.org", "api")
    assert newest["before"]["action"] == "right" and newest["before"]["version"] == 3
    assert newest["after"]["classification"] == "false_positive"
    assert newest["after"]["version"] == 4
    assert newest["detail"] == f"marked {CHATOPS} in demo: classification false_positive"
    assert marks[-1]["before"] is None


# answers to bad requests and access


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"verdict": "right"}, "verdict", "unknown field"),
        ({"classification": "maybe"}, "classification", "right"),
        ({"action": "wrong"}, "action", "false_positive"),
        ({"rolled_back": "yes"}, "rolled_back", "boolean"),
        ({"action": "right", "note": "x" * 501}, "note", "500"),
        ({"note": "only a note"}, "classification", "at least one of"),
        ({}, "classification", "at least one of"),
    ],
)
def test_a_bad_mark_is_refused_naming_the_field(
    make: Any, body: dict[str, Any], field: str, says: str
) -> None:
    robot = make()
    incident = robot.open_incident(channel_failing())
    answer = robot.client.post(f"/api/v1/incidents/{incident.id}/mark", json=body, headers=ACTOR)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert says in answer.json()["error"]
    assert robot.runtime.marks.get(incident.id) is None


def test_unknown_incidents_bad_json_and_bad_queries_are_answered(make: Any) -> None:
    robot = make()
    missing = robot.client.post(
        "/api/v1/incidents/nope/mark", json={"action": "right"}, headers=ACTOR
    )
    assert missing.status_code == 404
    assert "nope" in missing.json()["error"]
    incident = robot.open_incident(channel_failing())
    broken = robot.client.post(
        f"/api/v1/incidents/{incident.id}/mark", content=b"{not json", headers=ACTOR
    )
    assert broken.status_code == 400
    listed = robot.client.post(
        f"/api/v1/incidents/{incident.id}/mark", json=["right"], headers=ACTOR
    )
    assert listed.status_code == 400
    moon = robot.client.get("/api/v1/automation/readiness", params={"environment": "moon"})
    assert (moon.status_code, moon.json()["field"]) == (400, "environment")
    typo = robot.client.get("/api/v1/automation/readiness", params={"type": DISK})
    assert (typo.status_code, typo.json()["field"]) == (400, "type")


def test_marking_needs_the_operator_role_readiness_the_viewer_role(make: Any) -> None:
    robot = make()
    incident = robot.open_incident(channel_failing())
    accounts = robot.runtime.accounts
    assert accounts is not None
    _, viewer = accounts.tokens.create("dashboards", Role.viewer, (), "admin", "test")
    _, operator = accounts.tokens.create("on-call", Role.operator, (), "admin", "test")
    accounts._exists = None  # the "any account yet" cache
    url = f"/api/v1/incidents/{incident.id}/mark"
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    as_operator = {"Authorization": f"Bearer {operator}"}
    assert robot.client.post(url, json={"action": "right"}).status_code == 401
    assert robot.client.post(url, json={"action": "right"}, headers=as_viewer).status_code == 403
    made = robot.client.post(url, json={"action": "right"}, headers=as_operator)
    assert made.status_code == 200, made.text
    assert made.json()["marked_by"] == "token/on-call"
    assert robot.client.get("/api/v1/automation/readiness").status_code == 401
    read = robot.client.get("/api/v1/automation/readiness", headers=as_viewer)
    assert read.status_code == 200
    assert read.json()["classes"][0]["marked"] == 1


def test_the_openapi_document_describes_marks_and_readiness(make: Any) -> None:
    document = make().client.get("/openapi.json").json()
    paths = document["paths"]
    mark = paths["/api/v1/incidents/{incident_id}/mark"]
    assert set(mark) == {"post"}
    # its own answers and those every /api/v1 write may give (guard, input, store)
    assert set(mark["post"]["responses"]) == {"200", "400", "401", "403", "404", "422", "503"}
    ref = mark["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = document["components"]["schemas"][ref.removeprefix("#/components/schemas/")]
    assert set(body["properties"]) == {"classification", "action", "rolled_back", "note"}
    readiness = paths["/api/v1/automation/readiness"]
    assert set(readiness) == {"get"}
    assert [p["name"] for p in readiness["get"]["parameters"]] == ["incident_type", "environment"]


# the Redis store


def test_marks_and_readiness_on_the_redis_store(
    executor_stub: StubServer, redis_url: str, redis_namespace: str
) -> None:
    store = open_store(redis_url, redis_namespace)
    try:
        robot = Robot(executor_stub, store, promotion_bar={"min_shadow_decisions": 2})
        robot.set_mode(CHATOPS, "shadow")
        incident = robot.open_incident(channel_failing())
        robot.poll_after_cooldown()
        mark = robot.mark(incident.id, classification="right", action="right")
        assert mark["version"] == 1
        again = robot.mark(incident.id, classification="false_positive", action="right")
        assert again["version"] == 2
        row = robot.readiness(incident_type=CHATOPS, environment="demo")["classes"][0]
        assert (row["shadow_decisions"], row["marked"]) == (2, 1)
        assert (row["agreement_rate"], row["false_positive_rate"]) == (1.0, 1.0)
        assert (row["ready"], row["missing"]) == (True, [])
        # a second replica on the same Redis reads the same evidence
        other = Robot(executor_stub, open_store(redis_url, redis_namespace), clock=robot.clock)
        assert other.runtime.marks.get(incident.id) == again
        [seen] = other.runtime.marks.readiness(CHATOPS, "demo")
        assert seen["shadow_decisions"] == 2 and seen["marked"] == 1
        other.runtime.store.close()
    finally:
        store.close()

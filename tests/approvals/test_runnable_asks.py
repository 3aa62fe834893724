"""Never ask for what cannot run (issue 14): an action no executor serves, or
whose plan the executor refuses, is recommended with the reason instead of
asked, in the record and the explain answer; an approved request that cannot
run after all ends ``failed`` with the reason, never stays ``approved``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fixtures.alerts import DISK
from fixtures.executors import HttpExecutor
from fixtures.explain import explain_request
from fixtures.http_stub import Answer, StubServer
from fixtures.rigs import Responder

from responder.approvals.approvers import Approver
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.settings import Settings
from responder.store import Store

BOB = Approver(name="bob", environments=frozenset({"demo"}))


@pytest.fixture
def rig(store: Store, executor_stub: StubServer) -> Responder:
    # the stub serves cordon and drain; nothing here serves reboot or replace
    # (no OCI configured), and no cluster is configured for the rest
    executor = HttpExecutor(executor_stub, frozenset({"cordon_node", "drain_node"}))
    return Responder(
        store,
        executors=[executor],
        settings=Settings(dry_run=False, ladder_holds_asks=False),
    )


def asked(rig: Responder, incident: Incident) -> dict[str, Any]:
    return {a.action: a for a in rig.runtime.approval_requests.for_incident(incident.id)}


def test_an_action_no_executor_serves_is_recommended_with_the_reason(rig: Responder) -> None:
    rig.fire(DISK)
    incident = rig.only()
    assert {"cordon_node", "drain_node"} <= set(asked(rig, incident))
    assert not {"reboot_worker", "replace_worker"} & set(asked(rig, incident))
    shown = {r.action: r for r in incident.recommended_actions}
    assert (shown["reboot_worker"].decision, shown["reboot_worker"].reason) == (
        "recommend",
        "cannot run here: no executor serves reboot_worker here",
    )
    # the decision log keeps the policy's word beside what the robot does with it
    [trace] = [d for d in incident.decisions if d["action"] == "reboot_worker"]
    assert (trace["policy_decision"], trace["decision"]) == ("approval", "recommend")
    assert trace["cannot_run"] == "no executor serves reboot_worker here"


def test_an_action_whose_plan_cannot_be_made_is_recommended_not_asked(rig: Responder) -> None:
    rig.fire(DISK)
    incident = rig.only()
    # suspend_cronjob has an executor but no cronjob target, delete_completed_pods
    # a target but no cluster to plan on: neither is asked
    shown = {r.action: r for r in incident.recommended_actions}
    assert shown["suspend_cronjob"].reason == (
        "cannot run here: the evidence names no cronjob for suspend_cronjob; "
        "the incident's scope is a node (10.0.10.202)"
    )
    assert "no Kubernetes cluster is configured" in shown["delete_completed_pods"].reason
    assert not {"suspend_cronjob", "delete_completed_pods"} & set(asked(rig, incident))


def test_a_request_shows_the_plan_and_what_undoes_it(rig: Responder) -> None:
    rig.fire(DISK)
    cordon = asked(rig, rig.only())["cordon_node"]
    assert cordon.plan_summary == "cordon_node on node/10.0.10.202 (now {'replicas': 3})"
    assert cordon.undo == "resume workload node 10.0.10.202 (restore={'replicas': 3})"
    assert "Undo: resume workload node 10.0.10.202" in cordon.prompt(cordon.requested_at)
    listed = rig.client.get("/api/v1/approvals").json()["approvals"]
    [shown] = [a for a in listed if a["id"] == cordon.id]
    assert shown["undo"] == cordon.undo and shown["plan_summary"] == cordon.plan_summary


def test_an_approved_request_that_cannot_run_ends_failed_with_the_reason(
    rig: Responder, executor_stub: StubServer
) -> None:
    rig.fire(DISK)
    cordon = asked(rig, rig.only())["cordon_node"]
    # the backend stops answering between the ask and the approval
    executor_stub.fail("GET", r"/state/.*", Answer(500, {}))
    answer = rig.runtime.approval_answers.answer(cordon.id, "approve", BOB, "in_app", "bob")
    assert answer.result == "failed", answer.detail
    ended = rig.runtime.approval_requests.get(cordon.id)
    assert ended is not None and ended.state == "failed"
    assert ended.failure.startswith("plan failed:")
    assert ended.decided_by == "bob"
    assert executor_stub.seen("POST", r"/apply/.*") == []


def test_the_explain_answer_says_when_the_action_cannot_run_here(rig: Responder) -> None:
    body = explain_request(action="reboot_worker", target="node/10.0.10.202")
    answer = rig.client.post("/api/v1/policy/explain", json=body).json()
    assert answer["cannot_run"] == "no executor serves reboot_worker here"
    assert answer["decision"] == "recommend"
    body = explain_request(action="cordon_node", target="node/10.0.10.202")
    answer = rig.client.post("/api/v1/policy/explain", json=body).json()
    assert answer["cannot_run"] is None
    assert answer["decision"] == "approval"


def test_an_action_whose_remedy_is_not_configured_says_which_setting(rig: Responder) -> None:
    body = explain_request(
        incident_type="database_connectivity_degraded",
        action="switch_db_target",
        target="configmap/app/db-config",
    )
    answer = rig.client.post("/api/v1/policy/explain", json=body).json()
    assert answer["cannot_run"] == (
        "no standby configured for switch_db_target (settings remedies.database)"
    )
    assert answer["decision"] == "recommend"


def test_a_suppressed_incident_is_asked_about_no_more(rig: Responder) -> None:
    rig.fire(DISK)
    incident = rig.only()
    assert asked(rig, incident)
    incident.move_to(IncidentState.suppressed, "suppressed by hand for the test", rig.clock.now)
    incident.suppressed_until = rig.clock.now + timedelta(hours=1)
    rig.runtime.store.save_incident(incident)
    rig.clock.advance(11 * 60)  # every request expired: an acting incident would be asked again
    rig.runtime.scheduler.poll()
    requests = rig.runtime.approval_requests.for_incident(incident.id)
    assert {a.state_at(rig.clock.now) for a in requests} == {"expired"}

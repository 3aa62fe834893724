"""The action runner's guard rails around any executor: refusals, cooldowns,
the action lock, dry-run, deadlines, approvals, and the record it leaves.

Runs on both store backends; the executor writes to a local HTTP executor_stub so
that every test can count what reached it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fixtures.clock import T0
from fixtures.executors import HttpExecutor, applies
from fixtures.http_stub import Answer, StubServer
from fixtures.incidents import make_incident
from fixtures.rigs import TAXONOMY, RunnerRig

from responder.actions.registry import ExecutorRegistry, RegistryError
from responder.actions.runner import ActionRefused
from responder.records.action import ActionRequest, Plan
from responder.records.incident import RecommendedAction
from responder.records.levels import Confidence
from responder.records.lifecycle import IncidentState
from responder.records.target import Target
from responder.store import Store, held_lock

ACTIONS = frozenset({"delete_completed_pods", "scale_to_zero", "reboot_worker", "cordon_node"})


class Rig(RunnerRig):
    def __init__(self, store: Store, executor_stub: StubServer, **settings: Any) -> None:
        incident = make_incident(
            "inc-runner", node=NODE.name, confidence=Confidence.high, state=IncidentState.observed
        )
        super().__init__(store, [HttpExecutor(executor_stub, ACTIONS)], incident, **settings)
        self.executor_stub = executor_stub

    def count(self, name: str, action: str) -> float:
        return self.sample(
            name, incident_type="node_disk_pressure", action=action, environment="demo"
        )


NODE = Target(kind="node", name="10.0.10.202")
OTHER_NODE = Target(kind="node", name="10.0.10.203")
CLUSTER = Target(kind="cluster", name="cluster")


@pytest.fixture
def rig(store: Store, executor_stub: StubServer) -> Rig:
    return Rig(store, executor_stub)


# refusals


def test_human_only_action_is_refused_outright(rig: Rig) -> None:
    with pytest.raises(ActionRefused, match="human-only"):
        rig.run("delete_pvc", Target(kind="persistentvolumeclaim", namespace="db", name="data"))
    assert rig.executor_stub.requests == []
    [entry] = rig.store.list_audit(subject=f"incident:{rig.incident.id}")
    assert entry.action == "action.refused"


def test_human_only_action_is_refused_even_with_an_approval_id(rig: Rig) -> None:
    with pytest.raises(ActionRefused, match="human-only"):
        rig.run("delete_namespace", Target(kind="namespace", name="t1"), "approval",
                approval_id="anything")  # fmt: skip
    assert rig.executor_stub.requests == []


def test_registry_refuses_an_executor_for_a_human_only_action(executor_stub: StubServer) -> None:
    with pytest.raises(RegistryError, match="human-only"):
        ExecutorRegistry(TAXONOMY, [HttpExecutor(executor_stub, frozenset({"rotate_secret"}))])


@pytest.mark.parametrize("decision", ["approval", "human_only", "off"])
def test_decision_other_than_auto_without_approval_is_refused(rig: Rig, decision: str) -> None:
    with pytest.raises(ActionRefused):
        rig.run("reboot_worker", NODE, decision)
    assert rig.executor_stub.requests == []


def test_action_without_executor_is_not_available(rig: Rig) -> None:
    run = rig.run("suspend_cronjob", Target(kind="cronjob", namespace="x", name="trivy-db-warmup"))
    assert run.outcome.result == "not_available"
    assert run.executed is None


# running and recording


def test_auto_action_runs_and_records_who_what_when_result(rig: Rig) -> None:
    executed = rig.executed("delete_completed_pods", CLUSTER)
    assert (executed.action, executed.actor, executed.result) == (
        "delete_completed_pods",
        "robot",
        "succeeded",
    )
    assert executed.target == {"kind": "cluster", "namespace": "", "name": "cluster"}
    assert executed.at == T0
    assert applies(rig.executor_stub) == 1


def test_run_records_previous_state_and_inverse(rig: Rig) -> None:
    executed = rig.executed("scale_to_zero", Target(kind="deployment", namespace="if", name="web"))
    assert executed.previous == {"replicas": 3}
    assert executed.inverse is not None
    assert executed.inverse["action"] == "resume_workload"
    assert executed.inverse["params"] == {"restore": {"replicas": 3}}


def test_run_is_audited_with_before_and_after(rig: Rig) -> None:
    rig.run("scale_to_zero", Target(kind="deployment", namespace="if", name="web"))
    [entry] = rig.store.list_audit(subject=f"incident:{rig.incident.id}")
    assert entry.action == "action.succeeded"
    assert entry.before == {"replicas": 3}
    assert entry.after["changes"] == {"action": "scale_to_zero"}


def test_run_counts_in_auto_remediations_total(rig: Rig) -> None:
    rig.run("delete_completed_pods", CLUSTER)
    assert rig.count("ops_auto_remediations_total", "delete_completed_pods") == 1
    assert rig.count("ops_auto_remediations_failed_total", "delete_completed_pods") == 0


def test_backend_500_fails_cleanly_and_counts(rig: Rig) -> None:
    rig.executor_stub.fail("POST", r"/apply/.*", Answer(500, {"message": "boom"}))
    executed = rig.executed("delete_completed_pods", CLUSTER)
    assert executed.result == "failed"
    assert "500" in executed.detail
    assert rig.count("ops_auto_remediations_failed_total", "delete_completed_pods") == 1
    assert [e.action for e in rig.store.list_audit()] == ["action.failed"]


def test_backend_that_hangs_fails_after_the_deadline(
    store: Store, executor_stub: StubServer
) -> None:
    rig = Rig(store, executor_stub, action_timeout_seconds=0.5)
    executor_stub.fail("POST", r"/apply/.*", "hang")
    started = time.monotonic()
    executed = rig.executed("delete_completed_pods", CLUSTER)
    assert time.monotonic() - started < 3
    assert executed.result == "failed"
    assert "timed out after 0.5s" in executed.detail
    assert rig.count("ops_auto_remediations_failed_total", "delete_completed_pods") == 1


def test_plan_that_fails_is_a_failed_run_without_a_write(rig: Rig) -> None:
    rig.executor_stub.fail("GET", r"/state/.*", Answer(503, {}))
    executed = rig.executed("delete_completed_pods", CLUSTER)
    assert executed.result == "failed"
    assert executed.detail.startswith("plan failed")
    assert applies(rig.executor_stub) == 0


# cooldowns and the lock


def test_same_action_inside_its_cooldown_is_skipped_and_counted(rig: Rig) -> None:
    rig.run("delete_completed_pods", CLUSTER)
    rig.clock.advance(14 * 60)
    run = rig.run("delete_completed_pods", CLUSTER)
    assert run.outcome.result == "skipped"
    assert "cooldown" in run.note
    assert applies(rig.executor_stub) == 1
    suppressed = rig.metrics.registry.get_sample_value(
        "ops_policy_suppressions_total",
        {"incident_type": "node_disk_pressure", "environment": "demo", "reason": "cooldown"},
    )
    assert suppressed == 1


def test_same_action_after_15_minutes_runs_again(rig: Rig) -> None:
    rig.run("delete_completed_pods", CLUSTER)
    rig.clock.advance(15 * 60)
    rig.run("delete_completed_pods", CLUSTER)
    assert applies(rig.executor_stub) == 2


def test_failed_run_starts_the_cooldown_too(rig: Rig) -> None:
    rig.executor_stub.fail("POST", r"/apply/.*", Answer(500, {}))
    rig.run("delete_completed_pods", CLUSTER)
    rig.executor_stub.faults.clear()
    rig.clock.advance(60)
    assert rig.run("delete_completed_pods", CLUSTER).outcome.result == "skipped"


def _approved(rig: Rig, action: str, target: Target) -> str:
    recommendation = RecommendedAction(
        action=action,
        action_class=TAXONOMY.actions[action].action_class.value,
        decision="approval",
        reason="test",
        target=target.as_dict(),
    )
    approval = rig.approvals.request(rig.incident, recommendation, "test", rig.clock())
    assert approval is not None
    rig.approvals.grant(approval.id, "alice")
    return approval.id


def test_disruptive_cooldown_is_60_minutes_per_node(rig: Rig) -> None:
    rig.run("reboot_worker", NODE, "approval", approval_id=_approved(rig, "reboot_worker", NODE))
    rig.clock.advance(30 * 60)
    again = rig.run(
        "reboot_worker", NODE, "approval", approval_id=_approved(rig, "reboot_worker", NODE)
    )
    assert again.outcome.result == "skipped"
    other = rig.run(
        "reboot_worker",
        OTHER_NODE,
        "approval",
        approval_id=_approved(rig, "reboot_worker", OTHER_NODE),
    )
    assert other.outcome.result == "succeeded"
    rig.clock.advance(30 * 60)
    later = rig.run(
        "reboot_worker", NODE, "approval", approval_id=_approved(rig, "reboot_worker", NODE)
    )
    assert later.outcome.result == "succeeded"


def test_operator_rule_cooldown_override_replaces_the_window(rig: Rig) -> None:
    rig.run("delete_completed_pods", CLUSTER, cooldown_seconds=120)
    rig.clock.advance(121)
    rig.run("delete_completed_pods", CLUSTER, cooldown_seconds=120)
    assert applies(rig.executor_stub) == 2


def test_action_whose_lock_is_held_elsewhere_is_skipped(rig: Rig) -> None:
    with held_lock(rig.store, "action:delete_completed_pods:cluster//cluster", 30):
        run = rig.run("delete_completed_pods", CLUSTER)
    assert run.outcome.result == "skipped"
    assert "running elsewhere" in run.note
    assert rig.executor_stub.requests == []


# dry-run


def test_dry_run_records_the_plan_without_writing(store: Store, executor_stub: StubServer) -> None:
    rig = Rig(store, executor_stub, dry_run=True)
    executed = rig.executed("scale_to_zero", Target(kind="deployment", namespace="if", name="web"))
    assert executed.result == "dry_run"
    assert executed.detail.startswith("dry-run: scale_to_zero on deployment/web")
    assert applies(executor_stub) == 0
    assert rig.count("ops_auto_remediations_total", "scale_to_zero") == 0


def test_dry_run_without_a_reachable_backend_says_no_cluster(
    store: Store, executor_stub: StubServer
) -> None:
    rig = Rig(store, executor_stub, dry_run=True)
    executor_stub.stop()
    executed = rig.executed("delete_completed_pods", CLUSTER)
    assert executed.result == "dry_run"
    assert executed.detail.startswith("dry-run: no cluster")


# approvals


def test_approved_action_runs_once_and_uses_up_the_approval(rig: Rig) -> None:
    approval_id = _approved(rig, "cordon_node", NODE)
    executed = rig.executed("cordon_node", NODE, "approval", approval_id=approval_id, actor="robot")
    assert executed.approval_id == approval_id
    found = rig.approvals.get(approval_id)
    assert found is not None and found.state == "executed"
    rig.clock.advance(16 * 60)
    with pytest.raises(ActionRefused, match="executed"):
        rig.run("cordon_node", NODE, "approval", approval_id=approval_id)
    assert applies(rig.executor_stub) == 1


def test_approval_for_another_target_is_refused(rig: Rig) -> None:
    approval_id = _approved(rig, "cordon_node", NODE)
    with pytest.raises(ActionRefused, match=r"not cordon_node on node//10\.0\.10\.203"):
        rig.run("cordon_node", OTHER_NODE, "approval", approval_id=approval_id)
    assert rig.executor_stub.requests == []


def test_pending_approval_is_not_enough(rig: Rig) -> None:
    recommendation = RecommendedAction(
        action="cordon_node",
        action_class="recover",
        decision="approval",
        reason="test",
        target=NODE.as_dict(),
    )
    pending = rig.approvals.request(rig.incident, recommendation, "test", rig.clock())
    assert pending is not None
    with pytest.raises(ActionRefused, match="pending"):
        rig.run("cordon_node", NODE, "approval", approval_id=pending.id)


def test_plan_is_what_the_executor_protocol_returns(executor_stub: StubServer) -> None:
    executor = HttpExecutor(executor_stub, ACTIONS)
    plan = executor.plan(ActionRequest("scale_to_zero", NODE, "i"))
    assert isinstance(plan, Plan)

"""background_job_buildup end to end: Tekton's TaskRun pods pile up in the
ci namespace and a build Job failed. The contain step deletes the finished
pods; Tekton keeps making more, so after the step's 10 minutes the ladder
asks to pause the shared controller that makes them (the one
``remedies.shared_controllers`` names and the pods' managed-by label points
at). A person approves, kmock sees exactly the controller scaled to 0, and
the recorded inverse scales it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures.kube import (
    KubeCluster,
    deployment,
    kube_cluster_fixture,  # noqa: F401  (a fixture, registered here)
    node,
    pod,
)
from stories.approved import (
    approve,
    approved_run,
    approver,  # noqa: F401  (a fixture, registered here)
    runnable_ask,
    undo,
    write_of,
)
from stories.storyline import Story, write_paths

from responder.records.lifecycle import IncidentState

FAILED = {
    "alertname": "KubeJobFailed",
    "namespace": "ci",
    "job_name": "build-29",
    "severity": "warning",
}
CONTROLLER = "deployment/tekton-pipelines/tekton-pipelines-controller"
SCALE = "/apis/apps/v1/namespaces/tekton-pipelines/deployments/tekton-pipelines-controller/scale"
REMEDIES = {"shared_controllers": ["tekton-pipelines/tekton-pipelines-controller"]}


def taskrun_pods(first: int, count: int) -> list[dict[str, Any]]:
    """Finished TaskRun pods in ci, labelled as Tekton labels the pods it makes."""
    return [
        pod(
            f"build-{i:02d}-pod",
            "ci",
            phase="Succeeded",
            owner=("TaskRun", f"build-{i:02d}"),
            labels={
                "tekton.dev/taskRun": f"build-{i:02d}",
                "app.kubernetes.io/managed-by": "tekton-pipelines",
            },
        )
        for i in range(first, first + count)
    ]


def controller_replicas(cluster: KubeCluster) -> int:
    found = cluster.live("Deployment", "tekton-pipelines-controller", "tekton-pipelines")
    return int(found["spec"]["replicas"])


def test_a_person_approves_pausing_the_shared_controller_after_the_contain_step_and_undoes_it(
    kube_cluster: KubeCluster,
    tmp_path: Path,
    approver: dict[str, Any],  # noqa: F811
) -> None:
    kube_cluster.add(
        node("worker-1"),
        deployment(
            "tekton-pipelines-controller",
            "tekton-pipelines",
            labels={"app.kubernetes.io/part-of": "tekton-pipelines"},
        ),
        *taskrun_pods(0, 30),
    )
    with Story(kube_cluster, tmp_path, environment="demo", remedies=REMEDIES, **approver) as story:
        story.fire(FAILED)

        incident = story.incident()
        assert (incident.incident_type, incident.resource_scope.key) == (
            "background_job_buildup",
            "job/ci/build-29",
        )
        assert {"completed_pod_backlog", "tekton_history_growth"} <= {
            s.name for s in incident.signals
        }
        [backlog] = story.events("evidence")
        assert backlog.endswith(
            "made by running shared controllers: "
            "deployment tekton-pipelines/tekton-pipelines-controller (30 pods)"
        )
        # the contain step deletes the finished pods; the pause and the bulk
        # cleanup wait for their steps
        assert story.events("ladder") == ["step 1/3 contain: opened (waits 10m)"]
        assert story.ran() == [("delete_completed_pods", "namespace/ci", "succeeded")]
        assert len(write_paths(story.writes(), "DELETE")) == 30
        assert story.asked() == set()
        assert sorted(story.events("approval_held")) == [
            "bulk_cleanup waits for its ladder step",
            "pause_shared_controller waits for its ladder step",
        ]
        assert incident.state == IncidentState.contained

        # T+5m: the controller keeps running builds: 30 more finished pods
        story.clock.advance(minutes=5)
        kube_cluster.add(*taskrun_pods(30, 30))

        # T+10m: the backlog is back: the ladder asks to pause the controller
        assert story.next_step(5) == "step 2/3 ask_pause: contain did not clear it within 10m"
        assert story.asked() == {("pause_shared_controller", CONTROLLER)}
        pause = runnable_ask(story, "pause_shared_controller")
        assert pause.target == {
            "kind": "deployment",
            "namespace": "tekton-pipelines",
            "name": "tekton-pipelines-controller",
        }
        assert pause.params == {}
        assert pause.change == [{"what": "replicas", "before": "1", "after": "0"}]
        assert pause.undo == (
            "resume workload deployment tekton-pipelines/tekton-pipelines-controller (replicas=1)"
        )

        # a person approves: kmock sees the controller scaled to 0 and nothing else
        writes = approve(story, pause)
        assert [write_of(w) for w in writes] == [("PATCH", SCALE, {"spec": {"replicas": 0}})]
        assert controller_replicas(kube_cluster) == 0
        assert len(kube_cluster.names("Pod", "ci")) == 30  # the builds' pods are left alone
        ran = approved_run(story, pause)
        assert ran.inverse == {
            "action": "resume_workload",
            "target": pause.target,
            "params": {"replicas": 1},
        }

        # the person undoes it: the controller runs again
        _, undone = undo(story, ran)
        assert [write_of(w) for w in undone] == [("PATCH", SCALE, {"spec": {"replicas": 1}})]
        assert controller_replicas(kube_cluster) == 1
        assert len(story.writes()) == 30 + 2
        story.assert_guard_rails(approved=frozenset({"pause_shared_controller"}))

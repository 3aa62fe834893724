"""The Helm executor: plans from release secrets in kmock, applies through a
``helm`` executable. No real helm binary is installed here, so the
executable is a small script standing in for it: it records its command line
and answers as helm would (success, a failure on stderr, or a hang)."""

from __future__ import annotations

import json
import stat
import sys
import time
from pathlib import Path

import pytest
from fixtures.kube import (
    KubeCluster,
    helm_release_secret,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
)

from responder.actions.helm import HelmExecutor
from responder.kube import Kube
from responder.records.action import ActionRequest
from responder.records.target import Target

NAMESPACE = "image-factory"


def fake_helm(directory: Path, *, exit_code: int = 0, sleep: float = 0.0) -> tuple[str, Path]:
    """A stand-in ``helm``: appends its argv (as JSON) to a log, then exits."""
    log = directory / "helm-calls.jsonl"
    script = directory / "helm"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys, time\n"
        f"time.sleep({sleep})\n"
        f"with open({str(log)!r}, 'a') as out:\n"
        "    out.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"if {exit_code}:\n"
        "    sys.stderr.write('Error: UPGRADE FAILED: another operation is in progress\\n')\n"
        f"    sys.exit({exit_code})\n"
        "print('Rollback was a success! Happy Helming!')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), log


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def request(action: str, **params: object) -> ActionRequest:
    return ActionRequest(
        action=action,
        target=Target(kind="helmrelease", namespace=NAMESPACE, name="image-factory"),
        incident_id="inc-3",
        params=dict(params),
    )


@pytest.fixture
def history(kube_cluster: KubeCluster) -> None:
    kube_cluster.add(
        helm_release_secret("image-factory", NAMESPACE, 1, status="superseded"),
        helm_release_secret("image-factory", NAMESPACE, 2, status="superseded"),
        helm_release_secret("image-factory", NAMESPACE, 3, status="failed"),
    )


@pytest.mark.usefixtures("history")
def test_without_a_helm_binary_the_outcome_is_not_available(kube: Kube) -> None:
    executor = HelmExecutor(kube, None)

    plan = executor.plan(request("rollback_release"))
    outcome = executor.apply(plan)

    assert (outcome.result, outcome.detail) == ("not_available", "helm binary not configured")


@pytest.mark.usefixtures("history")
def test_rollback_goes_to_the_last_deployed_revision_and_undoes_to_the_current(
    kube: Kube, kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    helm, log = fake_helm(tmp_path)
    executor = HelmExecutor(kube, helm, kubeconfig=str(kube_cluster.kubeconfig))

    plan = executor.plan(request("rollback_release"))
    outcome = executor.apply(plan)

    assert plan.previous == {"revision": 3, "status": "failed"}
    assert plan.changes == {"rollback_to": 2}
    assert outcome.result == "succeeded", outcome.detail
    assert "Happy Helming" in outcome.detail
    assert calls(log) == [
        [
            "rollback",
            "image-factory",
            "2",
            "--namespace",
            NAMESPACE,
            "--kubeconfig",
            str(kube_cluster.kubeconfig),
        ]
    ]
    assert executor.inverse(plan) == request("rollback_release", revision=3)
    assert kube_cluster.writes() == []


@pytest.mark.usefixtures("history")
def test_reconcile_without_a_chart_reapplies_the_last_deployed_revision(
    kube: Kube, tmp_path: Path
) -> None:
    helm, log = fake_helm(tmp_path)
    executor = HelmExecutor(kube, helm)

    plan = executor.plan(request("helm_reconcile"))
    executor.apply(plan)

    assert plan.changes == {"rollback_to": 2}
    assert calls(log) == [["rollback", "image-factory", "2", "--namespace", NAMESPACE]]


@pytest.mark.usefixtures("history")
def test_reconcile_with_a_chart_upgrades_reusing_values(kube: Kube, tmp_path: Path) -> None:
    helm, log = fake_helm(tmp_path)
    executor = HelmExecutor(kube, helm)

    plan = executor.plan(
        request("helm_reconcile", chart="oci://registry.example/app", version="2.0.1")
    )
    executor.apply(plan)

    assert calls(log) == [
        [
            "upgrade",
            "image-factory",
            "oci://registry.example/app",
            "--reuse-values",
            "--version",
            "2.0.1",
            "--namespace",
            NAMESPACE,
        ]
    ]
    assert executor.inverse(plan) == request("rollback_release", revision=3)


@pytest.mark.usefixtures("history")
def test_helm_failure_is_a_failed_outcome_with_its_error(kube: Kube, tmp_path: Path) -> None:
    helm, _ = fake_helm(tmp_path, exit_code=1)
    executor = HelmExecutor(kube, helm)

    outcome = executor.apply(executor.plan(request("rollback_release")))

    assert outcome.result == "failed"
    assert "exited 1" in outcome.detail
    assert "another operation is in progress" in outcome.detail


@pytest.mark.usefixtures("history")
def test_helm_that_does_not_finish_is_stopped_at_the_deadline(kube: Kube, tmp_path: Path) -> None:
    helm, _ = fake_helm(tmp_path, sleep=30)
    executor = HelmExecutor(kube, helm, timeout_seconds=0.5)

    started = time.monotonic()
    outcome = executor.apply(executor.plan(request("rollback_release")))

    assert time.monotonic() - started < 5
    assert (outcome.result, outcome.detail) == ("failed", "helm did not finish within 0.5s")


def test_unknown_release_or_revision_cannot_be_planned(
    kube: Kube, kube_cluster: KubeCluster
) -> None:
    executor = HelmExecutor(kube, None)
    with pytest.raises(ValueError, match="no Helm release"):
        executor.plan(request("rollback_release"))

    kube_cluster.add(helm_release_secret("image-factory", NAMESPACE, 1, status="deployed"))
    with pytest.raises(ValueError, match="no deployed revision to roll back to"):
        executor.plan(request("rollback_release"))
    with pytest.raises(ValueError, match="no stored revision 7"):
        executor.plan(request("rollback_release", revision=7))

"""The Helm executor: reconcile or roll back a release with the ``helm`` binary.

``plan`` reads the release history from Helm's release secrets through the
Kubernetes client; ``apply`` runs ``helm`` under a deadline (``not_available``
without a configured binary). The inverse of either is a rollback to the
revision that was current."""

from __future__ import annotations

import subprocess
from typing import Any

from responder.evidence.helm import HelmRelease, read_releases
from responder.kube import Kube, KubeError
from responder.records.action import ActionOutcome, ActionRequest, Plan

DEPLOYED = ("deployed", "superseded")
OUTPUT_TAIL = 1000


class HelmExecutor:
    actions: frozenset[str] = frozenset({"helm_reconcile", "rollback_release"})

    def __init__(
        self,
        kube: Kube | None,
        helm_path: str | None,
        *,
        kubeconfig: str | None = None,
        timeout_seconds: float = 25.0,
    ) -> None:
        """``helm_path``: the binary, None when not configured; ``kubeconfig``:
        passed as ``--kubeconfig`` (None: helm's own default, which in a pod
        is the service account); ``timeout_seconds``: how long one helm run
        may take before it is stopped and the outcome is ``failed``."""
        self.kube = kube
        self.helm_path = helm_path
        self.kubeconfig = kubeconfig
        self.timeout_seconds = timeout_seconds

    def plan(self, request: ActionRequest) -> Plan:
        if request.action not in self.actions:
            raise ValueError(f"the Helm executor does not serve {request.action}")
        target = request.target
        if target.kind.lower() != "helmrelease" or not target.namespace:
            raise ValueError(f"{request.action} acts on a helmrelease NAMESPACE/NAME")
        if self.kube is None:
            raise KubeError("plan", 0, "no Kubernetes cluster is configured (dry-run)")
        history = read_releases(self.kube, target.namespace, target.name)
        history = [r for r in history if r.name == target.name]
        if not history:
            raise ValueError(f"no Helm release {target.namespace}/{target.name}")
        current = history[-1]
        previous = {"revision": current.revision, "status": current.status}
        chart = request.params.get("chart")
        if request.action == "helm_reconcile" and chart:
            version = request.params.get("version")
            changes: dict[str, Any] = {"upgrade": str(chart)}
            if version:
                changes["version"] = str(version)
            summary = (
                f"helm upgrade {target.name} {chart} --reuse-values (from v{current.revision})"
            )
            return Plan(request, previous, changes, summary)
        revision = self._revision(request, history, current)
        verb = "re-apply" if request.action == "helm_reconcile" else "roll back to"
        summary = (
            f"{verb} revision {revision} of {target.name} "
            f"(current v{current.revision} {current.status}): "
            f"helm rollback {target.name} {revision}"
        )
        return Plan(request, previous, {"rollback_to": revision}, summary)

    def apply(self, plan: Plan) -> ActionOutcome:
        if self.helm_path is None:
            return ActionOutcome("not_available", "helm binary not configured", plan)
        if plan.request.action not in self.actions:
            return ActionOutcome("failed", f"not a Helm action: {plan.request.action}", plan)
        argv = self._argv(plan)
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.timeout_seconds, check=False
            )
        except subprocess.TimeoutExpired:
            return ActionOutcome(
                "failed", f"helm did not finish within {self.timeout_seconds:g}s", plan
            )
        except OSError as exc:
            return ActionOutcome("failed", f"cannot run {self.helm_path}: {exc}", plan)
        shown = " ".join(argv[1:4])
        if done.returncode != 0:
            error = (done.stderr or done.stdout).strip()[-OUTPUT_TAIL:]
            return ActionOutcome("failed", f"helm {shown} exited {done.returncode}: {error}", plan)
        return ActionOutcome(
            "succeeded", f"helm {shown}: {done.stdout.strip()[-OUTPUT_TAIL:]}", plan
        )

    def inverse(self, plan: Plan) -> ActionRequest | None:
        revision = plan.previous.get("revision")
        if not plan.changes or not isinstance(revision, int):
            return None
        return ActionRequest(
            action="rollback_release",
            target=plan.request.target,
            incident_id=plan.request.incident_id,
            params={"revision": revision},
        )

    def _revision(
        self, request: ActionRequest, history: list[HelmRelease], current: HelmRelease
    ) -> int:
        wanted = request.params.get("revision")
        if wanted is not None:
            if not any(r.revision == wanted for r in history):
                raise ValueError(f"{request.target.name} has no stored revision {wanted}")
            return int(wanted)
        if request.action == "helm_reconcile":
            good = [r for r in history if r.status in DEPLOYED]
        else:
            good = [r for r in history if r.status in DEPLOYED and r.revision < current.revision]
        if not good:
            raise ValueError(
                f"{request.target.name} has no deployed revision to "
                + ("re-apply" if request.action == "helm_reconcile" else "roll back to")
            )
        return good[-1].revision

    def _argv(self, plan: Plan) -> list[str]:
        assert self.helm_path is not None
        target = plan.request.target
        assert target.namespace is not None
        if "upgrade" in plan.changes:
            argv = [self.helm_path, "upgrade", target.name, plan.changes["upgrade"]]
            argv += ["--reuse-values"]
            if plan.changes.get("version"):
                argv += ["--version", plan.changes["version"]]
        else:
            argv = [self.helm_path, "rollback", target.name, str(plan.changes["rollback_to"])]
        argv += ["--namespace", target.namespace]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        return argv

"""The Helm executor: reconcile or roll back a release in-process, through
Helm's own Go SDK (helm-python-sdk), with no ``helm`` binary.

``plan`` reads the release history from Helm's release Secrets through the
Kubernetes client; ``apply`` upgrades or rolls back under a deadline. The
inverse of either is a rollback to the revision that was current."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import helm_python

from responder.evidence.helm import HelmRelease, read_releases
from responder.kube import Kube, KubeError
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.records.redaction import redact

DEPLOYED = ("deployed", "superseded")
UNSET = "(unset)"
#: how long a cancelled upgrade gets to unwind before it is left behind
CANCEL_GRACE_SECONDS = 2.0


@dataclass(eq=False)
class HelmExecutor:
    """``kubeconfig``: the cluster's kubeconfig (None: ``KUBECONFIG``, then
    ``~/.kube/config``, then the pod's service account, as the Kubernetes
    client finds it); ``timeout_seconds``: how long one upgrade or rollback
    may take before its outcome is ``failed``."""

    kube: Kube | None
    kubeconfig: str | None = None
    timeout_seconds: float = 25.0

    actions = frozenset({"helm_reconcile", "rollback_release"})

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
        now = f"{current.revision} ({current.status})"
        chart = request.params.get("chart")
        if request.action == "helm_reconcile" and chart:
            version = request.params.get("version")
            changes: dict[str, Any] = {"upgrade": str(chart)}
            if version:
                changes["version"] = str(version)
            wanted = f"{chart} {version}" if version else f"{chart} (its latest version)"
            return Plan(
                request,
                previous,
                changes,
                f"upgrade {target.name} from revision {current.revision} to {wanted}, "
                "reusing its values",
                (
                    Change("revision", now, f"upgrade to {current.revision + 1}"),
                    Change("chart", current.chart, wanted),
                ),
            )
        to = self._revision(request, history, current)
        verb = "re-apply" if request.action == "helm_reconcile" else "rollback to"
        return Plan(
            request,
            previous,
            {"rollback_to": to.revision},
            f"{verb} revision {to.revision} of {target.name} "
            f"(current {current.revision} {current.status}): a new revision "
            f"{current.revision + 1} with revision {to.revision}'s chart and values",
            (Change("revision", now, f"{verb} {to.revision}"), *_release_diff(current, to)),
        )

    def apply(self, plan: Plan) -> ActionOutcome:
        if plan.request.action not in self.actions:
            return ActionOutcome("failed", f"not a Helm action: {plan.request.action}", plan)
        if self.kube is None:
            return ActionOutcome("not_available", "no Kubernetes cluster is configured", plan)
        return _HelmRun(self, plan).outcome()

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
    ) -> HelmRelease:
        wanted = request.params.get("revision")
        if wanted is not None:
            found = next((r for r in history if r.revision == wanted), None)
            if found is None:
                raise ValueError(f"{request.target.name} has no stored revision {wanted}")
            return found
        if request.action == "helm_reconcile":
            good = [r for r in history if r.status in DEPLOYED]
        else:
            good = [r for r in history if r.status in DEPLOYED and r.revision < current.revision]
        if not good:
            raise ValueError(
                f"{request.target.name} has no deployed revision to "
                + ("re-apply" if request.action == "helm_reconcile" else "roll back to")
            )
        return good[-1]


class _HelmRun:
    """One upgrade or rollback on a thread of its own, so that the caller
    gets its outcome by the deadline. An upgrade is cancelled there (Helm
    stops and marks the revision failed); a rollback takes no cancellation
    in the SDK and is left to finish."""

    def __init__(self, executor: HelmExecutor, plan: Plan) -> None:
        self.executor = executor
        self.plan = plan
        self.context = helm_python.HelmContext()
        self.done = threading.Event()
        self.error: helm_python.HelmError | None = None
        self.release: dict[str, Any] = {}
        target = plan.request.target
        self.upgrade = "upgrade" in plan.changes
        self.label = (
            f"helm upgrade {target.name}"
            if self.upgrade
            else f"helm rollback {target.name} {plan.changes['rollback_to']}"
        )

    def outcome(self) -> ActionOutcome:
        seconds = self.executor.timeout_seconds
        threading.Thread(target=self._run, name="helm", daemon=True).start()
        if not self.done.wait(seconds):
            with contextlib.suppress(helm_python.HelmError):
                self.context.cancel()
            left = "" if self.done.wait(CANCEL_GRACE_SECONDS) else "; it may still complete"
            detail = f"{self.label} did not finish within {seconds:g}s{left}"
            return ActionOutcome("failed", detail, self.plan)
        if self.error is not None:
            return ActionOutcome("failed", f"{self.label}: {self.error}", self.plan)
        revision, status = self.release.get("revision", "?"), self.release.get("status", "?")
        return ActionOutcome("succeeded", f"{self.label}: revision {revision} {status}", self.plan)

    def _run(self) -> None:
        target = self.plan.request.target
        timeout = max(1, int(self.executor.timeout_seconds))
        try:
            with helm_python.Config(
                kubeconfig_path=self.executor.kubeconfig, namespace=target.namespace
            ) as config:
                if self.upgrade:
                    self.release = config.upgrade(
                        self.plan.changes["upgrade"],
                        target.name,
                        context=self.context,
                        timeout=timeout,
                        reuse_values=True,
                        chart_version=self.plan.changes.get("version"),
                    )
                else:
                    config.rollback(
                        target.name, version=int(self.plan.changes["rollback_to"]), timeout=timeout
                    )
                    self.release = config.status(target.name)
        except helm_python.HelmError as exc:
            self.error = exc
        finally:
            self.context.close()
            self.done.set()


def _release_diff(current: HelmRelease, to: HelmRelease) -> list[Change]:
    """The chart and the user-supplied values that differ between two
    revisions (values named like secrets masked)."""
    changes = []
    if current.chart != to.chart:
        changes.append(Change("chart", current.chart, to.chart))
    before, after = _flat(current.values), _flat(to.values)
    for path in sorted(before.keys() | after.keys()):
        if before.get(path) != after.get(path):
            what = f"values.{path}"
            shown = redact({what: before.get(path, UNSET)}), redact({what: after.get(path, UNSET)})
            changes.append(Change(what, shown[0][what], shown[1][what]))
    return changes


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat |= _flat(value, f"{path}.")
        else:
            flat[path] = value if isinstance(value, str) else json.dumps(value)
    return flat

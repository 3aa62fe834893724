"""What a registry pull failure's evidence supports asking for.

The pull errors of each failing workload point at one hypothesis: the image
reference is wrong (``manifest unknown``, ``not found``), the pull
credentials (``unauthorized``, ``403``), or the registry's rate limit
(``toomanyrequests``). The hypothesis decides which actions get a target:
an image patch back to the image that still runs healthy, a pull secret
patch with an existing registry credential Secret, neither for a rate limit
(notify and wait: the image and the credentials are fine)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from responder.evidence import owners
from responder.evidence.kube_objects import JSON, PULL_ERRORS, container_statuses
from responder.kube import meta
from responder.records.incident import ParamValue
from responder.records.target import Target

IMAGE_REF = "the image reference is wrong"
CREDENTIALS = "the pull credentials are missing or refused"
RATE_LIMIT = "the registry's pull rate limit"

HYPOTHESIS_OF_CLASS = {
    "image_manifest_unknown": IMAGE_REF,
    "registry_unauthorized": CREDENTIALS,
    "registry_forbidden": CREDENTIALS,
    "registry_rate_limited": RATE_LIMIT,
}
# A registry that says the image does not exist has accepted the pull's
# credentials; a refusal says nothing about the image; a rate limit says
# nothing about either.
PRIORITY = (IMAGE_REF, CREDENTIALS, RATE_LIMIT)
SUPPORTED_ACTIONS: dict[str, tuple[str, ...]] = {
    IMAGE_REF: ("patch_image_ref", "helm_reconcile", "rollback_release"),
    CREDENTIALS: ("patch_pull_secret", "helm_reconcile"),
    RATE_LIMIT: (),
}


def pull_hypothesis(classes: Collection[str]) -> str | None:
    """The hypothesis the registry error classes of one workload point at."""
    found = {HYPOTHESIS_OF_CLASS[c] for c in classes if c in HYPOTHESIS_OF_CLASS}
    return next((h for h in PRIORITY if h in found), None)


@dataclass(frozen=True)
class FailingWorkload:
    """One workload whose pods cannot pull, and what its pods say."""

    target: Target
    hypothesis: str | None
    container: str
    image: str
    healthy_image: str | None
    """the image of ``container`` that pods of the workload still run Ready"""
    service_account: str
    attached: frozenset[str]
    """the pull secrets its failing pods name"""


def failing_workloads(
    failing: list[JSON], pods: list[JSON], classes_of: Callable[[JSON], set[str]]
) -> list[FailingWorkload]:
    """The workloads of the ``failing`` pods (``pods``: every pod looked at,
    Ready ones included); pods under no workload are left out."""
    grouped: dict[Target, list[JSON]] = {}
    for pod in failing:
        workload = owners.pod_workload(pod)
        if workload is not None:
            grouped.setdefault(workload, []).append(pod)
    found = []
    for target, its_pods in grouped.items():
        first = its_pods[0]
        container = _failing_container(first)
        image = _spec_images(first).get(container, "")
        healthy = Counter(
            other
            for pod in pods
            if owners.pod_workload(pod) == target and _ready(pod)
            for other in [_spec_images(pod).get(container)]
            if other and other != image
        )
        spec = first.get("spec") or {}
        found.append(
            FailingWorkload(
                target=target,
                hypothesis=pull_hypothesis({c for pod in its_pods for c in classes_of(pod)}),
                container=container,
                image=image,
                healthy_image=healthy.most_common(1)[0][0] if healthy else None,
                service_account=str(spec.get("serviceAccountName") or "default"),
                attached=frozenset(
                    str(s.get("name"))
                    for pod in its_pods
                    for s in (pod.get("spec") or {}).get("imagePullSecrets") or []
                    if s.get("name")
                ),
            )
        )
    return found


@dataclass
class PullTargets:
    """The targets (and their params) the evidence supports, by action, and
    what was concluded, for the summary."""

    targets: dict[str, tuple[Target, ...]] = field(default_factory=dict)
    params: dict[tuple[str, Target], Mapping[str, ParamValue]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def name(self, action: str, target: Target, **params: ParamValue) -> None:
        if target not in self.targets.get(action, ()):
            self.targets[action] = (*self.targets.get(action, ()), target)
        if params:
            self.params[(action, target)] = params


def pull_targets(
    workloads: list[FailingWorkload],
    live: Callable[[Target], JSON | None],
    pull_secrets: Callable[[str], list[str] | None],
    mirror: str | None = None,
) -> PullTargets:
    """Name, for each failing workload that exists (``live`` reads it), the
    targets of the actions its hypothesis supports; ``pull_secrets`` lists
    a namespace's registry credential Secrets (None: may not look)."""
    named = PullTargets()
    for workload in workloads:
        target, hypothesis = workload.target, workload.hypothesis
        where = f"{target.kind} {target.namespace}/{target.name}"
        if hypothesis is None:
            named.notes.append(f"{where}: the pull errors point at no known cause")
            continue
        if hypothesis == RATE_LIMIT:
            wait = "wait for the limit to reset" + (
                f", or pull through the mirror {mirror}" if mirror else ""
            )
            named.notes.append(f"{where}: {hypothesis}: {wait}")
            continue
        obj = live(target)
        if obj is None:
            named.notes.append(f"{where}: {hypothesis}, but the {target.kind} is gone")
            continue
        actions = SUPPORTED_ACTIONS[hypothesis]
        note = f"{where}: {hypothesis}"
        if "patch_image_ref" in actions:
            params: dict[str, ParamValue] = {"container": workload.container}
            if workload.healthy_image:
                params["image"] = workload.healthy_image
                note += f" ({workload.image}); {workload.healthy_image} still runs Ready"
            named.name("patch_image_ref", target, **params)
        if "patch_pull_secret" in actions:
            note += _name_pull_secret(named, workload, pull_secrets(target.namespace or ""))
        release = owners.release_of(obj)
        if release is not None:
            for action in actions:
                if action in ("helm_reconcile", "rollback_release"):
                    named.name(action, release)
        named.notes.append(note)
    return named


def _name_pull_secret(
    named: PullTargets, workload: FailingWorkload, existing: list[str] | None
) -> str:
    """Name the pull secret patch (the Deployment, else the pods' service
    account) with the one existing credential Secret its pods do not name."""
    target = workload.target
    if target.kind != "deployment":
        target = Target(
            kind="serviceaccount", namespace=target.namespace, name=workload.service_account
        )
    spare = [s for s in existing or () if s not in workload.attached]
    if len(spare) == 1:
        named.name("patch_pull_secret", target, secret=spare[0])
        return f"; registry credential Secret {spare[0]} exists and is not attached"
    named.name("patch_pull_secret", target)
    if existing is None:
        return "; cannot list the namespace's registry credential Secrets"
    if spare:
        return "; several registry credential Secrets could be attached: " + ", ".join(spare)
    return "; no other registry credential Secret exists in the namespace"


def _failing_container(pod: Mapping[str, Any]) -> str:
    return next(
        (
            str(status.get("name", ""))
            for status in container_statuses(pod)
            if ((status.get("state") or {}).get("waiting") or {}).get("reason") in PULL_ERRORS
        ),
        "",
    )


def _spec_images(pod: Mapping[str, Any]) -> dict[str, str]:
    """Container name → image as the pod's spec names it (as its template
    wrote it, not as the runtime resolved it)."""
    spec = pod.get("spec") or {}
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    return {str(c.get("name")): str(c.get("image")) for c in containers if c.get("name")}


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return meta(pod).get("deletionTimestamp") is None and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )

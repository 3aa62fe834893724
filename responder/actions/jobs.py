"""Executors of Job actions: ``run_recovery_job`` starts a configured
recovery Job, ``bulk_cleanup`` deletes finished Jobs and pods beyond the
allowlist, within a cap.

Neither has an inverse: what a recovery Job did depends on the Job (its
runbook says how to undo it), and deleted objects do not come back."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from responder.actions.kube_calls import expect_kind, finished_pods
from responder.kube import Kube, KubeError, controller_of, meta, parse_time
from responder.policy.allowlist import never_auto_reason
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.records.target import Target
from responder.remedies import BulkCleanup, RecoveryJob

INSTANTIATE = "cronjob.kubernetes.io/instantiate"
RECOVERY_LABEL = "robot-sre.io/recovery-job"
INCIDENT_ANNOTATION = "robot-sre.io/incident"
JOB_NAME_LIMIT = 63

NO_RECOVERY_JOB = (
    "no recovery job configured for run_recovery_job (settings remedies.recovery_jobs)"
)


class RecoveryJobExecutor:
    actions: frozenset[str] = frozenset({"run_recovery_job"})

    def __init__(
        self,
        kube: Kube | None,
        jobs: Iterable[RecoveryJob] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``jobs``: the recovery jobs configured (settings
        ``remedies.recovery_jobs``); a request's target ``job/NAMESPACE/NAME``
        names one of them."""
        self.kube = kube
        self.jobs = tuple(jobs)
        self.clock = clock

    def unavailable(self, action: str) -> str | None:
        if not self.jobs:
            return NO_RECOVERY_JOB
        return None

    def plan(self, request: ActionRequest) -> Plan:
        if request.action not in self.actions:
            raise ValueError(f"the recovery job executor does not serve {request.action}")
        if not self.jobs:
            raise ValueError(NO_RECOVERY_JOB)
        expect_kind(request, ("job",))
        remedy = self._remedy(request.target)
        kube = _client(self.kube)
        if remedy.cronjob is not None:
            cronjob = kube.call(
                f"get cronjob {remedy.namespace}/{remedy.cronjob}",
                kube.batch.read_namespaced_cron_job,
                remedy.cronjob,
                remedy.namespace,
            )
            template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
        else:
            cronjob, template = None, remedy.template or {}
        _refuse_while_running(kube, remedy)
        name = _job_name(remedy.name, self.clock())
        job = _job(remedy, name, template, cronjob, request.incident_id)
        return Plan(
            request,
            previous={},
            changes={"job": name, "create": job},
            summary=f"start job {remedy.namespace}/{name} from {remedy.source}",
            diff=(Change(f"job {name}", "absent", f"created from {remedy.source}"),),
        )

    def apply(self, plan: Plan) -> ActionOutcome:
        if self.kube is None:
            return ActionOutcome("not_available", "no Kubernetes cluster is configured", plan)
        if plan.request.action not in self.actions or "create" not in plan.changes:
            return ActionOutcome("failed", f"not a recovery job plan: {plan.summary}", plan)
        job = plan.changes["create"]
        namespace = job["metadata"]["namespace"]
        try:
            # time has passed since the plan (an approval): check again
            _refuse_while_running(self.kube, self._remedy(plan.request.target))
            self.kube.call(
                f"create job {namespace}/{plan.changes['job']}",
                self.kube.batch.create_namespaced_job,
                namespace,
                job,
            )
        except ValueError as exc:
            return ActionOutcome("failed", f"{exc}; not started", plan)
        except KubeError as exc:
            return ActionOutcome("failed", str(exc), plan)
        return ActionOutcome("succeeded", f"job {namespace}/{plan.changes['job']} started", plan)

    def inverse(self, plan: Plan) -> ActionRequest | None:
        """None: what the Job did depends on the Job; its runbook undoes it."""
        return None

    def _remedy(self, target: Target) -> RecoveryJob:
        for job in self.jobs:
            if (job.namespace, job.name) == (target.namespace, target.name):
                return job
        configured = ", ".join(f"job/{j.namespace}/{j.name}" for j in self.jobs)
        raise ValueError(
            f"no recovery job {target.namespace}/{target.name} is configured "
            f"(settings remedies.recovery_jobs has {configured})"
        )


def _refuse_while_running(kube: Kube, remedy: RecoveryJob) -> None:
    jobs = kube.items(
        f"list jobs in {remedy.namespace}", kube.batch.list_namespaced_job, remedy.namespace
    )
    for job in jobs:
        labels = meta(job).get("labels") or {}
        owner = controller_of(job)
        same = labels.get(RECOVERY_LABEL) == remedy.name or (
            remedy.cronjob is not None and owner == ("CronJob", remedy.cronjob)
        )
        if same and _finished_at(job) is None and not meta(job).get("deletionTimestamp"):
            raise ValueError(
                f"job {remedy.namespace}/{meta(job).get('name')} from {remedy.source} "
                "is still running"
            )


def _job_name(base: str, now: datetime) -> str:
    suffix = f"-manual-{now.astimezone(UTC):%y%m%d%H%M}"
    return base[: JOB_NAME_LIMIT - len(suffix)].rstrip("-.") + suffix


def _job(
    remedy: RecoveryJob,
    name: str,
    template: Mapping[str, Any],
    cronjob: Mapping[str, Any] | None,
    incident_id: str,
) -> dict[str, Any]:
    """The Job as ``kubectl create job --from=cronjob/...`` makes it (the
    template's labels and annotations, ``instantiate: manual``, the CronJob as
    its controller), labelled as this recovery job's."""
    template_meta = template.get("metadata") or {}
    annotations = {INSTANTIATE: "manual"} if cronjob is not None else {}
    annotations |= {**(template_meta.get("annotations") or {}), INCIDENT_ANNOTATION: incident_id}
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": remedy.namespace,
        "labels": {**(template_meta.get("labels") or {}), RECOVERY_LABEL: remedy.name},
        "annotations": annotations,
    }
    if cronjob is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": meta(cronjob).get("name"),
                "uid": meta(cronjob).get("uid"),
                "controller": True,
            }
        ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": copy.deepcopy(dict(template.get("spec") or {})),
    }


class BulkCleanupExecutor:
    """Deletes finished Jobs (their pods go with them: background propagation)
    and finished pods no Job owns, finished longer ago than a limit, never
    what the never-auto list protects, and refuses more than the cap."""

    actions: frozenset[str] = frozenset({"bulk_cleanup"})

    def __init__(
        self,
        kube: Kube | None,
        limits: BulkCleanup | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``limits``: the cap and age limit (settings ``remedies.bulk_cleanup``)."""
        self.kube = kube
        self.limits = limits or BulkCleanup()
        self.clock = clock

    def plan(self, request: ActionRequest) -> Plan:
        if request.action not in self.actions:
            raise ValueError(f"the bulk cleanup executor does not serve {request.action}")
        expect_kind(request, ("cluster", "namespace"))
        minutes = request.params.get("older_than_minutes", self.limits.older_than_minutes)
        if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
            raise ValueError("bulk_cleanup params.older_than_minutes must be a whole number ≥ 1")
        kube = _client(self.kube)
        target = request.target
        namespace = target.name if target.kind.lower() == "namespace" else None
        where = f"in {namespace}" if namespace else "cluster-wide"
        cutoff = self.clock() - timedelta(minutes=minutes)
        jobs, pods = _jobs(kube, namespace), finished_pods(kube, namespace)
        doomed_jobs = [
            job
            for job in jobs
            if _old_enough(_finished_at(job), cutoff) and _deletable(request.action, "job", job)
        ]
        job_names = {(meta(job).get("namespace"), meta(job).get("name")) for job in jobs}
        doomed_pods = [
            pod
            for pod in pods
            if _old_enough(_pod_finished_at(pod), cutoff)
            and _deletable(request.action, "pod", pod)
            # a Job's pods go with it, or stay while it runs
            and (meta(pod).get("namespace"), _job_of(pod)) not in job_names
        ]
        count = len(doomed_jobs) + len(doomed_pods)
        counts = f"{len(doomed_jobs)} finished jobs, {len(doomed_pods)} finished pods"
        if count > self.limits.cap:
            raise ValueError(
                f"bulk_cleanup {where} would delete {count} objects ({counts}), more than the "
                f"cap of {self.limits.cap} (settings remedies.bulk_cleanup.cap): clean up one "
                "namespace at a time or raise params.older_than_minutes"
            )
        age = f"finished over {minutes} min ago"
        if not count:
            return Plan(request, {}, {}, f"no jobs or pods {where} {age}")
        diff = tuple(
            Change(f"finished {kind} {where} ({age})", str(len(found)), "0")
            for kind, found in (("jobs", doomed_jobs), ("pods", doomed_pods))
            if found
        )
        return Plan(
            request,
            previous={},
            changes={"delete_jobs": _listed(doomed_jobs), "delete_pods": _listed(doomed_pods)},
            summary=f"delete {counts} {where} ({age})",
            diff=diff,
        )

    def apply(self, plan: Plan) -> ActionOutcome:
        if self.kube is None:
            return ActionOutcome("not_available", "no Kubernetes cluster is configured", plan)
        if plan.request.action not in self.actions:
            return ActionOutcome("failed", f"not a bulk cleanup: {plan.request.action}", plan)
        if not plan.changes:
            return ActionOutcome("skipped", f"nothing to do: {plan.summary}", plan)
        kube, tally = self.kube, _Tally()
        for job in plan.changes["delete_jobs"]:
            if not tally.delete(kube, "job", kube.batch.delete_namespaced_job, job, "Background"):
                break
        else:
            for pod in plan.changes["delete_pods"]:
                if not tally.delete(kube, "pod", kube.core.delete_namespaced_pod, pod, None):
                    break
        jobs, pods = len(plan.changes["delete_jobs"]), len(plan.changes["delete_pods"])
        detail = f"deleted {tally.deleted} of {jobs + pods} finished jobs and pods"
        if tally.gone:
            detail += f" ({tally.gone} were already gone)"
        if tally.failed:
            return ActionOutcome("failed", f"{detail}; failed: {'; '.join(tally.failed[:5])}", plan)
        return ActionOutcome("succeeded", detail, plan)

    def inverse(self, plan: Plan) -> ActionRequest | None:
        """None: deleted objects do not come back."""
        return None


class _Tally:
    def __init__(self) -> None:
        self.deleted, self.gone = 0, 0
        self.failed: list[str] = []

    def delete(
        self,
        kube: Kube,
        kind: str,
        method: Callable[..., Any],
        listed: Mapping[str, Any],
        propagation: str | None,
    ) -> bool:
        """Delete one listed object (only the one with the listed uid); False
        when the API does not answer and the rest should not be tried."""
        name, namespace = listed["name"], listed["namespace"]
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if listed.get("uid"):
            body["preconditions"] = {"uid": listed["uid"]}
        if propagation:
            body["propagationPolicy"] = propagation
        try:
            kube.call(f"delete {kind} {namespace}/{name}", method, name, namespace, body=body)
            self.deleted += 1
        except KubeError as exc:
            if exc.not_found:
                self.gone += 1
                return True
            self.failed.append(str(exc))
            return exc.status != 0
        return True


def _client(kube: Kube | None) -> Kube:
    if kube is None:
        raise KubeError("plan", 0, "no Kubernetes cluster is configured (dry-run)")
    return kube


def _jobs(kube: Kube, namespace: str | None) -> list[Any]:
    if namespace:
        return kube.items(f"list jobs in {namespace}", kube.batch.list_namespaced_job, namespace)
    return kube.items("list jobs", kube.batch.list_job_for_all_namespaces)


def _finished_at(job: Mapping[str, Any]) -> datetime | None:
    """When a Job finished (Complete or Failed); None while it runs. A Job
    that does not say when counts from its creation."""
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return (
                parse_time(status.get("completionTime"))
                or parse_time(condition.get("lastTransitionTime"))
                or parse_time(meta(job).get("creationTimestamp"))
            )
    return None


def _pod_finished_at(pod: Mapping[str, Any]) -> datetime | None:
    """When a finished pod's last container ended (else its creation)."""
    ends = [
        parse_time(((status.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for status in (pod.get("status") or {}).get("containerStatuses") or []
    ]
    known = [end for end in ends if end is not None]
    return max(known) if known else parse_time(meta(pod).get("creationTimestamp"))


def _old_enough(finished: datetime | None, cutoff: datetime) -> bool:
    return finished is not None and finished <= cutoff


def _deletable(action: str, kind: str, obj: Mapping[str, Any]) -> bool:
    if meta(obj).get("deletionTimestamp"):
        return False
    target = Target(
        kind=kind, namespace=meta(obj).get("namespace") or None, name=str(meta(obj).get("name"))
    )
    return never_auto_reason(action, target) is None


def _job_of(pod: Mapping[str, Any]) -> str | None:
    owner = controller_of(pod)
    return owner[1] if owner is not None and owner[0] == "Job" else None


def _listed(objects: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "namespace": meta(obj).get("namespace"),
            "name": meta(obj).get("name"),
            "uid": meta(obj).get("uid"),
        }
        for obj in objects
    ]

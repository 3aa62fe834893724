"""Which targets the robot may touch on its own (spec section 12).

The allowlist names (action, target glob, environments); the never-auto list
names what the robot must never touch on its own, whatever any allowlist says.
Operators extend the allowlist in settings; the never-auto list is a hard
constraint."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from responder.records.levels import Environment
from responder.records.target import AllowEntry, Target, TargetPattern, matcher, target_text


class NeverAuto(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actions: tuple[str, ...] = ("*",)
    targets: tuple[TargetPattern, ...] = (TargetPattern(),)
    reason: str

    def matches(self, action: str, target: Target | None) -> bool:
        if not any(fnmatchcase(action, pattern) for pattern in self.actions):
            return False
        if target is None:
            return self.targets == (TargetPattern(),)
        return matcher(self.targets).match(target_text(target)) is not None


def _workloads(*patterns: tuple[str, str]) -> tuple[TargetPattern, ...]:
    return tuple(
        TargetPattern(kind=kind, namespace=namespace, name=name)
        for namespace, name in patterns
        for kind in ("deployment", "statefulset")
    )


V1_ALLOWLIST: tuple[AllowEntry, ...] = (
    AllowEntry(
        action="delete_completed_pods",
        targets=(TargetPattern(kind="cluster"), TargetPattern(kind="namespace")),
        reason="V1 allowlist: delete Succeeded and Failed pods cluster-wide",
    ),
    AllowEntry(
        action="suspend_cronjob",
        targets=(TargetPattern(kind="cronjob", name="trivy-db-warmup"),),
        reason="V1 allowlist: suspend trivy-db-warmup",
    ),
    AllowEntry(
        action="scale_to_zero",
        targets=_workloads(
            ("image-factory", "*"),
            ("*", "headlamp*"),
            ("tekton-pipelines", "*"),
            ("tekton-pipelines-resolvers", "*"),
            ("*", "trivy-db-warmup*"),
        ),
        environments=(Environment.demo,),
        reason="V1 allowlist: scale allowlisted demo workloads to zero in demo mode",
    ),
    AllowEntry(
        action="suppress_incident",
        targets=(TargetPattern(kind="incident"),),
        reason="marking an incident suppressed touches no cluster resource",
    ),
    AllowEntry(
        action="failover_channel",
        targets=(TargetPattern(kind="channel"),),
        reason="retrying through the alternate channel touches no cluster resource",
    ),
    AllowEntry(
        action="rollout_restart",
        targets=_workloads(
            ("*", "redis*"), ("*", "nats*"), ("*", "minio*"), ("*", "registry*"), ("*", "glauth*")
        ),
        environments=(Environment.demo, Environment.staging),
        reason="policy matrix: limited restart of a runtime dependency in demo/staging",
    ),
)

NEVER_AUTO: tuple[NeverAuto, ...] = (
    NeverAuto(
        targets=(
            TargetPattern(namespace="*supabase*"),
            TargetPattern(name="*supabase*"),
        ),
        reason="never auto-contain: Supabase config",
    ),
    NeverAuto(
        targets=(
            TargetPattern(namespace="ingress-nginx"),
            TargetPattern(name="*ingress-nginx*"),
            TargetPattern(name="*ingress-controller*"),
        ),
        reason="never auto-contain: the ingress controller",
    ),
    NeverAuto(
        targets=(TargetPattern(namespace="cert-manager"), TargetPattern(name="cert-manager*")),
        reason="never auto-contain: cert-manager",
    ),
    NeverAuto(actions=("delete_namespace",), reason="never auto: namespace deletion"),
    NeverAuto(
        actions=("delete_pvc",),
        reason="never auto: PVC deletion",
    ),
    NeverAuto(
        targets=(TargetPattern(kind="persistentvolumeclaim"),),
        reason="never auto: PVC deletion",
    ),
    NeverAuto(actions=("reset_schema",), reason="never auto: database reset"),
)


class Allowlist:
    def __init__(
        self,
        entries: tuple[AllowEntry, ...] = V1_ALLOWLIST,
        shared: tuple[TargetPattern, ...] = (),
    ) -> None:
        self.entries = entries
        self.shared = shared
        self._shared = matcher(shared)
        self._by_action: dict[str, list[tuple[AllowEntry, re.Pattern[str]]]] = {}
        for entry in entries:
            self._by_action.setdefault(entry.action, []).append((entry, matcher(entry.targets)))

    def allowing(
        self, action: str, target: Target | None, environment: Environment
    ) -> AllowEntry | None:
        """The entry that allowlists ``action`` on ``target`` here, if any."""
        if target is None:
            return None
        text = target_text(target)
        for entry, pattern in self._by_action.get(action, ()):
            if environment in entry.environments and pattern.match(text) is not None:
                return entry
        return None

    def is_shared(self, target: Target | None) -> bool:
        return target is not None and self._shared.match(target_text(target)) is not None


def never_auto_reason(action: str, target: Target | None) -> str | None:
    """Why the robot never does ``action`` on ``target`` on its own, or None."""
    text = target_text(target) if target is not None else None
    for entry, pattern, any_target in _never_auto_for(action):
        if any_target if text is None else pattern.match(text) is not None:
            return entry.reason
    return None


@lru_cache(maxsize=256)
def _never_auto_for(action: str) -> tuple[tuple[NeverAuto, re.Pattern[str], bool], ...]:
    """The never-auto entries naming ``action``: each with its target
    patterns as one regex, and whether it names every target."""
    return tuple(
        (e, matcher(e.targets), e.targets == (TargetPattern(),))
        for e in NEVER_AUTO
        if any(fnmatchcase(action, p) for p in e.actions)
    )

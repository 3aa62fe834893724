"""Executors of the configured ConfigMap remedies: ``patch_ldap_config`` sets
the identity provider setting to its configured fallback, ``switch_db_target``
points the application's database setting at the configured standby.

Each acts only on the ConfigMap key its remedy names; without the remedy the
plan refuses. The inverse is ``patch_config`` of the recorded value."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from responder.actions.kube_calls import expect_kind, named, undo, verify_by_replan
from responder.kube import MERGE_PATCH, Kube, KubeError
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.remedies import ConfigKey, DatabaseTarget, LdapFallback

ABSENT = "absent"


class ConfigRemedyExecutor:
    actions: frozenset[str] = frozenset({"patch_ldap_config", "switch_db_target"})

    def __init__(
        self,
        kube: Kube | None,
        ldap: LdapFallback | None = None,
        database: DatabaseTarget | None = None,
    ) -> None:
        """``kube`` None: no cluster is configured; plans raise and applies
        are ``not_available``. ``ldap`` and ``database`` are the remedies
        (settings ``remedies.ldap``, ``remedies.database``)."""
        self.kube = kube
        self.ldap = ldap
        self.database = database

    def plan(self, request: ActionRequest) -> Plan:
        remedy = self._remedy(request.action)
        expect_kind(request, ("configmap",))
        target, configured = request.target, remedy.target
        if (target.namespace, target.name) != (configured.namespace, configured.name):
            raise ValueError(
                f"{request.action} acts on {named(configured)} (settings remedies), "
                f"not {named(target)}"
            )
        if self.kube is None:
            raise KubeError("plan", 0, "no Kubernetes cluster is configured (dry-run)")
        current = _value(self.kube, request, remedy.key)
        previous = {"key": remedy.key, "value": current}
        wanted = self._wanted(request, remedy, current)
        if current == wanted:
            return Plan(
                request,
                previous,
                {},
                f"data.{remedy.key} of {named(target)} is already {_shown(current)}",
            )
        change = Change(f"data.{remedy.key}", _shown(current), _shown(wanted))
        verb = "fall back" if request.action == "patch_ldap_config" else "switch to the standby"
        return Plan(
            request,
            previous,
            {"key": remedy.key, "value": wanted},
            f"{verb}: set data.{remedy.key} of {named(target)} "
            f"from {change.before} to {change.after}",
            (change,),
        )

    def apply(self, plan: Plan) -> ActionOutcome:
        if self.kube is None:
            return ActionOutcome("not_available", "no Kubernetes cluster is configured", plan)
        if plan.request.action not in self.actions:
            return ActionOutcome("failed", f"not a config remedy: {plan.request.action}", plan)
        if not plan.changes:
            return ActionOutcome("skipped", f"nothing to do: {plan.summary}", plan)
        target, key = plan.request.target, plan.changes["key"]
        try:
            # the inverse restores what the plan read: a value changed since
            # (by a person, a deploy) is not overwritten
            now = _value(self.kube, plan.request, key)
            if now != plan.previous["value"]:
                return ActionOutcome(
                    "failed",
                    f"data.{key} of {named(target)} changed since the plan "
                    f"(now {_shown(now)}): not patched; plan again",
                    plan,
                )
            self.kube.call(
                f"patch {named(target)}",
                self.kube.core.patch_namespaced_config_map,
                target.name,
                target.namespace,
                {"data": {key: plan.changes["value"]}},
                _content_type=MERGE_PATCH,
            )
        except KubeError as exc:
            return ActionOutcome("failed", str(exc), plan)
        return ActionOutcome(
            "succeeded",
            f"{named(target)}: {plan.diff[0].what} {plan.diff[0].before} → {plan.diff[0].after}",
            plan,
        )

    def verify(self, plan: Plan) -> str | None:
        return verify_by_replan(self.plan, plan)

    def inverse(self, plan: Plan) -> ActionRequest | None:
        """``patch_config`` of the value the plan read (None: the key is removed)."""
        if not plan.changes:
            return None
        previous = plan.previous
        return undo(
            plan.request, "patch_config", {"key": previous["key"], "value": previous["value"]}
        )

    def unavailable(self, action: str) -> str | None:
        try:
            self._remedy(action)
        except ValueError as exc:
            return str(exc)
        return None

    def _remedy(self, action: str) -> ConfigKey:
        if action == "patch_ldap_config":
            if self.ldap is None:
                raise ValueError(
                    "no LDAP fallback configured for patch_ldap_config (settings remedies.ldap)"
                )
            return self.ldap
        if action == "switch_db_target":
            if self.database is None:
                raise ValueError(
                    "no standby configured for switch_db_target (settings remedies.database)"
                )
            return self.database
        raise ValueError(f"the config remedy executor does not serve {action}")

    def _wanted(self, request: ActionRequest, remedy: ConfigKey, current: str | None) -> str:
        if isinstance(remedy, LdapFallback):
            return remedy.fallback
        assert isinstance(remedy, DatabaseTarget)
        if current not in (remedy.primary, remedy.standby):
            raise ValueError(
                f"data.{remedy.key} of {named(request.target)} is {_shown(current)}, neither the "
                f"configured primary {_shown(remedy.primary)} nor the standby: a person decides"
            )
        return remedy.standby


def _value(kube: Kube, request: ActionRequest, key: str) -> str | None:
    target = request.target
    configmap = kube.call(
        f"get {named(target)}",
        kube.core.read_namespaced_config_map,
        target.name,
        target.namespace,
    )
    value: Any = (configmap.get("data") or {}).get(key)
    return None if value is None else str(value)


def _shown(value: str | None) -> str:
    """``value`` as an approver reads it: a URL's password masked."""
    if value is None:
        return ABSENT
    try:
        password = urlsplit(value).password
    except ValueError:
        return value
    return value.replace(f":{password}@", ":***@", 1) if password else value

"""What the operator configures for the actions that cannot find everything
they need in the cluster: the database standby to switch to, the recovery
Jobs, the subsystems that may be switched off, the shared controllers. An
action whose remedy is not configured is recommended, never asked for."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from responder.records.target import Target

SCALABLE_KINDS = ("deployment", "statefulset")


def workload_ref(text: str) -> str:
    """``KIND/NAMESPACE/NAME`` (a Deployment or StatefulSet) or
    ``NAMESPACE/NAME`` (a Deployment), as ``kind/namespace/name``."""
    parts = text.strip().split("/")
    if len(parts) == 2:
        parts = ["deployment", *parts]
    if len(parts) != 3 or not all(parts) or parts[0].lower() not in SCALABLE_KINDS:
        raise ValueError(
            f"{text!r}: expected deployment/NAMESPACE/NAME, statefulset/NAMESPACE/NAME "
            "or NAMESPACE/NAME (a Deployment)"
        )
    return f"{parts[0].lower()}/{parts[1]}/{parts[2]}"


def object_ref(text: str) -> str:
    """``NAMESPACE/NAME`` of a namespaced object."""
    parts = text.strip().split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"{text!r}: expected NAMESPACE/NAME")
    return "/".join(parts)


WorkloadRef = Annotated[str, AfterValidator(workload_ref)]
ObjectRef = Annotated[str, AfterValidator(object_ref)]


class Subsystem(BaseModel):
    """How one subsystem is switched off: its workload scaled to 0, or a
    ConfigMap key set to the value that turns it off (exactly one of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(default="", description="what the subsystem does, for the prompt")
    workload: WorkloadRef | None = Field(
        default=None,
        description="the Deployment or StatefulSet scaled to 0 to switch it off "
        "(kind/namespace/name, or namespace/name for a Deployment)",
    )
    configmap: ObjectRef | None = Field(
        default=None, description="namespace/name of the ConfigMap holding its switch"
    )
    key: str | None = Field(default=None, description="the ConfigMap key of the switch")
    off_value: str | None = Field(
        default=None, description="the value of the key that switches the subsystem off"
    )

    @model_validator(mode="after")
    def _one_switch(self) -> Self:
        by_config = self.configmap is not None
        if by_config == (self.workload is not None):
            raise ValueError("give either workload, or configmap with key and off_value")
        if by_config and (not self.key or self.off_value is None):
            raise ValueError(f"configmap {self.configmap}: give the key and its off_value")
        if not by_config and (self.key is not None or self.off_value is not None):
            raise ValueError("key and off_value go with configmap, not with workload")
        return self


class Remedy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfigKey(Remedy):
    """One key of one ConfigMap that an action sets."""

    configmap: str = Field(description="NAMESPACE/NAME of the ConfigMap that holds the setting")
    key: str = Field(min_length=1, description="the key in the ConfigMap's data")

    @field_validator("configmap")
    @classmethod
    def _namespaced(cls, value: str) -> str:
        namespace, _, name = value.partition("/")
        if not namespace or not name or "/" in name:
            raise ValueError(f"{value!r}: expected NAMESPACE/NAME")
        return value

    @property
    def target(self) -> Target:
        """The ConfigMap as an action's target."""
        namespace, _, name = self.configmap.partition("/")
        return Target(kind="configmap", namespace=namespace, name=name)


class LdapFallback(ConfigKey):
    """patch_ldap_config: the identity provider setting and its fallback."""

    fallback: str = Field(
        min_length=1, description="the value patch_ldap_config sets, e.g. ldaps://ldap-standby:636"
    )


class DatabaseTarget(ConfigKey):
    """switch_db_target: the setting that names the application's database."""

    primary: str = Field(min_length=1, description="the key's value that names the primary")
    standby: str = Field(min_length=1, description="the value switch_db_target sets: the standby")


class RecoveryJob(Remedy):
    """A Job run_recovery_job may start: from a CronJob's jobTemplate (as
    ``kubectl create job --from=cronjob/NAME``) or from a Job template given
    here. Its target is ``job/NAMESPACE/NAME``."""

    name: str = Field(
        default="", description="the recovery job's name (its target's name); default: the cronjob"
    )
    namespace: str = Field(min_length=1, description="where the Job runs")
    cronjob: str | None = Field(default=None, description="the CronJob whose jobTemplate it runs")
    template: dict[str, Any] | None = Field(
        default=None,
        description="a JobTemplateSpec ({metadata: {labels, annotations}, spec: JobSpec}) "
        "to run instead of a CronJob's",
    )

    @model_validator(mode="before")
    @classmethod
    def _named_after_the_cronjob(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("name") and data.get("cronjob"):
            return {**data, "name": data["cronjob"]}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> RecoveryJob:
        if (self.cronjob is None) == (self.template is None):
            raise ValueError("a recovery job names either cronjob or template")
        if self.template is not None and not isinstance(self.template.get("spec"), dict):
            raise ValueError("a recovery job's template needs a spec (a JobSpec)")
        if not self.name:
            raise ValueError("a recovery job from a template needs a name")
        return self

    @property
    def source(self) -> str:
        """Where its Jobs come from, as people read it."""
        return f"cronjob/{self.cronjob}" if self.cronjob else f"template {self.name}"


class BulkCleanup(Remedy):
    """How far bulk_cleanup may go."""

    cap: int = Field(
        default=200, ge=1, description="most objects one bulk_cleanup deletes; more: refused"
    )
    older_than_minutes: int = Field(
        default=60, ge=1, description="only Jobs and pods finished at least this long ago"
    )


class Remedies(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shared_controllers: list[WorkloadRef] = Field(
        default_factory=list,
        description="controllers other workloads depend on, which scale_shared_controller "
        "and pause_shared_controller may act on (kind/namespace/name, or namespace/name "
        "for a Deployment), e.g. tekton-pipelines/tekton-pipelines-controller; a job "
        "backlog names the running one whose pods fill it (their app.kubernetes.io/managed-by "
        "is its app.kubernetes.io/part-of, name or namespace) as the pause target",
    )
    subsystems: dict[str, Subsystem] = Field(
        default_factory=dict,
        description="subsystem name -> how disable_subsystem switches it off",
    )
    ldap: LdapFallback | None = Field(
        default=None, description="the identity provider setting patch_ldap_config falls back"
    )
    database: DatabaseTarget | None = Field(
        default=None, description="the database setting switch_db_target points at the standby"
    )
    recovery_jobs: tuple[RecoveryJob, ...] = Field(
        default=(), description="the Jobs run_recovery_job may start"
    )
    bulk_cleanup: BulkCleanup = Field(
        default_factory=BulkCleanup, description="the cap and age limit of bulk_cleanup"
    )
    registry_mirror: str | None = Field(
        default=None,
        description="a registry mirror (e.g. mirror.gcr.io) named as the way out when a "
        "registry rate-limits pulls (toomanyrequests); nothing is patched to use it",
    )

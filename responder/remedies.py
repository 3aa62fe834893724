"""What the operator configures for the actions that cannot find everything
they need in the cluster: the database standby to switch to, the recovery
Jobs, the subsystems that may be switched off, the shared controllers. An
action whose remedy is not configured is recommended, never asked for."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from responder.records.target import Target


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

"""What the operator configures for the actions that cannot find everything
they need in the cluster: the database standby to switch to, the recovery
Jobs, the subsystems that may be switched off, the shared controllers. An
action whose remedy is not configured is recommended, never asked for."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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


class Remedies(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shared_controllers: list[WorkloadRef] = Field(
        default_factory=list,
        description="controllers other workloads depend on, which scale_shared_controller "
        "and pause_shared_controller may act on (kind/namespace/name, or namespace/name "
        "for a Deployment), e.g. tekton-pipelines/tekton-pipelines-controller",
    )
    subsystems: dict[str, Subsystem] = Field(
        default_factory=dict,
        description="subsystem name -> how disable_subsystem switches it off",
    )

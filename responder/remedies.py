"""What the operator configures for the actions that cannot find everything
they need in the cluster: the database standby to switch to, the recovery
Jobs, the subsystems that may be switched off, the shared controllers. An
action whose remedy is not configured is recommended, never asked for."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Remedies(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    registry_mirror: str | None = Field(
        default=None,
        description="a registry mirror (e.g. mirror.gcr.io) named as the way out when a "
        "registry rate-limits pulls (toomanyrequests); nothing is patched to use it",
    )

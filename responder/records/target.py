"""What an action acts on, and the patterns that name targets."""

from __future__ import annotations

from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict

from responder.records.levels import ALL_ENVIRONMENTS, Environment


class Target(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    namespace: str | None = None
    name: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace or "", "name": self.name}

    @classmethod
    def parse(cls, text: str) -> Target:
        """``KIND/NAMESPACE/NAME`` or ``KIND/NAME`` (cluster-scoped)."""
        parts = text.split("/")
        if len(parts) == 3:
            return cls(kind=parts[0], namespace=parts[1] or None, name=parts[2])
        if len(parts) == 2:
            return cls(kind=parts[0], name=parts[1])
        raise ValueError(f"target {text!r}: expected KIND/NAMESPACE/NAME or KIND/NAME")


class TargetPattern(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = "*"
    namespace: str = "*"
    name: str = "*"

    def matches(self, target: Target) -> bool:
        return (
            fnmatchcase(target.kind.lower(), self.kind.lower())
            and fnmatchcase(target.namespace or "", self.namespace)
            and fnmatchcase(target.name, self.name)
        )


class AllowEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str
    targets: tuple[TargetPattern, ...]
    environments: tuple[Environment, ...] = ALL_ENVIRONMENTS
    reason: str

"""What an action acts on, and the patterns that name targets."""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from responder.records.levels import ALL_ENVIRONMENTS, Environment


class Target(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    namespace: str | None = None
    name: str

    @property
    def label(self) -> str:
        """``deployment app/api``; ``node worker-1``."""
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace or "", "name": self.name}

    @classmethod
    def from_dict(cls, target: dict[str, str]) -> Target:
        """The inverse of ``as_dict``."""
        return cls(
            kind=target["kind"], namespace=target.get("namespace") or None, name=target["name"]
        )

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
        return matcher((self,)).match(target_text(target)) is not None


def target_text(target: Target) -> str:
    """What target patterns are matched against: kind (lower case), namespace, name."""
    return f"{target.kind.lower()}\x00{target.namespace or ''}\x00{target.name}"


def _glob(pattern: str) -> str:
    return fnmatch.translate(pattern).removeprefix("(?s:").removesuffix(")\\Z")


@lru_cache(maxsize=1024)
def matcher(patterns: tuple[TargetPattern, ...]) -> re.Pattern[str]:
    """One regex that matches ``target_text`` of a target any of ``patterns`` names."""
    alternatives = [
        f"{_glob(p.kind.lower())}\x00{_glob(p.namespace)}\x00{_glob(p.name)}" for p in patterns
    ]
    return re.compile("(?s:" + "|".join(f"(?:{a})" for a in alternatives or ["(?!)"]) + ")\\Z")


class AllowEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: str
    targets: tuple[TargetPattern, ...]
    environments: tuple[Environment, ...] = ALL_ENVIRONMENTS
    reason: str

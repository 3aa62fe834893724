"""The collector protocol: read-only evidence for one or more incident types.

A collector turns the cluster's state into signals, facts, raw evidence
references and the targets it found for the incident's actions. It never
writes, and reports its own failures as a weak ``collector_error`` signal
rather than raising."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from responder.records.incident import Incident, ParamValue, Signal
from responder.records.target import Target


@dataclass(frozen=True)
class Evidence:
    signals: tuple[Signal, ...] = ()
    facts: dict[str, bool | int] = field(default_factory=dict)
    refs: tuple[str, ...] = ()
    summary: str = ""
    exit_criteria_met: bool | None = None
    """True when the type's exit criteria hold now, False when they do not,
    None when this collector cannot tell."""
    targets: dict[str, tuple[Target, ...]] = field(default_factory=dict)
    """Action id → the targets the evidence names for it. The decide stage
    puts each before the policy in place of the target the incident's scope
    gives; the policy still decides (allowlist, never-auto list)."""
    params: dict[tuple[str, Target], Mapping[str, ParamValue]] = field(default_factory=dict)
    """(action id, target) → the params the evidence names for the action on
    that target (one of ``targets``), e.g. the container and the image a
    ``patch_image_ref`` goes back to."""


class Collector(Protocol):
    name: str
    incident_types: frozenset[str]

    def collect(self, incident: Incident) -> Evidence: ...

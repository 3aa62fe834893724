"""Load the built-in catalogue from its data files and validate it.

Every problem is reported as a ``CatalogueError`` naming the file and the
field, so that a broken catalogue stops start-up with a message an operator
can act on.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from responder.taxonomy.models import ActionSpec, Domain, IncidentType, LadderStep, Taxonomy

DATA_DIR = Path(__file__).parent / "data"


class CatalogueError(ValueError):
    def __init__(self, file: Path | str, field: str, problem: str) -> None:
        super().__init__(f"{file}: {field}: {problem}")
        self.file = str(file)
        self.field = field
        self.problem = problem


def read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise CatalogueError(path, "-", "file not found") from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(path, "-", f"invalid YAML: {exc}") from exc


def _entries(path: Path, key: str) -> list[dict[str, Any]]:
    doc = read_yaml(path)
    if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
        raise CatalogueError(path, key, "expected a top-level list named " + repr(key))
    entries: list[dict[str, Any]] = doc[key]
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "id" not in entry:
            raise CatalogueError(path, f"{key}[{index}]", "expected a mapping with an 'id'")
    return entries


def _build(path: Path, key: str, entry: dict[str, Any], model: type[Any]) -> Any:
    try:
        return model.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CatalogueError(path, f"{key}[{entry['id']}].{where}", first["msg"]) from exc


def load_taxonomy(data_dir: Path = DATA_DIR) -> Taxonomy:
    """Load and cross-check the catalogue in ``data_dir``."""
    domains_file = data_dir / "domains.yaml"
    actions_file = data_dir / "actions.yaml"
    types_file = data_dir / "incident_types.yaml"

    domains: dict[str, Domain] = {}
    for entry in _entries(domains_file, "domains"):
        domains[entry["id"]] = _build(domains_file, "domains", entry, Domain)

    actions: dict[str, ActionSpec] = {}
    for entry in _entries(actions_file, "actions"):
        if entry["id"] in actions:
            raise CatalogueError(actions_file, f"actions[{entry['id']}]", "duplicate id")
        actions[entry["id"]] = _build(actions_file, "actions", entry, ActionSpec)
    for action in actions.values():
        if action.inverse is not None and action.inverse not in actions:
            raise CatalogueError(
                actions_file, f"actions[{action.id}].inverse", f"unknown action {action.inverse!r}"
            )

    types: dict[str, IncidentType] = {}
    for entry in _entries(types_file, "incident_types"):
        incident_type: IncidentType = _build(types_file, "incident_types", entry, IncidentType)
        if incident_type.id in types:
            raise CatalogueError(types_file, f"incident_types[{incident_type.id}]", "duplicate id")
        _check_type(types_file, incident_type, domains, actions)
        types[incident_type.id] = incident_type

    version = read_yaml(types_file).get("version")
    if not isinstance(version, str):
        raise CatalogueError(types_file, "version", "expected a version string")
    return Taxonomy(version=version, domains=domains, actions=actions, incident_types=types)


def _check_type(
    path: Path,
    incident_type: IncidentType,
    domains: dict[str, Domain],
    actions: dict[str, ActionSpec],
) -> None:
    where = f"incident_types[{incident_type.id}]"
    if incident_type.domain not in domains:
        raise CatalogueError(path, f"{where}.domain", f"unknown domain {incident_type.domain!r}")
    seen: set[str] = set()
    for field in ("auto_allowed", "approval_required", "human_only"):
        for action_id in getattr(incident_type, field):
            if action_id not in actions:
                raise CatalogueError(path, f"{where}.{field}", f"unknown action {action_id!r}")
            if action_id in seen:
                raise CatalogueError(path, f"{where}.{field}", f"{action_id!r} listed twice")
            seen.add(action_id)
    for action_id in incident_type.human_only:
        if actions[action_id].action_class != "human_only":
            raise CatalogueError(
                path, f"{where}.human_only", f"{action_id!r} is not a human-only action"
            )
    for action_id in incident_type.auto_allowed:
        if actions[action_id].action_class in ("recover", "disruptive", "human_only"):
            raise CatalogueError(
                path,
                f"{where}.auto_allowed",
                f"{action_id!r} is a {actions[action_id].action_class} action; "
                "only observe, notify and contain actions can be auto-allowed",
            )
    _check_ladder(path, incident_type, actions)


def _check_ladder(path: Path, incident_type: IncidentType, actions: dict[str, ActionSpec]) -> None:
    """Every type climbs a ladder of at least one step; each step names only
    actions the type itself auto-allows or asks for, gets a positive wait, and
    the last one escalates."""
    where = f"incident_types[{incident_type.id}].escalation_ladder"
    ladder = incident_type.escalation_ladder
    if not ladder:
        raise CatalogueError(path, where, "empty: every incident type needs at least one step")
    own = set(incident_type.auto_allowed) | set(incident_type.approval_required)
    seen: set[str] = set()
    for step in ladder:
        at = f"{where}[{step.id}]"
        if step.id in seen:
            raise CatalogueError(path, at, "step id used twice")
        seen.add(step.id)
        if not step.actions:
            raise CatalogueError(path, f"{at}.actions", "empty: a step needs at least one action")
        for action_id in step.actions:
            _check_step_action(path, f"{at}.actions", action_id, incident_type, actions, own)
        if step.wait_seconds <= 0:
            raise CatalogueError(
                path, f"{at}.wait_seconds", f"must be a positive number, not {step.wait_seconds}"
            )
    last: LadderStep = ladder[-1]
    if last.on_failure != "escalate":
        raise CatalogueError(
            path, f"{where}[{last.id}].on_failure", "the last step must escalate, not 'next'"
        )


def _check_step_action(
    path: Path,
    where: str,
    action_id: str,
    incident_type: IncidentType,
    actions: dict[str, ActionSpec],
    own: set[str],
) -> None:
    if action_id not in actions:
        raise CatalogueError(path, where, f"unknown action {action_id!r}")
    if action_id in incident_type.human_only or actions[action_id].action_class == "human_only":
        raise CatalogueError(
            path, where, f"{action_id!r} is a human-only action: no ladder step may run or ask it"
        )
    if action_id not in own:
        raise CatalogueError(
            path,
            where,
            f"{action_id!r} is not one of the type's auto_allowed or approval_required actions",
        )


@cache
def builtin_taxonomy() -> Taxonomy:
    """The shipped catalogue, loaded once per process."""
    return load_taxonomy()

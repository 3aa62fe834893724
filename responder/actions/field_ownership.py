"""Server-side apply of a few fields: the fields as leaf paths, their field
managers (``managedFields``) and the body. A body is the manager's whole
intent (a field it applied before and leaves out is removed), so it carries
the fields the manager already applies besides the asked ones; a null
releases a field. Lists are applied whole; lists of objects are refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Path = tuple[str, ...]

NOT_APPLIED = ("apiVersion", "kind", "status")
METADATA_FIELDS = ("labels", "annotations")
LIST_ITEM_KEYS = ("k:", "v:", "i:")


def leaves(tree: Mapping[str, Any], prefix: Path = ()) -> dict[Path, Any]:
    """Leaf path -> value; a scalar, a list, null or an empty mapping is a leaf."""
    found: dict[Path, Any] = {}
    for name, value in tree.items():
        path = (*prefix, str(name))
        if isinstance(value, Mapping) and value:
            found.update(leaves(value, path))
        else:
            found[path] = value
    return found


def dotted(path: Path) -> str:
    return ".".join(path)


def value_at(obj: Mapping[str, Any], path: Path) -> Any:
    """The value at ``path``; None when absent."""
    value: Any = obj
    for name in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def checked_fields(fields: Any) -> dict[Path, Any]:
    """The leaves of ``params.fields``; ValueError for what cannot be applied."""
    if not isinstance(fields, Mapping) or not fields:
        raise ValueError(
            'force_field_ownership needs params.fields, the fields to apply (e.g. {"spec": '
            '{"replicas": 3}})'
        )
    found = leaves(fields)
    for path, value in found.items():
        metadata = path[0] == "metadata"
        if path[0] in NOT_APPLIED or (
            metadata and (len(path) < 3 or path[1] not in METADATA_FIELDS)
        ):
            raise ValueError(
                f"force_field_ownership does not apply {dotted(path)}: only spec, data and "
                "metadata labels or annotations"
            )
        if isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
            raise ValueError(
                f"{dotted(path)} is a list of objects, which server-side apply merges by "
                "key; apply its items' fields another way (patch_image_ref, helm_reconcile)"
            )
    return found


def managers_of(obj: Mapping[str, Any], path: Path) -> list[str]:
    """The field managers that hold ``path`` (or a field inside it)."""
    holders = set()
    for entry in _managed(obj):
        node: Any = entry.get("fieldsV1") or {}
        for name in path:
            node = node.get(f"f:{name}") if isinstance(node, Mapping) else None
            if node is None:
                break
        else:
            holders.add(str(entry.get("manager")))
    return sorted(holders)


def applied_by(obj: Mapping[str, Any], manager: str) -> list[Path]:
    """The leaf paths ``manager`` applies on ``obj`` (its ``Apply`` entries).
    ValueError when it applies items of a list (keyed by their fields)."""
    found: list[Path] = []
    for entry in _managed(obj):
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            found += _owned_leaves(entry.get("fieldsV1") or {}, ())
    return found


def apply_body(obj: Mapping[str, Any], fields: Mapping[Path, Any], manager: str) -> dict[str, Any]:
    """The body ``manager`` applies to set ``fields`` on ``obj`` (null: release)."""
    metadata = obj.get("metadata") or {}
    body: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {"name": metadata.get("name"), "namespace": metadata.get("namespace")},
    }
    kept = [
        path
        for path in applied_by(obj, manager)
        if path[0] not in NOT_APPLIED and not any(_overlap(path, asked) for asked in fields)
    ]
    for path in kept:
        value = value_at(obj, path)
        if value is not None:
            _set(body, path, value)
    for path, value in fields.items():
        if value is not None:
            _set(body, path, value)
    return body


def nested(values: Mapping[Path, Any]) -> dict[str, Any]:
    """Leaf path -> value back into a nested mapping."""
    tree: dict[str, Any] = {}
    for path, value in values.items():
        _set(tree, path, value)
    return tree


def _managed(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return [entry for entry in entries if isinstance(entry, Mapping)]


def _owned_leaves(node: Mapping[str, Any], prefix: Path) -> list[Path]:
    children = [name for name in node if name != "."]
    if any(name.startswith(LIST_ITEM_KEYS) for name in children):
        raise ValueError(
            f"the field manager already applies items of the list {dotted(prefix)} here; "
            "give another params.field_manager"
        )
    if not children:
        return [prefix]
    found: list[Path] = []
    for name in children:
        found += _owned_leaves(node[name], (*prefix, name.removeprefix("f:")))
    return found


def _overlap(one: Path, other: Path) -> bool:
    shorter = min(len(one), len(other))
    return one[:shorter] == other[:shorter]


def _set(tree: dict[str, Any], path: Path, value: Any) -> None:
    for name in path[:-1]:
        tree = tree.setdefault(name, {})
    tree[path[-1]] = value

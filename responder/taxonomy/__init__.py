"""The built-in incident catalogue as typed, validated data."""

from responder.taxonomy.loader import CatalogueError, builtin_taxonomy, load_taxonomy
from responder.taxonomy.models import (
    ActionClass,
    ActionSpec,
    Confidence,
    Domain,
    Environment,
    IncidentType,
    LadderStep,
    Severity,
    Taxonomy,
)

__all__ = [
    "ActionClass",
    "ActionSpec",
    "CatalogueError",
    "Confidence",
    "Domain",
    "Environment",
    "IncidentType",
    "LadderStep",
    "Severity",
    "Taxonomy",
    "builtin_taxonomy",
    "load_taxonomy",
]

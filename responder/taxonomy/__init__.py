"""The built-in incident catalogue as typed, validated data."""

from responder.records.levels import Confidence, Environment, Severity
from responder.taxonomy.loader import CatalogueError, builtin_taxonomy, load_taxonomy
from responder.taxonomy.models import (
    ActionClass,
    ActionSpec,
    Domain,
    IncidentType,
    LadderStep,
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

"""``GET /api/v1/taxonomy``: domains, incident types, actions, the policy matrix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from responder.api.openapi import Operation
from responder.taxonomy.models import Taxonomy


def taxonomy_document(taxonomy: Taxonomy) -> dict[str, Any]:
    return {
        "version": taxonomy.version,
        "domains": [d.model_dump(mode="json") for d in taxonomy.domains.values()],
        "incident_types": [t.model_dump(mode="json") for t in taxonomy.incident_types.values()],
        "actions": [a.model_dump(mode="json") for a in taxonomy.actions.values()],
        "policy_matrix": [
            {
                "incident_type": t.id,
                "auto_observe": True,
                "auto_notify": True,
                "auto_contain": t.policy_binding.auto_contain,
                "approval_required": t.policy_binding.approval_required,
                "human_only": t.policy_binding.human_only,
            }
            for t in taxonomy.incident_types.values()
        ],
    }


@dataclass(frozen=True)
class TaxonomyApi:
    taxonomy: Taxonomy

    @Operation("Domains, incident types, actions, matrix", answers={200: "the catalogue"})
    async def get_taxonomy(self, request: Request) -> JSONResponse:
        return JSONResponse(taxonomy_document(self.taxonomy))

"""``GET /runbooks/{incident_type}.md``: the runbook of an incident type
(docs/runbooks/), as plain text, so that the shipped alerts' runbook links
work where nobody serves the repository. Public, like ``/openapi.json``:
runbooks are documentation and hold no cluster data."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from responder.api.errors import error
from responder.api.openapi import Operation, Text

#: the repository's docs/runbooks (a container image sets ROBOT_SRE_RUNBOOKS_DIR)
DEFAULT_RUNBOOKS_DIR = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}\.md$")


class Runbooks:
    def __init__(self, directory: str | None) -> None:
        self.directory = Path(directory) if directory else DEFAULT_RUNBOOKS_DIR

    @Operation(
        "The runbook of an incident type (docs/runbooks/), as text",
        path={"name": "<incident_type>.md"},
        answers={200: Text("the runbook (Markdown)")},
        errors={404: "no such runbook"},
    )
    async def runbook(self, request: Request) -> Response:
        name = request.path_params["name"]
        page = self.directory / name
        if not NAME.match(name) or not page.is_file():
            return error(404, f"no runbook {name!r}")
        return PlainTextResponse(page.read_text(encoding="utf-8"))

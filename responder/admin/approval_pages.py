"""Approvals: every approval request the robot made, pending ones first,
read from the approval records (``responder/approvals/``)."""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from responder.accounts.models import Principal
from responder.admin.access import page
from responder.admin.render import render
from responder.admin.services import services
from responder.approvals.book import COLLECTION
from responder.approvals.models import ApprovalRequest

ORDER = {"pending": 0, "approved": 1, "executed": 2, "denied": 3, "expired": 4}


@page()
async def approvals_page(request: Request, principal: Principal) -> Response:
    admin = services(request)
    now = admin.now()
    state = request.query_params.get("state", "")

    def load() -> list[ApprovalRequest]:
        docs = admin.runtime.store.list_documents(COLLECTION)
        return [ApprovalRequest.model_validate(doc) for _, doc in docs]

    approvals = await anyio.to_thread.run_sync(load)
    rows = [(a, a.state_at(now), a.prompt(now)) for a in approvals]
    if state:
        rows = [r for r in rows if r[1] == state]
    rows.sort(key=lambda r: (ORDER.get(r[1], 9), -r[0].requested_at.timestamp()))
    return render(
        request,
        "approvals.html",
        rows=rows,
        state=state,
        states=list(ORDER),
        pending=sum(1 for r in rows if r[1] == "pending"),
    )

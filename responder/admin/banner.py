"""The active-pause banner every admin page shows while automation is
paused: the pauses in force, read once per request.

``load_pauses`` reads them in a worker thread (the page and action wrappers
call it, so the store is never read on the event loop); ``pauses_in_force``
is what ``render`` asks, reading them then if nothing loaded them before."""

from __future__ import annotations

import anyio.to_thread
from starlette.requests import Request

from responder.guards.automation import Pause

STATE_KEY = "pauses"


def _read(request: Request) -> list[Pause]:
    book = request.app.state.admin.runtime.automation
    return sorted(book.active_pauses(), key=lambda p: p.expires_at)


async def load_pauses(request: Request) -> None:
    state = request.scope.setdefault("state", {})
    state[STATE_KEY] = await anyio.to_thread.run_sync(_read, request)


def pauses_in_force(request: Request) -> list[Pause]:
    state = request.scope.setdefault("state", {})
    if STATE_KEY not in state:
        state[STATE_KEY] = _read(request)
    found: list[Pause] = state[STATE_KEY]
    return found

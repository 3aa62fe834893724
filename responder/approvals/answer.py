"""How an answer to an approval request ended, and the HTTP status it maps to."""

from __future__ import annotations

from dataclasses import dataclass

from responder.records.approval import ApprovalRequest

_STATUS = {
    "executed": 200,
    "dry_run": 200,
    "failed": 200,
    "skipped": 200,
    "refused": 200,
    "denied": 200,
    "superseded": 409,
    "expired": 409,
    "already_answered": 409,
    "forbidden": 403,
    "unknown": 404,
    "busy": 503,
    "outside_window": 409,
    "waiting": 202,
}


@dataclass(frozen=True)
class Answer:
    """How an answer ended. ``result``: ``executed`` (the action ran),
    ``dry_run``, ``failed``, ``skipped`` (cooldown, lock, no executor),
    ``refused`` (the runner would not run it), ``denied``, ``superseded``,
    ``expired``, ``already_answered``, ``forbidden``, ``unknown``, ``busy``,
    ``outside_window`` (a recover or disruptive action outside the action
    windows, approved without ``override_window``: the request stays pending),
    ``waiting`` (an approved node action waits for the node action in flight:
    the request stays approved and runs when that one ends)."""

    result: str
    detail: str
    approval: ApprovalRequest | None = None

    @property
    def status(self) -> int:
        return _STATUS.get(self.result, 200)

    @property
    def acted(self) -> bool:
        return self.result in ("executed", "dry_run", "failed")

    def as_json(self) -> dict[str, object]:
        return {
            "result": self.result,
            "detail": self.detail,
            "approval": self.approval.model_dump(mode="json") if self.approval else None,
        }

"""The notifier: what operators are told, and where.

Callers hold an incident's lock and must not wait for a chat platform: they
record the message in the in-app inbox and queue the chat delivery for once
their writes are stored; the delivery thread does the rest."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from responder.channels import render
from responder.channels.buttons import (
    approval_buttons,
    incident_buttons,
    pause_buttons,
    resolved_buttons,
)
from responder.channels.delivery import MESSAGES, Delivery, Job
from responder.channels.jobs import Edit, Post, Reply
from responder.channels.links import approval_meta, incident_meta
from responder.guards.automation import Pause
from responder.guards.rails import GuardRails
from responder.records.approval import ApprovalRequest
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.records.writes import Writes
from responder.store import StoreUnavailable

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, delivery: Delivery, guards: GuardRails | None = None) -> None:
        self.delivery = delivery
        self.store = delivery.store
        self.router = delivery.router
        self.inbox = delivery.inbox
        self.clock = delivery.clock
        self.guards = guards
        self.channels = delivery.channels

    def start(self) -> None:
        self.delivery.start()

    def flush(self, timeout: float = 10.0) -> bool:
        return self.delivery.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.delivery.close(timeout)

    def channels_down(self) -> tuple[str, ...]:
        return self.delivery.channels_down()

    # what callers hand over (fast: the store and a queue, nothing else)

    def incident(
        self,
        incident: Incident,
        why: str,
        now: datetime,
        writes: Writes | None = None,
        new: bool = False,
    ) -> None:
        """Tell operators about ``incident`` (``why``: opened, updated, escalated …)."""
        paused_until = self.paused_until(incident, now)
        text = render.incident_text(incident, why, paused_until)
        # the inbox event is tagged with the verb ("opened", "escalated",
        # "climbed" …); a longer why stays in the text
        tag = why.split(" ", 1)[0].rstrip(":") or why
        self.inbox.incident(
            incident, tag, text, now, paused_until=paused_until, writes=writes, new=new
        )
        if not self.channels:
            return
        resolved = incident.state == IncidentState.resolved
        self._send(
            Post.about(
                incident,
                "incident",
                text,
                render.incident_event(incident, why, paused_until),
                tuple(self.router.for_incident(incident)),
                buttons=() if resolved else incident_buttons(incident.id),
                meta=incident_meta(incident, self.delivery.settings),
            ),
            writes,
        )

    def resolved(self, incident: Incident, now: datetime) -> None:
        """Say in the incident's threads (and the inbox) that it resolved,
        with the Right / False positive buttons (called under its lock)."""
        try:
            head = render.incident_text(incident, "resolved")
            text = render.resolved_text(incident, now)
            self.inbox.incident(incident, "resolved", head, now, detail=text)
        except StoreUnavailable:
            raise
        except Exception:  # telling operators must never keep an incident from resolving
            log.exception("incident %s: announcing the resolution failed", incident.id)
            return
        if not self.channels:
            return
        self._send(
            Reply(
                kind="resolved",
                incident_id=incident.id,
                key=f"resolved:{incident.id}",
                text=text,
                buttons=resolved_buttons(incident.id),
                head_text=head,
                meta=incident_meta(incident, self.delivery.settings),
            )
        )

    def marked(self, incident_id: str, mark: Mapping[str, Any], via: str) -> None:
        """Show on the resolution's messages who marked the incident, and how."""
        line = render.marked_line(mark, via, self.clock())
        self.inbox.event(incident_id, "incident_marked", line, self.clock())
        if not self.channels:
            return
        key = f"resolved:{incident_id}"
        self._send(Edit(key, incident_id, "", resolved_buttons(incident_id), append=line))

    def paused(self, incident: Incident, pause: Pause, who: str, via: str) -> None:
        """Answer a Pause automation press in the incident's threads, with
        a Resume button."""
        effect = self.guards.settings.pause_effect if self.guards is not None else "approval"
        text = render.pause_text(pause, who, via, effect)
        self.inbox.event(incident.id, "automation_paused", text, self.clock())
        if not self.channels:
            return
        self._send(
            Reply(
                kind="pause",
                incident_id=incident.id,
                key=f"pause:{pause.id}",
                text=text,
                buttons=pause_buttons(pause.id),
                meta=incident_meta(incident, self.delivery.settings),
            )
        )

    def resumed(self, pause: Pause, incident_id: str | None, who: str, via: str) -> None:
        """Show on the pause's messages that it was lifted (buttons removed)."""
        line = render.resumed_line(who, via, self.clock())
        if incident_id is not None:
            self.inbox.event(incident_id, "automation_resumed", line, self.clock())
        if not self.channels:
            return
        self._send(Edit(f"pause:{pause.id}", incident_id or "", "", (), append=line))

    def pause_incident(self, pause_id: str) -> str | None:
        """The incident whose button made the pause (None: made elsewhere)."""
        found = self.store.get_document(MESSAGES, f"pause:{pause_id}")
        return str(found[1]["incident_id"]) if found and found[1].get("incident_id") else None

    def paused_until(self, incident: Incident, now: datetime) -> datetime | None:
        """Until when the pauses covering ``incident`` hold it (the latest
        expiry), or None when none does."""
        if self.guards is None:
            return None
        try:
            pauses = self.guards.automation.active_pauses(now)
        except Exception:  # a notification goes out even when pauses cannot be read
            log.exception("notifier: the pauses could not be read")
            return None
        scope = incident.resource_scope
        covering = [
            p.expires_at
            for p in pauses
            if p.covers(str(incident.environment), incident.incident_type, scope.namespace)
        ]
        return max(covering, default=None)

    def approval_requested(
        self, approval: ApprovalRequest, incident: Incident, writes: Writes | None = None
    ) -> None:
        """Post a new approval request with its buttons (a listener of the approval requests)."""
        text = render.approval_text(approval, approval.requested_at)
        outside = self.guards is not None and self.guards.outside_windows(approval.action_class)
        self.inbox.event(incident.id, "approval_requested", text, approval.requested_at, writes)
        if not self.channels:
            return
        self._send(
            Post.about(
                incident,
                "approval",
                text,
                f"approval request {approval.id}: {approval.action_name.lower()} "
                f"{approval.target_label}",
                tuple(self.router.for_approval(incident)),
                approval_id=approval.id,
                buttons=approval_buttons(approval.id, outside),
                meta=approval_meta(approval, self.delivery.settings),
            ),
            writes,
        )

    def offer_window_override(self, approval: ApprovalRequest) -> None:
        """Give the request's messages the "Approve outside window" button
        (the window closed after it was asked)."""
        if not self.channels:
            return
        text = render.approval_text(approval, approval.requested_at)
        buttons = approval_buttons(approval.id, True)
        meta = approval_meta(approval, self.delivery.settings)
        self._send(Edit(approval.id, approval.incident_id, text, buttons, meta=meta))

    def approval_answered(self, approval: ApprovalRequest, detail: str) -> None:
        """Edit the request's messages to say how it ended."""
        line = render.answer_line(approval, detail)
        self.inbox.event(approval.incident_id, f"approval_{approval.state}", line, self.clock())
        if not self.channels:
            return
        text = render.approval_outcome(approval, line)
        meta = approval_meta(approval, self.delivery.settings)
        self._send(Edit(approval.id, approval.incident_id, text, meta=meta))

    def _send(self, job: Job, writes: Writes | None = None) -> None:
        """Queue ``job`` for the delivery thread (once ``writes`` are stored)."""
        if writes is None:
            self.delivery.put(job)
        else:
            writes.on_commit(lambda: self.delivery.put(job))

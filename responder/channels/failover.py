"""The ``failover_channel`` executor: while a chat channel fails, operators
are reached through the alternate one, as an action the runner plans,
audits and can undo. Applying stores a switch (``switch``) that the delivery
honours while the channel is down; the inverse switches back. No message is
sent again: each one that failed was failed over as it was sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from responder.channels.delivery import DOWN_TTL_SECONDS, Delivery
from responder.channels.switch import SWITCHES, read_switch, switch_document
from responder.records.action import ActionOutcome, ActionRequest, Change, Plan
from responder.store import VersionConflict

ACTION = "failover_channel"
#: the target the policy gives failover_channel when the evidence names none
ANY_DOWN = "alternate"


@dataclass(eq=False)
class ChannelFailover:
    """Target: the failing channel (``alternate``, the policy's target when the
    evidence names none: the first channel marked down). Alternate:
    ``params.to``, else the first of the failover order that is up. The
    switch holds ``params.seconds`` (as long as a channel stays marked down)."""

    delivery: Delivery
    clock: Callable[[], datetime]

    actions = frozenset({ACTION})

    def plan(self, request: ActionRequest) -> Plan:
        if request.action not in self.actions:
            raise ValueError(f"the channel failover does not serve {request.action}")
        chats = self.delivery.router.default_chats
        failed = request.target.name
        if request.target.kind == "channel" and failed == ANY_DOWN and chats:
            down = self.delivery.channels_down()
            if not down:
                raise ValueError(f"no chat channel is down ({', '.join(chats)} deliver)")
            failed = down[0]
        if request.target.kind != "channel" or failed not in chats:
            raise ValueError(
                f"{ACTION} acts on the chat channel that fails, one of "
                f"{', '.join(chats) or 'none (no chat channel is configured)'}; "
                f"not {request.target.kind}/{failed}"
            )
        switch = read_switch(self.delivery.store, failed)
        now = self.clock()
        routed_to = switch.stand_in(now) or failed
        to = self._alternate(request, failed)
        previous: dict[str, Any] = {
            "channel": failed,
            "routed_to": routed_to,
            "version": switch.version,
        }
        if to == routed_to:
            return Plan(request, previous, {}, f"{failed}'s messages already go to {to}")
        if to == failed:
            changes: dict[str, Any] = {"channel": failed, "to": to, "until": None}
            summary = f"send {failed}'s messages to {failed} again ({chats[failed]})"
        else:
            seconds = _seconds(request)
            until = now + timedelta(seconds=seconds)
            changes = {"channel": failed, "to": to, "until": until.isoformat()}
            summary = (
                f"send {failed}'s new messages to {to} ({chats[to]}) for {seconds}s, "
                f"until {until:%H:%M:%S}Z"
            )
        return Plan(
            request, previous, changes, summary, (Change("operator channel", routed_to, to),)
        )

    def apply(self, plan: Plan) -> ActionOutcome:
        if not plan.changes:
            return ActionOutcome("skipped", f"nothing to do: {plan.summary}", plan)
        changes = plan.changes
        until = datetime.fromisoformat(changes["until"]) if changes["until"] else None
        try:
            self.delivery.store.put_document(
                SWITCHES,
                changes["channel"],
                switch_document(changes["to"], until, plan.request.incident_id),
                expected_version=int(plan.previous["version"]),
            )
        except VersionConflict:
            return ActionOutcome(
                "failed", f"the routing of {changes['channel']} changed since the plan", plan
            )
        return ActionOutcome("succeeded", plan.summary, plan)

    def inverse(self, plan: Plan) -> ActionRequest | None:
        if not plan.changes:
            return None
        return ActionRequest(
            action=ACTION,
            target=plan.request.target,
            incident_id=plan.request.incident_id,
            params={"to": plan.previous["routed_to"]},
        )

    def _alternate(self, request: ActionRequest, failed: str) -> str:
        chats = self.delivery.router.default_chats
        wanted = request.params.get("to")
        if wanted is not None:
            if wanted not in chats:
                raise ValueError(f"{ACTION}: {wanted} is not a chat channel configured here")
            return str(wanted)
        others = [d.channel for d in self.delivery.router.failover([failed])]
        if not others:
            raise ValueError(f"no alternate channel to fail {failed} over to: it is the only one")
        down = set(self.delivery.channels_down())
        up = [channel for channel in others if channel not in down]
        if not up:
            raise ValueError(
                f"no alternate channel to fail {failed} over to: {', '.join(others)} "
                + ("is" if len(others) == 1 else "are")
                + " down too"
            )
        return up[0]


def _seconds(request: ActionRequest) -> int:
    given = request.params.get("seconds")
    if isinstance(given, int) and not isinstance(given, bool) and given > 0:
        return given
    return int(DOWN_TTL_SECONDS)

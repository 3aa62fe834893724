"""The admin Channels page: each operator channel's last delivery and
failure, whether it is down and where its messages fail over, and a test
message.

The test message goes straight to the channel, outside the notifier's queue,
retries and failover: it answers "does this channel deliver now?"."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from responder.accounts.models import Principal, Role
from responder.admin.access import action, page, refuse
from responder.admin.render import render
from responder.admin.services import AdminServices, services
from responder.channels.base import DeliveryFailed, OutgoingMessage
from responder.channels.build import ChatOps
from responder.records.audit import audit

IN_APP = "in_app"
TEST_ENTRY = "channel-test"
OK = frozenset({"sent", "failover", "edited"})


@dataclass
class ChannelStatus:
    name: str
    chat: str
    down_since: str | None = None
    down_detail: str = ""
    last_ok: str | None = None
    last_ok_detail: str = ""
    last_failed: str | None = None
    last_failed_detail: str = ""
    failover_to: list[str] = field(default_factory=list)


def _chats(admin: AdminServices) -> dict[str, str]:
    config = admin.runtime.settings.channels
    chats: dict[str, str] = {}
    if config.slack is not None:
        chats["slack"] = config.slack.channel
    if config.telegram is not None:
        chats["telegram"] = config.telegram.chat_id
    return chats


def channel_statuses(admin: AdminServices) -> tuple[list[ChannelStatus], dict[str, Any]]:
    """Each configured chat channel's state, and the in-app inbox's."""
    runtime = admin.runtime
    chatops = runtime.chatops
    names = list(chatops.chat_channels)
    chats = _chats(admin)
    order = [n for n in runtime.settings.channels.failover_order if n in names]
    statuses = {n: ChannelStatus(n, chats.get(n, "")) for n in names}
    for status in statuses.values():
        raw = runtime.store.get_key(f"chat:down:{status.name}")
        if raw is not None:
            try:
                down = json.loads(raw)
            except ValueError:
                down = {"detail": raw}
            status.down_since = str(down.get("since") or "") or None
            status.down_detail = str(down.get("detail") or "")
        status.failover_to = [n for n in order if n != status.name]
    entries = chatops.inbox.entries(limit=10_000)
    for entry in entries:
        for delivery in entry.get("deliveries") or []:
            name = str(delivery.get("channel", "")).split(":", 1)[0]
            found = statuses.get(name)
            if found is None:
                continue
            at = str(delivery.get("at", ""))
            detail = f"{delivery.get('result', '')}: {delivery.get('detail', '')}"
            result = delivery.get("result")
            if result in OK and (found.last_ok is None or at > found.last_ok):
                found.last_ok, found.last_ok_detail = at, detail
            if result == "failed" and (found.last_failed is None or at > found.last_failed):
                found.last_failed, found.last_failed_detail = at, detail
    for status in statuses.values():
        for logged in runtime.store.list_audit(limit=20, subject=f"channel:{status.name}"):
            if logged.action in ("chat.delivery_failed", "channel.test_failed"):
                at = logged.at.isoformat()
                if status.last_failed is None or at >= status.last_failed:
                    status.last_failed, status.last_failed_detail = at, logged.detail
                break
    inbox = {
        "entries": len(entries),
        "last": max((str(e.get("updated_at") or "") for e in entries), default="") or None,
    }
    return [statuses[n] for n in names], inbox


def _notice(request: Request) -> tuple[str, str] | None:
    tested = request.query_params.get("tested", "")
    outcome = request.query_params.get("outcome", "")
    if tested not in ("slack", "telegram", IN_APP) or outcome not in ("sent", "failed"):
        return None
    where = "the in-app inbox" if tested == IN_APP else tested
    if outcome == "sent":
        return "ok", f"Test message sent to {where}."
    return "failed", f"The test message to {where} failed: see its last failed delivery."


@page("automation")
async def channels_page(request: Request, principal: Principal) -> Response:
    admin = services(request)
    statuses, inbox = await anyio.to_thread.run_sync(channel_statuses, admin)
    return render(
        request,
        "channels.html",
        channels=statuses,
        inbox=inbox,
        failover_order=[
            n
            for n in admin.runtime.settings.channels.failover_order
            if n in {c.name for c in statuses}
        ],
        notice=_notice(request),
    )


def _send_test(admin: AdminServices, chatops: ChatOps, name: str, who: str) -> bool:
    now = admin.now()
    text = (
        f"Robot SRE test message, sent by {who} from the admin UI at {now:%Y-%m-%d %H:%M:%S} UTC."
    )
    store = admin.runtime.store
    if name == IN_APP:
        chatops.inbox.event(TEST_ENTRY, "test message", text, now)
        ok, detail = True, "recorded in the in-app inbox"
    else:
        channel = chatops.notifier.channels[name]
        chat = _chats(admin).get(name, "")
        try:
            ref = channel.send(OutgoingMessage(chat, text))
        except DeliveryFailed as exc:
            ok, detail = False, exc.detail
        else:
            ok, detail = True, f"message {ref.id} in {ref.chat}"
        chatops.inbox.event(TEST_ENTRY, "test message", text, now)
        chatops.inbox.deliveries(
            TEST_ENTRY,
            [{"channel": f"{name}:{chat}", "result": "sent" if ok else "failed", "detail": "test"}],
            now,
        )
    audit(
        store,
        actor=who,
        surface="admin",
        action="channel.test" if ok else "channel.test_failed",
        subject=f"channel:{name}",
        detail=detail[:2000],
        at=now,
    )
    return ok


@action("automation", Role.operator)
async def channel_test(request: Request, principal: Principal, form: FormData) -> Response:
    admin = services(request)
    chatops = admin.runtime.chatops
    name = request.path_params["channel"]
    if name != IN_APP and name not in chatops.notifier.channels:
        return refuse(request, 404, f"No channel {name!r} is configured.")
    ok = await anyio.to_thread.run_sync(_send_test, admin, chatops, name, principal.name)
    outcome = "sent" if ok else "failed"
    return RedirectResponse(f"/admin/channels?tested={name}&outcome={outcome}", status_code=303)

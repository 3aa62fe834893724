"""Who a chat user is to Robot SRE: a local account they linked with a
one-time code from the admin account page, or an approver whose chat ids
the ``approvers`` setting names. Codes live 10 minutes, only their SHA-256
is stored, and each links once."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from responder.accounts.models import Role
from responder.accounts.users import UserBook
from responder.approvals.approvers import Approver, ApproverDirectory
from responder.console.reply import ChatUser, Platform
from responder.records.audit import audit
from responder.records.levels import Environment
from responder.store import Store

LINKS = "chat_identities"
CODE_TTL_SECONDS = 600
CODE_KEY = "chat_link_code:"
#: no 0/O, 1/I/L: a code is read off a screen and typed into a chat
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
ALL_ENVIRONMENTS = frozenset(e.value for e in Environment)
HOW_TO_LINK = (
    "Link your chat identity first: on the admin UI's Account page "
    "(/admin/account) press “Link a chat identity” and send the code as "
    "/start CODE (Telegram) or /robot-sre link CODE (Slack)."
)


class LinkRefused(ValueError):
    """A code that links nothing: wrong, used or expired."""


@dataclass(frozen=True)
class ChatAccount:
    """The account behind a chat identity: its name and role, and the
    environments whose approval requests it may answer."""

    name: str
    role: Role
    environments: frozenset[str]

    def can(self, role: Role) -> bool:
        return self.role.includes(role)

    def may_answer(self, environment: str) -> bool:
        return self.can(Role.approver) and environment in self.environments


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


@dataclass(eq=False)
class Identities:
    store: Store
    users: UserBook
    approvers: ApproverDirectory
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def issue_code(self, username: str, surface: str) -> str:
        """A code that links a chat identity to ``username`` once, within
        ``CODE_TTL_SECONDS``; it is shown to them and never stored."""
        if self.users.get(username) is None:
            raise LinkRefused(f"{username} is no local account: only those can link a chat")
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        until = self.clock() + timedelta(seconds=CODE_TTL_SECONDS)
        # the key's own expiry cleans up; the time in it decides (by our clock)
        self.store.set_if_absent(
            CODE_KEY + _digest(code), f"{until.isoformat()} {username}", CODE_TTL_SECONDS
        )
        audit(
            self.store,
            actor=username,
            surface=surface,
            action="chat.link_code",
            subject=f"user:{username}",
            detail=f"a chat link code valid {CODE_TTL_SECONDS // 60} minutes",
            at=self.clock(),
        )
        return code

    def redeem(self, user: ChatUser, code: str) -> ChatAccount:
        """Link ``user`` to the account the code was made for (the code is
        spent); ``LinkRefused`` for a wrong, used or expired code."""
        key = CODE_KEY + _digest(code)
        held = self.store.get_key(key)
        # the delete is the claim: of two chats sending one code, one links
        if held is None or not self.store.delete_key(key, expected=held):
            raise LinkRefused("that code links nothing: it is wrong, used or expired")
        until, _, username = held.partition(" ")
        if datetime.fromisoformat(until) <= self.clock():
            raise LinkRefused("that code links nothing: it is wrong, used or expired")
        found = self.store.get_document(LINKS, user.actor)
        before = found[1] if found else None
        now = self.clock()
        doc = {"actor": user.actor, "username": username, "name": user.name, "at": now.isoformat()}
        self.store.put_document(LINKS, user.actor, doc)
        audit(
            self.store,
            actor=user.actor,
            surface=user.platform,
            action="chat.link",
            subject=f"user:{username}",
            before=before,
            after=doc,
            detail=f"{user.actor} ({user.name or 'no name'}) linked to {username}",
            at=now,
        )
        account = self.account_of(user)
        if account is None:
            raise LinkRefused(f"the account {username} is disabled")
        return account

    def linked_to(self, username: str) -> list[dict[str, str]]:
        """The chat identities linked to ``username``."""
        return [
            {k: str(v) for k, v in doc.items()}
            for _, doc in self.store.list_documents(LINKS)
            if doc.get("username") == username
        ]

    def by_chat_user(self, channel: str, user_id: str) -> Approver | None:
        """The approver a chat identity answers requests as: its linked
        account when it has the approver role (in its environments), else the
        approvers setting's entry naming it."""
        platform: Platform = "slack" if channel == "slack" else "telegram"
        account = self.account_of(ChatUser(platform=platform, user_id=user_id, chat_id=""))
        if account is None or not account.can(Role.approver):
            return None
        return Approver(name=account.name, environments=account.environments)

    def account_of(self, user: ChatUser) -> ChatAccount | None:
        """The linked account (its role, all environments, narrowed to the
        approver entry of the same name when there is one), else the approver
        whose chat ids include ``user``'s (role approver), else None."""
        approver = self.approvers.by_chat_user(user.platform, user.user_id)
        found = self.store.get_document(LINKS, user.actor)
        local = self.users.get(str(found[1]["username"])) if found else None
        if local is not None and not local.disabled:
            named = next((a for a in self.approvers.approvers if a.name == local.username), None)
            environments = set(named.environments if named else ALL_ENVIRONMENTS)
            if approver is not None:
                environments |= approver.environments
            role = max(local.role, Role.approver, key=lambda r: r.rank) if approver else local.role
            return ChatAccount(local.username, role, frozenset(environments))
        if approver is not None:
            return ChatAccount(approver.name, Role.approver, approver.environments)
        return None

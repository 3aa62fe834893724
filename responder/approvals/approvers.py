"""Who may answer approval requests, and how they prove it.

An approver is a name from the settings: the in-app inbox knows them by an API
token read from the environment, Slack and Telegram by their user ids, which
the platforms vouch for. Tokens are compared in constant time and never leave
this module: not in logs, reprs or error messages."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from responder.chat_settings import ApproverSettings

log = logging.getLogger(__name__)

#: shorter API tokens are refused at start-up: they can be guessed
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class Approver:
    name: str
    environments: frozenset[str]
    slack_users: frozenset[str] = frozenset()
    telegram_users: frozenset[str] = frozenset()

    def may_answer(self, environment: str) -> bool:
        return environment in self.environments


@dataclass(frozen=True)
class _Credential:
    approver: Approver
    digest: bytes = field(repr=False)


class ChatApprovers(Protocol):
    """Who a chat identity answers approval requests as."""

    def by_chat_user(self, channel: str, user_id: str) -> Approver | None: ...


class ApproverDirectory:
    """The approvers of this responder, looked up by token or chat identity."""

    def __init__(
        self, approvers: Iterable[ApproverSettings], environ: Mapping[str, str] | None = None
    ) -> None:
        env = os.environ if environ is None else environ
        self._approvers: list[Approver] = []
        self._credentials: list[_Credential] = []
        for entry in approvers:
            approver = Approver(
                name=entry.name,
                environments=frozenset(str(e) for e in entry.environments),
                slack_users=frozenset(entry.slack_users),
                telegram_users=frozenset(entry.telegram_users),
            )
            self._approvers.append(approver)
            if entry.token_env is None:
                continue
            token = env.get(entry.token_env, "")
            if len(token) < MIN_TOKEN_LENGTH:
                # name the variable, never its value
                log.warning(
                    "approver %s: %s is %s; the in-app inbox will not accept this approver",
                    entry.name,
                    entry.token_env,
                    "unset" if not token else f"shorter than {MIN_TOKEN_LENGTH} characters",
                )
                continue
            self._credentials.append(_Credential(approver, _digest(token)))

    def __repr__(self) -> str:
        return f"ApproverDirectory({[a.name for a in self._approvers]})"

    @property
    def approvers(self) -> tuple[Approver, ...]:
        return tuple(self._approvers)

    def authenticate(self, token: str | None) -> Approver | None:
        """The approver whose API token this is, or None.

        Every credential is compared (no early exit) and digests of equal
        length are compared, so timing says nothing about which or how much
        of a token matched."""
        if not token:
            return None
        presented = _digest(token)
        found: Approver | None = None
        for credential in self._credentials:
            if hmac.compare_digest(presented, credential.digest):
                found = credential.approver
        return found

    def by_chat_user(self, channel: str, user_id: str) -> Approver | None:
        """The approver a Slack or Telegram user id belongs to, or None."""
        for approver in self._approvers:
            users = approver.slack_users if channel == "slack" else approver.telegram_users
            if channel in ("slack", "telegram") and user_id in users:
                return approver
        return None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()

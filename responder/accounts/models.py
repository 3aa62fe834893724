"""Who may do what: roles, users, API tokens and the authenticated principal.

Roles are ordered; each includes the ones below it: ``viewer`` (read
everything) < ``operator`` (edit rules) < ``approver`` (answer approvals)
< ``admin`` (users and tokens).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from responder.records.incident import utcnow
from responder.records.levels import RankedEnum

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


class Role(RankedEnum):
    viewer = "viewer"
    operator = "operator"
    approver = "approver"
    admin = "admin"

    def includes(self, other: Role) -> bool:
        """This role may do everything ``other`` may."""
        return self.rank >= other.rank


class User(BaseModel):
    """A local account; ``password_hash`` is an argon2id hash, never the password."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str
    role: Role
    password_hash: str
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = ""

    @field_validator("username")
    @classmethod
    def _valid_username(cls, value: str) -> str:
        if not USERNAME.match(value):
            raise ValueError("usernames are 1-64 lower-case letters, digits, . _ @ -")
        return value


#: the parts of /api/v1 a token may be limited to (``--scope``), and ``mcp``:
#: the MCP server (``/mcp``, ``robot-sre mcp``), which only a token that names
#: it explicitly may use (an unscoped token does not reach it)
SCOPES: tuple[str, ...] = (
    "incidents",
    "rules",
    "policy",
    "audit",
    "taxonomy",
    "approvals",
    "automation",
    "mcp",
)


class ApiToken(BaseModel):
    """An API token as stored: only the SHA-256 of its secret part is kept."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    role: Role
    scopes: tuple[str, ...] = ()
    secret_sha256: str
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = ""
    revoked: bool = False
    #: None: never (tokens made before tokens expired, or made with "never")
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def live(self, now: datetime) -> bool:
        return not self.revoked and not self.expired(now)

    def allows_scope(self, scope: str) -> bool:
        return not self.scopes or scope in self.scopes

    def names_scope(self, scope: str) -> bool:
        """The token was given ``scope`` explicitly (an unscoped one names none)."""
        return scope in self.scopes


Via = Literal["session", "token", "proxy"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, and how they proved it. ``csrf`` is the session's
    anti-forgery token (sessions only); ``scopes`` limit a token."""

    name: str
    role: Role
    via: Via
    scopes: tuple[str, ...] = ()
    csrf: str | None = None
    session_id: str | None = None

    def can(self, role: Role) -> bool:
        return self.role.includes(role)

    def allows_scope(self, scope: str) -> bool:
        return not self.scopes or scope in self.scopes

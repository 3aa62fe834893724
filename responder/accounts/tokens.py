"""API tokens (``Authorization: Bearer``) in the store's ``api_tokens`` collection.

A token reads ``rsre_<id>_<secret>``: the id finds the document, the secret
is compared with the stored SHA-256 (a random 256-bit secret needs no slow
hash). The whole token is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from responder.accounts.models import SCOPES, ApiToken, Role
from responder.accounts.users import AccountError
from responder.records.audit import audit
from responder.records.incident import utcnow
from responder.settings import LIFETIME
from responder.store import Store

COLLECTION = "api_tokens"
PREFIX = "rsre_"
UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_lifetime(text: str) -> timedelta | None:
    """``30m``, ``12h``, ``90d``, ``8w`` → that long; ``never`` → None."""
    text = text.strip().lower()
    if text == "never":
        return None
    found = LIFETIME.match(text)
    if found is None or int(found.group(1)) == 0:
        raise AccountError(
            "expires_in", f"{text!r} is no lifetime: use e.g. 30m, 12h, 90d, 8w, or never"
        )
    return timedelta(seconds=int(found.group(1)) * UNITS[found.group(2)])


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(eq=False)
class TokenBook:
    store: Store

    def create(
        self,
        name: str,
        role: Role,
        scopes: Sequence[str],
        actor: str,
        surface: str,
        expires_in: timedelta | None = None,
    ) -> tuple[ApiToken, str]:
        """Make a token (living ``expires_in``, or forever when None); return
        it as stored and the full token text (shown once)."""
        name = name.strip()
        if not name or len(name) > 100:
            raise AccountError("name", "a token needs a name of 1-100 characters")
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise AccountError(
                "scope", f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}"
            )
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        token = ApiToken(
            id=token_id,
            name=name,
            role=role,
            scopes=tuple(dict.fromkeys(scopes)),
            secret_sha256=_digest(secret),
            created_by=actor,
            expires_at=utcnow() + expires_in if expires_in is not None else None,
        )
        self.store.put_document(
            COLLECTION, token_id, token.model_dump(mode="json"), expected_version=0
        )
        self._audit("token.create", token, None, actor, surface)
        return token, f"{PREFIX}{token_id}_{secret}"

    def all(self) -> list[ApiToken]:
        return [ApiToken.model_validate(doc) for _, doc in self.store.list_documents(COLLECTION)]

    def any(self) -> bool:
        now = utcnow()
        return any(t.live(now) for t in self.all())

    def verify(self, text: str) -> ApiToken | None:
        """The live token ``text`` is, or None."""
        if not text.startswith(PREFIX):
            return None
        token_id, sep, secret = text.removeprefix(PREFIX).partition("_")
        if not sep or not token_id.isalnum() or len(token_id) > 32:
            return None
        found = self.store.get_document(COLLECTION, token_id)
        if found is None:
            return None
        token = ApiToken.model_validate(found[1])
        if not token.live(utcnow()):
            return None
        if not hmac.compare_digest(token.secret_sha256, _digest(secret)):
            return None
        return token

    def revoke(self, token_id: str, actor: str, surface: str) -> ApiToken:
        found = self.store.get_document(COLLECTION, token_id)
        if found is None:
            raise AccountError("token", f"no token {token_id!r}")
        version, doc = found
        before = ApiToken.model_validate(doc)
        after = before.model_copy(update={"revoked": True})
        self.store.put_document(
            COLLECTION, token_id, after.model_dump(mode="json"), expected_version=version
        )
        self._audit("token.revoke", after, before, actor, surface)
        return after

    def _audit(
        self, action: str, token: ApiToken, before: ApiToken | None, actor: str, surface: str
    ) -> None:
        def shown(t: ApiToken) -> dict[str, object]:
            return t.model_dump(mode="json", exclude={"secret_sha256"})

        audit(
            self.store,
            actor=actor,
            surface=surface,
            action=action,
            subject=f"token:{token.id}",
            before=shown(before) if before else None,
            after=shown(token),
        )

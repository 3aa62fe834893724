"""Browser sessions: a random id in a signed cookie, the session itself in
the store (a key with the session's lifetime), so logging out or disabling
a user ends it on every replica.

The signing secret is the ``session_secret`` setting, or one generated once
into the store so that replicas and restarts share it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from responder.store import Store, VersionConflict

COOKIE = "rsre_session"
SECRET_COLLECTION = "accounts"
SECRET_DOC = "session-secret"


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    username: str
    csrf: str


def load_secret(store: Store, configured: str | None) -> bytes:
    if configured:
        return configured.encode()
    found = store.get_document(SECRET_COLLECTION, SECRET_DOC)
    if found is None:
        # another replica may write it first: then theirs is used
        with contextlib.suppress(VersionConflict):
            store.put_document(
                SECRET_COLLECTION,
                SECRET_DOC,
                {"secret": secrets.token_hex(32)},
                expected_version=0,
            )
        found = store.get_document(SECRET_COLLECTION, SECRET_DOC)
    assert found is not None
    return str(found[1]["secret"]).encode()


@dataclass(eq=False)
class SessionBook:
    store: Store
    secret: bytes
    ttl_seconds: int

    def _sign(self, session_id: str) -> str:
        return hmac.new(self.secret, session_id.encode(), hashlib.sha256).hexdigest()

    def start(self, username: str) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session = Session(
            id=secrets.token_urlsafe(24), username=username, csrf=secrets.token_urlsafe(24)
        )
        body = json.dumps({"user": session.username, "csrf": session.csrf})
        self.store.set_if_absent(f"session:{session.id}", body, float(self.ttl_seconds))
        return session, f"{session.id}.{self._sign(session.id)}"

    def find(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        session_id, _, signature = cookie.rpartition(".")
        if not session_id or not hmac.compare_digest(signature, self._sign(session_id)):
            return None
        raw = self.store.get_key(f"session:{session_id}")
        if raw is None:
            return None
        body = json.loads(raw)
        return Session(id=session_id, username=str(body["user"]), csrf=str(body["csrf"]))

    def end(self, session_id: str) -> None:
        self.store.delete_key(f"session:{session_id}")

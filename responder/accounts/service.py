"""One access model for the admin UI and ``/api/v1``: who is asking
(session cookie, API token or a trusted proxy's headers) and whether the API
demands it.

``authenticate(request)`` is the one function routes call; it never raises
for a bad credential, it answers None.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from responder.accounts.models import Principal, Role, User
from responder.accounts.sessions import COOKIE, Session, SessionBook, load_secret
from responder.accounts.throttle import LoginThrottle
from responder.accounts.tokens import TokenBook
from responder.accounts.users import UserBook
from responder.records.audit import audit
from responder.sections import AccountSettings
from responder.store import Store

PROXY_USER = "x-auth-request-user"
PROXY_GROUPS = "x-auth-request-groups"
#: how long "does any account exist" is believed (api_auth: auto)
EXISTS_REFRESH_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class LoginResult:
    """``user`` on success; otherwise ``wait_seconds`` > 0 when throttled."""

    user: User | None
    wait_seconds: float = 0.0


class Accounts:
    def __init__(
        self,
        store: Store,
        settings: AccountSettings,
        throttle: LoginThrottle | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.settings = settings
        self.users = UserBook(store)
        self.tokens = TokenBook(store)
        self.throttle = throttle or LoginThrottle(store)
        self.clock = clock
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        self.group_roles = {g: Role(r) for g, r in settings.proxy_group_roles.items()}
        self._sessions: SessionBook | None = None
        self._ready = False
        self._lock = threading.Lock()
        self._exists: tuple[float, bool] | None = None

    # start-up, done on first use so that a store that is down at start
    # does not stop the responder from starting (the webhook answers 503)

    def prepare(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            self.users.bootstrap_admin(self.settings.admin_user, self.settings.admin_password)
            self._ready = True

    @property
    def sessions(self) -> SessionBook:
        """The session book; its signing key is read (or made) on first use."""
        if self._sessions is None:
            with self._lock:
                if self._sessions is None:
                    secret = load_secret(self.store, self.settings.session_secret)
                    self._sessions = SessionBook(
                        self.store, secret, self.settings.session_ttl_seconds
                    )
        return self._sessions

    # the API's switch

    def api_auth_enabled(self) -> bool:
        """``api_auth`` on/off as set; ``auto``: on once a user or token exists."""
        if self.settings.api_auth != "auto":
            return self.settings.api_auth == "on"
        self.prepare()
        now = self.clock()
        if self._exists is None or now - self._exists[0] > EXISTS_REFRESH_SECONDS:
            self._exists = (now, self.users.any() or self.tokens.any())
        return self._exists[1]

    def accounts_changed(self) -> None:
        self._exists = None

    # who is asking

    def authenticate(self, request: HTTPConnection) -> Principal | None:
        """Bearer token, else a trusted proxy's headers, else the session cookie.

        A request that presents a bearer token is judged by that token alone."""
        self.prepare()
        authorization = request.headers.get("authorization", "")
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() == "bearer":
            token = self.tokens.verify(credential.strip())
            if token is None:
                return None
            return Principal(
                name=f"token/{token.name}", role=token.role, via="token", scopes=token.scopes
            )
        proxied = self._from_proxy(request)
        if proxied is not None:
            return proxied
        cookie = request.cookies.get(COOKIE)
        session = self.sessions.find(cookie) if cookie else None
        if session is None:
            return None
        user = self.users.get(session.username)
        if user is None or user.disabled:
            return None
        return Principal(
            name=user.username,
            role=user.role,
            via="session",
            csrf=session.csrf,
            session_id=session.id,
        )

    def trusted_proxy(self, request: HTTPConnection) -> bool:
        if not self.proxies or request.client is None:
            return False
        try:
            address = ipaddress.ip_address(request.client.host)
        except ValueError:
            return False
        return any(address in network for network in self.proxies)

    def client_address(self, request: HTTPConnection) -> str:
        """The address the request came from: the peer, or, when the peer is a
        trusted proxy, the address it appended to ``X-Forwarded-For`` (behind
        an ingress every peer is the ingress, and a throttle per address would
        be one throttle for everyone)."""
        peer = request.client.host if request.client else "-"
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded and self.trusted_proxy(request):
            return forwarded.rsplit(",", 1)[-1].strip()[:64] or peer
        return peer

    def _from_proxy(self, request: HTTPConnection) -> Principal | None:
        user = request.headers.get(PROXY_USER, "").strip()
        if not user or not self.trusted_proxy(request):
            return None
        groups = [g.strip() for g in request.headers.get(PROXY_GROUPS, "").split(",")]
        roles = [self.group_roles[g] for g in groups if g in self.group_roles]
        if not roles:
            return None
        name = user[:100]
        # the proxy authenticates a browser by its own cookie, so forms need
        # a CSRF token as a session's do: one per user, signed with the
        # session secret (no state to keep)
        csrf = hmac.new(self.sessions.secret, f"proxy:{name}".encode(), "sha256").hexdigest()
        return Principal(name=name, role=max(roles, key=lambda r: r.rank), via="proxy", csrf=csrf)

    # logging in and out

    def login(self, username: str, password: str, client: str) -> LoginResult:
        """Check a password, throttled per (user name, client address), per
        address and overall (``LoginThrottle``)."""
        self.prepare()
        name = username.strip().lower()
        wait = self.throttle.wait_seconds(name, client)
        if wait > 0:
            return LoginResult(None, wait)
        user = self.users.check_password(name, password)
        if user is None:
            self.throttle.failed(name, client)
            return LoginResult(None)
        self.throttle.succeeded(name, client)
        self._audit("session.login", user.username, client)
        return LoginResult(user)

    def start_session(self, user: User) -> tuple[Session, str]:
        return self.sessions.start(user.username)

    def logout(self, principal: Principal, client: str) -> None:
        if principal.session_id:
            self.sessions.end(principal.session_id)
            self._audit("session.logout", principal.name, client)

    def _audit(self, action: str, username: str, client: str) -> None:
        audit(
            self.store,
            actor=username,
            surface="admin",
            action=action,
            subject=f"user:{username}",
            detail=f"from {client}",
        )


def authenticate(request: HTTPConnection) -> Principal | None:
    """Who sent ``request`` (session, bearer token or trusted proxy), or None.

    Synchronous (it reads the store): call it from a worker thread in async
    code, e.g. ``await anyio.to_thread.run_sync(authenticate, request)``."""
    accounts: Accounts = request.app.state.accounts
    return accounts.authenticate(request)

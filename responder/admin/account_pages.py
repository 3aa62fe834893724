"""Logging in and out, and (admins) users and API tokens."""

from __future__ import annotations

import hmac
import math
import secrets

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from responder.accounts.authorization import ACCOUNTS, same_origin
from responder.accounts.models import SCOPES, Principal, Role
from responder.accounts.sessions import COOKIE
from responder.accounts.tokens import parse_lifetime
from responder.accounts.users import AccountError
from responder.admin.access import action, page, principal_of, refuse
from responder.admin.render import render
from responder.admin.services import services
from responder.console.identity import CODE_TTL_SECONDS, Identities, LinkRefused
from responder.records.incident import utcnow

#: the login form's anti-forgery token (double submit: cookie and field)
LOGIN_COOKIE = "rsre_login"
SURFACE = "admin"


def _secure(request: Request) -> bool:
    configured = services(request).runtime.settings.session_cookie_secure
    return request.url.scheme == "https" if configured is None else configured


def _next(text: object) -> str:
    if isinstance(text, str) and text.startswith("/admin/") and not text.startswith("//"):
        return text
    return "/admin/rules"


def _client(request: Request) -> str:
    return services(request).accounts.client_address(request)


def _login_page(
    request: Request, status: int = 200, message: str | None = None, username: str = ""
) -> Response:
    admin = services(request)
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=status,
        login_csrf=token,
        message=message,
        username=username,
        next=_next(request.query_params.get("next")),
        no_users=not admin.accounts.users.any(),
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path="/admin/login",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


async def login_form(request: Request) -> Response:
    if await principal_of(request) is not None:
        return RedirectResponse(_next(request.query_params.get("next")), 303)
    return await anyio.to_thread.run_sync(_login_page, request)


async def login(request: Request) -> Response:
    form = await request.form()
    submitted = form.get("csrf_token")
    cookie = request.cookies.get(LOGIN_COOKIE)
    if (
        not same_origin(request)
        or not isinstance(submitted, str)
        or not cookie
        or not hmac.compare_digest(submitted, cookie)
    ):
        return refuse(request, 403, "Cross-site request refused: reload the login page.")
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    accounts = services(request).accounts
    result = await anyio.to_thread.run_sync(accounts.login, username, password, _client(request))
    if result.user is None:
        if result.wait_seconds > 0:
            wait = math.ceil(result.wait_seconds)
            response = _login_page(
                request, 429, f"Too many failed logins: try again in {wait} s.", username
            )
            response.headers["Retry-After"] = str(wait)
            return response
        return _login_page(request, 401, "Wrong user name or password.", username)
    _, cookie_value = await anyio.to_thread.run_sync(accounts.start_session, result.user)
    response = RedirectResponse(_next(form.get("next")), 303)
    response.set_cookie(
        COOKIE,
        cookie_value,
        max_age=services(request).runtime.settings.session_ttl_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/admin/login")
    return response


@action(None, Role.viewer)
async def logout(request: Request, principal: Principal, form: FormData) -> Response:
    accounts = services(request).accounts
    await anyio.to_thread.run_sync(accounts.logout, principal, _client(request))
    response = RedirectResponse("/admin/login", 303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def home(request: Request) -> Response:
    return RedirectResponse("/admin/rules", 303)


# the signed-in person's own account: linking a chat identity


def _identities(request: Request) -> Identities:
    runtime = services(request).runtime
    return Identities(runtime.store, runtime.accounts.users, runtime.approvers)


def _account_page(
    request: Request,
    principal: Principal,
    status: int = 200,
    code: str | None = None,
    message: str | None = None,
) -> Response:
    identities = _identities(request)
    local = identities.users.get(principal.name) if principal.via == "session" else None
    return render(
        request,
        "account.html",
        status=status,
        local=local is not None,
        linked=identities.linked_to(principal.name) if local else [],
        code=code,
        minutes=CODE_TTL_SECONDS // 60,
        message=message,
    )


@page(None, Role.viewer)
async def account_page(request: Request, principal: Principal) -> Response:
    return await anyio.to_thread.run_sync(_account_page, request, principal)


@action(None, Role.viewer)
async def chat_link_code(request: Request, principal: Principal, form: FormData) -> Response:
    def issue() -> Response:
        if principal.via != "session":
            return _account_page(
                request, principal, 400, message="Only a local account logged in here can link."
            )
        try:
            code = _identities(request).issue_code(principal.name, SURFACE)
        except LinkRefused as exc:
            return _account_page(request, principal, 400, message=str(exc))
        return _account_page(request, principal, 201, code=code)

    return await anyio.to_thread.run_sync(issue)


# users


def _roles() -> list[str]:
    return [str(r) for r in Role]


@page(ACCOUNTS, Role.admin)
async def users_page(request: Request, principal: Principal) -> Response:
    users = await anyio.to_thread.run_sync(services(request).accounts.users.all)
    return render(request, "users.html", users=users, roles=_roles(), errors={}, values={})


@action(ACCOUNTS, Role.admin)
async def user_create(request: Request, principal: Principal, form: FormData) -> Response:
    accounts = services(request).accounts
    values = {k: str(form.get(k) or "") for k in ("username", "role")}
    try:
        role = Role(values["role"])
        await anyio.to_thread.run_sync(
            lambda: accounts.users.create(
                values["username"], str(form.get("password") or ""), role, principal.name, SURFACE
            )
        )
    except ValueError as exc:
        field = exc.field if isinstance(exc, AccountError) else "role"
        message = exc.message if isinstance(exc, AccountError) else "choose a role"
        users = await anyio.to_thread.run_sync(accounts.users.all)
        return render(
            request,
            "users.html",
            status=400,
            users=users,
            roles=_roles(),
            errors={field: message},
            values=values,
        )
    accounts.accounts_changed()
    return RedirectResponse("/admin/users", 303)


@action(ACCOUNTS, Role.admin)
async def user_update(request: Request, principal: Principal, form: FormData) -> Response:
    accounts = services(request).accounts
    username = request.path_params["username"]
    role_text = form.get("role")
    disabled = form.get("disabled")
    if username == principal.name and (disabled == "yes" or role_text not in (None, "admin")):
        return refuse(request, 400, "You cannot lock yourself out: ask another admin.")
    try:
        await anyio.to_thread.run_sync(
            lambda: accounts.users.update(
                username,
                principal.name,
                SURFACE,
                role=Role(role_text) if isinstance(role_text, str) else None,
                disabled=(disabled == "yes") if isinstance(disabled, str) else None,
            )
        )
    except ValueError as exc:
        return refuse(request, 400, str(exc))
    return RedirectResponse("/admin/users", 303)


# API tokens


@page(ACCOUNTS, Role.admin)
async def tokens_page(request: Request, principal: Principal) -> Response:
    accounts = services(request).accounts
    tokens = await anyio.to_thread.run_sync(accounts.tokens.all)
    return render(
        request,
        "tokens.html",
        tokens=tokens,
        roles=_roles(),
        scopes=SCOPES,
        errors={},
        lifetime=accounts.settings.token_lifetime,
        now=utcnow(),
    )


@action(ACCOUNTS, Role.admin)
async def token_create(request: Request, principal: Principal, form: FormData) -> Response:
    accounts = services(request).accounts
    name = str(form.get("name") or "")
    scopes = [s for s in form.getlist("scope") if isinstance(s, str)]
    errors: dict[str, str] = {}
    created: str | None = None
    try:
        role = Role(str(form.get("role") or ""))
        lifetime = parse_lifetime(str(form.get("expires_in") or accounts.settings.token_lifetime))
        _, created = await anyio.to_thread.run_sync(
            lambda: accounts.tokens.create(name, role, scopes, principal.name, SURFACE, lifetime)
        )
        accounts.accounts_changed()
    except AccountError as exc:
        errors[exc.field] = exc.message
    except ValueError:
        errors["role"] = "choose a role"
    tokens = await anyio.to_thread.run_sync(accounts.tokens.all)
    return render(
        request,
        "tokens.html",
        status=400 if errors else 201,
        tokens=tokens,
        roles=_roles(),
        scopes=SCOPES,
        errors=errors,
        created=created,
        lifetime=accounts.settings.token_lifetime,
        now=utcnow(),
    )


@action(ACCOUNTS, Role.admin)
async def token_revoke(request: Request, principal: Principal, form: FormData) -> Response:
    accounts = services(request).accounts
    try:
        await anyio.to_thread.run_sync(
            lambda: accounts.tokens.revoke(request.path_params["token_id"], principal.name, SURFACE)
        )
    except AccountError as exc:
        return refuse(request, 404, exc.message)
    accounts.accounts_changed()
    return RedirectResponse("/admin/tokens", 303)

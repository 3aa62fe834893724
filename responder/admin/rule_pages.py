"""Operations > Robot SRE > Rules: list, clone, edit, enable per
environment, preview, backtest, history and revert. Every change goes
through ``RuleBook`` (the service behind ``/api/v1/rules``), so it is
validated, versioned and audited exactly as an API change is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import anyio.to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from responder.accounts.models import Principal, Role
from responder.admin import whatif
from responder.admin.access import action, page, refuse
from responder.admin.diff import changes
from responder.admin.forms import (
    LEVEL_CHOICES,
    PROFILE_PREFIX,
    FormProblem,
    form_field,
    form_values,
    rule_body,
    rule_values,
)
from responder.admin.render import render
from responder.admin.services import services
from responder.policy.rulebook import RuleConflict, RuleNotFound
from responder.policy.rules import OperatorRule, RuleRejected
from responder.records.audit import AuditEntry
from responder.records.levels import Confidence, Environment, Severity

SURFACE = "admin"
DECISIONS = ("auto", "approval", "off")


def _profile_actions(request: Request, rule: OperatorRule) -> list[str]:
    taxonomy = services(request).runtime.taxonomy
    known = taxonomy.incident_types.get(rule.incident_type)
    named = list(known.candidate_actions) if known else []
    return list(dict.fromkeys([*named, *rule.allowed_action_profile]))


def _matches(rule: OperatorRule, params: Any) -> bool:
    q = params.get("q", "").strip().lower()
    if q and not any(q in text.lower() for text in (rule.id, rule.name, rule.incident_type)):
        return False
    if params.get("domain") and rule.domain != params["domain"]:
        return False
    if params.get("type") and rule.incident_type != params["type"]:
        return False
    if params.get("environment") and params["environment"] not in rule.environment_scope:
        return False
    kind = params.get("kind")
    if kind and (kind == "builtin") != rule.builtin:
        return False
    enabled = params.get("enabled")
    return not enabled or (enabled == "yes") == rule.enabled


@page("rules")
async def rules_list(request: Request, principal: Principal) -> Response:
    admin = services(request)
    params = request.query_params

    def load() -> tuple[list[OperatorRule], dict[str, AuditEntry]]:
        rules = [r for r in admin.runtime.rules.all() if _matches(r, params)]
        last: dict[str, AuditEntry] = {}
        for rule in rules:
            if not rule.builtin:
                entries = admin.runtime.store.list_audit(1, f"rule:{rule.id}")
                if entries:
                    last[rule.id] = entries[0]
        return rules, last

    rules, last = await anyio.to_thread.run_sync(load)
    return render(
        request,
        "rules.html",
        rules=rules,
        last=last,
        params=dict(params),
        domains=sorted(admin.runtime.taxonomy.domains),
        types=sorted(admin.runtime.taxonomy.incident_types),
        environments=LEVEL_CHOICES["environments"],
        version=admin.runtime.taxonomy.version,
    )


async def _get(request: Request) -> OperatorRule | None:
    rules = services(request).runtime.rules
    try:
        return await anyio.to_thread.run_sync(rules.get, request.path_params["rule_id"])
    except RuleNotFound:
        return None


def _rule_page(
    request: Request,
    rule: OperatorRule,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    **extra: Any,
) -> Response:
    return render(
        request,
        "rule.html",
        status=status,
        rule=rule,
        values=values or rule_values(rule),
        errors=errors or {},
        actions=_profile_actions(request, rule),
        catalogue=services(request).runtime.taxonomy.actions,
        **LEVEL_CHOICES,
        decisions=DECISIONS,
        profile_prefix=PROFILE_PREFIX,
        notice=_notice(request),
        **extra,
    )


def _notice(request: Request) -> str | None:
    params = request.query_params
    if "saved" in params:
        return f"Saved as version {params['saved']}."
    if "cloned" in params:
        return "Cloned into this custom rule: edit it below."
    if "reverted" in params:
        return f"Reverted: saved as version {params['reverted']}."
    return None


@page("rules")
async def rule_detail(request: Request, principal: Principal) -> Response:
    rule = await _get(request)
    if rule is None:
        return refuse(request, 404, f"No rule {request.path_params['rule_id']!r}.")
    return _rule_page(request, rule)


def _draft(
    request: Request, rule: OperatorRule, form: FormData
) -> tuple[dict[str, Any], OperatorRule | None, dict[str, str]]:
    """The form's values, the unsaved rule they describe (validated as a save
    would be), and the errors by form field."""
    values = form_values(form, _profile_actions(request, rule))
    try:
        body = rule_body(rule, values)
        draft = services(request).runtime.rules.validate(body)
    except FormProblem as exc:
        return values, None, {exc.field: exc.message}
    except RuleRejected as exc:
        return values, None, {form_field(exc.field): f"{exc.message} ({exc.boundary})"}
    return values, draft.model_copy(update={"version": rule.version}), {}


EditHandler = Callable[[Request, Principal, FormData, OperatorRule], Awaitable[Response]]


def _edit(handler: EditHandler) -> Callable[[Request], Any]:
    """An operator's change to the custom rule the path names (404 when there
    is none, 400 for a built-in rule)."""

    @action("rules", Role.operator)
    @wraps(handler)
    async def run(request: Request, principal: Principal, form: FormData) -> Response:
        rule = await _get(request)
        if rule is None:
            return refuse(request, 404, f"No rule {request.path_params['rule_id']!r}.")
        if rule.builtin:
            return refuse(
                request, 400, "Built-in rules are versioned in code: clone one to change it."
            )
        return await handler(request, principal, form, rule)

    return run


def _body(rule: OperatorRule) -> dict[str, Any]:
    """What a save sends for ``rule``: all but what the book sets itself."""
    return rule.model_dump(mode="json", exclude={"version", "builtin"})


async def _update(
    request: Request,
    principal: Principal,
    rule: OperatorRule,
    body: dict[str, Any],
    expected: int | None,
) -> OperatorRule:
    book = services(request).runtime.rules
    return await anyio.to_thread.run_sync(
        lambda: book.update(rule.id, body, principal.name, SURFACE, expected)
    )


@_edit
async def rule_save(
    request: Request, principal: Principal, form: FormData, rule: OperatorRule
) -> Response:
    values, draft, errors = _draft(request, rule, form)
    if draft is not None:
        expected = int(values["version"]) if values["version"].isdigit() else None
        try:
            saved = await _update(request, principal, rule, _body(draft), expected)
        except RuleRejected as exc:
            errors = {form_field(exc.field): f"{exc.message} ({exc.boundary})"}
        except RuleConflict as exc:
            errors = {"form": str(exc)}
        else:
            return RedirectResponse(f"/admin/rules/{rule.id}?saved={saved.version}", 303)
    return _rule_page(request, rule, values, errors, status=400)


def _choice(form: FormData, name: str, allowed: list[str]) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value in allowed else None


@_edit
async def rule_preview(
    request: Request, principal: Principal, form: FormData, rule: OperatorRule
) -> Response:
    values, draft, errors = _draft(request, rule, form)
    if draft is None:
        return _rule_page(request, rule, values, errors, status=400)
    admin = services(request)
    severity = _choice(form, "preview_severity", [str(s) for s in Severity])
    confidence = _choice(form, "preview_confidence", [str(c) for c in Confidence]) or "high"
    result = await anyio.to_thread.run_sync(
        lambda: whatif.preview(
            admin.runtime.policy,
            draft,
            admin.runtime.rules.active(),
            admin.now(),
            Severity(severity) if severity else None,
            Confidence(confidence),
        )
    )
    return _rule_page(request, rule, values, preview=result)


@_edit
async def rule_backtest(
    request: Request, principal: Principal, form: FormData, rule: OperatorRule
) -> Response:
    values, draft, errors = _draft(request, rule, form)
    days_text = form.get("days")
    days = int(days_text) if isinstance(days_text, str) and days_text.isdigit() else 7
    if not 1 <= days <= 90:
        errors["days"] = "from 1 to 90 days"
    if draft is None or errors:
        return _rule_page(request, rule, values, errors, status=400, days=days)
    admin = services(request)
    result = await anyio.to_thread.run_sync(
        lambda: whatif.backtest(
            admin.runtime.store,
            admin.runtime.policy,
            admin.severity_rules,
            draft,
            admin.runtime.rules.active(),
            admin.now(),
            days,
        )
    )
    return _rule_page(request, rule, values, backtest=result, days=days)


@action("rules", Role.operator)
async def rule_clone(request: Request, principal: Principal, form: FormData) -> Response:
    book = services(request).runtime.rules
    try:
        clone = await anyio.to_thread.run_sync(
            lambda: book.clone(request.path_params["rule_id"], principal.name, SURFACE)
        )
    except RuleNotFound:
        return refuse(request, 404, f"No rule {request.path_params['rule_id']!r}.")
    except (RuleRejected, RuleConflict) as exc:
        return refuse(request, 400, str(exc))
    return RedirectResponse(f"/admin/rules/{clone.id}?cloned=1", 303)


def _back(form: FormData, default: str) -> str:
    back = form.get("back")
    if isinstance(back, str) and back.startswith("/admin/") and not back.startswith("//"):
        return back
    return default


@_edit
async def rule_environment(
    request: Request, principal: Principal, form: FormData, rule: OperatorRule
) -> Response:
    """Switch a custom rule on or off in one environment (a new version)."""
    environment = _choice(form, "environment", [str(e) for e in Environment])
    turn = _choice(form, "turn", ["on", "off"])
    if environment is None or turn is None:
        return refuse(request, 400, "Name an environment and whether to turn the rule on or off.")
    scope = [str(e) for e in rule.environment_scope if str(e) != environment]
    if turn == "on":
        scope.append(environment)
    body = _body(rule)
    body["environment_scope"] = [str(e) for e in Environment if str(e) in scope]
    try:
        saved = await _update(request, principal, rule, body, rule.version)
    except (RuleRejected, RuleConflict) as exc:
        message = exc.message if isinstance(exc, RuleRejected) else str(exc)
        if isinstance(exc, RuleRejected) and exc.field == "environment_scope":
            message += "; to switch it off everywhere, untick Enabled on the rule"
        return refuse(request, 400, message)
    return RedirectResponse(_back(form, f"/admin/rules/{rule.id}?saved={saved.version}"), 303)


@page("rules")
async def rule_history(request: Request, principal: Principal) -> Response:
    book = services(request).runtime.rules
    try:
        versions = await anyio.to_thread.run_sync(book.history, request.path_params["rule_id"])
    except RuleNotFound:
        return refuse(request, 404, f"No rule {request.path_params['rule_id']!r}.")
    entries = []
    previous: dict[str, Any] | None = None
    for version in versions:
        doc = version.model_dump(mode="json", exclude={"version"})
        entries.append({"rule": version, "changes": changes(previous, doc) if previous else []})
        previous = doc
    entries.reverse()
    return render(
        request,
        "rule_history.html",
        rule=versions[-1],
        entries=entries,
        notice=_notice(request),
    )


@_edit
async def rule_revert(
    request: Request, principal: Principal, form: FormData, rule: OperatorRule
) -> Response:
    wanted = form.get("version")
    book = services(request).runtime.rules
    versions = await anyio.to_thread.run_sync(book.history, rule.id)
    source = next((v for v in versions if str(v.version) == wanted), None)
    if source is None:
        return refuse(request, 400, f"Rule {rule.id} has no version {wanted!r}.")
    try:
        saved = await _update(request, principal, rule, _body(source), rule.version)
    except (RuleRejected, RuleConflict) as exc:
        return refuse(request, 400, str(exc))
    return RedirectResponse(f"/admin/rules/{rule.id}/history?reverted={saved.version}", 303)
